"""The verdict on a fleet: success only when every instance's deployed version agrees with the events and the
environment, in a health report newer than the update's end (the watcher's decisions on a scripted Elastic Beanstalk and
a fake clock, as in tests/test_watch.py). Instance health is refreshed every 10 s (developer guide,
health-enhanced-status.md): what is not settled yet is waited for, within the settling window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_watch import SUCCESS, T0, ScriptedEB, follow

from ebship.beanstalk import Beanstalk, HealthReport, InstanceHealth

READY_V2 = [(0, "Ready", "Green", "v1"), (2, "Updating", "Grey", "v2"), (10, "Ready", "Green", "v2")]


def deployed(instance: str, label: str, status: str = "Deployed", health: str = "Ok") -> dict[str, Any]:
    return {
        "InstanceId": instance,
        "HealthStatus": health,
        "Deployment": {"VersionLabel": label, "Status": status, "DeploymentId": 2},
    }


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Any:
    def having(*instances: dict[str, Any]) -> None:
        monkeypatch.setattr(ScriptedEB, "instances", list(instances))

    return having


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Health reports that change over time: [(from clock time, refreshed at clock time, instances)]."""

    def having(*timeline: tuple[float, float, list[dict[str, Any]]]) -> None:
        def describe_instances_health(self: ScriptedEB, **params: Any) -> dict[str, Any]:
            self._count("DescribeInstancesHealth", params)
            assert params["AttributeNames"] == ["HealthStatus", "Deployment", "RefreshedAt"]
            _, refreshed, instances = [entry for entry in timeline if entry[0] <= self.clock.now][-1]
            return {"InstanceHealthList": instances, "RefreshedAt": T0 + timedelta(seconds=refreshed)}

        monkeypatch.setattr(ScriptedEB, "describe_instances_health", describe_instances_health)

    return having


def test_success_events_and_a_healthy_environment_are_not_enough_when_an_instance_runs_another_version(fleet):
    fleet(deployed("i-a", "v2"), deployed("i-b", "v1"), deployed("i-c", "v2"), deployed("i-d", "v1"))
    outcome, _, clock, eb = follow(SUCCESS, READY_V2, settle=30)
    assert outcome.result == "failed"
    assert outcome.cause == "mixed versions: 2 of 4 instances run v1, not v2: i-b, i-d"
    confirming = eb.times("DescribeInstancesHealth")[0]
    assert clock.now == pytest.approx(confirming + 30, abs=0.5), "waited out for the settling window, not longer"
    assert "DescribeInstancesHealth" not in {name for at, name, _ in eb.log if at < 9}, "read at the verdict only"


def test_an_instance_whose_deployment_failed_is_named_as_such(fleet):
    fleet(deployed("i-a", "v2"), deployed("i-b", "v2", "Failed"), {"InstanceId": "i-c"})
    outcome, _, clock, eb = follow(SUCCESS, READY_V2)
    assert outcome.result == "failed"
    assert outcome.cause == (
        "mixed versions: 1 of 3 instances failed to deploy v2: i-b; 1 of 3 instances run no version, not v2: i-c"
    )
    assert eb.times("DescribeInstancesHealth") == [clock.now], "a failed deployment in a fresh report is not waited out"


def test_every_instance_on_the_new_version_is_a_success(fleet):
    fleet(deployed("i-a", "v2"), deployed("i-b", "v2"))
    outcome, _, _, eb = follow(SUCCESS, READY_V2)
    assert outcome.result == "deployed" and eb.calls["DescribeInstancesHealth"] == 1


def test_basic_health_has_no_instance_versions_to_read_and_the_check_is_skipped():
    outcome, _, _, eb = follow(SUCCESS, READY_V2)
    assert outcome.result == "deployed" and eb.calls["DescribeInstancesHealth"] == 1


def test_a_configuration_update_reads_no_instance_versions(fleet):
    fleet(deployed("i-a", "v1"))
    outcome, _, _, eb = follow(SUCCESS, READY_V2, label="")
    assert outcome.result == "deployed" and "DescribeInstancesHealth" not in eb.calls


class PagedInstances:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.asked: list[dict[str, Any]] = []

    def describe_instances_health(self, **params: Any) -> dict[str, Any]:
        self.asked.append(params)
        index = int(params.get("NextToken", "0"))
        page: dict[str, Any] = {"InstanceHealthList": self.pages[index]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page


def test_instances_health_is_read_page_after_page_with_what_the_verdict_needs():
    client = PagedInstances([[deployed("i-a", "v2"), deployed("i-b", "v2")], [deployed("i-c", "v1", health="Info")]])
    assert Beanstalk(client).instances_health("env") == HealthReport(
        None,
        [
            InstanceHealth("i-a", "v2", "Deployed", "Ok"),
            InstanceHealth("i-b", "v2", "Deployed", "Ok"),
            InstanceHealth("i-c", "v1", "Deployed", "Info"),
        ],
    )
    assert [params.get("NextToken") for params in client.asked] == [None, "1"]
    assert all(params["AttributeNames"] == ["HealthStatus", "Deployment", "RefreshedAt"] for params in client.asked)


def test_other_errors_than_basic_health_are_not_swallowed():
    class Denied:
        def describe_instances_health(self, **params: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeInstancesHealth")

    from ebship.aws import CloudError

    with pytest.raises(CloudError):
        Beanstalk(Denied()).instances_health("env")


# --- Elastic Beanstalk's time: reports refreshed every 10 s, instances that settle late --------------------------------


def agent(period: float, first: float, label_at: Any, health_at: Any = None) -> Any:
    """A health agent that reports every ``period`` seconds from ``first`` on: each answer is its last report, dated
    (RefreshedAt) and answered (the HTTP Date) as the service does; ``label_at(t)``/``health_at(t)`` say what the
    instance ran, and how it did, at the report of time t."""
    from email.utils import format_datetime

    def describe_instances_health(self: ScriptedEB, **params: Any) -> dict[str, Any]:
        self._count("DescribeInstancesHealth", params)
        now = self.clock.now
        refreshed = first + period * ((now - first) // period) if now >= first else first - period
        health = health_at(refreshed) if health_at else "Ok"
        return {
            "InstanceHealthList": [deployed("i-a", label_at(refreshed), health=health)],
            "RefreshedAt": T0 + timedelta(seconds=refreshed),
            "ResponseMetadata": {"HTTPHeaders": {"date": format_datetime(T0 + timedelta(seconds=int(now)))}},
        }

    return describe_instances_health


def test_a_report_older_than_the_closing_is_not_a_verdict_green_held_through_the_downgrade_window_is(monkeypatch):
    """The measured false failure: the instances' report shows the previous version until its refresh, 10 s later. And
    one green report is not a verdict: a failing version turns Red only after three failed checks (health-downgrade)."""
    monkeypatch.setattr(ScriptedEB, "describe_instances_health", agent(10, 5, lambda t: "v2" if t >= 15 else "v1"))
    outcome, _, clock, eb = follow(SUCCESS, READY_V2, settle=120)
    assert outcome.result == "deployed"
    # closing at 9; reports at 15 (v2), 25, 35, 45: the first more than three intervals after the closing is 45
    assert 45 <= clock.now <= 47.5, clock.now
    assert outcome.settling == pytest.approx(clock.now - eb.times("DescribeInstancesHealth")[0], abs=0.01)
    assert len(eb.times("DescribeInstancesHealth")) <= 12, "reads at the reports, once their interval is known"


def test_a_version_that_turns_red_within_the_downgrade_window_is_not_deployed(monkeypatch):
    """health-downgrade: green at the first reports after the closing, Red at the third failed check."""
    health = agent(10, 5, lambda t: "v2", lambda t: "Severe" if t >= 35 else "Ok")
    monkeypatch.setattr(ScriptedEB, "describe_instances_health", health)
    outcome, _, _, _ = follow(SUCCESS, READY_V2, settle=60)
    assert outcome.result == "failed"
    assert outcome.cause.startswith("health stayed Red for 60 s after the update ended (accepted: Green)")


def test_a_fresh_report_that_still_shows_the_previous_version_is_waited_for_within_the_window(reports):
    reports((0, 0, [deployed("i-a", "v1")]), (11, 11, [deployed("i-a", "v1")]), (21, 21, [deployed("i-a", "v2")]))
    outcome, _, _, _ = follow(SUCCESS, READY_V2, settle=60)
    assert outcome.result == "deployed"


@pytest.mark.parametrize(
    "unsettled",
    [
        {"InstanceId": "i-new", "HealthStatus": "Pending"},  # launched by Auto Scaling: no deployment reported yet
        deployed("i-new", "v2", status="In Progress", health="Info"),
        deployed("i-new", "v2", health="Unknown"),
        deployed("i-new", "v2", health="Severe"),  # Red right after a success: settled like Yellow
    ],
)
def test_an_unsettled_instance_is_waited_out_and_a_settled_one_passes(reports, unsettled):
    reports((0, 12, [deployed("i-a", "v2"), unsettled]), (25, 25, [deployed("i-a", "v2"), deployed("i-new", "v2")]))
    outcome, _, clock, _ = follow(SUCCESS, READY_V2, settle=60)
    assert outcome.result == "deployed" and clock.now >= 25


@pytest.mark.parametrize(
    "unsettled, cause",
    [
        ({"InstanceId": "i-new", "HealthStatus": "Pending"}, "mixed versions: 1 of 2 instances run no version, not v2: i-new"),
        (deployed("i-new", "v2", status="In Progress"), "mixed versions: 1 of 2 instances still deploy v2: i-new"),
        (
            deployed("i-new", "v2", health="Severe"),
            "health stayed Red for 30 s after the update ended (accepted: Green): 1 of 2 instances are Severe (Red): i-new",
        ),
    ],
)
def test_what_stays_unsettled_past_the_window_fails_the_deploy_named(reports, unsettled, cause):
    reports((0, 12, [deployed("i-a", "v2"), unsettled]))
    outcome, _, clock, eb = follow(SUCCESS, READY_V2, settle=30)
    assert (outcome.result, outcome.cause) == ("failed", cause)
    assert clock.now == pytest.approx(eb.times("DescribeInstancesHealth")[0] + 30, abs=0.5)


def test_a_report_never_newer_than_the_closing_fails_after_the_window_saying_so(reports):
    reports((0, 5, [deployed("i-a", "v2")]))
    outcome, _, _, _ = follow(SUCCESS, READY_V2, settle=30)
    assert outcome.result == "failed"
    assert outcome.cause == (
        "no report of the instances' health newer than the update's end (09:00:09) within 30 s: the last was refreshed "
        "at 09:00:05"
    )


def test_an_empty_instance_list_is_unknown_never_every_instance_runs_it(reports):
    """DescribeInstancesHealth answers an empty list to a caller who may not see the environment's health (API
    reference): that says nothing about what the instances run."""
    reports((0, 12, []))
    outcome, _, _, _ = follow(SUCCESS, READY_V2, settle=30)
    assert outcome.result == "failed"
    assert outcome.cause.startswith("unknown which version the instances run: DescribeInstancesHealth listed no instance")
    assert "docs/iam.md" in outcome.cause


def test_the_instances_are_polled_one_call_at_a_time_while_they_settle(reports):
    reports((0, 0, [deployed("i-a", "v1")]), (20, 20, [deployed("i-a", "v2")]))
    _, _, _, eb = follow(SUCCESS, READY_V2, settle=60)
    first = eb.times("DescribeInstancesHealth")[0]
    settling = sorted(at for at, name, _ in eb.log if first < at < 20)
    assert len(settling) >= 2 and len(settling) == len(set(settling)), "one call per poll once Ready: the instances"
    assert eb.times("DescribeEnvironments").count(20) <= 1


def test_once_the_interval_is_known_reads_come_when_reports_are_due(monkeypatch: pytest.MonkeyPatch):
    """The answer's date and RefreshedAt say when the next report is due: a read then, not one a second."""
    monkeypatch.setattr(ScriptedEB, "describe_instances_health", agent(10, 8, lambda t: "v2" if t >= 18 else "v1"))
    outcome, _, clock, eb = follow(SUCCESS, READY_V2, settle=120)
    assert outcome.result == "deployed"
    reads = eb.times("DescribeInstancesHealth")
    learned = next(index for index, at in enumerate(reads) if at >= 18)  # two report times seen: 8, then 18
    assert all(later - earlier >= 8 for earlier, later in zip(reads[learned:], reads[learned + 1 :], strict=False)), reads


def test_green_must_hold_from_the_last_report_that_was_not(monkeypatch):
    """A report that was not green restarts the count: three intervals of green after it, not after the closing."""
    health = agent(10, 5, lambda t: "v2", lambda t: "Warning" if t == 25 else "Ok")
    monkeypatch.setattr(ScriptedEB, "describe_instances_health", health)
    outcome, _, clock, _ = follow(SUCCESS, READY_V2, settle=120)
    assert outcome.result == "deployed"
    assert clock.now >= 25 + 30, "more than three intervals after the Warning at 25: the report at 65"
