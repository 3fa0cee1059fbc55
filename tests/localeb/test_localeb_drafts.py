"""What a real account shows that the stand-in once did not: draft configurations, S3 without s3:ListBucket, versions
that stay UNPROCESSED for a while; and eb.env end to end while a draft is pending and after one failed.

Sources: botocore's model (DescribeConfigurationSettings, ConfigurationSettingsDescription.DeploymentStatus,
DeleteEnvironmentConfiguration); S3 API reference, GetObject, "Permissions"; the EB CLI's wait for PROCESSED.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localeb_support import BUCKET, PushedImage, create_environment, dockerrun, put_json, unique, wait_ready

ENV_NS = "aws:elasticbeanstalk:application:environment"
HEALTH_URL = {"Namespace": "aws:elasticbeanstalk:application", "OptionName": "Application Healthcheck URL", "Value": "/health"}
MINE = ("phase_seconds", "s3_list_bucket", "unprocessed_seconds", "draft_position", "update_closing")


@pytest.fixture
def behaviour(eb_server: Any) -> Iterator[Any]:
    """Changes the server's behaviour for one test and restores it afterwards."""
    before = eb_server.settings()
    yield eb_server.update_settings
    eb_server.update_settings(**{key: before[key] for key in MINE})


def configurations(eb: Any, app: str, env_name: str) -> list[tuple[str, dict[str, str]]]:
    """(DeploymentStatus, environment properties) per configuration, in the order of the answer."""
    found = eb.describe_configuration_settings(ApplicationName=app, EnvironmentName=env_name)["ConfigurationSettings"]
    return [
        (c["DeploymentStatus"], {o["OptionName"]: o.get("Value", "") for o in c["OptionSettings"] if o["Namespace"] == ENV_NS})
        for c in found
    ]


def by_status(found: list[tuple[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    statuses = [status for status, _ in found]
    assert len(statuses) == len(set(statuses)), statuses
    return dict(found)


@pytest.fixture(scope="module")
def sick(eb: Any, s3: Any, test_image: PushedImage) -> dict[str, Any]:
    """An environment serving the test app in `sick` mode: / answers 200, /health 500. Pointing the health check at
    /health makes a configuration update fail, as EB fails one whose instances do not pass the health check."""
    app = unique("drafts")
    eb.create_application(ApplicationName=app)
    env = create_environment(eb, app, OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "one"}])
    auth_key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=auth_key, Body=test_image.auth_file())
    bundle = put_json(s3, dockerrun(test_image.name, "sick v1", auth_key=auth_key))
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bundle)
    eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel="v1")
    after = wait_ready(eb, env["EnvironmentName"], timeout=90)
    assert after["Health"] == "Green", after
    return {"app": app, "name": env["EnvironmentName"]}


def fail_a_configuration_update(eb: Any, sick: dict[str, Any], stage: str) -> None:
    eb.update_environment(
        EnvironmentName=sick["name"], OptionSettings=[HEALTH_URL, {"Namespace": ENV_NS, "OptionName": "STAGE", "Value": stage}]
    )
    after = wait_ready(eb, sick["name"], timeout=60)
    assert after["Health"] == "Red", "the configuration update was meant to fail"


# -- the stand-in -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("position", ["last", "first"])
def test_a_configuration_update_shows_a_pending_draft_until_it_succeeds(eb: Any, app: str, behaviour: Any, position: str) -> None:
    behaviour(draft_position=position)
    env = create_environment(eb, app, OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "one"}])
    assert [status for status, _ in configurations(eb, app, env["EnvironmentName"])] == ["deployed"]
    behaviour(phase_seconds=1.0)
    eb.update_environment(
        EnvironmentName=env["EnvironmentName"], OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "two"}]
    )
    during = configurations(eb, app, env["EnvironmentName"])
    assert [status for status, _ in during] == (["deployed", "pending"] if position == "last" else ["pending", "deployed"])
    assert by_status(during)["deployed"]["STAGE"] == "one", "the deployed entry is what runs, not the draft"
    assert by_status(during)["pending"]["STAGE"] == "two"
    wait_ready(eb, env["EnvironmentName"])
    assert configurations(eb, app, env["EnvironmentName"]) == [("deployed", {"STAGE": "two"})]


@pytest.mark.slow
def test_a_version_deploy_makes_no_draft(eb: Any, s3: Any, app: str, behaviour: Any, test_image: PushedImage) -> None:
    env = create_environment(eb, app)
    auth_key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=auth_key, Body=test_image.auth_file())
    eb.create_application_version(
        ApplicationName=app,
        VersionLabel="v1",
        SourceBundle=put_json(s3, dockerrun(test_image.name, "serve v1", auth_key=auth_key)),
    )
    behaviour(phase_seconds=1.0)
    eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel="v1")
    assert [status for status, _ in configurations(eb, app, env["EnvironmentName"])] == ["deployed"]
    wait_ready(eb, env["EnvironmentName"], timeout=60)


@pytest.mark.slow
def test_a_failed_configuration_update_leaves_a_failed_draft_until_the_next_success(
    eb: Any, sick: dict[str, Any], behaviour: Any
) -> None:
    fail_a_configuration_update(eb, sick, "broken")
    after = by_status(configurations(eb, sick["app"], sick["name"]))
    assert set(after) == {"deployed", "failed"}
    assert after["deployed"]["STAGE"] != "broken" and after["failed"]["STAGE"] == "broken"
    eb.update_environment(
        EnvironmentName=sick["name"], OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "mended"}]
    )
    assert wait_ready(eb, sick["name"], timeout=60)["Health"] == "Green"
    assert configurations(eb, sick["app"], sick["name"]) == [("deployed", {"STAGE": "mended"})]


@pytest.mark.slow
def test_an_update_closed_with_errors_after_ready_leaves_a_failed_draft(eb: Any, app: str, behaviour: Any) -> None:
    behaviour(update_closing="late-errors")
    env = create_environment(eb, app, OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "one"}])
    request_id = eb.update_environment(
        EnvironmentName=env["EnvironmentName"], OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "two"}]
    )["ResponseMetadata"]["RequestId"]
    wait_ready(eb, env["EnvironmentName"])
    assert "pending" not in by_status(configurations(eb, app, env["EnvironmentName"])), "Ready, yet a pending draft"
    deadline = time.monotonic() + 10
    while not any(e["Severity"] == "ERROR" for e in eb.describe_events(RequestId=request_id)["Events"]):
        assert time.monotonic() < deadline, "no late closing"
        time.sleep(0.1)
    assert set(by_status(configurations(eb, app, env["EnvironmentName"]))) == {"deployed", "failed"}


@pytest.mark.parametrize("mode", ["granted", "denied"])
def test_a_missing_key_is_403_without_list_bucket_and_404_with_it(s3: Any, behaviour: Any, mode: str) -> None:
    behaviour(s3_list_bucket=mode)
    key = f"present/{uuid.uuid4().hex}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"here")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"here"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 4
    answers = {}
    for name, call in (("get", s3.get_object), ("head", s3.head_object)):
        with pytest.raises(ClientError) as caught:
            call(Bucket=BUCKET, Key=f"missing/{uuid.uuid4().hex}")
        answers[name] = (caught.value.response["ResponseMetadata"]["HTTPStatusCode"], caught.value.response["Error"]["Code"])
    if mode == "denied":
        assert answers == {"get": (403, "AccessDenied"), "head": (403, "403")}
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.list_objects_v2(Bucket=BUCKET)
    else:
        assert answers == {"get": (404, "NoSuchKey"), "head": (404, "404")}
        assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] >= 1
    with pytest.raises(ClientError, match="NoSuchBucket"):
        s3.get_object(Bucket="no-such-bucket-here", Key="x")


def version_statuses(eb: Any, app: str, label: str, seconds: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = eb.describe_application_versions(ApplicationName=app, VersionLabels=[label])["ApplicationVersions"][0]["Status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("PROCESSED", "FAILED"):
            break
        time.sleep(0.05)
    return seen


@pytest.mark.parametrize("unprocessed_seconds", [0.0, 1.0])
def test_a_processed_version_can_show_unprocessed_then_processing_first(
    eb: Any, s3: Any, app: str, behaviour: Any, unprocessed_seconds: float
) -> None:
    behaviour(unprocessed_seconds=unprocessed_seconds, phase_seconds=0.5)
    bundle = put_json(s3, dockerrun("registry.example/acme/web:1"))
    eb.create_application_version(ApplicationName=app, VersionLabel="v1", SourceBundle=bundle, Process=True)
    seen = version_statuses(eb, app, "v1", 10)
    expected = ["PROCESSING", "PROCESSED"]
    assert seen == (["UNPROCESSED", *expected] if unprocessed_seconds else expected)


# -- eb.env end to end, while a draft is pending and after a failed update -----------------------------------------------


@pytest.fixture(scope="module")
def env_project(eb_server: Any, sick: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    tests_dir = str(Path(__file__).resolve().parent.parent)
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    from tests_support import Project, base_env, copy_project

    root = copy_project(tmp_path_factory.mktemp("drafts-project"))
    (root / "environments.toml").write_text(
        f'[drafts]\neb_environment = "{sick["name"]}"\n\n[drafts.variables]\nSTAGE = "declared"\nTOKEN = "${{DRAFT_TOKEN}}"\n'
    )
    project = Project(
        root,
        {
            **base_env(),
            "AWS_ENDPOINT_URL": eb_server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "EB_APPLICATION": sick["app"],
            "DEPLOY_TIMEOUT": "90",
            "DRAFT_TOKEN": "draft-M4rk3r-token",
        },
    )
    project.commit("Declare the drafts environment")
    return project


def assert_ok(result: Any) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "draft-M4rk3r-token" not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("position", ["last", "first"])
def test_eb_env_works_while_a_draft_is_pending(
    eb: Any, sick: dict[str, Any], env_project: Any, behaviour: Any, position: str
) -> None:
    behaviour(draft_position=position)
    wait_ready(eb, sick["name"], timeout=60)
    behaviour(phase_seconds=1.5)
    eb.update_environment(
        EnvironmentName=sick["name"],
        OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": f"pending-{position}"}],
    )
    assert "pending" in by_status(configurations(eb, sick["app"], sick["name"]))
    dry = env_project.inv("eb.env", "--env", "drafts", "--dry-run")
    assert_ok(dry)
    real = env_project.inv("eb.env", "--env", "drafts")  # waits for Ready, then applies
    assert_ok(real)
    assert configurations(eb, sick["app"], sick["name"]) == [("deployed", {"STAGE": "declared", "TOKEN": "draft-M4rk3r-token"})]


@pytest.mark.slow
@pytest.mark.parametrize("position", ["last", "first"])
def test_eb_env_works_after_a_failed_configuration_update(
    eb: Any, sick: dict[str, Any], env_project: Any, behaviour: Any, position: str
) -> None:
    behaviour(draft_position=position)
    wait_ready(eb, sick["name"], timeout=60)
    eb.update_environment(
        EnvironmentName=sick["name"], OptionSettings=[{"Namespace": ENV_NS, "OptionName": "STAGE", "Value": "undeclared"}]
    )  # so that eb.env has work to do
    wait_ready(eb, sick["name"], timeout=60)
    fail_a_configuration_update(eb, sick, f"broken-{position}")
    assert set(by_status(configurations(eb, sick["app"], sick["name"]))) == {"deployed", "failed"}
    first = env_project.inv("eb.env", "--env", "drafts")
    assert_ok(first)
    assert configurations(eb, sick["app"], sick["name"]) == [("deployed", {"STAGE": "declared", "TOKEN": "draft-M4rk3r-token"})]
    again = env_project.inv("eb.env", "--env", "drafts")
    assert_ok(again)
    assert "no change" in again.stdout
