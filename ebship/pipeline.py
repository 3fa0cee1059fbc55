"""`inv ci`: the whole procedure in one call, stage after stage, with a summary that tells the truth.

docker.build → docker.test → (when the branch maps to an environment) docker.push → s3.auth → eb.version → eb.deploy.
Without any AWS target configured and outside CI, the deploy goes to the local stand-in (a rehearsal); under CI=true a
missing target is an error, never a green run that deployed nowhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ebship import environments, gate, release, standin, targets, versions
from ebship.actions import Actions
from ebship.aws import known_failure
from ebship.deploy import run_deploy
from ebship.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, PipelineError, UsageError
from ebship.job import Job, Target
from ebship.output import Console
from ebship.verdict import Report, final_state, judge, rollback_verdict, url_of

DEPLOY_SETTINGS = ("IMAGE_REPOSITORY", "EB_APPLICATION", "EB_BUCKET")


@dataclass
class Stage:
    name: str
    result: str = "failed"  # until its body returns: ok, planned (dry run); or failed, interrupted
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Decision:
    """Where this run deploys, decided before anything runs."""

    environment: str  # "" when the branch deploys nowhere
    reason: str
    rehearsal: bool = False


@dataclass
class CiReport:
    branch: str
    decision: Decision
    stages: list[Stage] = field(default_factory=list)
    digest: str = ""
    label: str = ""
    deploy: Report | None = None
    exit_code: int = EXIT_OK
    message: str = ""  # why the run stopped, as printed (--json carries it)


def decide(job: Job, explicit_env: str, ci: bool) -> Decision:
    branch = job.source.branch
    configured = all(job.settings.value(name) for name in DEPLOY_SETTINGS)
    if explicit_env:
        return Decision(explicit_env, f"--env {explicit_env}", rehearsal=explicit_env == environments.LOCAL)
    if not configured:
        missing = [name for name in DEPLOY_SETTINGS if not job.settings.value(name)]
        if ci:
            raise UsageError(
                "CI=true but no deploy target is configured: set "
                + ", ".join(missing)
                + " (CircleCI project variables or a context), plus AWS credentials and AWS_REGION. "
                "Outside CI, `inv ci` rehearses on the local stand-in instead."
            )
        return Decision(environments.LOCAL, "no AWS target configured: rehearsing on the local stand-in", rehearsal=True)
    declared = environments.load(job.root / environments.DEFAULT_PATH)
    mapped = environments.for_branch(branch, declared)
    if mapped is None:
        return Decision("", f"branch {branch} maps to no environment in environments.toml: build and test only")
    return Decision(mapped.name, f"branch {branch} deploys to {mapped.name}")


class Runner:
    def __init__(self, console: Console, report: CiReport, dry_run: bool) -> None:
        self.console = console
        self.report = report
        self.dry_run = dry_run

    def stage(self, name: str, body: Callable[[], str]) -> None:
        """Runs one stage; its failure (or Ctrl-C) stops the run with the stage named (``failed`` says why)."""
        self.console.print(f"\n=== {name} ===")
        stage = Stage(name)
        self.report.stages.append(stage)
        started = time.monotonic()
        try:
            stage.detail = body() or ""
            stage.result = "planned" if self.dry_run else "ok"
        except KeyboardInterrupt:
            stage.result = "interrupted"
            raise
        finally:
            stage.seconds = time.monotonic() - started


def start(job: Job, *, explicit_env: str, ci: bool) -> CiReport:
    """Decides where this run deploys, before anything runs (a missing target under CI stops here, exit 2)."""
    decision = decide(job, explicit_env, ci)
    job.console.print(f"inv ci: {decision.reason}.")
    return CiReport(job.source.branch, decision)


def run(
    job: Job,
    report: CiReport,
    *,
    dry_run: bool,
    start_local: Callable[[], Any] | None = None,
    yes: bool = False,
) -> None:
    """Runs the stages; raises at the first that fails (``failed`` records why, ``finish`` prints the summary).
    ``start_local`` starts the stand-in for a rehearsal (default: ``ebship.standin.start``)."""
    decision = report.decision
    runner = Runner(job.console, report, dry_run)
    deploy_job, target = job, None
    if decision.environment:
        if decision.rehearsal:
            starting = start_local or (lambda: standin.start(job.root, job.console))
            runner.stage("local.up", lambda: _start_local(starting, dry_run))
        if not (dry_run and decision.rehearsal and not _local_running(job)):
            deploy_job, destination = targets.targeted(job.root, job.console, decision.environment, source=job.source)
            target = destination.target
            if not dry_run:  # a protected environment's gate, before the first stage (ebship.gate)
                doing = f"inv ci's deploy to {target.environment}"
                gate.for_destination(deploy_job, destination, yes=yes).check(job.console, doing)
    actions = Actions(deploy_job)  # one Docker engine and one AWS facade for every stage
    runner.stage("docker.build", lambda: release.build(deploy_job, dry_run=dry_run, actions=actions)[:19])
    runner.stage("docker.test", lambda: _test(deploy_job, dry_run, actions))
    if target is None:
        if decision.environment:
            job.console.print("(dry run: the local stand-in is not running, so the deploy stages are not planned)")
        return
    report.label = deploy_job.source.tag
    deploy_to = target

    def push() -> str:
        report.digest = release.push(deploy_job, dry_run=dry_run, actions=actions)
        return report.digest

    runner.stage("docker.push", push)
    runner.stage("s3.auth", lambda: release.upload_auth(deploy_job, dry_run=dry_run, actions=actions))

    def version() -> str:
        try:
            return versions.register(deploy_job, report.label, dry_run=dry_run, actions=actions).label
        except versions.LabelConflict as conflict:
            raise UsageError(f"{conflict.fact} {relabel_advice(deploy_to, report.label)}") from None

    runner.stage("eb.version", version)

    def deploy_stage() -> str:
        report.deploy = run_deploy(
            deploy_job, deploy_to, report.label, False, dry_run, version_pending=dry_run, cloud=actions.cloud
        )
        judge(report.deploy, job.console)  # raises unless healthy
        state = report.deploy.outcome.state
        return f"{state.health} at {url_of(state)}" if state and not dry_run else ""

    runner.stage("eb.deploy", deploy_stage)


def interrupted(report: CiReport, console: Console) -> None:
    report.exit_code = EXIT_INTERRUPTED
    report.message = "Interrupted."
    console.error(report.message)


def failed(report: CiReport, error: Exception, console: Console) -> None:
    """Records why the run stopped: a known failure's one line, or, for a bug, its masked traceback."""
    known = known_failure(error)
    stage = next((s for s in reversed(report.stages) if s.result == "failed"), None)
    if known is None:
        console.traceback(error)
        console.error(f"Unexpected error ({type(error).__name__}); the traceback above is masked.")
        report.exit_code = EXIT_FAILED
        detail = f"unexpected error ({type(error).__name__})"
        report.message = f"Unexpected error ({type(error).__name__})."
    else:
        if not getattr(known, "printed", False):  # a verdict judge printed before explaining it (ebship.verdict)
            console.error(str(known))
        report.exit_code = known.exit_code
        detail = one_line(str(known))
        report.message = str(known)
    if stage is not None and not stage.detail:
        stage.detail = detail


def finish(report: CiReport, console: Console, dry_run: bool) -> None:
    report.exit_code = settled_exit_code(report)
    summarize(report, console, dry_run)


# Stages that change what others see (the registry, the bucket, the application, the environment) when they end ok.
CHANGING_STAGES = ("docker.push", "s3.auth", "eb.version", "eb.deploy")


def settled_exit_code(report: CiReport) -> int:
    """The exit code as the README's table defines it: never 0 unless every stage ended well, and never 2 ("nothing
    was changed") once a stage has changed something."""
    if report.exit_code == EXIT_OK and not all(stage.result in ("ok", "planned") for stage in report.stages):
        return EXIT_FAILED
    if report.exit_code == EXIT_USAGE and any(s.result == "ok" and s.name in CHANGING_STAGES for s in report.stages):
        return EXIT_FAILED
    return report.exit_code


def relabel_advice(target: Target, label: str) -> str:
    """What an `inv ci` user can do about a label clash: ci has no --label, it always uses the commit's."""
    return (
        f"inv ci always registers the commit's label ({label}). Delete the old version if no environment runs it "
        f"(`aws elasticbeanstalk delete-application-version --application-name {target.application} "
        f"--version-label {label}`, or the console) and run inv ci again; or register and deploy this build under "
        f"a label of your own: `inv eb.version --env {target.name} --label NEW`, then "
        f"`inv eb.deploy --env {target.name} --label NEW`."
    )


def one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines()[:3])


def _start_local(start_local: Callable[[], Any], dry_run: bool) -> str:
    if dry_run:
        return "would start the local stand-in if it is not running"
    start_local()
    return "running"


def _local_running(job: Job) -> bool:
    from ebship.targets import LOCAL_STATE

    return (job.root / LOCAL_STATE).is_file()


def _test(job: Job, dry_run: bool, actions: Actions) -> str:
    status = release.test(job, dry_run=dry_run, actions=actions)
    if status:
        raise PipelineError(f"the app's tests failed (exit status {status})")
    return "passed" if not dry_run else ""


VERDICTS = {
    EXIT_OK: "OK",
    EXIT_FAILED: "FAILED",
    EXIT_USAGE: "STOPPED (bad input or settings)",
    EXIT_TIMEOUT: "TIMED OUT",
    EXIT_INTERRUPTED: "INTERRUPTED",
}


def verdict(report: CiReport) -> str:
    """OK only for exit 0 with every stage ended ok (or planned, in a dry run); the exit code's meaning otherwise."""
    if report.exit_code == EXIT_OK and all(stage.result in ("ok", "planned") for stage in report.stages):
        return "OK"
    return VERDICTS.get(report.exit_code, "FAILED") if report.exit_code != EXIT_OK else "FAILED"


def summarize(report: CiReport, console: Console, dry_run: bool) -> None:
    console.print("\n=== summary ===" + (" (dry run: nothing was changed)" if dry_run else ""))
    for stage in report.stages:
        console.print(f"  {stage.name:<13} {stage.result:<8} {stage.seconds:7.1f}s  {stage.detail}")
    console.print(f"  branch        {report.branch}")
    console.print(f"  environment   {report.decision.environment or '(none: build and test only)'}")
    if report.label:
        console.print(f"  version       {report.label}")
    if report.digest:
        console.print(f"  image digest  {report.digest}")
    deployed = report.deploy
    if deployed is not None and not dry_run:
        if deployed.rollback is not None:
            failed = deployed.outcome.state.describe() if deployed.outcome.state else "state unknown"
            console.print(f"  deploy        {deployed.outcome.result.upper()} ({failed})")
            console.print(f"  rollback      to {deployed.previous_label}: {rollback_verdict(deployed.rollback)}")
        state = final_state(deployed)  # where the environment ended, after the rollback when one ran
        if state is not None:
            console.print(f"  url           {url_of(state)}")
            console.print(f"  health        {state.health} ({state.status}, running {state.version_label})")
    console.print(f"  result        {verdict(report)}")
