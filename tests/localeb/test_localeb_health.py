"""Enhanced health: DescribeEnvironmentHealth and DescribeInstancesHealth in the botocore model's shapes, consistent with
the environment and its one instance, AttributeNames honoured; basic health refuses both."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localeb_support import BUCKET, PushedImage, create_environment, dockerrun, put_json, unique, wait_ready

ENHANCED = [{"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}]
ENVIRONMENT_ELEMENTS = {"EnvironmentName", "HealthStatus", "Status", "Color", "Causes", "InstancesHealth", "RefreshedAt"}
STATUSES = {"NoData", "Unknown", "Pending", "Ok", "Info", "Warning", "Degraded", "Severe"}


def answer(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "ResponseMetadata"}


def test_basic_health_answers_neither(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    for call in (eb.describe_environment_health, eb.describe_instances_health):
        with pytest.raises(ClientError) as caught:
            call(EnvironmentName=env["EnvironmentName"], AttributeNames=["All"])
        assert caught.value.response["Error"]["Code"] == "InvalidRequestException"


def test_attribute_names_pick_the_elements(eb: Any, app: str) -> None:
    env = create_environment(eb, app, OptionSettings=ENHANCED)
    name = env["EnvironmentName"]
    # botocore model: "If no attribute names are specified, returns the name of the environment."
    assert answer(eb.describe_environment_health(EnvironmentName=name)) == {"EnvironmentName": name}
    assert answer(eb.describe_environment_health(EnvironmentName=name, AttributeNames=["Causes", "Color"])) == {
        "EnvironmentName": name,
        "Causes": [],
        "Color": "Green",
    }
    everything = answer(eb.describe_environment_health(EnvironmentId=env["EnvironmentId"], AttributeNames=["All"]))
    assert set(everything) == ENVIRONMENT_ELEMENTS
    # Status is the environment's operational status (model), HealthStatus and Color its health.
    assert (everything["Status"], everything["HealthStatus"], everything["Color"]) == ("Ready", "Ok", "Green")
    assert set(everything["InstancesHealth"]) == STATUSES
    assert sum(everything["InstancesHealth"].values()) == everything["InstancesHealth"]["Ok"] == 1

    instance_id = eb.describe_environment_resources(EnvironmentName=name)["EnvironmentResources"]["Instances"][0]["Id"]
    # "If no attribute names are specified, returns a list of instances."
    assert answer(eb.describe_instances_health(EnvironmentName=name)) == {"InstanceHealthList": [{"InstanceId": instance_id}]}
    picked = answer(eb.describe_instances_health(EnvironmentName=name, AttributeNames=["HealthStatus", "Color"]))
    assert picked == {"InstanceHealthList": [{"InstanceId": instance_id, "HealthStatus": "Ok", "Color": "Green"}]}
    full = answer(eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"]))
    (instance,) = full["InstanceHealthList"]
    assert "RefreshedAt" in full
    assert instance["LaunchedAt"] <= full["RefreshedAt"]
    assert "Deployment" not in instance, "no version was ever deployed"


@pytest.mark.slow
def test_instance_health_follows_each_deployment(eb: Any, s3: Any, app: str, test_image: PushedImage, settings: Any) -> None:
    env = create_environment(eb, app, OptionSettings=ENHANCED)
    name = env["EnvironmentName"]
    auth_key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=auth_key, Body=test_image.auth_file())

    def deploy(command: str) -> str:
        label = unique("v")
        eb.create_application_version(
            ApplicationName=app,
            VersionLabel=label,
            SourceBundle=put_json(s3, dockerrun(test_image.name, command, auth_key=auth_key)),
        )
        eb.update_environment(EnvironmentName=name, VersionLabel=label)
        return label

    def instance() -> dict[str, Any]:
        found = eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"]
        assert len(found) == 1
        return dict(found[0])

    def environment() -> dict[str, Any]:
        return answer(eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"]))

    settings(phase_seconds=0.5)
    good = deploy("serve v1")
    during, env_during = instance(), environment()
    assert during["Deployment"]["Status"] == "In Progress"
    assert (during["Deployment"]["VersionLabel"], during["Deployment"]["DeploymentId"]) == (good, 1)
    assert (during["HealthStatus"], during["Color"]) == ("Info", "Green")
    assert env_during["Status"] == "Updating" and env_during["InstancesHealth"]["Info"] == 1
    wait_ready(eb, name)
    after = instance()
    assert after["Deployment"]["Status"] == "Deployed"
    assert (after["Deployment"]["VersionLabel"], after["Deployment"]["DeploymentId"]) == (good, 1)
    assert after["Deployment"]["DeploymentTime"] >= during["Deployment"]["DeploymentTime"]
    assert (after["HealthStatus"], after["Color"], after["Causes"]) == ("Ok", "Green", [])

    bad = deploy("crash")
    wait_ready(eb, name, timeout=90)
    failed, env_failed = instance(), environment()
    assert failed["Deployment"]["Status"] == "Failed"
    assert (failed["Deployment"]["VersionLabel"], failed["Deployment"]["DeploymentId"]) == (bad, 2)
    assert (failed["HealthStatus"], failed["Color"]) == ("Severe", "Red")
    assert (env_failed["HealthStatus"], env_failed["Color"]) == ("Severe", "Red")
    assert failed["Causes"] == env_failed["Causes"] != []
    assert env_failed["InstancesHealth"]["Severe"] == 1 and sum(env_failed["InstancesHealth"].values()) == 1
    assert failed["LaunchedAt"] == after["LaunchedAt"], "the same instance"
