"""ci and doctor: the whole pipeline in one call (what CircleCI runs), and a read-only preflight."""

from __future__ import annotations

import os

from invoke import Exit, task

from tasks._support import job, reported, targeted


@task(
    help={
        "env": "Deploy to this environment whatever the branch (default: the one environments.toml maps the branch to).",
        "dry_run": "Print the plan of every stage, secrets masked, and change nothing.",
    }
)
@reported
def ci(c, env=None, dry_run=False):
    """Build, test, and on a deploy branch push, upload auth, register and deploy; rehearses locally by default."""
    from ebship import pipeline
    from ebship.deploy import run_deploy
    from tasks.local import start

    def target_of(name: str):
        resolved_job, resolved = targeted(name)
        return resolved_job, resolved.target

    report = pipeline.run(
        job(),
        explicit_env=env or "",
        ci=os.environ.get("CI", "").lower() in ("true", "1", "yes"),
        dry_run=dry_run,
        targeted=target_of,
        start_local=start,
        deploy=lambda deploy_job, target, label, dry: run_deploy(deploy_job, target, label, False, dry, version_pending=dry),
    )
    if report.exit_code:
        raise Exit(code=report.exit_code)


@task(help={"env": "Environment to check: a name from environments.toml, or local."})
@reported
def doctor(c, env=None):
    """Check, without changing anything, that AWS, the bucket, the environment and the registry are set up right."""
    from ebship import doctor as checks

    current, resolved = targeted(env)
    if not checks.run(current, resolved):
        raise Exit(code=2)
