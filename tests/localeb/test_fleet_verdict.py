"""The verdict on a fleet: success only when every instance's deployed version agrees with the events and the
environment (the watcher's decisions on a scripted Elastic Beanstalk and a fake clock, as in tests/test_watch.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from test_watch import SUCCESS, ScriptedEB, follow

from ebship.beanstalk import Beanstalk, InstanceVersion

READY_V2 = [(0, "Ready", "Green", "v1"), (2, "Updating", "Grey", "v2"), (10, "Ready", "Green", "v2")]


def deployed(instance: str, label: str, status: str = "Deployed") -> dict[str, Any]:
    return {"InstanceId": instance, "Deployment": {"VersionLabel": label, "Status": status, "DeploymentId": 2}}


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Any:
    def having(*instances: dict[str, Any]) -> None:
        monkeypatch.setattr(ScriptedEB, "instances", list(instances))

    return having


def test_success_events_and_a_healthy_environment_are_not_enough_when_an_instance_runs_another_version(fleet):
    fleet(deployed("i-a", "v2"), deployed("i-b", "v1"), deployed("i-c", "v2"), deployed("i-d", "v1"))
    outcome, _, _, eb = follow(SUCCESS, READY_V2)
    assert outcome.result == "failed"
    assert outcome.cause == "mixed versions: 2 of 4 instances run v1, not v2: i-b, i-d"
    assert eb.calls["DescribeInstancesHealth"] == 1, "one read at the verdict, not one per poll"


def test_an_instance_whose_deployment_failed_is_named_as_such(fleet):
    fleet(deployed("i-a", "v2"), deployed("i-b", "v2", "Failed"), {"InstanceId": "i-c"})
    outcome, _, _, _ = follow(SUCCESS, READY_V2)
    assert outcome.result == "failed"
    assert outcome.cause == (
        "mixed versions: 1 of 3 instances failed to deploy v2: i-b; 1 of 3 instances run no version, not v2: i-c"
    )


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


def test_instance_versions_are_read_page_after_page_with_the_deployment_only():
    client = PagedInstances([[deployed("i-a", "v2"), deployed("i-b", "v2")], [deployed("i-c", "v1")]])
    assert Beanstalk(client).instance_versions("env") == [
        InstanceVersion("i-a", "v2", "Deployed"),
        InstanceVersion("i-b", "v2", "Deployed"),
        InstanceVersion("i-c", "v1", "Deployed"),
    ]
    assert [params.get("NextToken") for params in client.asked] == [None, "1"]
    assert all(params["AttributeNames"] == ["Deployment"] for params in client.asked)


def test_other_errors_than_basic_health_are_not_swallowed():
    class Denied:
        def describe_instances_health(self, **params: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeInstancesHealth")

    from ebship.aws import CloudError

    with pytest.raises(CloudError):
        Beanstalk(Denied()).instance_versions("env")
