"""The watcher's decisions, on a scripted Elastic Beanstalk and a fake clock (no waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from tests_support import FakeClock

from ebship.beanstalk import Beanstalk
from ebship.watch import Deadline, Expectation, Schedule, Watcher

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
REQUEST = "req-1"


class ScriptedEB:
    """Events appear at given clock times; the environment's state changes at given clock times."""

    def __init__(self, clock, events, states, throttle_every: int = 0, causes=None) -> None:
        self.clock = clock
        self.causes = causes  # enhanced health's causes; None: basic health (DescribeEnvironmentHealth refused)
        self.events = events  # [(at, severity, message, request_id)]
        self.states = states  # [(at, status, health, label)]
        self.calls: dict[str, int] = {}
        self.throttle_every = throttle_every

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.throttle_every and sum(self.calls.values()) % self.throttle_every == 0:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, name)

    def describe_events(self, EnvironmentName, RequestId=None, StartTime=None, MaxRecords=None, NextToken=None):
        self._count("DescribeEvents")
        visible = [
            {"EventDate": T0 + timedelta(seconds=at), "Severity": sev, "Message": msg, "RequestId": rid}
            for at, sev, msg, rid in self.events
            if at <= self.clock.now
            and (RequestId is None or rid == RequestId)
            and (StartTime is None or T0 + timedelta(seconds=at) >= StartTime)
        ]
        return {"Events": list(reversed(visible))}

    def describe_environment_health(self, EnvironmentName, AttributeNames):
        self._count("DescribeEnvironmentHealth")
        if self.causes is None:
            raise ClientError({"Error": {"Code": "InvalidRequestException", "Message": "not enhanced"}}, "x")
        return {"EnvironmentName": EnvironmentName, "Causes": self.causes}

    def describe_environments(self, EnvironmentNames, IncludeDeleted=False, ApplicationName=None):
        self._count("DescribeEnvironments")
        current = [s for s in self.states if s[0] <= self.clock.now][-1]
        _, status, health, label = current
        return {
            "Environments": [
                {
                    "EnvironmentName": EnvironmentNames[0],
                    "Status": status,
                    "Health": health,
                    "VersionLabel": label,
                    "CNAME": "env.example",
                }
            ]
        }


SUCCESS = [
    (1, "INFO", "Environment update is starting.", REQUEST),
    (3, "INFO", "Deploying new version to instance(s).", REQUEST),
    (8, "INFO", "New application version was deployed to running EC2 instances.", REQUEST),
    (9, "INFO", "Environment update completed successfully.", REQUEST),
]


def follow(events, states, timeout=120.0, health=("Green",), label="v2", throttle_every=0, settle=180.0, causes=None, start=0.0):
    clock = FakeClock()
    clock.now = start
    eb = ScriptedEB(clock, events, states, throttle_every, causes)
    printed: list[str] = []
    watcher = Watcher(Beanstalk(eb), Deadline(clock, timeout), lambda e: printed.append(e.message), printed.append, Schedule())
    outcome = watcher.follow("env", REQUEST, T0, Expectation(label, health, settle))
    return outcome, printed, clock, eb


def test_success_needs_the_event_and_the_final_state():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v2")]
    outcome, printed, clock, _ = follow(SUCCESS, states)
    assert outcome.result == "deployed"
    assert printed == [m for _, _, m, _ in SUCCESS], "each event printed once, in order"
    assert clock.now < 12


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


def test_success_event_but_red_health_is_a_failure():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Red", "v2")]
    outcome, _, _, _ = follow(SUCCESS, states)
    assert outcome.result == "failed"


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
    outcome, _, clock, _ = follow(events, states)
    assert outcome.result == "failed"
    assert clock.now < 20


def test_throttling_is_absorbed_by_backing_off():
    states = [(0, "Updating", "Grey", "v2"), (9.5, "Ready", "Green", "v2")]
    outcome, printed, _, _ = follow(SUCCESS, states, throttle_every=3)
    assert outcome.result == "deployed"
    assert any("Throttling" in line for line in printed)


def test_polling_is_quick_while_busy_and_sparse_while_idle():
    events = [
        (1, "INFO", "Environment update is starting.", REQUEST),
        (299, "INFO", "Environment update completed successfully.", REQUEST),
    ]
    states = [(0, "Updating", "Grey", "v2"), (299.5, "Ready", "Green", "v2")]
    outcome, _, clock, eb = follow(events, states, timeout=600)
    assert outcome.result == "deployed"
    calls = sum(eb.calls.values())
    assert calls / clock.now <= 1.0, f"{calls} calls in {clock.now:.0f} s"
    assert clock.now - 299 <= 2.5, "the end is noticed within the idle interval"


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
    outcome, _, _, _ = follow(SUCCESS, states, causes=["The application is not running on all instances."])
    assert outcome.result == "failed"
    assert outcome.cause == "the environment's health is Red: The application is not running on all instances."
