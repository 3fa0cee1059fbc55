"""Elastic Beanstalk's API semantics (eb-behaviour.md §2), through plain boto3 against the local server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localeb_support import (
    BUCKET,
    create_environment,
    dockerrun,
    messages,
    put_json,
    unique,
    wait_ready,
)


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return {**caught.value.response["Error"], "status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def bad_bundle(s3: Any) -> dict[str, str]:
    return put_json(s3, {"AWSEBDockerrunVersion": "2", "containerDefinitions": []})


# -- applications --------------------------------------------------------------------------------------------


def test_duplicate_application_is_refused(eb: Any, app: str) -> None:
    error = error_of(eb.create_application, ApplicationName=app)
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == f"Application {app} already exists."
    assert error["status"] == 400


def test_describe_applications_lists_version_labels(eb: Any, s3: Any, app: str) -> None:
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    found = eb.describe_applications(ApplicationNames=[app])["Applications"]
    assert [a["ApplicationName"] for a in found] == [app]
    assert found[0]["Versions"] == ["v1"]
    assert found[0]["ApplicationArn"].endswith(f":application/{app}")


# -- application versions ------------------------------------------------------------------------------------


def test_duplicate_version_label_is_refused(eb: Any, s3: Any, app: str) -> None:
    bundle = bad_bundle(s3)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bundle)
    error = error_of(eb.create_application_version, ApplicationName=app, VersionLabel="v1", SourceBundle=bundle)
    assert (error["Code"], error["Message"]) == ("InvalidParameterValue", "Application Version v1 already exists.")


def test_version_for_unknown_application_is_refused(eb: Any, s3: Any) -> None:
    error = error_of(eb.create_application_version, ApplicationName="no-such-app", VersionLabel="v1", SourceBundle=bad_bundle(s3))
    assert (error["Code"], error["Message"]) == ("InvalidParameterValue", "No Application named 'no-such-app' found.")


def test_auto_create_application(eb: Any, s3: Any) -> None:
    name = unique("auto")
    eb.create_application_version(
        ApplicationName=name, VersionLabel="v1", SourceBundle=bad_bundle(s3), AutoCreateApplication=True
    )
    assert eb.describe_applications(ApplicationNames=[name])["Applications"][0]["Versions"] == ["v1"]


def test_bundle_in_another_region_is_refused(eb: Any, s3: Any, app: str) -> None:
    bucket = unique("eu-bundles")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key="b.json", Body=b"{}")
    error = error_of(
        eb.create_application_version,
        ApplicationName=app,
        VersionLabel="v1",
        SourceBundle={"S3Bucket": bucket, "S3Key": "b.json"},
    )
    assert error["Code"] == "S3LocationNotInServiceRegionException"


def test_missing_bundle_object_is_refused(eb: Any, app: str, s3: Any) -> None:
    error = error_of(
        eb.create_application_version,
        ApplicationName=app,
        VersionLabel="v1",
        SourceBundle={"S3Bucket": BUCKET, "S3Key": "nothing-here.zip"},
    )
    assert error["Code"] == "InvalidParameterCombination"
    assert "Unable to download from S3 location" in error["Message"]


def wait_status(eb: Any, app: str, label: str, *, not_in: tuple[str, ...] = ("PROCESSING",)) -> str:
    for _ in range(100):
        status = eb.describe_application_versions(ApplicationName=app, VersionLabels=[label])["ApplicationVersions"][0]["Status"]
        if status not in not_in:
            return str(status)
        time.sleep(0.05)
    raise AssertionError(f"version {label} still {status}")


def test_version_status_is_upper_case_and_processing_validates(eb: Any, s3: Any, app: str) -> None:
    good = put_json(s3, dockerrun("127.0.0.1:1/acme/web:1"))
    plain = eb.create_application_version(ApplicationName=app, VersionLabel="plain", SourceBundle=good)
    assert plain["ApplicationVersion"]["Status"] == "UNPROCESSED"
    made = eb.create_application_version(ApplicationName=app, VersionLabel="ok", SourceBundle=good, Process=True)
    assert made["ApplicationVersion"]["Status"] == "PROCESSING"
    assert wait_status(eb, app, "ok") == "PROCESSED"
    eb.create_application_version(ApplicationName=app, VersionLabel="bad", SourceBundle=bad_bundle(s3), Process=True)
    assert wait_status(eb, app, "bad") == "FAILED"
    assert any("bad" in m for m in messages(eb, ApplicationName=app, VersionLabel="bad", Severity="ERROR"))


def test_version_status_case_can_follow_the_model(eb: Any, s3: Any, app: str, settings: Any) -> None:
    settings(version_status_case="title")
    made = eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    assert made["ApplicationVersion"]["Status"] == "Unprocessed"


def test_version_limit(eb: Any, s3: Any, app: str, settings: Any) -> None:
    existing = len(eb.describe_application_versions()["ApplicationVersions"])
    settings(version_limit=existing + 2)
    bundle = bad_bundle(s3)
    for label in ("v1", "v2"):
        eb.create_application_version(ApplicationName=app, VersionLabel=label, SourceBundle=bundle)
    with pytest.raises(ClientError) as caught:
        eb.create_application_version(ApplicationName=app, VersionLabel="v3", SourceBundle=bundle)
    assert caught.value.response["Error"]["Code"] == "TooManyApplicationVersionsException"
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 0


def test_versions_in_creation_order_with_paging_and_label_filter(eb: Any, s3: Any, app: str) -> None:
    bundle = bad_bundle(s3)
    labels = [f"v{i}" for i in range(1, 6)]
    for label in labels:
        eb.create_application_version(ApplicationName=app, VersionLabel=label, SourceBundle=bundle)
    seen: list[str] = []
    token = None
    while True:
        page = eb.describe_application_versions(ApplicationName=app, MaxRecords=2, **({"NextToken": token} if token else {}))
        assert len(page["ApplicationVersions"]) <= 2
        seen += [v["VersionLabel"] for v in page["ApplicationVersions"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == labels
    picked = eb.describe_application_versions(ApplicationName=app, VersionLabels=["v4", "v2"])["ApplicationVersions"]
    assert [v["VersionLabel"] for v in picked] == ["v2", "v4"]


def test_delete_version_keeps_or_deletes_the_bundle(eb: Any, s3: Any, app: str) -> None:
    kept, dropped = bad_bundle(s3), bad_bundle(s3)
    eb.create_application_version(ApplicationName=app, VersionLabel="kept", SourceBundle=kept)
    eb.create_application_version(ApplicationName=app, VersionLabel="dropped", SourceBundle=dropped)
    eb.delete_application_version(ApplicationName=app, VersionLabel="kept")
    eb.delete_application_version(ApplicationName=app, VersionLabel="dropped", DeleteSourceBundle=True)
    assert eb.describe_application_versions(ApplicationName=app)["ApplicationVersions"] == []
    s3.head_object(Bucket=BUCKET, Key=kept["S3Key"])
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key=dropped["S3Key"])


def test_lifecycle_max_count_rule(eb: Any, s3: Any) -> None:
    name = unique("lifecycle")
    eb.create_application(
        ApplicationName=name,
        ResourceLifecycleConfig={
            "VersionLifecycleConfig": {"MaxCountRule": {"Enabled": True, "MaxCount": 2, "DeleteSourceFromS3": False}}
        },
    )
    bundle = bad_bundle(s3)
    for label in ("v1", "v2", "v3"):
        eb.create_application_version(ApplicationName=name, VersionLabel=label, SourceBundle=bundle)
    labels = [v["VersionLabel"] for v in eb.describe_application_versions(ApplicationName=name)["ApplicationVersions"]]
    assert labels == ["v2", "v3"]


# -- environments --------------------------------------------------------------------------------------------


def test_environment_launches_then_is_ready_and_green(eb: Any, app: str) -> None:
    name = unique("env")
    created = eb.create_environment(
        ApplicationName=app, EnvironmentName=name, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    assert created["Status"] == "Launching"
    assert created["EnvironmentId"].startswith("e-")
    env = wait_ready(eb, name)
    assert env["Health"] == "Green"
    assert env["CNAME"].startswith("127.0.0.1:")
    assert messages(eb, EnvironmentName=name)[-1] == f"Successfully launched environment: {name}"


def test_describe_environments_filters(eb: Any, s3: Any, app: str) -> None:
    first = create_environment(eb, app)
    second = create_environment(eb, app)
    by_app = {e["EnvironmentName"] for e in eb.describe_environments(ApplicationName=app)["Environments"]}
    assert by_app == {first["EnvironmentName"], second["EnvironmentName"]}
    by_id = eb.describe_environments(EnvironmentIds=[second["EnvironmentId"]])["Environments"]
    assert [e["EnvironmentName"] for e in by_id] == [second["EnvironmentName"]]
    assert eb.describe_environments(EnvironmentNames=["no-such-environment"])["Environments"] == []
    assert eb.describe_environments(ApplicationName=app, VersionLabel="none-deployed")["Environments"] == []

    eb.terminate_environment(EnvironmentName=first["EnvironmentName"])
    for _ in range(100):
        states = {e["Status"] for e in eb.describe_environments(EnvironmentIds=[first["EnvironmentId"]])["Environments"]}
        if states == {"Terminated"}:
            break
        time.sleep(0.05)
    assert states == {"Terminated"}
    live = eb.describe_environments(ApplicationName=app, IncludeDeleted=False)["Environments"]
    assert [e["EnvironmentName"] for e in live] == [second["EnvironmentName"]]


def test_duplicate_environment_name_is_refused(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    error = error_of(eb.create_environment, ApplicationName=app, EnvironmentName=env["EnvironmentName"])
    assert error["Code"] == "InvalidParameterValue"


def test_update_while_not_ready_is_refused(eb: Any, app: str) -> None:
    name = unique("env")
    eb.create_environment(ApplicationName=app, EnvironmentName=name)
    error = error_of(
        eb.update_environment,
        EnvironmentName=name,
        OptionSettings=[{"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "A", "Value": "1"}],
    )
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue",
        f"Environment named {name} is in an invalid state for this operation. Must be Ready.",
    )
    wait_ready(eb, name)


def test_update_with_unknown_version_is_refused(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    error = error_of(eb.update_environment, EnvironmentName=env["EnvironmentName"], VersionLabel="nope")
    assert (error["Code"], error["Message"]) == ("InvalidParameterValue", "No Application Version named 'nope' found.")


def test_update_of_unknown_environment_is_refused(eb: Any) -> None:
    error = error_of(eb.update_environment, EnvironmentName="no-such-env", VersionLabel="v1")
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue",
        "No Environment found for EnvironmentName = 'no-such-env'.",
    )


def test_version_and_options_together_are_refused(eb: Any, s3: Any, app: str) -> None:
    env = create_environment(eb, app)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    error = error_of(
        eb.update_environment,
        EnvironmentName=env["EnvironmentName"],
        VersionLabel="v1",
        OptionSettings=[{"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "A", "Value": "1"}],
    )
    assert error["Code"] == "InvalidParameterCombination"


def test_update_returns_at_once_updating_grey_with_the_new_label(eb: Any, s3: Any, app: str) -> None:
    env = create_environment(eb, app)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    response = eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel="v1")
    assert (response["Status"], response["Health"], response["VersionLabel"]) == ("Updating", "Grey", "v1")
    assert response["ResponseMetadata"]["RequestId"]
    wait_ready(eb, env["EnvironmentName"])


ENV_NS = "aws:elasticbeanstalk:application:environment"


@pytest.mark.parametrize(
    "mode, key, value, why",
    [
        ("enforce", "K" * 129, "x", "key longer than 128"),
        ("enforce", "LONG", "v" * 257, "value longer than 256"),
        ("enforce", "HOSTS", "a.example,b.example", "comma in a value"),
        ("enforce", "MY=KEY", "x", "= in a key"),
        ("documented", "BAD KEY", "x", "space in a key"),
        ("documented", "HASH", "$2b$12$abc", "$ in a value"),
        ("documented", "SEMI", "a;b", "; in a value"),
    ],
)
def test_environment_property_limits(eb: Any, app: str, settings: Any, mode: str, key: str, value: str, why: str) -> None:
    settings(env_limits=mode)
    env = create_environment(eb, app)
    error = error_of(
        eb.update_environment,
        EnvironmentName=env["EnvironmentName"],
        OptionSettings=[{"Namespace": ENV_NS, "OptionName": key, "Value": value}],
    )
    assert error["Code"] == "InvalidParameterValue", why
    assert "$2b$" not in error["Message"]


def test_environment_properties_total_size(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    many = [{"Namespace": ENV_NS, "OptionName": f"KEY_{i:02d}", "Value": "v" * 250} for i in range(17)]
    error = error_of(eb.update_environment, EnvironmentName=env["EnvironmentName"], OptionSettings=many)
    assert error["Code"] == "InvalidParameterValue"
    assert "4096" in error["Message"]


def test_values_outside_the_documented_set_are_accepted_by_default(eb: Any, app: str) -> None:
    """Like the client, the default refuses only what cannot travel: AWS's own example value and a '$' go through."""
    env = create_environment(eb, app)
    eb.update_environment(
        EnvironmentName=env["EnvironmentName"],
        OptionSettings=[
            {"Namespace": ENV_NS, "OptionName": "JDBC", "Value": "jdbc:mysql://localhost:3306/db?user=me&password=pw"},
            {"Namespace": ENV_NS, "OptionName": "HASH", "Value": "$2b$12$abc%40*"},
        ],
    )
    wait_ready(eb, env["EnvironmentName"])


def test_allowed_property_characters_are_accepted(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    value = "jdbc:mysql://db:3306/x?user=me+you@host \\ 'quoted' \"too\" _.-"
    value = value.replace("?", "/")
    eb.update_environment(
        EnvironmentName=env["EnvironmentName"],
        OptionSettings=[{"Namespace": ENV_NS, "OptionName": "app.DB_URL:x/y+z\\w-v@u", "Value": value}],
    )
    wait_ready(eb, env["EnvironmentName"])


def test_limits_can_be_switched_off(eb: Any, app: str, settings: Any) -> None:
    settings(env_limits="off")
    env = create_environment(eb, app)
    eb.update_environment(
        EnvironmentName=env["EnvironmentName"],
        OptionSettings=[{"Namespace": ENV_NS, "OptionName": "HASH", "Value": "$2b$12$abc"}],
    )
    wait_ready(eb, env["EnvironmentName"])


def option_values(eb: Any, app: str, env_name: str) -> dict[tuple[str, str], str]:
    config = eb.describe_configuration_settings(ApplicationName=app, EnvironmentName=env_name)
    options = config["ConfigurationSettings"][0]["OptionSettings"]
    return {(o["Namespace"], o["OptionName"]): o.get("Value", "") for o in options}


def test_configuration_update_events_and_settings(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    name = env["EnvironmentName"]
    response = eb.update_environment(
        EnvironmentName=name,
        OptionSettings=[
            {"Namespace": ENV_NS, "OptionName": "GREETING", "Value": "hello"},
            {"Namespace": ENV_NS, "OptionName": "DROP_ME", "Value": "x"},
        ],
    )
    assert response["Status"] == "Updating"
    done = wait_ready(eb, name)
    assert done["Health"] == "Green"
    assert messages(eb, EnvironmentName=name, RequestId=response["ResponseMetadata"]["RequestId"]) == [
        "Environment update is starting.",
        f"Updating environment {name}'s configuration settings.",
        "Successfully deployed new configuration to environment.",
        "Environment update completed successfully.",
    ]
    values = option_values(eb, app, name)
    assert values[(ENV_NS, "GREETING")] == "hello"
    eb.update_environment(EnvironmentName=name, OptionsToRemove=[{"Namespace": ENV_NS, "OptionName": "DROP_ME"}])
    wait_ready(eb, name)
    values = option_values(eb, app, name)
    assert (ENV_NS, "DROP_ME") not in values and values[(ENV_NS, "GREETING")] == "hello"


def test_environment_health_needs_enhanced_reporting(eb: Any, app: str) -> None:
    basic = create_environment(eb, app)
    error = error_of(eb.describe_environment_health, EnvironmentName=basic["EnvironmentName"], AttributeNames=["All"])
    assert error["Code"] == "InvalidRequestException"
    enhanced = create_environment(
        eb,
        app,
        OptionSettings=[
            {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}
        ],
    )
    assert enhanced["HealthStatus"] == "Ok"
    health = eb.describe_environment_health(EnvironmentName=enhanced["EnvironmentName"], AttributeNames=["All"])
    assert (health["HealthStatus"], health["Color"]) == ("Ok", "Green")


def test_swap_cnames(eb: Any, app: str) -> None:
    blue, green = create_environment(eb, app), create_environment(eb, app)
    eb.swap_environment_cnames(SourceEnvironmentName=blue["EnvironmentName"], DestinationEnvironmentName=green["EnvironmentName"])
    blue_after = wait_ready(eb, blue["EnvironmentName"])
    green_after = wait_ready(eb, green["EnvironmentName"])
    assert (blue_after["CNAME"], green_after["CNAME"]) == (green["CNAME"], blue["CNAME"])
    assert messages(eb, EnvironmentName=blue["EnvironmentName"])[-1].startswith("Completed swapping CNAMEs for environments")


# -- deploy outcomes that need no image ---------------------------------------------------------------------------


def deploy_bad_bundle(eb: Any, s3: Any, app: str, env_name: str, label: str) -> str:
    eb.create_application_version(ApplicationName=app, VersionLabel=label, SourceBundle=bad_bundle(s3))
    request_id = eb.update_environment(EnvironmentName=env_name, VersionLabel=label)["ResponseMetadata"]["RequestId"]
    wait_ready(eb, env_name)
    return str(request_id)


def test_failed_deploy_ends_ready_red_with_failure_events(eb: Any, s3: Any, app: str) -> None:
    env = create_environment(eb, app)
    name = env["EnvironmentName"]
    request_id = deploy_bad_bundle(eb, s3, app, name, "v1")
    after = eb.describe_environments(EnvironmentNames=[name])["Environments"][0]
    assert (after["Status"], after["Health"]) == ("Ready", "Red")
    events = eb.describe_events(EnvironmentName=name, RequestId=request_id)["Events"]
    assert {e["RequestId"] for e in events} == {request_id}
    texts = [e["Message"] for e in reversed(events)]
    assert texts[:2] == ["Environment update is starting.", "Deploying new version to instance(s)."]
    assert texts[-1] == "Failed to deploy application."
    assert any("AWSEBDockerrunVersion 2" in t for t in texts)
    assert all(e["Severity"] == "ERROR" for e in events[:3])
    health = eb.describe_events(EnvironmentName=name, Severity="WARN")["Events"][0]
    assert health["Message"] == "Environment health has been set to RED" and "RequestId" not in health


def test_environment_updated_waiter_reports_ready_on_a_failed_deploy(eb: Any, s3: Any, app: str) -> None:
    env = create_environment(eb, app)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel="v1")
    eb.get_waiter("environment_updated").wait(
        EnvironmentNames=[env["EnvironmentName"]], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    assert eb.describe_environments(EnvironmentNames=[env["EnvironmentName"]])["Environments"][0]["Health"] == "Red"


@pytest.mark.parametrize("mode, expected", [("revert", None), ("keep", "v1")])
def test_version_label_after_a_failed_deploy(eb: Any, s3: Any, app: str, settings: Any, mode: str, expected: str | None) -> None:
    settings(failed_version_label=mode)
    env = create_environment(eb, app)
    deploy_bad_bundle(eb, s3, app, env["EnvironmentName"], "v1")
    after = eb.describe_environments(EnvironmentNames=[env["EnvironmentName"]])["Environments"][0]
    assert after.get("VersionLabel") == expected


def test_version_and_options_together_when_allowed(eb: Any, s3: Any, app: str, settings: Any) -> None:
    settings(combined_update="allow")
    env = create_environment(eb, app)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    response = eb.update_environment(
        EnvironmentName=env["EnvironmentName"],
        VersionLabel="v1",
        OptionSettings=[{"Namespace": ENV_NS, "OptionName": "A", "Value": "1"}],
    )
    assert response["Status"] == "Updating"
    wait_ready(eb, env["EnvironmentName"])


def test_sample_application_answers_before_any_deploy(eb: Any, app: str) -> None:
    import urllib.request

    env = create_environment(eb, app)
    with urllib.request.urlopen(f"http://{env['CNAME']}/", timeout=5) as response:
        assert response.status == 200


# -- events ----------------------------------------------------------------------------------------------------


def test_events_newest_first_with_time_severity_and_paging(eb: Any, s3: Any, app: str) -> None:
    env = create_environment(eb, app)
    name = env["EnvironmentName"]
    deploy_bad_bundle(eb, s3, app, name, "v1")
    events = eb.describe_events(EnvironmentName=name)["Events"]
    dates = [e["EventDate"] for e in events]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == len(dates)

    middle = events[len(events) // 2]
    since = eb.describe_events(EnvironmentName=name, StartTime=middle["EventDate"])["Events"]
    assert since[-1]["EventDate"] == middle["EventDate"]
    before = eb.describe_events(EnvironmentName=name, EndTime=middle["EventDate"])["Events"]
    assert before and all(e["EventDate"] < middle["EventDate"] for e in before)
    assert len(since) + len(before) == len(events)

    warnings = eb.describe_events(EnvironmentName=name, Severity="WARN")["Events"]
    assert warnings and {e["Severity"] for e in warnings} <= {"WARN", "ERROR", "FATAL"}
    assert "ERROR" in {e["Severity"] for e in warnings}

    paged: list[str] = []
    token = None
    while True:
        page = eb.describe_events(EnvironmentName=name, MaxRecords=2, **({"NextToken": token} if token else {}))
        paged += [e["Message"] for e in page["Events"]]
        token = page.get("NextToken")
        if not token:
            break
    assert paged == [e["Message"] for e in events]

    by_version = eb.describe_events(ApplicationName=app, VersionLabel="v1")["Events"]
    assert by_version and all(e.get("VersionLabel") == "v1" for e in by_version)


def test_ebcli_style_polling_by_request_id_and_start_time(eb: Any, s3: Any, app: str) -> None:
    import datetime

    env = create_environment(eb, app)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    request_id = eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel="v1")["ResponseMetadata"]["RequestId"]
    seen: list[str] = []
    start = None
    for _ in range(200):
        kwargs: dict[str, datetime.datetime] = {"StartTime": start} if start else {}
        new = eb.describe_events(EnvironmentName=env["EnvironmentName"], RequestId=request_id, **kwargs)["Events"]
        if new:
            seen += [e["Message"] for e in reversed(new)]
            start = new[0]["EventDate"] + datetime.timedelta(milliseconds=1)
        if seen and seen[-1] == "Failed to deploy application.":
            break
        time.sleep(0.05)
    assert seen[0] == "Environment update is starting." and seen[-1] == "Failed to deploy application."
    assert len(seen) == len(set(seen))


def test_unknown_environment_in_events_is_an_empty_list(eb: Any) -> None:
    assert eb.describe_events(EnvironmentName="never-existed")["Events"] == []


def test_dockerrun_bundle_is_json_or_zip(tmp_path: Any) -> None:
    import io
    import zipfile

    from localeb.dockerrun import BundleError, dockerrun_text, parse_dockerrun

    text = json.dumps(dockerrun("127.0.0.1:5000/acme/web:1", auth_key="auth.json"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Dockerrun.aws.json", text)
    spec = parse_dockerrun(dockerrun_text(buffer.getvalue()))
    assert (spec.image, spec.container_port, spec.auth_key, spec.registry) == (
        "127.0.0.1:5000/acme/web:1",
        80,
        "auth.json",
        "127.0.0.1:5000",
    )
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as archive:
        archive.writestr("app/Dockerrun.aws.json", text)
    with pytest.raises(BundleError, match="root"):
        dockerrun_text(nested.getvalue())
    assert (
        parse_dockerrun(
            json.dumps({"AWSEBDockerrunVersion": 1, "Image": {"Name": "web"}, "Ports": [{"ContainerPort": "8080"}]})
        ).container_port
        == 8080
    )
    with pytest.raises(BundleError, match="Ports"):
        parse_dockerrun(json.dumps({"AWSEBDockerrunVersion": "1", "Image": {"Name": "web"}}))
    with pytest.raises(BundleError, match="digest"):
        parse_dockerrun(json.dumps(dockerrun("web@sha256:" + "a" * 64)), allow_digest=False)


def test_delete_version_during_its_deploy_or_while_deployed(eb: Any, s3: Any, app: str, settings: Any) -> None:
    env = create_environment(eb, app)
    settings(phase_seconds=0.5)
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bad_bundle(s3))
    eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel="v1")
    error = error_of(eb.delete_application_version, ApplicationName=app, VersionLabel="v1")
    assert error["Code"] == "OperationInProgressFailure"
    wait_ready(eb, env["EnvironmentName"])


def test_terminate_environment(eb: Any, app: str) -> None:
    env = create_environment(eb, app)
    response = eb.terminate_environment(EnvironmentName=env["EnvironmentName"])
    assert response["Status"] == "Terminating"
    for _ in range(100):
        found = eb.describe_environments(EnvironmentIds=[env["EnvironmentId"]])["Environments"][0]
        if found["Status"] == "Terminated":
            break
        time.sleep(0.05)
    assert found["Status"] == "Terminated"
    assert messages(eb, EnvironmentName=env["EnvironmentName"])[-1] == "terminateEnvironment completed successfully."
    error = error_of(eb.update_environment, EnvironmentName=env["EnvironmentName"], Description="x")
    assert error["Code"] == "InvalidParameterValue"


def test_enhanced_health_transitions_during_a_deploy(eb: Any, s3: Any, app: str) -> None:
    env = create_environment(
        eb,
        app,
        OptionSettings=[
            {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}
        ],
    )
    name = env["EnvironmentName"]
    request_id = deploy_bad_bundle(eb, s3, app, name, "v1")
    events = list(reversed(eb.describe_events(EnvironmentName=name)["Events"]))
    health = [e for e in events if e["Message"].startswith("Environment health has transitioned")]
    assert [e["Message"].split(".")[0] for e in health] == [
        "Environment health has transitioned from Ok to Info",
        "Environment health has transitioned from Info to Severe",
    ]
    assert all("RequestId" not in e for e in health)
    assert health[-1]["Severity"] == "WARN"
    assert all(e.get("RequestId") == request_id for e in events if e not in health and "update" in e["Message"])
    after = eb.describe_environments(EnvironmentNames=[name])["Environments"][0]
    assert (after["Health"], after["HealthStatus"]) == ("Red", "Severe")


def test_events_by_environment_id(eb: Any, app: str) -> None:
    first, second = create_environment(eb, app), create_environment(eb, app)
    events = eb.describe_events(EnvironmentId=first["EnvironmentId"])["Events"]
    assert events and {e["EnvironmentName"] for e in events} == {first["EnvironmentName"]}
    assert second["EnvironmentName"] not in {e["EnvironmentName"] for e in events}
