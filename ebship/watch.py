"""Follows an environment update to its end and decides, from evidence, whether it worked.

The events of the update (filtered by its RequestId) decide first: the documented success and failure messages, and any
ERROR or FATAL event. Then the environment's own state confirms: Ready, the expected version label, and a health in the
accepted set. Elastic Beanstalk returns to Ready whether a deploy worked or not, so Ready alone proves nothing.
One deadline bounds every wait; polling is quick while events arrive and backs off while nothing happens.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ebship.aws import CloudError
from ebship.beanstalk import Beanstalk, EnvState, Event
from ebship.clock import Deadline

# The one event that closes a successful update (developer guide, eb3-deploy.md: the last of the four deploy events).
SUCCESS_CLOSINGS = ("Environment update completed successfully.",)
# Success of a step, not the end of the update: a public transcript of a configuration update (ThoughtWorksStudios/
# eb_deployer#69) shows it followed one second later by ERROR "Update environment operation is complete, but with errors.".
SUCCESS_STEPS = ("Successfully deployed new configuration to environment.",)
# Terminal failures as the EB CLI lists them (ebcli/operations/commonops.py, _raise_if_error_event).
FAILURE_MESSAGES = (
    "Failed to deploy application.",
    "Failed to deploy configuration.",
    "The environment was reverted to the previous configuration setting.",
)
FAILURE_PREFIXES = (
    "Update environment operation is complete, but with errors.",
    "Create environment operation is complete, but with errors.",
    "Environment health has been set to RED",
)
# Every "<Operation> environment operation is complete, but with <errors|command timeouts|...>." closes an update that did
# not go well; the command-timeout form is documented in the developer guide (troubleshooting-deployments.md).
INCOMPLETE_CLOSING = re.compile(r"^\w+ environment operation is complete, but with ")
# The WARN that names the instances behind a command-timeout closing ("The following instances have not responded in the
# allowed command timeout time (they might still finish eventually on their own): [...]"): the cause worth printing.
COMMAND_TIMEOUT_WARNING = "have not responded in the allowed command timeout time"
FAILING_SEVERITIES = ("ERROR", "FATAL")


@dataclass(frozen=True)
class Schedule:
    """Seconds between polls: ``busy`` right after news, growing by ``factor`` up to ``idle`` while nothing happens.

    The idle interval bounds how late the end of an update is noticed (on average half of it) and sets the call rate;
    1.7 s with a state check every 6th quiet poll stays under one call per second (docs/benchmarks.md, figure 1).
    """

    busy: float = 1.0
    idle: float = 1.7
    factor: float = 1.5
    state_every: int = 6  # ask for the environment's state every Nth quiet poll
    # Ready seen but no closing event yet: keep reading the update's events this long before the state decides, since a
    # closing event can follow Ready by a second or more (see SUCCESS_STEPS).
    closing_grace: float = 5.0

    def next(self, current: float, news: bool) -> float:
        return self.busy if news else min(self.idle, current * self.factor)


DEFAULT_SCHEDULE = Schedule()
DEFAULT_SETTLE = 180.0  # HEALTH_SETTLE_TIMEOUT's default: enhanced health reports a new fleet within a minute or two


@dataclass(frozen=True)
class Expectation:
    version_label: str = ""  # empty for a configuration update
    health: tuple[str, ...] = ("Green",)
    # After the update ended well, how long health may stay outside ``health`` (Grey, Yellow) before that is a failure.
    settle: float = DEFAULT_SETTLE


@dataclass
class Outcome:
    result: str  # "deployed", "failed" or "timeout"
    state: EnvState | None
    cause: str = ""
    events: list[Event] = field(default_factory=list)
    api_calls: int = 0
    superseded_by: str = ""  # RequestId of another update that started right after this one reported success

    @property
    def ok(self) -> bool:
        return self.result == "deployed"


def classify(event: Event) -> str:
    """What one event of the followed update says.

    'closed': the update ended well; 'failed': the update ended badly (a terminal failure or an incomplete closing);
    'error': an ERROR or FATAL event before the end (the update goes on, but cannot end well); 'step': a step succeeded;
    'timeout-warning': instances did not answer within the command timeout; '' for anything else.
    """
    message = event.message
    if message in SUCCESS_CLOSINGS:
        return "closed"
    if message in FAILURE_MESSAGES or message.startswith(FAILURE_PREFIXES) or INCOMPLETE_CLOSING.match(message):
        return "failed"
    if event.severity in FAILING_SEVERITIES:
        return "error"
    if message in SUCCESS_STEPS:
        return "step"
    if COMMAND_TIMEOUT_WARNING in message:
        return "timeout-warning"
    return ""


@dataclass
class Evidence:
    """What the update's own events said so far."""

    events: list[Event] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # ERROR/FATAL and failing closings, in order
    warnings: list[str] = field(default_factory=list)  # command-timeout WARNs: they explain a timeout closing
    succeeded_at: datetime | None = None  # the last success event (closing or step)
    closed: bool = False  # a closing event was read: the update is over

    def add(self, event: Event) -> None:
        self.events.append(event)
        kind = classify(event)
        if kind in ("failed", "error"):
            self.failures.append(event.message)
        if kind == "timeout-warning":
            self.warnings.append(event.message)
        if kind in ("closed", "step"):
            self.succeeded_at = event.time
        if kind in ("closed", "failed"):
            self.closed = True

    @property
    def verdict(self) -> str:
        """'failure' once anything failed (a later success never undoes it), 'success' after a success, else ''."""
        if self.failures:
            return "failure"
        return "success" if self.succeeded_at is not None else ""

    @property
    def cause(self) -> str:
        return "\n".join(self.warnings + self.failures)


class Watcher:
    def __init__(
        self,
        eb: Beanstalk,
        deadline: Deadline,
        on_event: Callable[[Event], None],
        on_note: Callable[[str], None],
        schedule: Schedule = DEFAULT_SCHEDULE,
    ) -> None:
        self.eb = eb
        self.deadline = deadline
        self.on_event = on_event
        self.on_note = on_note
        self.schedule = schedule
        self.calls = 0
        self.last_state: EnvState | None = None

    # --- asking, with throttling absorbed -------------------------------------------------------------------------

    def _ask(self, operation: Callable[[], object]) -> object | None:
        """One API call; a transient failure (still throttled after botocore's retries) yields None instead of raising."""
        self.calls += 1
        try:
            return operation()
        except CloudError as error:
            if not error.transient:
                raise
            self.on_note(f"Elastic Beanstalk answered {error.code}; asking again later.")
            return None

    def state(self, name: str) -> EnvState | None:
        state = self._ask(lambda: self.eb.environment(name))
        if isinstance(state, EnvState):
            self.last_state = state
        return self.last_state

    # --- waits --------------------------------------------------------------------------------------------------------

    def until_ready(self, name: str) -> EnvState | None:
        """Waits until the environment is Ready; None when the deadline passes first."""
        interval = self.schedule.busy
        while True:
            state = self.state(name)
            if state is not None and state.status == "Ready":
                return state
            if self.deadline.passed:
                return None
            self.deadline.sleep(interval)
            interval = min(self.schedule.idle * 2, interval * self.schedule.factor)

    def follow(self, name: str, request_id: str, started: datetime, expect: Expectation) -> Outcome:
        """Follows the update ``request_id`` of environment ``name`` to its end, then confirms the final state.

        The update is over at its closing event, or, when none can be seen, once the environment is Ready again and a
        further ``closing_grace`` of reading its events brought no closing either.
        """
        seen: set[tuple[datetime, str, str]] = set()
        evidence = Evidence()
        since: datetime | None = started - timedelta(minutes=5)  # room for clock skew; RequestId does the scoping
        interval, quiet = self.schedule.busy, 0
        started_seen = False  # Ready only means "over" once the update was seen under way (reads can lag the update)
        ready_at: float | None = None  # when Ready was seen without a closing event
        while True:
            new = self._read_events(name, request_id, since, seen, evidence)
            if new:
                started_seen = True
                since = max(event.time for event in new)
                quiet = 0
            else:
                quiet += 1
            if evidence.closed:
                break
            step_done = any(classify(event) == "step" for event in new)
            if ready_at is None and (step_done or (quiet and quiet % self.schedule.state_every == 0)):
                state = self.state(name)
                if state is not None and state.status != "Ready":
                    started_seen = True
                elif state is not None and started_seen:
                    ready_at = self.deadline.clock.monotonic()
            if ready_at is not None and self.deadline.clock.monotonic() - ready_at >= self.schedule.closing_grace:
                break  # over without a closing event we could see: the final state decides
            if self.deadline.passed:
                self.state(name)  # the state at the deadline, not one from before the update: quiet polls rarely ask
                return Outcome(
                    "timeout",
                    self.last_state,
                    f"no end to the update within {self.deadline.seconds:.0f} s",
                    evidence.events,
                    self.calls,
                )
            interval = self.schedule.next(interval, bool(new))
            if ready_at is not None:
                interval = min(interval, self.schedule.busy)
            self.deadline.sleep(interval)
        return self._confirm(name, expect, evidence, request_id, since, seen)

    def _read_events(
        self, name: str, request_id: str, since: datetime | None, seen: set[tuple[datetime, str, str]], evidence: Evidence
    ) -> list[Event]:
        """Reads the update's events since ``since``; returns the ones not seen before, each printed and weighed."""
        found = self._ask(functools.partial(self.eb.events, name, request_id, since))
        new = [event for event in (found if isinstance(found, list) else []) if event.key not in seen]
        for event in new:
            seen.add(event.key)
            evidence.add(event)
            self.on_event(event)
        return new

    def _confirm(
        self,
        name: str,
        expect: Expectation,
        evidence: Evidence,
        request_id: str,
        since: datetime | None,
        seen: set[tuple[datetime, str, str]],
    ) -> Outcome:
        """Judges the update by its events and the environment's final state, reading the events once more before a
        success is declared: an error read before the verdict is printed always wins."""
        interval = self.schedule.busy
        unsettled_since: float | None = None
        while True:
            state = self.state(name)
            verdict = evidence.verdict
            if (
                verdict == "success"
                and state is not None
                and (state.status != "Ready" or (expect.version_label and state.version_label != expect.version_label))
            ):
                # Our update succeeded, but the environment has moved on: if another update started since, the state
                # is that update's, not a verdict on ours.
                other = self._superseded_by(name, request_id, evidence)
                if other:
                    return Outcome("deployed", state, "", evidence.events, self.calls, superseded_by=other)
            if state is not None and state.status == "Ready":
                if verdict == "failure":
                    return Outcome("failed", state, evidence.cause, evidence.events, self.calls)
                if expect.version_label and state.version_label != expect.version_label:
                    return self._failed(
                        state,
                        f"the environment runs {state.version_label or 'no version'}, not {expect.version_label}",
                        evidence,
                    )
                if state.health in expect.health:
                    self._read_events(name, request_id, since, seen, evidence)
                    if evidence.verdict == "failure":
                        return Outcome("failed", state, evidence.cause, evidence.events, self.calls)
                    mixed = self._mixed_versions(name, expect.version_label)
                    if mixed:
                        return self._failed(state, mixed, evidence)
                    return Outcome("deployed", state, "", evidence.events, self.calls)
                if state.health == "Red":
                    return self._failed(state, "the environment's health is Red" + self._causes(name), evidence)
                # Grey or Yellow right after an update is normal for a while, but only for a while.
                now = self.deadline.clock.monotonic()
                unsettled_since = now if unsettled_since is None else unsettled_since
                if now - unsettled_since >= expect.settle:
                    return self._failed(
                        state,
                        f"health stayed {state.health} for {expect.settle:.0f} s after the update ended "
                        f"(accepted: {'/'.join(expect.health)})" + self._causes(name),
                        evidence,
                    )
            else:
                unsettled_since = None
            if self.deadline.passed:
                waited = "Ready" if state is None or state.status != "Ready" else f"health {'/'.join(expect.health)}"
                return Outcome("timeout", state, f"still waiting for {waited} at the deadline", evidence.events, self.calls)
            self.deadline.sleep(interval)
            interval = self.schedule.next(interval, False)

    def _failed(self, state: EnvState, cause: str, evidence: Evidence) -> Outcome:
        return Outcome("failed", state, "\n".join(filter(None, [cause, evidence.cause])), evidence.events, self.calls)

    def _causes(self, name: str) -> str:
        """Enhanced health's causes, as ": cause; cause", or "" (basic health has none to give)."""
        try:
            causes = self._ask(functools.partial(self.eb.health_causes, name))
        except CloudError:
            return ""
        return (": " + "; ".join(causes)) if isinstance(causes, list) and causes else ""

    def _mixed_versions(self, name: str, label: str) -> str:
        """When instances do not all run ``label``: which run what ("1 of 3 instances run v1, not v2: i-..."); "" when all
        do, for a configuration update, or under basic health (no per-instance versions to read). One call (or one per
        page of instances) at the verdict, never per poll."""
        if not label:
            return ""
        found = self._ask(functools.partial(self.eb.instance_versions, name))
        if not isinstance(found, list):
            return ""
        wrong: dict[str, list[str]] = {}
        for instance in found:
            if instance.version_label == label and instance.status == "Deployed":
                continue
            if instance.version_label == label:
                key = f"failed to deploy {label}" if instance.status == "Failed" else f"still deploy {label}"
            else:
                key = f"run {instance.version_label or 'no version'}, not {label}"
            wrong.setdefault(key, []).append(instance.instance_id)
        parts = [f"{len(ids)} of {len(found)} instances {what}: {', '.join(ids)}" for what, ids in wrong.items()]
        return ("mixed versions: " + "; ".join(parts)) if parts else ""

    def _superseded_by(self, name: str, request_id: str, evidence: Evidence) -> str:
        """The RequestId of another update whose events start at or after this update's success event, if any."""
        succeeded = evidence.succeeded_at
        if succeeded is None:
            return ""
        found = self._ask(functools.partial(self.eb.recent_events, name, 100))
        for event in found if isinstance(found, list) else []:
            if event.request_id and event.request_id != request_id and event.time >= succeeded:
                return event.request_id
        return ""
