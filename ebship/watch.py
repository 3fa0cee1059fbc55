"""Follows an environment update to its end and decides, from evidence, whether it worked.

The events of the update (filtered by its RequestId) decide first: the documented success and failure messages, and any
ERROR or FATAL event. Then the environment's own state confirms: Ready, the expected version label, and a health in the
accepted set. Elastic Beanstalk returns to Ready whether a deploy worked or not, so Ready alone proves nothing.
One deadline bounds every wait; polling is quick while events arrive and backs off while nothing happens.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ebship.aws import CloudError
from ebship.beanstalk import Beanstalk, EnvState, Event, HealthReport
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


# Events that say the end of an update is near (each is followed by the closing within seconds in public transcripts):
# once one is read, polls stay busy for ``Schedule.end_window``. Developer guide, eb3-deploy.md, for the first; the
# fleet forms as localeb/README.md "Fleets" cites them.
END_SIGNS = (
    "New application version was deployed to running EC2 instances.",
    "Successfully deployed new configuration to environment.",
    "Instance deployment completed successfully.",
    "Command execution completed on all instances.",
    "Shifting all traffic to the new instance(s).",
)
END_SIGN_PATTERNS = (
    re.compile(r"^Command execution completed on (\d+) of \1 instances"),  # the last batch of a rolling deploy
    re.compile(r"^Deleted temporary auto scaling group"),  # an immutable deploy's last step
)


def ends_soon(event: Event) -> bool:
    """Whether an event of the update says that its closing is near (an ERROR is followed by a failing closing)."""
    return (
        event.message in END_SIGNS
        or any(pattern.match(event.message) for pattern in END_SIGN_PATTERNS)
        or event.severity in FAILING_SEVERITIES
    )


@dataclass(frozen=True)
class Schedule:
    """Seconds between polls, each poll one call: ``busy`` at first, growing by ``factor`` up to ``idle`` through the long
    middle of an update (its events there, "Deploying new version to instance(s).", say nothing is about to end), and
    ``near`` once the update's own events say the end is near (``END_SIGNS``); every interval is spread by ``jitter`` (a
    share, either way), so that pipelines started together do not poll in step.

    Elastic Beanstalk's API limit is shared by the whole account (AWS knowledge center, EB throttling); the EB CLI asks
    for the update's events every 5 s. Noticing the closing a second or two later costs a verdict nothing under enhanced
    health, whose reports must still show green for three intervals after it (``Watcher._held``): so the end is polled
    every ``near`` seconds, not every second (docs/benchmarks.md, figure 1).
    """

    busy: float = 1.0
    idle: float = 10.0
    factor: float = 1.5
    state_every: int = 4  # every Nth quiet poll asks for the environment's state instead of the update's events
    # Ready seen but no closing event yet: keep reading the update's events this long before the state decides. Events
    # reach DescribeEvents some seconds after they happen, and Ready can show before the closing does: the stand-in's
    # variants for both (localeb/README.md, "Time variants": event-delay up to 5 s, ready-first 3 s) fit three times.
    # It costs nothing when the closing comes, which is every update Elastic Beanstalk ends.
    closing_grace: float = 15.0
    end_window: float = 30.0  # polls come every ``near`` seconds this long after a sign that the end is near
    near: float = 3.0
    jitter: float = 0.2

    def next(self, current: float) -> float:
        return min(self.idle, current * self.factor)


DEFAULT_SCHEDULE = Schedule()
STALE_REPORT = "instances: report older than the update's end"
HOLDING = "instances: green, in fewer reports than a downgrade takes"
JUDGED_REPORTS = 3  # the documented downgrade: three failed checks
# "Health status and cause messages for individual instances are updated every 10 seconds" (developer guide,
# health-enhanced-status.md).
REPORT_INTERVAL = timedelta(seconds=10)
SUPERSEDED_EVERY = 5.0
DEFAULT_SETTLE = 180.0  # HEALTH_SETTLE_TIMEOUT's default: enhanced health reports a new fleet within a minute or two
# Instance health statuses by colour (developer guide, health-enhanced-status.md): Ok and Info are green (Info: an
# operation in progress, or one that completed lately), Warning yellow, Degraded and Severe red, the rest grey.
STATUS_COLOURS = {
    "Ok": "Green",
    "Info": "Green",
    "Warning": "Yellow",
    "Degraded": "Red",
    "Severe": "Red",
}


@dataclass(frozen=True)
class Expectation:
    version_label: str = ""  # empty for a configuration update
    health: tuple[str, ...] = ("Green",)
    # After the update ended well, how long health may stay outside ``health`` (Grey, Yellow, Red) before that is a
    # failure.
    settle: float = DEFAULT_SETTLE


@dataclass
class Outcome:
    result: str  # "deployed", "failed" or "timeout"
    state: EnvState | None
    cause: str = ""
    events: list[Event] = field(default_factory=list)
    api_calls: int = 0
    superseded_by: str = ""  # RequestId of another update that started right after this one reported success
    settling: float = 0.0  # seconds from the update's end (as read) to the verdict: what waiting for the truth cost

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
        self.slowdown = 1.0  # grows while Elastic Beanstalk throttles, shrinks back while it answers
        self._throttled_seen = eb.throttled if isinstance(getattr(eb, "throttled", None), int) else 0
        if getattr(eb, "on_throttled", "") is None:
            eb.on_throttled = on_note  # said once: the facade asks again more slowly, within its budget
        self._noted_throttling = False
        self.answered = False  # whether the last call was answered (not still throttled)
        self.next_report_in = 0.0  # seconds until the instances' next health report is due, when a stale one says so
        self._good_reports: list[datetime] = []  # the times of the reports in which every instance was green, in a row
        self._report_times: list[datetime] = []  # every report time seen since the update ended, oldest first
        self._green_from: datetime | None = None  # the last report that was not all green, when there was one
        self._jitter = random.Random()

    # --- asking, with throttling absorbed -------------------------------------------------------------------------

    def _ask(self, operation: Callable[[], object]) -> object | None:
        """One API call; a transient failure (still throttled after every retry) yields None instead of raising."""
        self.calls += 1
        self.answered = False
        try:
            found = operation()
        except CloudError as error:
            if not error.transient:
                raise
            self._retries(answered=False)
            self._throttled()
            if not self._noted_throttling:
                self._noted_throttling = True
                self.on_note(f"Elastic Beanstalk answered {error.code}; asking again later.")
            return None
        if self._retries(answered=True):
            self._throttled()
        else:
            self.slowdown = max(1.0, self.slowdown * 0.8)
        self.answered = True
        return found

    def _retries(self, answered: bool) -> int:
        """Counts the throttled answers the facade retried during the last call as calls too; returns how many."""
        throttled = getattr(self.eb, "throttled", 0)
        if not isinstance(throttled, int) or throttled <= self._throttled_seen:
            return 0
        retried = throttled - self._throttled_seen
        self._throttled_seen = throttled
        self.calls += retried if answered else retried - 1
        return retried

    def _throttled(self) -> None:
        self.slowdown = min(8.0, self.slowdown * 2)

    def _spread(self, interval: float) -> float:
        """``interval`` spread by the schedule's jitter and stretched while Elastic Beanstalk throttles."""
        spread = self.schedule.jitter
        return interval * self.slowdown * self._jitter.uniform(1 - spread, 1 + spread)

    def _pause(self, interval: float) -> None:
        self.deadline.sleep(self._spread(interval))  # never past the deadline

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
            self._pause(interval)
            interval = min(self.schedule.idle, interval * self.schedule.factor)

    def follow(self, name: str, request_id: str, started: datetime, expect: Expectation) -> Outcome:
        """Follows the update ``request_id`` of environment ``name`` to its end, then confirms the final state.

        Each poll makes one call: the update's events, or, every ``state_every``-th quiet poll and right after a success
        step, the environment's state. The update is over at its closing event, or, when none can be seen, once the
        environment is Ready again and a further ``closing_grace`` of reading its events brought no closing either. The
        state alone never ends it: without one event of the update read, it goes on to the deadline.
        """
        self._jitter = random.Random(request_id)  # its own spread: pipelines started together drift apart
        seen: set[tuple[datetime, str, str]] = set()
        evidence = Evidence()
        since: datetime | None = started - timedelta(minutes=5)  # room for clock skew; RequestId does the scoping
        interval, quiet = self.schedule.busy, 0
        state_next = False  # a success step was read: the next poll asks for the state
        ready_at: float | None = None  # when Ready was seen, after the update's events, without a closing event
        end_near_at: float | None = None  # when the last sign that the end is near was read
        while True:
            clock = self.deadline.clock
            new: list[Event] = []
            if ready_at is None and (state_next or (quiet and quiet % self.schedule.state_every == 0)):
                state_next = False
                state = self.state(name)
                if state is not None and state.status == "Ready" and evidence.events:
                    ready_at = clock.monotonic()
                quiet += 1
            else:
                new = self._read_events(name, request_id, since, seen, evidence)
                if new:
                    since = max(event.time for event in new)
                    quiet = 0
                else:
                    quiet += 1
                if evidence.closed:
                    break
                state_next = any(classify(event) == "step" for event in new)
                if any(ends_soon(event) for event in new):
                    end_near_at = clock.monotonic()
            if ready_at is not None and clock.monotonic() - ready_at >= self.schedule.closing_grace:
                break  # over without a closing event we could see: the final state decides
            if self.deadline.passed:
                self.state(name)  # the state at the deadline, not one from before the update: quiet polls rarely ask
                cause = f"no end to the update within {self.deadline.seconds:.0f} s"
                if not evidence.events:
                    cause += f": not one event of its request ({request_id}) could be read"
                return Outcome("timeout", self.last_state, cause, evidence.events, self.calls)
            near = end_near_at is not None and clock.monotonic() - end_near_at < self.schedule.end_window
            interval = self.schedule.next(interval)
            if near or ready_at is not None:  # the end is near, or Ready came before a closing we could see
                interval = min(interval, self.schedule.near)
            if state_next:
                interval = self.schedule.busy
            self._pause(interval)
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
        success is declared: an error read before the verdict is printed always wins.

        A success also needs, under enhanced health, a report of every instance refreshed after the update's end, each
        on the new version and green (Ok or Info) or in the accepted colours: instance health is refreshed every 10 s,
        so a report read at the closing event can still show the previous deployment. Whatever is not settled yet (a
        stale report, an instance in progress, with no deployment yet, or still on the old version while it is retired,
        health outside the accepted colours, Red included) is waited out for ``expect.settle`` seconds; only what lasts
        past that fails the deploy.
        """
        clock = self.deadline.clock
        began = clock.monotonic()
        settle_ends = began + expect.settle
        self._good_reports, self._report_times, self._green_from = [], [], None
        interval = self.schedule.busy
        instances_checked = not expect.version_label  # a configuration update has no version to find on instances
        instance_reads = 0
        state: EnvState | None = None
        read_state = True
        looked_at: float | None = None  # when another update was last looked for
        while True:
            if read_state:
                state = self.state(name)
            read_state = True
            verdict = evidence.verdict
            if (
                verdict == "success"
                and state is not None
                and (state.status != "Ready" or (expect.version_label and state.version_label != expect.version_label))
            ):
                # Our update succeeded, but the environment has moved on: if another update started since, the state
                # is that update's, not a verdict on ours. Asked at most every SUPERSEDED_EVERY seconds: an environment
                # can also show Updating for a while after its closing event.
                other = ""
                if looked_at is None or clock.monotonic() - looked_at >= SUPERSEDED_EVERY:
                    looked_at = clock.monotonic()
                    other = self._superseded_by(name, request_id, evidence)
                if other:
                    return Outcome("deployed", state, "", evidence.events, self.calls, other, clock.monotonic() - began)
            unsettled = ""
            if state is not None and state.status == "Ready":
                if verdict == "failure":
                    return Outcome("failed", state, evidence.cause, evidence.events, self.calls)
                if expect.version_label and state.version_label != expect.version_label:
                    return self._failed(
                        state,
                        f"the environment runs {state.version_label or 'no version'}, not {expect.version_label}",
                        evidence,
                    )
                if not instances_checked:
                    found = self._instances(name, expect, evidence.succeeded_at, settle_ends)
                    if isinstance(found, Outcome):
                        return self._failed(state, found.cause, evidence)
                    instance_reads += 1
                    if found:
                        unsettled, read_state = found, False  # one call per poll: only the instances, until they settle
                    elif instance_reads > 1:
                        instances_checked = True
                        continue  # the state read before the instances settled is older than them: read it again
                    else:
                        instances_checked = True
                if instances_checked:
                    if state.health in expect.health:
                        self._read_events(name, request_id, since, seen, evidence)
                        if evidence.verdict == "failure":
                            return Outcome("failed", state, evidence.cause, evidence.events, self.calls)
                        return Outcome("deployed", state, "", evidence.events, self.calls, "", clock.monotonic() - began)
                    unsettled = f"health {'/'.join(expect.health)}"
                    if clock.monotonic() >= settle_ends:
                        return self._failed(
                            state,
                            f"health stayed {state.health} for {expect.settle:.0f} s after the update ended "
                            f"(accepted: {'/'.join(expect.health)})" + self._causes(name),
                            evidence,
                        )
            if self.deadline.passed:
                waited = unsettled if state is not None and state.status == "Ready" else "Ready"
                return Outcome("timeout", state, f"still waiting for {waited} at the deadline", evidence.events, self.calls)
            # Instances settle at their next health report: read it when it is due (``near`` until its interval is known).
            interval = self.schedule.near if not read_state else self.schedule.next(interval)
            if unsettled in (STALE_REPORT, HOLDING) and self.next_report_in > 0:
                interval = min(max(self.next_report_in, self.schedule.busy), self.schedule.idle)
            if unsettled and clock.monotonic() < settle_ends:
                self.deadline.sleep(min(self._spread(interval), settle_ends - clock.monotonic()))  # judged on time
            else:
                self._pause(interval)

    def _instances(self, name: str, expect: Expectation, ended: datetime | None, settle_ends: float) -> str | Outcome:
        """The instances' side of a success, read once: "" when every instance, in a report newer than the update's end
        (``ended``), runs the new version, deployed, with green or accepted health; else what is still unsettled
        ("instances: ..."), or, past the settling window or for a deployment that failed, an Outcome carrying the cause.
        Under basic health (no per-instance report) there is nothing to check: ""."""
        label = expect.version_label
        report = self._ask(functools.partial(self.eb.instances_health, name))
        if not isinstance(report, HealthReport):
            # Basic health has nothing to check; a call still throttled is asked again at the next poll.
            return "" if self.answered else "instances: not read"
        late = self.deadline.clock.monotonic() >= settle_ends
        self._saw_report(report)
        if ended is not None and report.refreshed_at is not None and report.refreshed_at < ended:
            if late:
                return Outcome(
                    "failed",
                    None,
                    f"no report of the instances' health newer than the update's end ({ended:%H:%M:%S}) within "
                    f"{expect.settle:.0f} s: the last was refreshed at {report.refreshed_at:%H:%M:%S}",
                )
            return STALE_REPORT
        if not report.instances:
            if late:
                return Outcome(
                    "failed",
                    None,
                    "unknown which version the instances run: DescribeInstancesHealth listed no instance for "
                    f"{expect.settle:.0f} s after the update ended (it answers an empty list to a caller whose IAM policy "
                    "does not let it see the environment's health: see docs/iam.md)",
                )
            return "instances: none listed"
        failed = [i.instance_id for i in report.instances if i.version_label == label and i.status == "Failed"]
        wrong: dict[str, list[str]] = {}
        for instance in report.instances:
            colour = STATUS_COLOURS.get(instance.health, "Grey") if instance.health else ""
            if instance.version_label != label:
                key = f"run {instance.version_label or 'no version'}, not {label}"
            elif instance.status == "Failed":
                key = f"failed to deploy {label}"
            elif instance.status != "Deployed":
                key = f"still deploy {label}"
            elif colour and colour not in expect.health:
                key = f"are {instance.health} ({colour})"
            else:
                continue
            wrong.setdefault(key, []).append(instance.instance_id)
        if not wrong:
            return "" if late else self._held(report, ended)
        self._good_reports = []  # green must hold from here on, again
        if report.refreshed_at is not None:
            self._green_from = report.refreshed_at
        parts = [f"{len(ids)} of {len(report.instances)} instances {what}: {', '.join(ids)}" for what, ids in wrong.items()]
        described = "; ".join(parts)
        if failed or late:
            if any(not key.startswith("are ") for key in wrong):
                return Outcome("failed", None, "mixed versions: " + described)
            colours = {STATUS_COLOURS.get(i.health, "Grey") for i in report.instances} - set(expect.health)
            worst = next(colour for colour in ("Red", "Yellow", "Grey") if colour in colours)
            return Outcome(
                "failed",
                None,
                f"health stayed {worst} for {expect.settle:.0f} s after the update ended (accepted: "
                f"{'/'.join(expect.health)}): {described}" + self._causes(name).replace(": ", "; ", 1),
            )
        return "instances: " + described

    def _held(self, report: HealthReport, ended: datetime | None) -> str:
        """The empty string once every instance has been green in reports spanning more than JUDGED_REPORTS report
        intervals after the update's end (or after the last report that was not all green); else HOLDING. "When an
        instance fails health checks at least three times in any one-minute period, Elastic Beanstalk may downgrade"
        health (developer guide, health-enhanced-status.md): a new version that fails is not Red at its first report, so
        one green report is not yet a verdict. The interval is the one the reports show (10 s on AWS: "updated every 10
        seconds")."""
        if ended is None or report.refreshed_at is None:
            return ""  # nothing dates the reports: the state alone ended the update, or the answer has no RefreshedAt
        good = self._good_reports
        if not good or report.refreshed_at > good[-1]:
            good.append(report.refreshed_at)
        # Never shorter than the documented interval: a service that refreshes on every read (RefreshedAt is "now")
        # still downgrades after three failed checks of its own 10-s cadence. The settling window caps the wait.
        interval = max(self._report_interval() or REPORT_INTERVAL, REPORT_INTERVAL)
        since = max(ended, self._green_from) if self._green_from is not None else ended
        if len(good) >= 2 and good[-1] - since > interval * JUDGED_REPORTS:
            return ""
        return HOLDING

    def _saw_report(self, report: HealthReport) -> None:
        """Learns the reports' interval from the times they carry, and when the next one is due: until two reports
        told the interval, "now" (a poll at the busy interval), as a stand-in's may be shorter than AWS's 10 s."""
        times = self._report_times
        if report.refreshed_at is not None and (not times or report.refreshed_at > times[-1]):
            times.append(report.refreshed_at)
        interval = self._report_interval()
        self.next_report_in = 0.0
        if interval is not None and times and report.answered_at is not None:
            # The Date has whole seconds, so the service's "now" is up to 1 s past it: the wait computed from it is never
            # short, and at most 1 s long.
            due = (times[-1] + interval - report.answered_at).total_seconds() + 0.2
            self.next_report_in = min(due, interval.total_seconds())  # never later than one interval from now

    def _report_interval(self) -> timedelta | None:
        times = self._report_times
        return min((b - a for a, b in zip(times, times[1:], strict=False)), default=None)

    def _failed(self, state: EnvState, cause: str, evidence: Evidence) -> Outcome:
        return Outcome("failed", state, "\n".join(filter(None, [cause, evidence.cause])), evidence.events, self.calls)

    def _causes(self, name: str) -> str:
        """Enhanced health's causes, as ": cause; cause", or "" (basic health has none to give)."""
        try:
            causes = self._ask(functools.partial(self.eb.health_causes, name))
        except CloudError:
            return ""
        return (": " + "; ".join(causes)) if isinstance(causes, list) and causes else ""

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
