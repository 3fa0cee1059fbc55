"""Follows an environment update to its end and decides, from evidence, whether it worked.

The events of the update (filtered by its RequestId) decide first: the documented success and failure messages, and any
ERROR or FATAL event. Then the environment's own state confirms: Ready, the expected version label, and a health in the
accepted set. Elastic Beanstalk returns to Ready whether a deploy worked or not, so Ready alone proves nothing.
One deadline bounds every wait; polling is quick while events arrive and backs off while nothing happens.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ebship.beanstalk import Beanstalk, BeanstalkError, EnvState, Event

SUCCESS_MESSAGES = (
    "Environment update completed successfully.",
    "Successfully deployed new configuration to environment.",
)
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
FAILING_SEVERITIES = ("ERROR", "FATAL")


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


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

    def next(self, current: float, news: bool) -> float:
        return self.busy if news else min(self.idle, current * self.factor)


DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True)
class Expectation:
    version_label: str = ""  # empty for a configuration update
    health: tuple[str, ...] = ("Green",)


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
    """'success', 'failure' or '' for an event of the update being followed."""
    if event.message in SUCCESS_MESSAGES:
        return "success"
    if event.message in FAILURE_MESSAGES or event.message.startswith(FAILURE_PREFIXES) or event.severity in FAILING_SEVERITIES:
        return "failure"
    return ""


class Deadline:
    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.at = clock.monotonic() + seconds
        self.seconds = seconds

    @property
    def left(self) -> float:
        return self.at - self.clock.monotonic()

    @property
    def passed(self) -> bool:
        return self.left <= 0

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(max(0.0, min(seconds, self.left)))


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
        except BeanstalkError as error:
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
        """Follows the update ``request_id`` of environment ``name`` to its end, then confirms the final state."""
        seen: set[tuple[datetime, str, str]] = set()
        events: list[Event] = []
        since: datetime | None = started - timedelta(minutes=5)  # room for clock skew; RequestId does the scoping
        verdict, failures = "", []
        interval, quiet = self.schedule.busy, 0
        started_seen = False  # Ready only means "over" once the update was seen under way (reads can lag the update)
        while True:
            found = self._ask(functools.partial(self.eb.events, name, request_id, since))
            new = [event for event in (found if isinstance(found, list) else []) if event.key not in seen]
            for event in new:
                seen.add(event.key)
                events.append(event)
                self.on_event(event)
                kind = classify(event)
                if kind == "failure":
                    verdict = "failure"
                    failures.append(event.message)
                elif kind == "success" and verdict != "failure":
                    verdict = "success"
            if new:
                started_seen = True
                since = max(event.time for event in new)
                quiet = 0
            else:
                quiet += 1
            ended = verdict == "success" or any(
                e.message in FAILURE_MESSAGES or e.message.startswith(FAILURE_PREFIXES) for e in new
            )
            if ended:
                break
            if quiet and quiet % self.schedule.state_every == 0:
                state = self.state(name)
                if state is not None and state.status != "Ready":
                    started_seen = True
                elif state is not None and started_seen:
                    break  # over without a closing event we could see: the final state decides
            if self.deadline.passed:
                self.state(name)  # the state at the deadline, not one from before the update: quiet polls rarely ask
                return Outcome(
                    "timeout", self.last_state, f"no end to the update within {self.deadline.seconds:.0f} s", events, self.calls
                )
            interval = self.schedule.next(interval, bool(new))
            self.deadline.sleep(interval)
        return self._confirm(name, expect, verdict, "\n".join(failures), events, request_id)

    def _confirm(
        self, name: str, expect: Expectation, verdict: str, cause: str, events: list[Event], request_id: str = ""
    ) -> Outcome:
        interval = self.schedule.busy
        while True:
            state = self.state(name)
            if (
                verdict == "success"
                and state is not None
                and (state.status != "Ready" or (expect.version_label and state.version_label != expect.version_label))
            ):
                # Our update succeeded, but the environment has moved on: if another update started since, the state
                # is that update's, not a verdict on ours.
                other = self._superseded_by(name, request_id, events)
                if other:
                    return Outcome("deployed", state, "", events, self.calls, superseded_by=other)
            if state is not None and state.status == "Ready":
                if verdict == "failure":
                    return Outcome("failed", state, cause, events, self.calls)
                if expect.version_label and state.version_label != expect.version_label:
                    return Outcome(
                        "failed",
                        state,
                        f"the environment runs {state.version_label or 'no version'}, not {expect.version_label}",
                        events,
                        self.calls,
                    )
                if state.health in expect.health:
                    return Outcome("deployed", state, "", events, self.calls)
                if state.health == "Red":
                    return Outcome("failed", state, "the environment's health is Red", events, self.calls)
                # Grey or Yellow right after an update is normal for a while: keep looking until the deadline.
            if self.deadline.passed:
                waited = "Ready" if state is None or state.status != "Ready" else f"health {'/'.join(expect.health)}"
                return Outcome("timeout", state, f"still waiting for {waited} at the deadline", events, self.calls)
            self.deadline.sleep(interval)
            interval = self.schedule.next(interval, False)

    def _superseded_by(self, name: str, request_id: str, events: list[Event]) -> str:
        """The RequestId of another update whose events start at or after this update's success event, if any."""
        succeeded = max(event.time for event in events if classify(event) == "success")
        found = self._ask(functools.partial(self.eb.recent_events, name, 100))
        for event in found if isinstance(found, list) else []:
            if event.request_id and event.request_id != request_id and event.time >= succeeded:
                return event.request_id
        return ""
