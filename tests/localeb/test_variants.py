"""The stand-in's time variants (localeb/README.md, "Time variants"): each one's wire behaviour through boto3 over a real
socket, against a server of its own, with compressed time (`time_scale`).

Every assertion rests on what the server guarantees (an event is not visible before its delay has passed; a report
dates the answer), compared with the moments the test saw things, so a slow machine can delay a test but not fail it.
To see each test fail without its variant, run this module with LOCALEB_VARIANTS_OFF=1: the variants are then left
off while everything else stays the same.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localeb_support import BUCKET, REGION, PushedImage, client, create_environment, dockerrun, put_json, unique, wait_ready

pytestmark = pytest.mark.slow

ENHANCED = {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}
UPDATE_COMPLETED = "Environment update completed successfully."
VARIANTS_OFF = os.environ.get("LOCALEB_VARIANTS_OFF") == "1"
VARIANTS_ALL = (
    "health-refresh",
    "retiring-instances",
    "health-downgrade",
    "ready-first",
    "closing-first",
    "event-delay",
    "health-hidden",
    "slow-logs",
    "throttle",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from localeb.server import start_server

    log = tmp_path_factory.mktemp("variants") / "server.log"
    running = start_server(log, extra_args=["--pace", "fast", "--health-timeout", "3", "--fault-seed", "7"])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def eb(server: Any) -> Any:
    return client("elasticbeanstalk", server.endpoint_url)


@pytest.fixture(scope="module")
def s3(server: Any) -> Any:
    s3 = client("s3", server.endpoint_url)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def app(eb: Any) -> str:
    name = unique("app")
    eb.create_application(ApplicationName=name)
    return name


@pytest.fixture
def switch(server: Any) -> Iterator[Callable[..., None]]:
    """Switches variants on (and other settings) for one test; everything back as it was afterwards."""
    before = server.settings()

    def on(*variants: str, **settings: Any) -> None:
        server.update_settings(variants=[] if VARIANTS_OFF else list(variants), **settings)

    yield on
    server.update_settings(
        **{
            k: before[k]
            for k in (
                "variants",
                "time_scale",
                "throttle_rate",
                "throttle_burst",
                "phase_seconds",
                "health_after_deploy",
                "fail_batch",
                "iam_policy",
                "iam_access_key",
            )
        }
    )


def versions(eb: Any, app: str, *labels: str) -> None:
    """Versions without a bundle: they deploy without a container, so these tests start none unless they must."""
    for label in labels:
        eb.create_application_version(ApplicationName=app, VersionLabel=label)


def environment(eb: Any, app: str, label: str, size: int = 0, policy: str = "AllAtOnce") -> str:
    settings = [ENHANCED]
    if size:
        settings += [
            {"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType", "Value": "LoadBalanced"},
            {"Namespace": "aws:autoscaling:asg", "OptionName": "MinSize", "Value": str(size)},
            {"Namespace": "aws:elasticbeanstalk:command", "OptionName": "DeploymentPolicy", "Value": policy},
        ]
    return str(create_environment(eb, app, VersionLabel=label, OptionSettings=settings)["EnvironmentName"])


def wait_for_event(eb: Any, request_id: str, text: str, timeout: float = 60) -> tuple[dict[str, Any], datetime]:
    """The first event of the request that contains `text`, and when the test first saw it."""
    deadline = time.monotonic() + timeout
    while True:
        for event in eb.describe_events(RequestId=request_id)["Events"]:
            if text in event["Message"]:
                return event, datetime.now(UTC)
        assert time.monotonic() < deadline, f"no event {text!r} for {request_id} within {timeout} s"
        time.sleep(0.05)


def update(eb: Any, name: str, label: str) -> str:
    return str(eb.update_environment(EnvironmentName=name, VersionLabel=label)["ResponseMetadata"]["RequestId"])


def seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


# -- health-refresh --------------------------------------------------------------------------------------------------


def test_health_refresh_answers_from_each_agents_last_report(eb: Any, app: str, switch: Any) -> None:
    interval = 2.0  # 10 s x 0.2
    switch("health-refresh", time_scale=0.2)
    versions(eb, app, "v1", "v2")
    name = environment(eb, app, "v1")
    _, closed_seen = wait_for_event(eb, update(eb, name, "v2"), UPDATE_COMPLETED)
    closing = next(e for e in eb.describe_events(EnvironmentName=name)["Events"] if e["Message"] == UPDATE_COMPLETED)
    answers = []
    deadline = time.monotonic() + 2.5 * interval
    while time.monotonic() < deadline:
        answer = eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])
        answers.append((datetime.now(UTC), answer["RefreshedAt"], answer["InstanceHealthList"][0].get("Deployment")))
        time.sleep(0.1)
    oldest = max(seconds(asked, refreshed) for asked, refreshed, _ in answers)
    assert oldest >= 0.5 * interval, f"answers dated at most {oldest:.2f} s back: RefreshedAt is the time of the answer"
    for _, refreshed, deployment in answers:
        if refreshed < closing["EventDate"]:  # a report from before the closing cannot know of it
            assert not (deployment and deployment["VersionLabel"] == "v2" and deployment["Status"] == "Deployed")
    reported = [refreshed for _, refreshed, d in answers if d and d["VersionLabel"] == "v2" and d["Status"] == "Deployed"]
    assert reported and min(reported) >= closing["EventDate"]


def test_health_refresh_a_new_instance_has_no_deployment_before_its_first_report(eb: Any, app: str, switch: Any) -> None:
    """At time_scale 10 an agent reports every 100 s, the first time at least 5 s after the launch."""
    switch("health-refresh", time_scale=10.0)
    versions(eb, app, "v1")
    name = unique("env")
    eb.create_environment(
        ApplicationName=app,
        EnvironmentName=name,
        SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker",
        VersionLabel="v1",
        OptionSettings=[ENHANCED],
    )
    [entry] = eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"]
    assert "Deployment" not in entry and entry["HealthStatus"] == "Pending", entry


# -- retiring-instances ----------------------------------------------------------------------------------------------


def test_retiring_instances_stay_listed_after_an_immutable_closing(eb: Any, app: str, switch: Any) -> None:
    keep = 2 * 2.0  # two reports of 10 s x 0.2
    switch("retiring-instances", time_scale=0.2)
    versions(eb, app, "v1", "v2")
    name = environment(eb, app, "v1", size=1, policy="Immutable")
    [old] = [i["Id"] for i in eb.describe_environment_resources(EnvironmentName=name)["EnvironmentResources"]["Instances"]]
    closing, _ = wait_for_event(eb, update(eb, name, "v2"), UPDATE_COMPLETED)
    listed = [i["Id"] for i in eb.describe_environment_resources(EnvironmentName=name)["EnvironmentResources"]["Instances"]]
    health = {
        i["InstanceId"]: i
        for i in eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"]
    }
    assert old in listed and len(listed) == 2, listed
    assert health[old]["Deployment"]["VersionLabel"] == "v1"
    deadline = time.monotonic() + 30
    while old in [i["Id"] for i in eb.describe_environment_resources(EnvironmentName=name)["EnvironmentResources"]["Instances"]]:
        assert time.monotonic() < deadline, "the old instance never left"
        time.sleep(0.1)
    assert seconds(datetime.now(UTC), closing["EventDate"]) >= keep
    assert [i["InstanceId"] for i in eb.describe_instances_health(EnvironmentName=name)["InstanceHealthList"]] != [old]


# -- health-downgrade ------------------------------------------------------------------------------------------------


def test_health_downgrade_waits_for_three_failed_checks_and_updates_show_info_green(eb: Any, app: str, switch: Any) -> None:
    downgrade = 3 * 10.0 * 0.1
    switch("health-downgrade", time_scale=0.1, health_after_deploy="Severe", phase_seconds=0.5)
    versions(eb, app, "v1", "v2", "v3")
    name = environment(eb, app, "v1", size=1)
    closing, _ = wait_for_event(eb, update(eb, name, "v2"), UPDATE_COMPLETED)
    deadline = time.monotonic() + 30
    while (health := eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"]))["Color"] != "Red":
        assert health["HealthStatus"] == "Ok" and health["Causes"] == [], health
        assert time.monotonic() < deadline, "the environment never turned Red"
        time.sleep(0.05)
    red_seen = datetime.now(UTC)
    assert seconds(red_seen, closing["EventDate"]) >= downgrade
    transition = next(e for e in eb.describe_events(EnvironmentName=name)["Events"] if "to Severe" in e["Message"])
    assert transition["EventDate"] >= closing["EventDate"]

    switch("health-downgrade", time_scale=0.1, health_after_deploy="Ok", phase_seconds=0.5)
    request_id = update(eb, name, "v3")
    during = []
    while not [e for e in eb.describe_events(RequestId=request_id)["Events"] if e["Message"] == UPDATE_COMPLETED]:
        health = eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])
        if health["Status"] == "Updating":
            during.append((health["HealthStatus"], health["Color"]))
        time.sleep(0.05)
    assert during and set(during) == {("Info", "Green")}, during


def test_health_downgrade_a_crashed_container_turns_red_after_three_checks(
    server: Any, eb: Any, s3: Any, app: str, switch: Any, test_image: PushedImage, auth_key: str, docker_client: Any
) -> None:
    downgrade = 3 * 10.0 * 0.1
    switch("health-downgrade", time_scale=0.1)
    source = put_json(s3, dockerrun(test_image.name, "serve v1", auth_key=auth_key))
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=source)
    name = environment(eb, app, "v1")
    [container] = [e["container"] for e in server.status()["environments"] if e["name"] == name]
    docker_client.containers.get(container).kill()
    killed = datetime.now(UTC)
    deadline = time.monotonic() + 30
    while (described := eb.describe_environments(EnvironmentNames=[name])["Environments"][0])["Health"] != "Red":
        assert described["HealthStatus"] == "Ok", described
        assert time.monotonic() < deadline, "the environment never turned Red"
        time.sleep(0.05)
    assert seconds(datetime.now(UTC), killed) >= downgrade
    transition = next(e for e in eb.describe_events(EnvironmentName=name)["Events"] if "to Severe" in e["Message"])
    assert seconds(datetime.now(UTC), transition["EventDate"]) >= downgrade


# -- ready-first, closing-first --------------------------------------------------------------------------------------


def _closing_and_ready(eb: Any, name: str, request_id: str) -> tuple[dict[str, Any], datetime, datetime, str]:
    """The closing event, when the test first saw it and first saw Ready, and the status seen with the closing."""
    closing: dict[str, Any] | None = None
    closing_seen = ready_seen = None
    status_with_closing = ""
    deadline = time.monotonic() + 60
    while closing_seen is None or ready_seen is None:
        assert time.monotonic() < deadline
        status = eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["Status"]
        moment = datetime.now(UTC)
        if status == "Ready" and ready_seen is None:
            ready_seen = moment
        found = [e for e in eb.describe_events(RequestId=request_id)["Events"] if e["Message"] == UPDATE_COMPLETED]
        if found and closing_seen is None:
            closing, closing_seen, status_with_closing = found[0], datetime.now(UTC), status
        time.sleep(0.05)
    assert closing is not None
    return closing, closing_seen, ready_seen, status_with_closing


def test_ready_first_shows_ready_before_the_closing_event(eb: Any, app: str, switch: Any) -> None:
    lag = 3.0
    switch("ready-first", time_scale=1.0)
    versions(eb, app, "v1", "v2")
    name = environment(eb, app, "v1")
    closing, closing_seen, ready_seen, status = _closing_and_ready(eb, name, update(eb, name, "v2"))
    assert seconds(closing_seen, closing["EventDate"]) >= lag
    assert ready_seen < closing_seen and status == "Ready"


def test_closing_first_shows_the_closing_event_while_still_updating(eb: Any, app: str, switch: Any) -> None:
    lag = 3.0
    switch("closing-first", time_scale=1.0)
    versions(eb, app, "v1", "v2")
    name = environment(eb, app, "v1")
    closing, closing_seen, ready_seen, status = _closing_and_ready(eb, name, update(eb, name, "v2"))
    assert seconds(ready_seen, closing["EventDate"]) >= lag
    assert closing_seen < ready_seen and status == "Updating"


# -- event-delay -------------------------------------------------------------------------------------------------


def test_event_delay_events_arrive_late_dated_when_they_happened(eb: Any, app: str, switch: Any) -> None:
    switch("event-delay", time_scale=1.0)
    versions(eb, app, "v1", "v2")
    name = environment(eb, app, "v1")
    request_id = update(eb, name, "v2")
    first_seen: dict[str, datetime] = {}
    dates: dict[str, datetime] = {}
    deadline = time.monotonic() + 60
    while UPDATE_COMPLETED not in first_seen:
        assert time.monotonic() < deadline
        events = eb.describe_events(RequestId=request_id)["Events"]
        moment = datetime.now(UTC)
        for event in events:
            first_seen.setdefault(event["Message"], moment)
            dates[event["Message"]] = event["EventDate"]
        time.sleep(0.05)
    late = {message: seconds(first_seen[message], dates[message]) for message in first_seen}
    assert len(late) >= 3 and min(late.values()) >= 2.0, late


# -- health-hidden -----------------------------------------------------------------------------------------------


def test_health_hidden_answers_empty_for_every_caller(eb: Any, app: str, switch: Any) -> None:
    versions(eb, app, "v1")
    name = environment(eb, app, "v1")
    switch("health-hidden")
    assert eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"] == []
    answer = eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])
    assert {k: v for k, v in answer.items() if k != "ResponseMetadata"} == {}
    assert eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["Health"] == "Green"


def test_health_hidden_follows_the_action_table_under_a_policy(server: Any, eb: Any, app: str, switch: Any) -> None:
    """A policy that grants the health operations only under elasticbeanstalk:InApplication does not let the caller
    see them (the action table lists no condition key for them): an empty answer, not AccessDenied."""
    versions(eb, app, "v1")
    name = environment(eb, app, "v1")
    application_arn = f"arn:aws:elasticbeanstalk:{REGION}:123456789012:application/{app}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "elasticbeanstalk:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"elasticbeanstalk:InApplication": application_arn}},
            }
        ],
    }
    switch("health-hidden", iam_policy=policy, iam_access_key="AKIAHEALTHHIDDEN")
    import boto3

    caller = boto3.client(
        "elasticbeanstalk",
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id="AKIAHEALTHHIDDEN",
        aws_secret_access_key="testing",
    )
    assert caller.describe_environments(EnvironmentNames=[name])["Environments"]
    assert caller.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"] == []
    answer = caller.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])
    assert "HealthStatus" not in answer and "EnvironmentName" not in answer
    # Callers the policy is not attached to still see it.
    assert eb.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])["HealthStatus"] == "Ok"


# -- slow-logs ----------------------------------------------------------------------------------------------------


def test_slow_logs_each_instance_answers_on_its_own_time(eb: Any, app: str, switch: Any) -> None:
    switch("slow-logs", time_scale=0.1)
    versions(eb, app, "v1")
    name = environment(eb, app, "v1", size=2)
    asked = datetime.now(UTC)
    request_id = eb.request_environment_info(EnvironmentName=name, InfoType="tail")["ResponseMetadata"]["RequestId"]
    wait_for_event(eb, request_id, "Pulled logs for environment instances.")
    entries = eb.retrieve_environment_info(EnvironmentName=name, InfoType="tail")["EnvironmentInfo"]
    assert len(entries) == 2
    assert min(seconds(e["SampleTimestamp"], asked) for e in entries) >= 10 * 0.1 - 0.05  # timestamps have ms


@pytest.fixture(scope="module")
def auth_key(s3: Any, test_image: PushedImage) -> str:
    key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=test_image.auth_file())
    return key


def test_slow_logs_failed_immutable_instances_leave_bundle_logs(
    eb: Any, s3: Any, app: str, switch: Any, test_image: PushedImage, auth_key: str
) -> None:
    switch("slow-logs", time_scale=0.1)
    for label in ("v1", "v2"):
        source = put_json(s3, dockerrun(test_image.name, f"serve {label}", auth_key=auth_key))
        eb.create_application_version(ApplicationName=app, VersionLabel=label, SourceBundle=source)
    name = environment(eb, app, "v1", size=1, policy="Immutable")
    env_id = eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["EnvironmentId"]
    [old] = [i["Id"] for i in eb.describe_environment_resources(EnvironmentName=name)["EnvironmentResources"]["Instances"]]
    switch("slow-logs", time_scale=0.1, fail_batch=1)
    wait_for_event(eb, update(eb, name, "v2"), "Failed to deploy application.")
    wait_ready(eb, name)
    bundles = eb.retrieve_environment_info(EnvironmentName=name, InfoType="bundle")["EnvironmentInfo"]
    assert len(bundles) == 1 and bundles[0]["Ec2InstanceId"] != old, bundles
    new = bundles[0]["Ec2InstanceId"]
    with urllib.request.urlopen(bundles[0]["Message"], timeout=10) as response:
        names = zipfile.ZipFile(io.BytesIO(response.read())).namelist()
    assert "var/log/eb-engine.log" in names
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=f"elasticbeanstalk-{REGION}-123456789012")["Contents"]]
    assert any(k.startswith(f"resources/environments/logs/bundle/{env_id}/{new}/") for k in keys), keys
    request_id = eb.request_environment_info(EnvironmentName=name, InfoType="tail")["ResponseMetadata"]["RequestId"]
    wait_for_event(eb, request_id, "Pulled logs for environment instances.")
    tails = eb.retrieve_environment_info(EnvironmentName=name, InfoType="tail")["EnvironmentInfo"]
    assert [t["Ec2InstanceId"] for t in tails] == [old]


# -- throttle --------------------------------------------------------------------------------------------------------


def test_throttle_one_bucket_for_every_caller_answers_as_eb_does(server: Any, eb: Any, s3: Any, switch: Any) -> None:
    switch("throttle", throttle_rate=0.5, throttle_burst=3)
    server.reset_throttled()
    callers = [
        client("elasticbeanstalk", server.endpoint_url, retries={"total_max_attempts": 1, "mode": "standard"}) for _ in "ab"
    ]
    errors = []
    for index in range(6):
        try:
            callers[index % 2].describe_applications()
        except ClientError as error:
            errors.append(error)
    assert errors, "six calls in a burst of three were all served"
    answer = errors[0].response
    assert answer["Error"]["Code"] == "Throttling" and answer["Error"]["Message"] == "Rate exceeded"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert server.throttled() == {"DescribeApplications": len(errors)}
    for _ in range(6):  # S3 and the control endpoints are not Elastic Beanstalk's
        s3.list_objects_v2(Bucket=BUCKET)
        server.calls()


# -- all together -----------------------------------------------------------------------------------------------


def test_every_variant_at_once_still_ends_updates(server: Any, eb: Any, app: str, switch: Any) -> None:
    """The variants combine: with all of them on (compressed), an Immutable update still closes and the environment
    turns Ready with the new version (health answers are empty: `health-hidden` without a policy hides them)."""
    switch(*VARIANTS_ALL, time_scale=0.05, throttle_rate=50.0, throttle_burst=50)
    versions(eb, app, "v1", "v2")
    name = environment(eb, app, "v1", size=2, policy="Immutable")
    wait_for_event(eb, update(eb, name, "v2"), UPDATE_COMPLETED)
    assert wait_ready(eb, name)["VersionLabel"] == "v2"
    assert server.settings()["variants"] == ([] if VARIANTS_OFF else list(VARIANTS_ALL))


# -- settings ----------------------------------------------------------------------------------------------------


def test_realistic_preset_and_bad_variant_names(server: Any) -> None:
    import argparse

    from localeb.settings import add_arguments, from_arguments
    from localeb.variants import HEALTH_HIDDEN, REALISTIC_PHASE_SECONDS, VARIANTS

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    preset = from_arguments(parser.parse_args(["--variants", "realistic"]))
    assert preset.variants == [name for name in VARIANTS if name != HEALTH_HIDDEN] and preset.time_scale == 1.0
    assert preset.phase_seconds == REALISTIC_PHASE_SECONDS
    assert from_arguments(parser.parse_args(["--variants", "realistic", "--pace", "realistic"])).phase_seconds == 8.0
    assert from_arguments(parser.parse_args([])).variants == []
    before = server.settings()
    with pytest.raises(ValueError, match="unknown variant 'slow-log'"):
        server.update_settings(variants="slow-logs,slow-log")
    with pytest.raises(ValueError, match="greater than 0"):
        server.update_settings(time_scale=0)
    assert server.settings() == before
    assert json.dumps(before["variants"]) == "[]"
