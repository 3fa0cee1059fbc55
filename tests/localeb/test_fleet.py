"""The stand-in's fleets: load-balanced environments of several instances, their deployment policies and partial
failures, and events that carry Elastic Beanstalk's own texts only (the container's output goes to the tail logs)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from localeb_support import BUCKET, PushedImage, create_environment, dockerrun, messages, put_json, unique, wait_ready

pytestmark = pytest.mark.slow

ENV_NS = "aws:elasticbeanstalk:environment"
FLEET_SETTINGS = ("fail_batch", "partial_closing", "health_after_deploy", "replace_instance", "evaluation_seconds")
# What the test app prints (tests/localeb/app/app.py): on a crash, and when it starts serving.
CRASH_OUTPUT = "boom: the application cannot start"
START_OUTPUT = "listening on"


@pytest.fixture
def fleet_faults(eb_server: Any) -> Iterator[Any]:
    before = eb_server.settings()
    yield eb_server.update_settings
    eb_server.update_settings(**{key: before[key] for key in FLEET_SETTINGS})


@pytest.fixture(scope="module")
def auth_key(s3: Any, test_image: PushedImage) -> str:
    key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=test_image.auth_file())
    return key


def version(eb: Any, s3: Any, app: str, image: PushedImage, auth_key: str, command: str) -> str:
    label = unique(command.split()[-1])
    source = put_json(s3, dockerrun(image.name, command, auth_key=auth_key))
    eb.create_application_version(ApplicationName=app, VersionLabel=label, SourceBundle=source)
    return label


def fleet(eb: Any, app: str, label: str, size: int, policy: str, **extra: str) -> str:
    options = {
        ("aws:autoscaling:asg", "MinSize"): str(size),
        (ENV_NS, "EnvironmentType"): "LoadBalanced",
        ("aws:elasticbeanstalk:command", "DeploymentPolicy"): policy,
        ("aws:elasticbeanstalk:healthreporting:system", "SystemType"): "enhanced",
    }
    for name, value in extra.items():
        namespace = (
            "aws:elasticbeanstalk:trafficsplitting"
            if name in ("NewVersionPercent", "EvaluationTime")
            else "aws:elasticbeanstalk:command"
        )
        options[(namespace, name)] = value
    settings = [{"Namespace": ns, "OptionName": name, "Value": value} for (ns, name), value in options.items()]
    env = create_environment(eb, app, VersionLabel=label, OptionSettings=settings)
    assert env["Health"] == "Green", messages(eb, EnvironmentName=env["EnvironmentName"])
    return str(env["EnvironmentName"])


def deploy(eb: Any, name: str, label: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    request_id = eb.update_environment(EnvironmentName=name, VersionLabel=label)["ResponseMetadata"]["RequestId"]
    after = wait_ready(eb, name, timeout=120)
    time.sleep(0.5)  # a closing may follow Ready
    events = eb.describe_events(EnvironmentName=name, RequestId=request_id)["Events"]
    return after, list(reversed(events))


def instances(eb: Any, name: str) -> list[dict[str, Any]]:
    """Every instance's health, page after page."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"EnvironmentName": name, "AttributeNames": ["All"]}
    while True:
        page = eb.describe_instances_health(**params)
        found += page["InstanceHealthList"]
        if not page.get("NextToken"):
            return found
        params["NextToken"] = page["NextToken"]


def versions(eb: Any, name: str) -> list[str]:
    return [i["Deployment"]["VersionLabel"] for i in instances(eb, name)]


def answers(env: dict[str, Any], tries: int = 6) -> list[str]:
    found = []
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://{env['CNAME']}/", timeout=5) as response:
                found.append(response.read().decode().strip())
        except urllib.error.HTTPError as error:
            found.append(f"HTTP {error.code}")
    return found


def tail_logs(eb: Any, name: str) -> str:
    request_id = eb.request_environment_info(EnvironmentName=name, InfoType="tail")["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 30
    while "Pulled logs for environment instances." not in messages(eb, EnvironmentName=name, RequestId=request_id):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    texts = []
    for info in eb.retrieve_environment_info(EnvironmentName=name, InfoType="tail")["EnvironmentInfo"]:
        with urllib.request.urlopen(info["Message"], timeout=10) as response:
            texts.append(response.read().decode())
    return "\n".join(texts)


def texts(events: list[dict[str, Any]]) -> list[str]:
    return [event["Message"] for event in events]


# -- only what EB says ------------------------------------------------------------------------------------------------


def test_no_event_carries_the_containers_output_which_the_tail_logs_hold(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str
) -> None:
    name = create_environment(eb, app, VersionLabel=version(eb, s3, app, test_image, auth_key, "serve v1"))["EnvironmentName"]
    logs = {}
    for command in ("crash", "fail v9"):
        after, events = deploy(eb, name, version(eb, s3, app, test_image, auth_key, command))
        assert texts(events)[-1] == "Failed to deploy application.", texts(events)
        logs[command] = tail_logs(eb, name)
    every_event = messages(eb, EnvironmentName=name)
    assert not [m for m in every_event if CRASH_OUTPUT in m or START_OUTPUT in m], every_event
    assert "Instance deployment failed. For details, see 'eb-engine.log'." in every_event
    assert CRASH_OUTPUT in logs["crash"] and "listening on 80 as v9 (fail)" in logs["fail v9"]
    assert "/var/log/eb-engine.log" in logs["crash"]
    assert (
        "[ERROR] An error occurred during execution of command [app-deploy] - [Docker Specific Start "
        "Application]. Stop running the command. Error: container exited with code 3" in logs["crash"]
    )


# -- fleets -----------------------------------------------------------------------------------------------------------


def test_a_rolling_deploy_goes_batch_by_batch_and_every_instance_reports_the_new_version(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str, docker_client: Any
) -> None:
    name = fleet(
        eb, app, version(eb, s3, app, test_image, auth_key, "serve v1"), 3, "Rolling", BatchSizeType="Fixed", BatchSize="1"
    )
    label = version(eb, s3, app, test_image, auth_key, "serve v2")
    after, events = deploy(eb, name, label)
    said = texts(events)
    assert said[0] == "Environment update is starting." and said[-1] == "Environment update completed successfully."
    ids = [i["InstanceId"] for i in instances(eb, name)]
    for batch, instance in enumerate(ids, 1):
        assert f"Batch {batch}: Starting application deployment on instance(s) [{instance}]." in said
        assert f"Batch {batch}: Completed application deployment." in said
        assert f"Command execution completed on {batch} of 3 instances in environment." in said
    assert "New application version was deployed to running EC2 instances." in said
    assert (after["Status"], after["Health"], after["VersionLabel"]) == ("Ready", "Green", label)
    assert versions(eb, name) == [label] * 3
    assert {i["Deployment"]["Status"] for i in instances(eb, name)} == {"Deployed"}
    page = eb.describe_instances_health(EnvironmentName=name, AttributeNames=["Deployment"])
    assert len(page["InstanceHealthList"]) == 2 and page["NextToken"], "the instances come in pages"
    health = eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])
    assert health["InstancesHealth"]["Ok"] == 3 and health["Causes"] == []
    env_id = after["EnvironmentId"]
    running = docker_client.containers.list(filters={"label": f"localeb.environment={env_id}"})
    assert len(running) == 3 and {c.labels["localeb.version"] for c in running} == {label}
    assert set(answers(after)) == {label.split("-")[0]}
    assert len(eb.describe_environment_resources(EnvironmentName=name)["EnvironmentResources"]["Instances"]) == 3


def test_a_later_batch_that_fails_leaves_the_done_batches_on_the_new_version(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str, fleet_faults: Any
) -> None:
    old = version(eb, s3, app, test_image, auth_key, "serve v1")
    name = fleet(eb, app, old, 3, "Rolling", BatchSizeType="Fixed", BatchSize="1")
    fleet_faults(fail_batch=2)
    label = version(eb, s3, app, test_image, auth_key, "serve v2")
    after, events = deploy(eb, name, label)
    said = texts(events)
    first, second, third = [i["InstanceId"] for i in instances(eb, name)]
    assert "Batch 1: Completed application deployment." in said
    assert (
        f"[Instance: {second}] Command failed on instance. Return code: 1 Output: Engine execution has "
        "encountered an error." in said
    )
    assert "Command execution completed on all instances. Summary: [Successful: 0, Failed: 1]." in said
    assert said[-1] == "Failed to deploy application." and not any(m.startswith("Batch 3") for m in said)
    assert (after["Status"], after["Health"]) == ("Ready", "Red")
    assert versions(eb, name) == [label, label, old]
    assert [i["Deployment"]["Status"] for i in instances(eb, name)] == ["Deployed", "Failed", "Deployed"]
    health = eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])
    assert health["InstancesHealth"]["Severe"] == 1 and health["InstancesHealth"]["Ok"] == 2
    assert sorted(set(answers(after))) == ["v1", "v2"], "the done batch serves the new version, the others the old"


def test_an_immutable_deploy_that_fails_terminates_the_new_instances_and_leaves_the_old_untouched(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str, fleet_faults: Any, docker_client: Any
) -> None:
    old = version(eb, s3, app, test_image, auth_key, "serve v1")
    name = fleet(eb, app, old, 2, "Immutable")
    before = [i["InstanceId"] for i in instances(eb, name)]
    fleet_faults(fail_batch=2)
    after, events = deploy(eb, name, version(eb, s3, app, test_image, auth_key, "serve v2"))
    said = texts(events)
    assert said[-1] == "Failed to deploy application."
    assert any(m.startswith("Created temporary auto scaling group") for m in said)
    assert any(m.startswith("Deleted temporary auto scaling group") for m in said)
    assert [i["InstanceId"] for i in instances(eb, name)] == before and versions(eb, name) == [old, old]
    running = docker_client.containers.list(filters={"label": f"localeb.environment={after['EnvironmentId']}"})
    assert len(running) == 2 and set(answers(after)) == {"v1"}


def test_a_traffic_splitting_deploy_swaps_in_new_instances_after_its_evaluation(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str, fleet_faults: Any
) -> None:
    fleet_faults(evaluation_seconds=1.0)
    name = fleet(eb, app, version(eb, s3, app, test_image, auth_key, "serve v1"), 2, "TrafficSplitting", NewVersionPercent="50")
    before = {i["InstanceId"] for i in instances(eb, name)}
    label = version(eb, s3, app, test_image, auth_key, "serve v2")
    after, events = deploy(eb, name, label)
    said = texts(events)
    assert "Shifting 50% of the traffic to the new instance(s) for the evaluation period." in said
    assert said[-1] == "Environment update completed successfully.", said
    now = instances(eb, name)
    assert len(now) == 2 and not before & {i["InstanceId"] for i in now} and versions(eb, name) == [label] * 2
    assert set(answers(after)) == {"v2"}


def test_a_rolling_deploy_with_an_additional_batch_ends_with_as_many_instances_as_it_began(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str
) -> None:
    name = fleet(
        eb,
        app,
        version(eb, s3, app, test_image, auth_key, "serve v1"),
        2,
        "RollingWithAdditionalBatch",
        BatchSizeType="Percentage",
        BatchSize="50",
    )
    label = version(eb, s3, app, test_image, auth_key, "serve v2")
    after, events = deploy(eb, name, label)
    said = texts(events)
    assert "Batch 3: Completed application deployment." in said and said[-1].startswith("Environment update completed")
    assert versions(eb, name) == [label] * 2 and after["Health"] == "Green"


def test_health_can_fail_after_a_deploy_whose_events_said_success(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str, fleet_faults: Any
) -> None:
    name = fleet(eb, app, version(eb, s3, app, test_image, auth_key, "serve v1"), 2, "AllAtOnce")
    fleet_faults(health_after_deploy="Degraded")
    label = version(eb, s3, app, test_image, auth_key, "serve v2")
    after, events = deploy(eb, name, label)
    said = texts(events)
    assert "Command execution completed on all instances. Summary: [Successful: 2, Failed: 0]." in said
    assert said[-1] == "Environment update completed successfully." and not [e for e in events if e["Severity"] == "ERROR"]
    assert (after["Status"], after["Health"], after["VersionLabel"]) == ("Ready", "Red", label)
    assert {i["HealthStatus"] for i in instances(eb, name)} == {"Degraded"} and versions(eb, name) == [label] * 2


def test_an_instance_replaced_mid_deploy_may_run_the_previous_version_behind_success_events(
    eb: Any, s3: Any, app: str, test_image: PushedImage, auth_key: str, fleet_faults: Any
) -> None:
    old = version(eb, s3, app, test_image, auth_key, "serve v1")
    name = fleet(eb, app, old, 2, "Rolling", BatchSizeType="Fixed", BatchSize="1")
    fleet_faults(replace_instance="previous")
    label = version(eb, s3, app, test_image, auth_key, "serve v2")
    after, events = deploy(eb, name, label)
    said = texts(events)
    assert said[-1] == "Environment update completed successfully."
    assert any(m.startswith("Removed instance [") for m in said) and any(m.startswith("Added instance [") for m in said)
    assert sorted(versions(eb, name)) == sorted([old, label]) and after["Health"] == "Green"
    causes = eb.describe_environment_health(EnvironmentName=name, AttributeNames=["Causes"])["Causes"]
    assert causes == [
        f'Incorrect application version found on 1 out of 2 instances. Expected version "{label}" (deployment {2}).'
    ]


def test_fleet_options_out_of_range_are_refused_before_anything_changes(eb: Any, app: str) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        eb.create_environment(
            ApplicationName=app,
            EnvironmentName=unique("big"),
            OptionSettings=[
                {"Namespace": "aws:autoscaling:asg", "OptionName": "MinSize", "Value": "7"},
                {"Namespace": ENV_NS, "OptionName": "EnvironmentType", "Value": "LoadBalanced"},
            ],
        )
    assert refused.value.response["Error"]["Code"] == "ConfigurationValidationException"
    assert "OptionName: 'MinSize'): Value is greater than maximum allowed value: 6" in str(refused.value)
    with pytest.raises(ClientError) as refused:
        eb.create_environment(
            ApplicationName=app,
            EnvironmentName=unique("odd"),
            OptionSettings=[
                {"Namespace": "aws:elasticbeanstalk:command", "OptionName": "DeploymentPolicy", "Value": "Sometimes"}
            ],
        )
    assert "Value is not one of the allowed values" in str(refused.value)
    assert not eb.describe_environments(ApplicationName=app)["Environments"]
