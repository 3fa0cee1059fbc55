"""eb.deploy: put a registered version on an environment and report, truthfully, how it ended.

Waits (bounded) for Ready, updates, follows the update's own events, confirms by the final state, and on failure can
redeploy the version that ran before. One deadline covers all of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from ebship.aws import error_code
from ebship.beanstalk import Beanstalk, BeanstalkError, EnvState, Event
from ebship.clock import Clock, Deadline, SystemClock
from ebship.environments import DEFAULT_HEALTH
from ebship.errors import DeployTimeout, PipelineError, UsageError
from ebship.job import Job, Target, accepted_health
from ebship.output import Console
from ebship.plan import Plan, Step, print_plan
from ebship.watch import DEFAULT_SCHEDULE, DEFAULT_SETTLE, Expectation, Outcome, Schedule, Watcher

NOT_READY = "is in an invalid state for this operation"


@dataclass
class Report:
    outcome: Outcome
    label: str
    target: Target
    previous_label: str = ""
    rollback: Outcome | None = None
    no_op: bool = False
    events: list[Event] = field(default_factory=list)


def url_of(state: EnvState | None) -> str:
    if state is None or not state.cname:
        return ""
    return state.cname if "://" in state.cname else f"http://{state.cname}"


def plan_deploy(target: Target, label: str, state: EnvState) -> Plan:
    steps = []
    if state.status != "Ready":
        steps.append(
            Step(
                "eb.wait_ready",
                {"EnvironmentName": target.environment},
                f"wait until {target.environment} is Ready (now {state.status})",
            )
        )
    steps.append(
        Step(
            "eb.update_environment",
            {"ApplicationName": target.application, "EnvironmentName": target.environment, "VersionLabel": label},
            f"deploy {label} to {target.environment} (now running {state.version_label or 'nothing'}), "
            f"then follow it until Ready with health {'/'.join(target.health)}",
        )
    )
    return Plan(f"eb.deploy {label} to {target.name} ({target.environment})", tuple(steps))


def preflight(eb: Beanstalk, target: Target, label: str, version_pending: bool = False) -> EnvState:
    """Everything that must hold before any change; all of it read-only."""
    state = eb.environment(target.environment, target.application)
    if state is None:
        raise UsageError(
            f"No environment named {target.environment!r} in application {target.application!r}: "
            "check the name in environments.toml (or EB_APPLICATION and the region)."
        )
    version = eb.version(target.application, label)
    if version is None and version_pending:
        return state
    if version is None:
        raise UsageError(f"No version {label!r} in {target.application}: run `inv eb.version` first.")
    if version.status == "FAILED":
        raise UsageError(f"Version {label} failed Elastic Beanstalk's processing; it cannot be deployed.")
    return state


class LastGood(Protocol):
    """Where the label last deployed healthy to each environment is remembered, for rollbacks.

    The environment's own VersionLabel cannot be trusted after a failed deploy: whether it reverts is UNCONFIRMED.
    """

    def read(self, environment: str) -> str: ...

    def write(self, environment: str, label: str) -> None: ...


class MemoryLastGood:
    def __init__(self) -> None:
        self.labels: dict[str, str] = {}

    def read(self, environment: str) -> str:
        return self.labels.get(environment, "")

    def write(self, environment: str, label: str) -> None:
        self.labels[environment] = label


class S3LastGood:
    """A small JSON object per environment in the deployment bucket, so any runner finds it."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/")

    def key(self, environment: str) -> str:
        return f"{self.prefix}/_environments/{environment}/last-good.json".lstrip("/")

    def read(self, environment: str) -> str:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key(environment))["Body"].read()
        except Exception as error:
            if error_code(error):
                return ""
            raise
        return str(json.loads(body).get("label", ""))

    def write(self, environment: str, label: str) -> None:
        if self.read(environment) == label:
            return
        body = json.dumps({"label": label, "recorded": datetime.now(UTC).isoformat()}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=self.key(environment), Body=body, ServerSideEncryption="AES256")


class Deployer:
    def __init__(
        self,
        eb: Beanstalk,
        console: Console,
        timeout: float,
        clock: Clock | None = None,
        schedule: Schedule = DEFAULT_SCHEDULE,
        last_good: LastGood | None = None,
        settle: float = DEFAULT_SETTLE,
        explain: Callable[[str, Deadline], None] | None = None,
    ) -> None:
        self.settle = settle
        self.explain = explain  # says why a failed update failed (ebship.logs.explainer); None: the events only
        self.last_good = last_good or MemoryLastGood()
        self.eb = eb
        self.console = console
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.schedule = schedule

    def _watcher(self, deadline: Deadline) -> Watcher:
        return Watcher(self.eb, deadline, self._print_event, lambda note: self.console.print(f"  ({note})"), self.schedule)

    def _print_event(self, event: Event) -> None:
        self.console.print(f"  {event.line()}")

    def run(
        self, target: Target, label: str, rollback: bool = False, dry_run: bool = False, version_pending: bool = False
    ) -> Report:
        target = target if target.health else replace(target, health=DEFAULT_HEALTH)
        state = preflight(self.eb, target, label, version_pending)
        if runs_healthy(state, label, target):
            self.console.print(f"{target.environment} already runs {label}, Ready and {state.health}: nothing to deploy.")
            if not dry_run:
                self.last_good.write(target.environment, label)
            return Report(Outcome("deployed", state), label, target, state.version_label, no_op=True)
        plan = plan_deploy(target, label, state)
        print_plan(plan, self.console, dry_run)
        if dry_run:
            return Report(Outcome("deployed", state), label, target, state.version_label, no_op=True)
        deadline = Deadline(self.clock, self.timeout)
        if state.status != "Ready":
            # The update under way may be this very label's (a run interrupted after UpdateEnvironment): once it is
            # over, deploying the label again would only repeat it.
            ready = self._watcher(deadline).until_ready(target.environment)
            if ready is not None and runs_healthy(ready, label, target):
                self.console.print(
                    f"{target.environment} now runs {label}, Ready and {ready.health}: the update that was under way "
                    "deployed it; nothing to deploy."
                )
                self.last_good.write(target.environment, label)
                return Report(Outcome("deployed", ready), label, target, ready.version_label, no_op=True)
        outcome, before = self.update(target, {"VersionLabel": label}, Expectation(label, target.health, self.settle), deadline)
        # A healthy environment runs what it says; after a failed deploy only our own record is trustworthy.
        previous = before.version_label if before and before.health in target.health else self.last_good.read(target.environment)
        report = Report(outcome, label, target, previous)
        if outcome.ok:
            self.last_good.write(target.environment, label)
        elif outcome.result == "failed" and rollback:
            if not previous or previous == label:
                self.console.print(f"No rollback: no version is known to have run healthy on {target.environment} before.")
            else:
                self.console.print(f"Rolling back {target.environment} to {previous}, the last version that ran healthy.")
                back, _ = self.update(
                    target,
                    {"VersionLabel": previous},
                    Expectation(previous, target.health, self.settle),
                    Deadline(self.clock, self.timeout),
                )
                report.rollback = back
                if back.ok:
                    self.last_good.write(target.environment, previous)
        return report

    def update(
        self, target: Target, change: dict[str, Any], expect: Expectation, deadline: Deadline
    ) -> tuple[Outcome, EnvState | None]:
        """Waits for Ready, starts the update (again if another one got in first), follows it; returns the outcome and
        the state just before the update."""
        watcher = self._watcher(deadline)
        while True:
            ready = watcher.until_ready(target.environment)
            if ready is None:
                return Outcome(
                    "timeout", watcher.last_state, "the environment never became Ready to take the update", [], watcher.calls
                ), None
            started = datetime.now(UTC)
            try:
                request_id = self.eb.update(ApplicationName=target.application, EnvironmentName=target.environment, **change)
            except BeanstalkError as error:
                if error.code == "InvalidParameterValue" and NOT_READY in error.message:
                    self.console.print(f"  ({target.environment} got busy before the update started; waiting for Ready again)")
                    continue
                raise
            except KeyboardInterrupt:
                self.console.error(going_on(target, "may have started"))
                raise
            try:
                self.console.print(f"Update of {target.environment} started (request {request_id}).")
                outcome = watcher.follow(target.environment, request_id, started, expect)
            except KeyboardInterrupt:
                self.console.error(going_on(target, f"(request {request_id}) goes on"))
                raise
            if outcome.result == "failed" and self.explain is not None:
                self.explain(target.environment, deadline)
            return outcome, ready


def runs_healthy(state: EnvState, label: str, target: Target) -> bool:
    return state.version_label == label and state.status == "Ready" and state.health in target.health


def going_on(target: Target, what: str) -> str:
    """Ctrl-C stops only the watching: Elastic Beanstalk carries an update it has accepted through to its end."""
    return (
        f"Interrupted: the update of {target.environment} {what} in Elastic Beanstalk; stopping here does not stop it. "
        f"Follow it with `inv eb.events --env {target.name} --follow`, or see where it stands with "
        f"`inv eb.status --env {target.name}`."
    )


def summarize(report: Report, console: Console) -> None:
    """Prints the verdict; raises for anything but a healthy deploy so the exit code tells the truth."""
    outcome, state = report.outcome, report.outcome.state
    where = f"{report.target.name} ({report.target.environment})"
    if report.no_op:
        return
    if outcome.ok and outcome.superseded_by:
        console.print(
            f"Deployed {report.label} to {where}: Elastic Beanstalk reported the update successful, then another update "
            f"(request {outcome.superseded_by}) superseded it before its final state could be read; "
            f"now {state.describe() if state else 'unknown'}."
        )
        return
    if outcome.ok:
        console.print(
            f"Deployed {report.label} to {where}: {state.status}, health {state.health}, {url_of(state)}" if state else ""
        )
        return
    lines = [f"Deploy of {report.label} to {where} {'TIMED OUT' if outcome.result == 'timeout' else 'FAILED'}."]
    if outcome.cause:
        lines += [f"  cause: {line}" for line in outcome.cause.splitlines()]
    if report.rollback is None:
        lines.append(f"  last known state: {state.describe() if state else 'unknown'}")
    else:
        # Both outcomes, each with its own state: the failed deploy's is history once the rollback has run.
        lines.append(f"  state after the failed deploy: {state.describe() if state else 'unknown'}")
        lines.append(f"  rollback to {report.previous_label}: {rollback_verdict(report.rollback)}")
        lines.append(f"  now: {describe_final(report)}")
    message = "\n".join(lines)
    if outcome.result == "timeout":
        raise DeployTimeout(message)
    raise PipelineError(message)


def rollback_verdict(back: Outcome) -> str:
    if back.ok:
        return "succeeded"
    return back.result.upper() + (f" ({back.cause.splitlines()[0]})" if back.cause else "")


def final_state(report: Report) -> EnvState | None:
    """The state the environment was last seen in: after the rollback when one ran, else after the deploy."""
    if report.rollback is not None and report.rollback.state is not None:
        return report.rollback.state
    return report.outcome.state


def describe_final(report: Report) -> str:
    state = final_state(report)
    return state.describe() if state else "unknown"


def deploy_task(job: Job, target: Target, label: str, rollback: bool, dry_run: bool) -> Report:
    """eb.deploy as the task runs it: settings in, verdict out (raises unless the deploy ended healthy)."""
    report = run_deploy(job, target, label, rollback, dry_run)
    summarize(report, job.console)
    return report


def run_deploy(job: Job, target: Target, label: str, rollback: bool, dry_run: bool, version_pending: bool = False) -> Report:
    """Deploys and returns the report without judging it (``summarize`` does); ``version_pending`` for a dry run
    planned before eb.version has created the version."""
    from ebship.aws import client
    from ebship.logs import explainer

    settings = job.settings
    settings.require("EB_APPLICATION")
    target = replace(target, health=accepted_health(target, settings.accepted_health))
    eb = Beanstalk(client(settings, "elasticbeanstalk"))
    last_good = S3LastGood(client(settings, "s3"), settings.eb_bucket, settings.bundle_prefix) if settings.eb_bucket else None
    deployer = Deployer(
        eb,
        job.console,
        float(settings.deploy_timeout),
        last_good=last_good,
        settle=float(settings.health_settle_timeout),
        explain=explainer(eb, job.console),
    )
    return deployer.run(
        target, label, rollback=rollback or settings.rollback == "true", dry_run=dry_run, version_pending=version_pending
    )
