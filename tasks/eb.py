"""eb.*: register versions, deploy them, manage environment variables, and look at environments."""

from __future__ import annotations

from invoke import Collection

from ebship.errors import UsageError
from ebship.output import console
from tasks._flags import JSON, YES, seconds, task
from tasks._support import job_for, reported, targeted

DRY_RUN = "Print the plan, secrets masked, and change nothing."
ENV = "Environment: a name from environments.toml (stg, prod, ...) or local for the stand-in of `inv local.up`."


@task(
    help={
        "env": "Optional: take the AWS and registry settings of this environment (needed for local only).",
        "label": "Version label (default: the commit's sha; a dirty work tree gets <sha>-dirty-<tree>).",
        "dry_run": DRY_RUN,
    }
)
@reported
def version(c, env=None, label=None, dry_run=False):
    """Render Dockerrun.aws.json for this commit's pushed image, upload it and create the application version."""
    from ebship import versions

    current = job_for(env)
    versions.register(current, label or "", dry_run=dry_run)


@task(
    help={
        "env": ENV,
        "label": "Version label to deploy (default: the commit's sha, as eb.version registered it).",
        "rollback": "On failure, redeploy the version that ran before (ROLLBACK=true does it by default).",
        "timeout": "Whole seconds the whole deploy may take, waits included (DEPLOY_TIMEOUT, default 900).",
        "yes": YES,
        "dry_run": DRY_RUN,
        "json_": JSON,
    }
)
@reported
def deploy(c, env=None, label=None, rollback=False, timeout=None, yes=False, dry_run=False, json_=False):
    """Deploy a registered version and follow it to a verdict; exit 0 deployed, 1 failed, 2 bad input, 3 timed out."""
    from ebship import deploy as deploying
    from ebship import gate, results

    with results.recorded("eb.deploy", console, json_, dry_run=dry_run) as record:
        current, resolved = targeted(env, {"DEPLOY_TIMEOUT": seconds("--timeout", timeout)})
        record.target, record.version = resolved.target, label or current.source.tag
        if record.active:
            record.digest = results.version_digest(current, resolved.target, record.version)
        confirm = gate.for_destination(current, resolved, yes).confirmer(current.console)
        record.report = deploying.deploy(current, resolved.target, record.version, rollback, dry_run, confirm)


@task(
    help={
        "from": "The environment whose running version is promoted (e.g. stg); it must run it Ready and healthy.",
        "to": "The environment to deploy it to (e.g. prod), in the same Elastic Beanstalk application.",
        "label": "Promote only if the source runs this label (default: whatever it runs).",
        "rollback": "On failure, redeploy the version that ran before (ROLLBACK=true does it by default).",
        "timeout": "Whole seconds the whole deploy may take, waits included (DEPLOY_TIMEOUT, default 900).",
        "yes": YES,
        "dry_run": DRY_RUN,
        "json_": JSON,
    }
)
@reported
def promote(c, from_=None, to=None, label=None, rollback=False, timeout=None, yes=False, dry_run=False, json_=False):
    """Deploy to --to the version --from runs healthy, the same image digest, no rebuild; judged like eb.deploy."""
    from ebship import gate, results, targets
    from ebship import promote as promoting

    with results.recorded("eb.promote", console, json_, dry_run=dry_run) as record:
        if not from_ or not to:
            raise UsageError("Name both environments: inv eb.promote --from stg --to prod.")
        current, resolved = targeted(to, {"DEPLOY_TIMEOUT": seconds("--timeout", timeout)})
        record.target = resolved.target
        source = targets.destination(current.root, from_, current.settings.eb_application)
        confirm = gate.for_destination(current, resolved, yes).confirmer(current.console)
        record.report = promoting.promote(current, source, resolved, label or "", rollback, dry_run, confirm)
        if record.active:
            record.digest = results.version_digest(current, resolved.target, record.report.label)


@task(
    help={
        "env": ENV,
        "prune": "Also remove variables the environment has but environments.toml no longer declares.",
        "like": "Apply the variables another environment declares (e.g. --env local --like stg to rehearse stg's).",
        "relaxed": "No warnings about characters outside Elastic Beanstalk's documented set (commas are refused all the same).",
        "timeout": "Whole seconds the configuration update may take (DEPLOY_TIMEOUT, default 900).",
        "yes": YES,
        "dry_run": DRY_RUN,
        "json_": JSON + " With --dry-run it lists the planned changes (keys only).",
    }
)
@reported
def env(c, env=None, like=None, prune=False, relaxed=False, timeout=None, yes=False, dry_run=False, json_=False):
    """Make the environment's variables match environments.toml: print the difference (masked), apply only that."""
    from ebship import envupdate, gate, results

    with results.recorded("eb.env", console, json_, dry_run=dry_run) as record:
        current, resolved = targeted(env, {"DEPLOY_TIMEOUT": seconds("--timeout", timeout)})
        record.target = resolved.target
        confirm = gate.for_destination(current, resolved, yes).confirmer(current.console)
        record.report = envupdate.apply(
            current, resolved, prune=prune, strict=not relaxed, dry_run=dry_run, like=like or "", confirm=confirm
        )
        if dry_run and record.active:
            record.changes = results.planned_changes(current, resolved, prune, like or "")


@task(help={"env": ENV, "json_": JSON})
@reported
def status(c, env=None, json_=False):
    """Show the environment's state, health, running version and URL."""
    from ebship import operate, results

    with results.recorded("eb.status", console, json_) as record:
        current, resolved = targeted(env)
        record.target = resolved.target
        operate.status(current, resolved.target)
        if record.active:
            record.state = results.environment_state(current, resolved.target)


@task(
    help={
        "env": ENV,
        "count": "How many recent events to show, 1 to 1000 (default 20).",
        "follow": "Keep printing new events until interrupted (Ctrl-C).",
    }
)
@reported
def events(c, env=None, count=None, follow=False):
    """Show the environment's recent events, oldest first."""
    from ebship import operate

    # Flags default to None, not a number: Invoke would convert the text itself and end in a traceback on 'abc'.
    records = operate.whole_number("--count", 20 if count is None else count, 1, operate.MAX_EVENTS)
    current, resolved = targeted(env)
    operate.events(current, resolved.target, records, follow)


@task(
    help={
        "env": "Optional: take the AWS settings of this environment (needed for local only).",
        "keep": "How many of the newest versions to keep (default 20); versions an environment runs are always kept.",
        "dry_run": DRY_RUN,
    }
)
@reported
def prune(c, env=None, keep=None, dry_run=False):
    """Delete old application versions beyond the newest N, never one that an environment runs."""
    from ebship import operate

    versions_kept = operate.whole_number("--keep", 20 if keep is None else keep, 1)
    current = job_for(env)
    operate.prune(current, versions_kept, dry_run)


ns = Collection(version, deploy, promote, env, status, events, prune)
