"""eb.deploy: put a registered version on an environment and report, truthfully, how it ended.

The plan waits (bounded) for Ready, updates, follows the update's own events, confirms by the final state, and on
failure can redeploy the version that ran healthy before. One deadline covers all of it. ``Deployer`` is the executor's
actions for environment updates (eb.deploy's and eb.env's): the plan's steps dispatch to its ``eb_*`` methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ebship.aws import CloudError
from ebship.beanstalk import Beanstalk, EnvState, Event
from ebship.clock import Clock, Deadline, SystemClock
from ebship.cloud import Cloud
from ebship.environments import DEFAULT_HEALTH
from ebship.errors import UsageError
from ebship.job import Job, Target, accepted_health
from ebship.lastgood import LastGood, MemoryLastGood, S3LastGood
from ebship.output import Console
from ebship.plan import Plan, Step, executor
from ebship.verdict import Report, judge
from ebship.watch import DEFAULT_SCHEDULE, DEFAULT_SETTLE, Expectation, Outcome, Schedule, Watcher

NOT_READY = "is in an invalid state for this operation"


def plan_deploy(target: Target, label: str, state: EnvState, rollback_to: str | None = None) -> Plan:
    """``rollback_to``: None when no rollback was asked for; "" when one was, but no other version is known to have
    run healthy."""
    steps = []
    if healthy_now(state, target) and state.version_label:
        steps.append(
            Step(
                "eb.record_last_good",
                {"EnvironmentName": target.environment, "VersionLabel": state.version_label},
                f"record {state.version_label} as the version {target.environment} runs healthy now (the way back, "
                "should this deploy fail)",
            )
        )
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
    notes: tuple[str, ...] = ()
    if rollback_to:
        steps.append(
            Step(
                "eb.roll_back",
                {"ApplicationName": target.application, "EnvironmentName": target.environment, "VersionLabel": rollback_to},
                f"if the deploy fails: redeploy {rollback_to}, the last version that ran healthy on {target.environment}",
            )
        )
    elif rollback_to == "":
        notes = (f"no rollback if it fails: no version other than {label} is known to have run healthy on {target.environment}",)
    return Plan(f"eb.deploy {label} to {target.name} ({target.environment})", tuple(steps), notes)


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


def previous_healthy(state: EnvState, target: Target, last_good: LastGood) -> str:
    """The version that ran healthy before this deploy: the environment's own when it is Ready and healthy now, else
    the record of the last healthy deploy (after a failed deploy the environment's VersionLabel cannot be trusted)."""
    if healthy_now(state, target):
        return state.version_label
    return last_good.read(target.environment)


def healthy_now(state: EnvState, target: Target) -> bool:
    return state.status == "Ready" and state.health in target.health


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
        explain: Callable[[str, list[Event]], None] | None = None,
    ) -> None:
        self.settle = settle
        # Says why a failed update failed, from its environment and events (ebship.logs.explainer); None: the events
        # only. Runs after the verdict is printed (verdict.judge), or before a rollback replaces the failed instances.
        self.explain = explain
        self.last_good = last_good or MemoryLastGood()
        self.eb = eb
        self.console = console
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.schedule = schedule
        # Asked with the plan just before it runs (never on a dry run); raises to stop it (ebship.gate's confirmer).
        self.confirm: Callable[[Plan], None] | None = None

    def _watcher(self, deadline: Deadline) -> Watcher:
        return Watcher(self.eb, deadline, self._print_event, lambda note: self.console.print(f"  ({note})"), self.schedule)

    def _print_event(self, event: Any) -> None:
        self.console.print(f"  {event.line()}")

    def run(
        self, target: Target, label: str, rollback: bool = False, dry_run: bool = False, version_pending: bool = False
    ) -> Report:
        target = target if target.health else replace(target, health=DEFAULT_HEALTH)
        state = preflight(self.eb, target, label, version_pending)
        if runs_healthy(state, label, target):
            self.console.print(f"{target.environment} already runs {label}, Ready and {state.health}: nothing to deploy.")
            return Report(Outcome("deployed", state), label, target, state.version_label, no_op=True)
        previous = previous_healthy(state, target, self.last_good)
        rollback_to = (previous if previous != label else "") if rollback else None
        return self.execute(plan_deploy(target, label, state, rollback_to), target, label, dry_run, previous, state)

    def execute(
        self,
        plan: Plan,
        target: Target,
        label: str,
        dry_run: bool,
        previous: str = "",
        state: EnvState | None = None,
    ) -> Report:
        """Runs a plan of environment updates (or, on a dry run, prints it) under one deadline; returns the report."""
        self.target = target
        self.deadline = Deadline(self.clock, self.timeout)
        self.report = Report(Outcome("planned", state), label, target, previous, planned=dry_run)
        if self.confirm is not None and not dry_run:
            self.confirm(plan)
        executor(self, self.console, dry_run).run(plan)
        return self.report

    # -- the plan's actions ------------------------------------------------------------------------------------------

    def eb_record_last_good(self, EnvironmentName: str, VersionLabel: str) -> None:  # noqa: N803
        self.last_good.write(EnvironmentName, VersionLabel)

    def eb_wait_ready(self, EnvironmentName: str) -> None:  # noqa: N803 (AWS's names, as the plan shows them)
        # The update under way may be this very label's (a run interrupted after UpdateEnvironment): once it is over,
        # deploying the label again would only repeat it.
        ready = self._watcher(self.deadline).until_ready(EnvironmentName)
        label, target = self.report.label, self.target
        if ready is not None and runs_healthy(ready, label, target):
            self.console.print(
                f"{target.environment} now runs {label}, Ready and {ready.health}: the update that was under way "
                "deployed it; nothing to deploy."
            )
            self.report = Report(Outcome("deployed", ready), label, target, ready.version_label, no_op=True)

    def eb_update_environment(
        self,
        ApplicationName: str,  # noqa: N803
        EnvironmentName: str,  # noqa: N803
        VersionLabel: str = "",  # noqa: N803
        OptionSettings: list[dict[str, str]] | None = None,  # noqa: N803
        OptionsToRemove: list[dict[str, str]] | None = None,  # noqa: N803
    ) -> None:
        """Deploys a version or settings (or both), and follows the update to its verdict."""
        if self.report.no_op:
            return
        change: dict[str, Any] = {
            "VersionLabel": VersionLabel,
            "OptionSettings": OptionSettings,
            "OptionsToRemove": OptionsToRemove,
        }
        expect = Expectation(VersionLabel, self.target.health, self.settle)
        self.report.outcome, _ = self.update(self.target, change, expect, self.deadline)
        self.report.explanation = self._explanation(EnvironmentName, self.report.outcome)

    def eb_roll_back(self, ApplicationName: str, EnvironmentName: str, VersionLabel: str) -> None:  # noqa: N803
        """Only after a failed deploy: redeploys the version that ran healthy before, under a deadline of its own."""
        if self.report.no_op or self.report.outcome.result != "failed":
            return
        if self.report.explanation is not None:  # now, while the failed instances and their logs are still there
            self.console.print(f"The deploy to {EnvironmentName} failed ({first_line(self.report.outcome.cause)}).")
            explanation, self.report.explanation = self.report.explanation, None
            explanation()
        self.console.print(f"Rolling back {EnvironmentName} to {VersionLabel}, the last version that ran healthy.")
        expect = Expectation(VersionLabel, self.target.health, self.settle)
        back, _ = self.update(self.target, {"VersionLabel": VersionLabel}, expect, Deadline(self.clock, self.timeout))
        self.report.rollback = back
        self.report.explanation = self._explanation(EnvironmentName, back)

    def _explanation(self, environment: str, outcome: Outcome) -> Callable[[], None] | None:
        """Why a failed update failed, to be told once its verdict is out; None for an update that did not fail."""
        if outcome.result != "failed" or self.explain is None:
            return None
        explain = self.explain
        return lambda: explain(environment, outcome.events)

    def update(
        self, target: Target, change: dict[str, Any], expect: Expectation, deadline: Deadline
    ) -> tuple[Outcome, EnvState | None]:
        """Waits for Ready, starts the update (again if another one got in first), follows it; returns the outcome and
        the state just before the update."""
        before, self.eb.budget = getattr(self.eb, "budget", None), deadline  # throttled calls: retried up to it
        try:
            return self._update(target, change, expect, deadline)
        finally:
            self.eb.budget = before

    def _update(
        self, target: Target, change: dict[str, Any], expect: Expectation, deadline: Deadline
    ) -> tuple[Outcome, EnvState | None]:
        watcher = self._watcher(deadline)
        while True:
            ready = watcher.until_ready(target.environment)
            if ready is None:
                return Outcome(
                    "timeout", watcher.last_state, "the environment never became Ready to take the update", [], watcher.calls
                ), None
            started = datetime.now(UTC)
            try:
                request_id = self.eb.update(
                    application=target.application,
                    environment=target.environment,
                    version_label=change.get("VersionLabel", ""),
                    option_settings=change.get("OptionSettings"),
                    options_to_remove=change.get("OptionsToRemove"),
                )
            except CloudError as error:
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
            return outcome, ready


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else "see the events above"


def runs_healthy(state: EnvState, label: str, target: Target) -> bool:
    return state.version_label == label and state.status == "Ready" and state.health in target.health


def going_on(target: Target, what: str) -> str:
    """Ctrl-C stops only the watching: Elastic Beanstalk carries an update it has accepted through to its end."""
    return (
        f"Interrupted: the update of {target.environment} {what} in Elastic Beanstalk; stopping here does not stop it. "
        f"Follow it with `inv eb.events --env {target.name} --follow`, or see where it stands with "
        f"`inv eb.status --env {target.name}`."
    )


def deploy(
    job: Job, target: Target, label: str, rollback: bool, dry_run: bool, confirm: Callable[[Plan], None] | None = None
) -> Report:
    """eb.deploy as the task runs it: settings in, verdict out (raises unless the deploy ended healthy)."""
    report = run_deploy(job, target, label, rollback, dry_run, confirm=confirm)
    judge(report, job.console)
    return report


def deployer_for(job: Job, cloud: Cloud) -> Deployer:
    """The deployer with the job's settings: its deadline, the health settle time, the last-good record in the bucket,
    and the tail logs fetched after a failure."""
    from ebship.logs import explainer

    settings = job.settings
    last_good = S3LastGood(cloud.s3, settings.eb_bucket, settings.bundle_prefix) if settings.eb_bucket else None
    return Deployer(
        cloud.eb,
        job.console,
        float(settings.deploy_timeout),
        clock=cloud.clock,
        last_good=last_good,
        settle=float(settings.health_settle_timeout),
        explain=explainer(cloud.eb, job.console, cloud.clock, lambda: cloud.s3.client, settings.eb_application),
    )


def run_deploy(
    job: Job,
    target: Target,
    label: str,
    rollback: bool,
    dry_run: bool,
    version_pending: bool = False,
    cloud: Cloud | None = None,
    confirm: Callable[[Plan], None] | None = None,
) -> Report:
    """Deploys and returns the report without judging it (``judge`` does); ``version_pending`` for a dry run planned
    before eb.version has created the version; ``confirm`` sees the plan before it runs (ebship.gate)."""
    settings = job.settings
    settings.require("EB_APPLICATION")
    target = replace(target, health=accepted_health(target, settings.accepted_health))
    deployer = deployer_for(job, cloud or Cloud(settings))
    deployer.confirm = confirm
    return deployer.run(
        target, label, rollback=rollback or settings.rollback == "true", dry_run=dry_run, version_pending=version_pending
    )
