"""The watcher's decisions, on a scripted Elastic Beanstalk and a fake clock (no waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from tests_support import FakeClock

from ebship.beanstalk import Beanstalk, Event
from ebship.clock import Deadline, SystemClock
from ebship.watch import Evidence, Expectation, Outcome, Schedule, Watcher, classify

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REQUEST = "req-1"


class ScriptedEB:
    """Events appear at given clock times; the environment's state changes at given clock times.

    Every call is logged as (clock time, operation, parameters), and what the watcher must always ask is checked as it
    asks: the environment by its name, the update's events by its RequestId and from the newest event already read
    (five minutes before the start at first), recent events 100 at a time. ``problems`` lists any breach.
    """

    def __init__(self, clock, events, states, throttle_every=0, causes=None, throttle=()) -> None:
        self.clock = clock
        self.causes = causes  # enhanced health's causes; None: basic health; "deny": access denied
        self.events = events  # [(at, severity, message, request_id)]
        self.states = states  # [(at, status, health, label)]
        self.calls: dict[str, int] = {}
        self.throttle_every = throttle_every
        self.throttle = set(throttle)  # (operation, nth call of it) answered with Throttling
        self.log: list[tuple[float, str, dict]] = []
        self.problems: list[str] = []
        self.newest: datetime | None = None  # the newest event of the followed update returned so far
        self.last_state: tuple[str, str, str] | None = None  # the last state answered

    def _count(self, name, params):
        self.calls[name] = self.calls.get(name, 0) + 1
        self.log.append((self.clock.now, name, params))
        environment = params.get("EnvironmentName") or params.get("EnvironmentNames", [None])[0]
        if environment != "env":
            self.problems.append(f"{name} asked about environment {environment!r}")
        nth = sum(1 for _, operation, _ in self.log if operation == name)
        if (name, nth) in self.throttle or (self.throttle_every and len(self.log) % self.throttle_every == 0):
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, name)

    def describe_events(self, **params):
        if "RequestId" not in params:
            return self._recent_events(**params)
        self._count("DescribeEvents", params)
        expected_since = self.newest or T0 - timedelta(minutes=5)
        if params["RequestId"] != REQUEST or params.get("StartTime") != expected_since:
            self.problems.append(f"DescribeEvents {params}: expected {REQUEST} from {expected_since}")
        visible = [
            self._event(at, sev, msg, rid)
            for at, sev, msg, rid in self.events
            if at <= self.clock.now
            and (params["RequestId"] is None or rid == params["RequestId"])
            and ("StartTime" not in params or T0 + timedelta(seconds=at) >= params["StartTime"])
        ]
        if visible and params["RequestId"] == REQUEST:
            self.newest = max(event["EventDate"] for event in visible)
        return {"Events": list(reversed(visible))}

    def _recent_events(self, **params):
        self._count("RecentEvents", params)
        if params.get("MaxRecords") != 100:
            self.problems.append(f"recent events asked {params.get('MaxRecords')} at a time")
        visible = [self._event(*event) for event in self.events if event[0] <= self.clock.now]
        return {"Events": list(reversed(visible))[: params.get("MaxRecords")]}

    @staticmethod
    def _event(at, severity, message, request_id):
        return {"EventDate": T0 + timedelta(seconds=at), "Severity": severity, "Message": message, "RequestId": request_id}

    def describe_environment_health(self, **params):
        self._count("DescribeEnvironmentHealth", params)
        if self.causes is None:
            raise ClientError({"Error": {"Code": "InvalidRequestException", "Message": "not enhanced"}}, "x")
        if self.causes == "deny":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "denied"}}, "x")
        return {"EnvironmentName": params["EnvironmentName"], "Causes": self.causes}

    instances = None  # DescribeInstancesHealth's InstanceHealthList; None: basic health

    def describe_instances_health(self, **params):
        self._count("DescribeInstancesHealth", params)
        if self.instances is None:
            raise ClientError({"Error": {"Code": "InvalidRequestException", "Message": "not enhanced"}}, "x")
        return {"InstanceHealthList": self.instances}

    def describe_environments(self, **params):
        self._count("DescribeEnvironments", params)
        current = [s for s in self.states if s[0] <= self.clock.now][-1]
        _, status, health, label = current
        self.last_state = (status, health, label)
        return {
            "Environments": [
                {
                    "EnvironmentName": params["EnvironmentNames"][0],
                    "Status": status,
                    "Health": health,
                    "VersionLabel": label,
                    "CNAME": "env.example",
                }
            ]
        }

    def times(self, operation):
        return [at for at, name, _ in self.log if name == operation]


class RecordingClock(FakeClock):
    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep(seconds)


SUCCESS = [
    (1, "INFO", "Environment update is starting.", REQUEST),
    (3, "INFO", "Deploying new version to instance(s).", REQUEST),
    (8, "INFO", "New application version was deployed to running EC2 instances.", REQUEST),
    (9, "INFO", "Environment update completed successfully.", REQUEST),
]
# Powers of two: every poll time is exact, so boundaries (>= against >) can be tested to the tick.
EXACT = Schedule(busy=1.0, idle=2.0, factor=2.0, state_every=4, closing_grace=4.0, end_window=4.0, jitter=0)


def follow(
    events,
    states,
    timeout=120.0,
    health=("Green",),
    label="v2",
    throttle_every=0,
    settle=180.0,
    causes=None,
    start=0.0,
    schedule=None,
    throttle=(),
):
    """Follows REQUEST on a scripted environment; checks what must hold of every outcome, whatever the verdict."""
    clock = RecordingClock()
    clock.now = start
    eb = ScriptedEB(clock, events, states, throttle_every, causes, throttle)
    printed: list[str] = []
    followed: list[Event] = []

    def on_event(event):
        followed.append(event)
        printed.append(event.message)

    watcher = Watcher(Beanstalk(eb, clock), Deadline(clock, timeout), on_event, printed.append, schedule or Schedule(jitter=0))
    outcome = watcher.follow("env", REQUEST, T0, Expectation(label, health, settle))
    assert eb.problems == []
    assert outcome.api_calls == len(eb.log), "every call is counted, once"
    assert outcome.events == followed, "the outcome carries the update's events as they were printed"
    assert all(event.request_id == REQUEST for event in followed)
    assert outcome.state is not None and outcome.state == watcher.last_state
    assert (outcome.state.status, outcome.state.health, outcome.state.version_label) == eb.last_state
    return outcome, printed, clock, eb


def test_success_needs_the_event_and_the_final_state():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v2")]
    outcome, printed, clock, _ = follow(SUCCESS, states)
    assert outcome.result == "deployed"
    assert printed == [m for _, _, m, _ in SUCCESS], "each event printed once, in order"
    assert clock.now < 9 + 5.1, "within the interval the schedule had grown to by then"


def test_failure_message_after_errors_is_a_failure_even_though_the_environment_is_ready():
    events = [
        (1, "INFO", "Environment update is starting.", REQUEST),
        (4, "ERROR", "Instance deployment failed. For details, see 'eb-engine.log'.", REQUEST),
        (5, "ERROR", "Failed to deploy application.", REQUEST),
    ]
    states = [(0, "Updating", "Grey", "v2"), (5.5, "Ready", "Red", "v1")]
    outcome, _, _, _ = follow(events, states)
    assert outcome.result == "failed"
    assert "Instance deployment failed" in outcome.cause


def test_events_of_other_requests_are_ignored():
    events = SUCCESS + [(2, "ERROR", "Failed to deploy application.", "someone-else")]
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v2")]
    outcome, printed, _, _ = follow(events, states)
    assert outcome.result == "deployed"
    assert "Failed to deploy application." not in printed


def test_success_event_but_old_version_running_is_a_failure():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v1")]
    outcome, _, _, _ = follow(SUCCESS, states)
    assert outcome.result == "failed"
    assert "runs v1, not v2" in outcome.cause


def test_success_event_but_red_health_is_a_failure_once_the_settling_window_is_over():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Red", "v2")]
    outcome, _, clock, eb = follow(SUCCESS, states, settle=30)
    assert outcome.result == "failed"
    assert outcome.cause == "health stayed Red for 30 s after the update ended (accepted: Green)"
    closing_read = eb.times("DescribeEnvironments")[0]
    assert clock.now == pytest.approx(closing_read + 30), "Red right after a success is settled like Yellow, no longer"


def test_red_right_after_a_success_that_turns_green_within_the_window_is_a_success():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Red", "v2"), (25, "Ready", "Green", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, settle=30)
    assert outcome.result == "deployed"


def test_yellow_is_accepted_only_when_configured():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Yellow", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, timeout=60, health=("Green", "Yellow"))
    assert outcome.result == "deployed"
    strict, _, clock, _ = follow(SUCCESS, states, timeout=60)
    assert strict.result == "timeout" and strict.state.health == "Yellow"
    assert clock.now <= 60.01, "the deadline bounds the wait for health"


def test_health_settling_from_grey_to_green_is_waited_for():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Grey", "v2"), (20, "Ready", "Green", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states)
    assert outcome.result == "deployed"


def test_an_update_that_never_ends_times_out_with_the_last_state():
    events = [(1, "INFO", "Environment update is starting.", REQUEST)]
    outcome, _, clock, _ = follow(events, [(0, "Updating", "Grey", "v2")], timeout=30)
    assert outcome.result == "timeout"
    assert outcome.state.status == "Updating"
    assert 30 <= clock.now <= 30.01


def test_ready_without_a_closing_event_is_decided_by_state():
    events = [(1, "INFO", "Environment update is starting.", REQUEST)]
    states = [(0, "Updating", "Grey", "v2"), (6, "Ready", "Red", "v1")]
    outcome, _, clock, eb = follow(events, states)
    assert outcome.result == "failed"
    assert clock.now < 6 + 4 * Schedule().idle + Schedule().closing_grace, "within the 4th quiet poll and the grace"


def test_throttling_is_absorbed_by_backing_off():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v2")]
    outcome, printed, _, _ = follow(SUCCESS, states, throttle_every=3)
    assert outcome.result == "deployed"
    assert any("Throttling" in line for line in printed)


def test_polling_is_sparse_through_the_middle_and_busy_where_the_events_say_the_end_is_near():
    events = [
        (1, "INFO", "Environment update is starting.", REQUEST),
        (3, "INFO", "Deploying new version to instance(s).", REQUEST),
        (278, "INFO", "New application version was deployed to running EC2 instances.", REQUEST),
        (299, "INFO", "Environment update completed successfully.", REQUEST),
    ]
    states = [(0, "Updating", "Grey", "v2"), (299.5, "Ready", "Green", "v2")]
    outcome, _, clock, eb = follow(events, states, timeout=600)
    assert outcome.result == "deployed"
    calls = sum(eb.calls.values())
    assert calls <= 300 / 5, f"{calls} calls: more than the EB CLI's (DescribeEvents every 5 s)"
    assert clock.now - 299.5 <= 1.2 * Schedule().near, "the end is noticed within the near interval once a sign was read"
    polls = sorted(at for at, _, _ in eb.log)
    middle = [at for at in polls if 30 < at < 278]
    assert len(middle) <= 248 / (0.8 * Schedule().idle) + 1, "the long middle is polled at the idle interval"


def test_polls_are_one_call_each_until_the_end():
    events = [(1, "INFO", "Environment update is starting.", REQUEST), (120, "INFO", SUCCESS[-1][2], REQUEST)]
    states = [(0, "Updating", "Grey", "v2"), (120, "Ready", "Green", "v2")]
    _, _, _, eb = follow(events, states, timeout=600)
    before_the_end = sorted(at for at, _, _ in eb.log if at < 120)
    assert len(before_the_end) == len(set(before_the_end)), "never two calls at one poll"


def test_jitter_spreads_the_polls_of_two_updates_started_together():
    def sleeps(request_id: str) -> list[float]:
        clock = RecordingClock()
        eb = ScriptedEB(clock, [], [(0, "Updating", "Grey", "v2")])
        watcher = Watcher(Beanstalk(eb, clock), Deadline(clock, 60), lambda e: None, lambda n: None, Schedule())
        watcher.follow("env", request_id, T0, Expectation("v2"))
        return clock.sleeps

    first, second = sleeps("req-a"), sleeps("req-b")
    assert first != second, "two pipelines drift apart"
    assert all(0.8 * 1.0 <= pause <= 1.2 * Schedule().idle for pause in first[:-1])


@pytest.mark.parametrize(
    "message",
    [
        "Failed to deploy configuration.",
        "The environment was reverted to the previous configuration setting.",
        "Update environment operation is complete, but with errors. For more information, see troubleshooting documentation.",
    ],
)
def test_every_documented_failure_message_ends_in_failure(message):
    events = [(1, "INFO", "Environment update is starting.", REQUEST), (2, "INFO", message, REQUEST)]
    states = [(0, "Updating", "Grey", "v2"), (3, "Ready", "Green", "v2")]
    outcome, _, _, _ = follow(events, states)
    assert outcome.result == "failed"


def test_a_success_superseded_at_once_by_another_update_is_reported_as_such():
    other = "req-2"
    events = SUCCESS + [
        (9.2, "INFO", "Environment update is starting.", other),
        (15, "INFO", "Environment update completed successfully.", other),
    ]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Updating", "Grey", "v3"), (15.5, "Ready", "Green", "v3")]
    outcome, _, _, _ = follow(events, states)
    assert outcome.result == "deployed"
    assert outcome.superseded_by == other


def test_a_version_mismatch_without_another_update_is_still_a_failure():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v1")]
    outcome, _, _, _ = follow(SUCCESS, states)
    assert outcome.result == "failed" and not outcome.superseded_by


# --- the closing events decide, not the first success (EB sends its closing a second or more after a success step) -------

CONFIG_SUCCESS = "Successfully deployed new configuration to environment."
CLOSED_WITH_ERRORS = (
    "Update environment operation is complete, but with errors. For more information, see troubleshooting documentation."
)


def late_errors(at: float):
    """A configuration update as a public transcript shows it: the success step, and one second later the error closing."""
    return [
        (1, "INFO", "Updating environment env's configuration settings.", REQUEST),
        (at, "INFO", CONFIG_SUCCESS, REQUEST),
        (at + 1, "ERROR", CLOSED_WITH_ERRORS, REQUEST),
    ]


@pytest.mark.parametrize("health", ["Red", "Green"])
@pytest.mark.parametrize("start", [i / 10 for i in range(17)])  # every phase of the poll schedule against the two events
def test_an_error_closing_one_second_after_the_success_step_is_a_failure_at_every_split(health, start):
    at = 6.0
    states = [(0, "Updating", "Grey", ""), (at, "Ready", health, "")]
    outcome, printed, _, _ = follow(late_errors(at), states, label="", start=start)
    assert outcome.result == "failed", (start, printed)
    assert CLOSED_WITH_ERRORS in outcome.cause
    assert "health is Red" not in outcome.cause, "failed for the right reason: the closing event, not the colour"


@pytest.mark.parametrize("delay", [0.1, 0.5, 1.0, 2.0, 3.0, 4.5])
def test_the_error_closing_is_waited_for_after_ready(delay):
    at = 6.0
    events = late_errors(at)[:2] + [(at + delay, "ERROR", CLOSED_WITH_ERRORS, REQUEST)]
    states = [(0, "Updating", "Grey", ""), (at - 0.5, "Ready", "Green", "")]
    outcome, _, _, _ = follow(events, states, label="")
    assert outcome.result == "failed"


def test_a_success_step_and_ready_without_a_closing_is_judged_after_a_bounded_grace():
    events = late_errors(6.0)[:2]
    states = [(0, "Updating", "Grey", ""), (6.0, "Ready", "Green", "")]
    outcome, _, clock, _ = follow(events, states, label="")
    assert outcome.result == "deployed"
    assert clock.now <= 6.0 + Schedule().closing_grace + 3, "the grace after Ready is bounded"


def test_the_configuration_success_step_then_the_closing_is_a_success():
    events = late_errors(6.0)[:2] + [(7.0, "INFO", "Environment update completed successfully.", REQUEST)]
    states = [(0, "Updating", "Grey", ""), (7.0, "Ready", "Green", "")]
    outcome, _, clock, _ = follow(events, states, label="")
    assert outcome.result == "deployed"
    assert clock.now < 10, "a closing event ends the wait at once"


def test_an_error_read_after_the_closing_but_before_the_verdict_wins():
    abort = "Unsuccessful command execution on instance id(s) 'i-0abc'. Aborting the operation."
    events = SUCCESS + [(12, "ERROR", abort, REQUEST)]
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Grey", "v2"), (15, "Ready", "Green", "v2")]
    outcome, _, _, _ = follow(events, states)
    assert outcome.result == "failed"
    assert "Aborting the operation" in outcome.cause


# --- command timeouts ---------------------------------------------------------------------------------------------------

TIMEOUT_WARNING = (
    "The following instances have not responded in the allowed command timeout time "
    "(they might still finish eventually on their own): [i-0abc]."
)
TIMEOUT_CLOSING = "Update environment operation is complete, but with command timeouts. Try increasing the timeout period."


@pytest.mark.parametrize("health, label", [("Green", "v2"), ("Green", "v1"), ("Yellow", "v2")])
def test_a_command_timeout_closing_is_a_failure_named_by_its_warning(health, label):
    events = [
        (1, "INFO", "Environment update is starting.", REQUEST),
        (3, "INFO", "Deploying new version to instance(s).", REQUEST),
        (60, "WARN", TIMEOUT_WARNING, REQUEST),
        (61, "INFO", TIMEOUT_CLOSING, REQUEST),
    ]
    states = [(0, "Updating", "Grey", "v2"), (61, "Ready", health, label)]
    outcome, _, _, _ = follow(events, states, timeout=300)
    assert outcome.result == "failed"
    assert outcome.cause.splitlines()[0] == TIMEOUT_WARNING
    assert TIMEOUT_CLOSING in outcome.cause


# --- health that does not settle --------------------------------------------------------------------------------------------

YELLOW_CAUSE = "12.5 % of the requests are erroring with HTTP 4xx."


@pytest.mark.parametrize("colour", ["Yellow", "Grey"])
def test_health_that_stays_outside_the_accepted_set_fails_after_the_settling_window(colour):
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", colour, "v2")]
    outcome, _, clock, _ = follow(SUCCESS, states, timeout=900, settle=60, causes=[YELLOW_CAUSE])
    assert outcome.result == "failed"
    assert f"health stayed {colour} for 60 s" in outcome.cause
    assert YELLOW_CAUSE in outcome.cause
    assert 9.5 + 60 <= clock.now <= 9.5 + 60 + 5, "bounded by the settling window, not the deadline"


def test_the_settling_window_forgives_health_that_settles_in_time():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Yellow", "v2"), (50, "Ready", "Green", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, timeout=900, settle=60, causes=[YELLOW_CAUSE])
    assert outcome.result == "deployed"


def test_causes_are_left_out_under_basic_health():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Yellow", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, timeout=900, settle=30, causes=None)
    assert outcome.result == "failed"
    assert outcome.cause == "health stayed Yellow for 30 s after the update ended (accepted: Green)"


def test_red_health_names_its_causes():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Red", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, settle=20, causes=["The application is not running on all instances."])
    assert outcome.result == "failed"
    assert outcome.cause == (
        "health stayed Red for 20 s after the update ended (accepted: Green): The application is not running on all instances."
    )


# --- what each event says: the documented messages, stated here rather than imported, so that a changed list shows -------


@pytest.mark.parametrize(
    "severity, message, kind",
    [
        ("INFO", "Environment update completed successfully.", "closed"),
        ("INFO", "Successfully deployed new configuration to environment.", "step"),
        # Failure messages decide by their text, whatever the severity EB gives them.
        ("INFO", "Failed to deploy application.", "failed"),
        ("INFO", "Failed to deploy configuration.", "failed"),
        ("INFO", "The environment was reverted to the previous configuration setting.", "failed"),
        ("INFO", "Update environment operation is complete, but with errors. For more information, see ...", "failed"),
        ("INFO", "Create environment operation is complete, but with errors. For more information, see ...", "failed"),
        ("INFO", "Environment health has been set to RED", "failed"),
        ("INFO", "Update environment operation is complete, but with command timeouts. Try increasing ...", "failed"),
        ("INFO", "Restart environment operation is complete, but with errors.", "failed"),
        ("ERROR", "Instance deployment failed. For details, see 'eb-engine.log'.", "error"),
        ("FATAL", "Something EB has not said before.", "error"),
        ("WARN", "Something EB has not said before.", ""),
        (
            "WARN",
            "The following instances have not responded in the allowed command timeout time (...): [i-0a].",
            "timeout-warning",
        ),
        ("INFO", "Deploying new version to instance(s).", ""),
        ("INFO", "environment update completed successfully.", ""),
        ("INFO", "Update environment operation is complete.", ""),
    ],
)
def test_each_event_is_classified_by_its_documented_text_and_severity(severity, message, kind):
    assert classify(Event(T0, severity, message, REQUEST)) == kind


def test_evidence_keeps_the_first_failure_and_names_warnings_first():
    evidence = Evidence()
    assert (evidence.verdict, evidence.closed, evidence.succeeded_at) == ("", False, None)
    step = Event(T0 + timedelta(seconds=1), "INFO", "Successfully deployed new configuration to environment.")
    evidence.add(step)
    assert (evidence.verdict, evidence.closed, evidence.succeeded_at) == ("success", False, step.time)
    evidence.add(Event(T0 + timedelta(seconds=2), "INFO", "Deploying new version to instance(s)."))
    assert evidence.succeeded_at == step.time, "only a success event moves the success time"
    evidence.add(Event(T0 + timedelta(seconds=3), "WARN", TIMEOUT_WARNING))
    evidence.add(Event(T0 + timedelta(seconds=4), "ERROR", "Failed to deploy application."))
    assert (evidence.verdict, evidence.closed) == ("failure", True)
    closing = Event(T0 + timedelta(seconds=5), "INFO", "Environment update completed successfully.")
    evidence.add(closing)
    assert evidence.verdict == "failure", "a later success never undoes a failure"
    assert evidence.succeeded_at == closing.time
    assert evidence.cause == TIMEOUT_WARNING + "\nFailed to deploy application."
    assert [event.message for event in evidence.events][-1] == closing.message and len(evidence.events) == 5


def test_a_failing_closing_closes_the_update_and_an_error_does_not():
    failed, error = Evidence(), Evidence()
    failed.add(Event(T0, "INFO", "Failed to deploy configuration."))
    error.add(Event(T0, "ERROR", "Instance deployment failed."))
    assert (failed.closed, failed.verdict) == (True, "failure")
    assert (error.closed, error.verdict) == (False, "failure")


# --- the schedule and its defaults -------------------------------------------------------------------------------------


def test_the_default_schedule_and_settling_window_are_the_documented_ones():
    assert Schedule() == Schedule(
        busy=1.0, idle=10.0, factor=1.5, state_every=4, closing_grace=15.0, end_window=30.0, near=3.0, jitter=0.2
    )
    assert Expectation() == Expectation(version_label="", health=("Green",), settle=180.0)


def test_the_schedule_grows_to_idle_whatever_the_news():
    schedule = Schedule()
    assert schedule.next(1.0) == 1.5
    assert schedule.next(8.0) == 10.0
    assert schedule.next(10.0) == 10.0


def test_the_system_clock_really_sleeps():
    clock = SystemClock()
    before = clock.monotonic()
    clock.sleep(0.02)
    assert clock.monotonic() - before >= 0.02


# --- waiting for Ready before an update ----------------------------------------------------------------------------------


def until_ready(states, timeout=60.0, throttle=()):
    clock = RecordingClock()
    eb = ScriptedEB(clock, [], states, throttle=throttle)
    watcher = Watcher(Beanstalk(eb, clock), Deadline(clock, timeout), lambda e: None, lambda note: None, Schedule(jitter=0))
    return watcher.until_ready("env"), clock, eb, watcher


def test_until_ready_backs_off_to_the_idle_interval():
    ready, clock, eb, watcher = until_ready([(0, "Updating", "Grey", "v1"), (30, "Ready", "Green", "v1")])
    assert clock.sleeps == [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0]
    assert ready is not None and (ready.status, ready.health, ready.version_label) == ("Ready", "Green", "v1")
    assert clock.now == pytest.approx(30.78125)
    assert eb.problems == [] and watcher.calls == len(eb.log) == 8


def test_until_ready_gives_up_at_the_deadline_with_the_last_state():
    ready, clock, eb, watcher = until_ready([(0, "Updating", "Grey", "v1")], timeout=20)
    assert ready is None
    assert clock.now == 20, "the last sleep is cut to the deadline"
    assert eb.times("DescribeEnvironments")[-1] == 20, "the state is asked once more at the deadline"
    assert watcher.last_state is not None and watcher.last_state.status == "Updating"


def test_until_ready_asks_again_when_the_first_answer_is_throttled():
    ready, clock, eb, watcher = until_ready([(0, "Ready", "Green", "v1")], throttle=[("DescribeEnvironments", 1)])
    assert ready is not None and ready.status == "Ready"
    assert len(clock.sleeps) == 1 and 1.0 <= clock.sleeps[0] <= 2.0, "the facade's pause, with jitter"
    assert watcher.calls == len(eb.log) == 2, "the throttled answer counts as a call"


# --- the watcher's timeline: busy after news, quiet polls, the state every Nth quiet poll ------------------------------


def test_polls_are_busy_while_events_arrive_then_back_off_and_the_state_is_asked_every_nth_quiet_poll():
    events = [(at, "INFO", f"step {at}", REQUEST) for at in (0, 1, 2, 3)] + [
        (20, "INFO", "Environment update completed successfully.", REQUEST)
    ]
    states = [(0, "Updating", "Grey", "v2"), (20, "Ready", "Green", "v2")]
    outcome, _, clock, eb = follow(events, states, schedule=EXACT)
    assert outcome.result == "deployed"
    # busy (1 s) at first, then by x2 up to idle (2 s) whatever the news ("step N" says nothing of the end); the 4th
    # quiet poll (14) asks for the state instead of the events; the closing is read at 20.
    assert eb.times("DescribeEvents") == [0, 2, 4, 6, 8, 10, 12, 16, 18, 20, 20]
    assert eb.times("DescribeEnvironments") == [14, 20], "every 4th quiet poll, one call per poll; the verdict"


def test_after_the_closing_the_state_is_polled_with_backoff():
    states = [(0, "Updating", "Grey", "v2"), (9, "Ready", "Grey", "v2"), (16, "Ready", "Green", "v2")]
    outcome, _, clock, eb = follow(SUCCESS, states, schedule=EXACT)
    assert outcome.result == "deployed"
    assert eb.times("DescribeEnvironments") == [10, 12, 14, 16], "at the closing, then backing off to 2 s"


def test_the_closing_grace_is_exactly_closing_grace_seconds_of_reading_after_ready():
    events = [(0, "INFO", "Updating environment env's configuration settings.", REQUEST)]
    states = [(0, "Updating", "Grey", ""), (5, "Ready", "Green", "")]
    outcome, _, clock, eb = follow(events, states, label="", schedule=EXACT)
    assert outcome.result == "deployed"
    # quiet polls at 2, 4, 6, 8, then the 4th quiet poll (10) asks for the state instead and sees Ready; reading the
    # events goes on every 2 s (this schedule's idle interval, under the near one) until 10 + 4, then the state decides.
    assert eb.times("DescribeEnvironments") == [10, 14]
    assert eb.times("DescribeEvents") == [0, 2, 4, 6, 8, 12, 14, 14]


def test_the_state_alone_never_makes_a_deploy_deployed_without_one_event_of_its_request():
    states = [(0, "Updating", "Grey", "v2"), (10, "Ready", "Green", "v2")]
    outcome, _, clock, eb = follow([], states, timeout=60, schedule=EXACT)
    assert (outcome.result, outcome.events) == ("timeout", [])
    assert outcome.cause == f"no end to the update within 60 s: not one event of its request ({REQUEST}) could be read"
    assert clock.now == 60


def test_events_that_reach_describe_events_late_are_waited_for():
    late = [(at + 20, severity, message, request) for at, severity, message, request in SUCCESS]
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v2")]
    outcome, printed, _, _ = follow(late, states, timeout=120)
    assert outcome.result == "deployed"
    assert printed == [message for _, _, message, _ in SUCCESS]


def test_ready_before_the_update_shows_is_the_old_state_not_the_end():
    """A configuration update whose events and state appear late: Ready read first is the state before the update."""
    events = [
        (16, "INFO", "Updating environment env's configuration settings.", REQUEST),
        (24, "INFO", CONFIG_SUCCESS, REQUEST),
        (25, "ERROR", CLOSED_WITH_ERRORS, REQUEST),
    ]
    states = [(0, "Ready", "Green", ""), (15, "Updating", "Grey", ""), (25, "Ready", "Green", "")]
    outcome, _, _, _ = follow(events, states, label="")
    assert outcome.result == "failed"
    assert outcome.cause == CLOSED_WITH_ERRORS


# --- every verdict's whole text ----------------------------------------------------------------------------------------


def test_the_timeout_of_an_update_without_an_end_names_the_deadline():
    events = [(1, "INFO", "Environment update is starting.", REQUEST)]
    outcome, _, _, eb = follow(events, [(0, "Updating", "Grey", "v2")], timeout=30)
    assert (outcome.result, outcome.cause) == ("timeout", "no end to the update within 30 s")
    assert eb.times("DescribeEnvironments")[-1] == 30, "the state at the deadline"


def test_a_success_still_not_ready_at_the_deadline_is_waiting_for_ready():
    states = [(0, "Updating", "Grey", "v2")]
    outcome, _, clock, _ = follow(SUCCESS, states, timeout=30)
    assert (outcome.result, outcome.cause) == ("timeout", "still waiting for Ready at the deadline")
    assert outcome.superseded_by == "" and clock.now == 30


def test_a_success_with_unaccepted_health_at_the_deadline_names_the_accepted_colours():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Grey", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, timeout=30, health=("Green", "Yellow"))
    assert (outcome.result, outcome.cause) == ("timeout", "still waiting for health Green/Yellow at the deadline")


def test_an_environment_without_a_version_is_named_as_such():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "")]
    outcome, _, _, _ = follow(SUCCESS, states)
    assert (outcome.result, outcome.cause) == ("failed", "the environment runs no version, not v2")


def test_red_health_names_every_cause_and_the_warnings_of_the_update():
    events = SUCCESS[:3] + [(8.5, "WARN", TIMEOUT_WARNING, REQUEST)] + SUCCESS[3:]
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Red", "v2")]
    outcome, _, _, _ = follow(events, states, settle=10, causes=["cause one.", "cause two."])
    assert outcome.result == "failed"
    assert outcome.cause == (
        "health stayed Red for 10 s after the update ended (accepted: Green): cause one.; cause two.\n" + TIMEOUT_WARNING
    )


def test_causes_that_cannot_be_read_are_left_out():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Red", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, settle=10, causes="deny")
    assert (outcome.result, outcome.cause) == ("failed", "health stayed Red for 10 s after the update ended (accepted: Green)")


def test_health_unsettled_from_the_first_look_fails_exactly_at_the_end_of_the_window():
    states = [(0, "Updating", "Grey", "v2"), (8, "Ready", "Yellow", "v2")]
    outcome, _, clock, eb = follow(SUCCESS, states, settle=7, schedule=EXACT)
    assert outcome.result == "failed"
    assert outcome.cause == "health stayed Yellow for 7 s after the update ended (accepted: Green)"
    first_look = eb.times("DescribeEnvironments")[0]
    assert clock.now == first_look + 7, "not a poll later"


def test_a_failure_read_at_once_when_ready_names_the_events():
    events = [
        (1, "INFO", "Environment update is starting.", REQUEST),
        (4, "ERROR", "Instance deployment failed.", REQUEST),
    ]
    states = [(0, "Updating", "Grey", "v2"), (5, "Ready", "Green", "v2")]
    outcome, _, _, _ = follow(events, states)
    assert (outcome.result, outcome.cause) == ("failed", "Instance deployment failed.")


# --- superseded: another request's update after our success ---------------------------------------------------------------

OTHER = "req-2"


def test_a_superseded_success_carries_the_state_it_was_judged_on():
    events = SUCCESS + [(9.2, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Updating", "Grey", "v3")]
    outcome, _, _, eb = follow(events, states)
    assert (outcome.result, outcome.cause, outcome.superseded_by) == ("deployed", "", OTHER)
    assert (outcome.state.status, outcome.state.version_label) == ("Updating", "v3")
    assert eb.calls["RecentEvents"] == 1


def test_another_configuration_update_on_the_same_version_supersedes_too():
    events = SUCCESS + [(9.2, "INFO", "Updating environment env's configuration settings.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Updating", "Grey", "v2")]
    outcome, _, _, _ = follow(events, states)
    assert (outcome.result, outcome.superseded_by) == ("deployed", OTHER)


def test_another_deploy_already_over_when_we_look_supersedes():
    events = SUCCESS + [(9.2, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Ready", "Green", "v3")]
    outcome, _, _, _ = follow(events, states)
    assert (outcome.result, outcome.superseded_by) == ("deployed", OTHER)


def test_another_request_after_a_success_that_left_our_version_ready_is_not_asked_about():
    events = SUCCESS + [(9.2, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Ready", "Green", "v2")]
    outcome, _, _, eb = follow(events, states)
    assert (outcome.result, outcome.superseded_by, outcome.cause) == ("deployed", "", "")
    assert "RecentEvents" not in eb.calls


def test_a_failed_update_followed_by_another_request_is_still_a_failure():
    events = late_errors(6.0) + [(7.5, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", ""), (7.4, "Updating", "Grey", ""), (12, "Ready", "Green", "")]
    outcome, _, _, eb = follow(events, states, label="")
    assert (outcome.result, outcome.cause, outcome.superseded_by) == ("failed", CLOSED_WITH_ERRORS, "")
    assert "RecentEvents" not in eb.calls


def test_an_update_starting_in_the_same_second_as_our_success_supersedes_it():
    events = SUCCESS + [(9, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Updating", "Grey", "v3")]
    outcome, _, _, _ = follow(events, states)
    assert (outcome.result, outcome.superseded_by) == ("deployed", OTHER)


def test_an_update_that_began_before_our_success_does_not_supersede_it():
    events = SUCCESS + [(8.5, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Updating", "Grey", "v3"), (20, "Ready", "Green", "v3")]
    outcome, _, _, _ = follow(events, states)
    assert (outcome.result, outcome.superseded_by) == ("failed", "")
    assert outcome.cause == "the environment runs v3, not v2"


def test_a_throttled_look_for_another_update_is_asked_again():
    events = SUCCESS + [(9.2, "INFO", "Environment update is starting.", OTHER)]
    states = [(0, "Updating", "Grey", "v2"), (9.1, "Updating", "Grey", "v3")]
    outcome, printed, _, eb = follow(events, states, throttle=[("RecentEvents", 1)])
    assert (outcome.result, outcome.superseded_by) == ("deployed", OTHER)
    assert eb.calls["RecentEvents"] == 2
    assert (
        printed.count(
            "Elastic Beanstalk answered Throttling (its rate limit is shared by the whole account): asking again more slowly, "
            "within the deadline"
        )
        == 1
    )


def test_health_unsettled_names_every_accepted_colour():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Grey", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states, timeout=900, settle=30, health=("Green", "Yellow"))
    assert (outcome.result, outcome.cause) == (
        "failed",
        "health stayed Grey for 30 s after the update ended (accepted: Green/Yellow)",
    )


def test_the_quiet_polls_between_state_checks_follow_the_default_schedule():
    events = [(0, "INFO", "Environment update is starting.", REQUEST), (200, "INFO", SUCCESS[-1][2], REQUEST)]
    states = [(0, "Updating", "Grey", "v2"), (200, "Ready", "Green", "v2")]
    outcome, _, clock, eb = follow(events, states, timeout=400)
    assert outcome.result == "deployed"
    names = [name for _, name, _ in sorted(eb.log, key=lambda entry: entry[0]) if name != "DescribeInstancesHealth"]
    asked_state = [index for index, name in enumerate(names) if name == "DescribeEnvironments"][:-1]  # not the verdict's
    assert len(asked_state) >= 4
    assert {b - a for a, b in zip(asked_state, asked_state[1:], strict=False)} == {Schedule().state_every}


def test_an_outcome_without_details_has_none():
    assert Outcome("deployed", None) == Outcome("deployed", None, cause="", events=[], api_calls=0, superseded_by="")
