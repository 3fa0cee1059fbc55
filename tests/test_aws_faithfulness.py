"""The client where a real account behaves unlike a friendly stand-in: S3 without s3:ListBucket answers a missing key with
403 AccessDenied, and a version created with Process=True can show UNPROCESSED before it is processed.

End to end against the stand-in in each mode (``--s3-list-bucket granted|denied``, ``--unprocessed-seconds``); the error
paths the stand-in cannot produce (S3 denying the upload, a version FAILED) use botocore's Stubber.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from tests_support import MARKER_PASSWORD, REGION, FakeClock, s3_client, standin_client

from ebship import release, versions
from ebship.actions import Actions
from ebship.beanstalk import Beanstalk
from ebship.cloud import Cloud, Storage
from ebship.errors import DeployTimeout, PipelineError
from ebship.job import Job
from ebship.lastgood import S3LastGood
from ebship.output import Console
from ebship.settings import load

APP = "faithful-app"
MINE = ("s3_list_bucket", "unprocessed_seconds", "version_status_case")


@pytest.fixture
def standin(aws: Any) -> Iterator[Any]:
    """Changes the stand-in's behaviour for one test and restores it afterwards."""
    before = aws.settings()
    yield aws.update_settings
    aws.update_settings(**{key: before[key] for key in MINE})


def eb_client(env: dict[str, str]) -> Any:
    return standin_client("elasticbeanstalk", env)


def no_secret(*results: Any) -> None:
    for result in results:
        assert MARKER_PASSWORD not in result.stdout + result.stderr


# -- s3.auth ------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("list_bucket", ["granted", "denied"])
def test_s3_auth_first_run_uploads_and_the_next_one_skips(project: Any, aws: Any, standin: Any, list_bucket: str) -> None:
    standin(s3_list_bucket=list_bucket)
    key = f"registry-auth/{uuid.uuid4().hex}/config.json"
    dry = project.inv("s3.auth", "--dry-run", env={"AUTH_KEY": key})
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert ("create or replace" if list_bucket == "denied" else "create ") in dry.stdout
    first = project.inv("s3.auth", env={"AUTH_KEY": key})
    assert first.returncode == 0, first.stdout + first.stderr
    stored = s3_client(project.env).head_object(Bucket=project.env["EB_BUCKET"], Key=key)
    assert stored["ServerSideEncryption"] == "AES256"
    aws.reset_calls()
    again = project.inv("s3.auth", env={"AUTH_KEY": key})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already holds these credentials" in again.stdout
    assert "s3:PutObject" not in aws.calls()
    no_secret(dry, first, again)


def job_for(tmp_path: Path, registry: Any = None) -> Job:
    """``registry``: the tests' real one, for s3.auth, which checks the login before it uploads."""
    settings = load(
        environ={
            "IMAGE_REPOSITORY": f"{registry.address}/acme/web" if registry else "registry.example:5000/acme/web",
            "REGISTRY_USERNAME": registry.username if registry else "ci-robot",
            "REGISTRY_PASSWORD": registry.password if registry else MARKER_PASSWORD,
            "EB_BUCKET": "deploy-bucket",
            "AWS_REGION": REGION,
        },
        dotenv_path=tmp_path / ".env",
    )
    return Job(tmp_path, settings, Console(io.StringIO(), io.StringIO()))


def on(job: Job, s3: Any) -> Actions:
    """The job's actions, over a stubbed S3 client."""
    return Actions(job, Cloud(job.settings, s3=Storage(s3)))


def denied(stubber: Stubber, method: str, code: str = "AccessDenied", status: int = 403) -> None:
    stubber.add_client_error(method, service_error_code=code, service_message="Access Denied", http_status_code=status)


def test_s3_auth_names_the_permission_when_the_upload_is_denied(tmp_path: Path, registry: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stubber:
        denied(stubber, "get_object")
        denied(stubber, "put_object")
        with pytest.raises(PipelineError) as raised:
            release.upload_auth(job_for(tmp_path, registry), actions=on(job_for(tmp_path, registry), s3))
    message = str(raised.value)
    assert raised.value.exit_code == 1
    assert "s3:PutObject on arn:aws:s3:::deploy-bucket/registry-auth/config.json" in message
    assert MARKER_PASSWORD not in message and "\n" not in message


def test_s3_auth_uploads_when_reading_is_denied(tmp_path: Path, registry: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(s3) as stubber:
        denied(stubber, "get_object")
        stubber.add_response("put_object", {})
        assert (
            release.upload_auth(job_for(tmp_path, registry), actions=on(job_for(tmp_path, registry), s3))
            == "s3://deploy-bucket/registry-auth/config.json"
        )
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("list_bucket", ["granted", "denied"])
def test_the_last_good_version_record_reads_as_none_yet_in_both_modes(project: Any, standin: Any, list_bucket: str) -> None:
    standin(s3_list_bucket=list_bucket)
    record = S3LastGood(Storage(s3_client(project.env)), project.env["EB_BUCKET"], f"deploy-{uuid.uuid4().hex[:8]}")
    assert record.read("stg") == ""
    record.write("stg", "v1")
    assert record.read("stg") == "v1"


# -- eb.version ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def versioned(project: Any, registry: Any, engine: Any) -> Iterator[dict[str, str]]:
    """This commit's release image in the registry (a tiny one: eb.version only checks that it is there), the
    application, and the settings eb.version needs."""
    from ebship.source import describe

    reference = f"{project.env['IMAGE_REPOSITORY']}:{describe(project.root).tag}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY marker /marker\n"), ("marker", b"faithful\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    engine.images.build(fileobj=context, custom_context=True, tag=reference, rm=True)
    auth = {"username": registry.username, "password": registry.password}
    for line in engine.api.push(reference, auth_config=auth, stream=True, decode=True):
        assert "error" not in line, line
    eb_client(project.env).create_application(ApplicationName=APP)
    yield {"EB_APPLICATION": APP, "DEPLOY_TIMEOUT": "60"}
    engine.images.remove(reference, force=True)


def status_of(project: Any, label: str) -> str:
    found = eb_client(project.env).describe_application_versions(ApplicationName=APP, VersionLabels=[label])
    return str(found["ApplicationVersions"][0]["Status"])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["upper", "title"])
def test_eb_version_waits_through_unprocessed_until_processed(
    project: Any, standin: Any, versioned: dict[str, str], case: str
) -> None:
    standin(unprocessed_seconds=1.5, version_status_case=case)
    label = f"wait-{case}-{uuid.uuid4().hex[:6]}"
    result = project.inv("eb.version", "--label", label, env=versioned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert status_of(project, label).upper() == "PROCESSED", "eb.version returned before the version was processed"
    assert f"Version {label} registered (processed)." in result.stdout
    no_secret(result)


@pytest.mark.slow
def test_eb_version_stuck_unprocessed_is_not_ready_and_ends_with_the_deadline_code(
    project: Any, standin: Any, versioned: dict[str, str]
) -> None:
    standin(unprocessed_seconds=3600)
    label = f"stuck-{uuid.uuid4().hex[:6]}"
    result = project.inv("eb.version", "--label", label, env={**versioned, "DEPLOY_TIMEOUT": "3"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"Version {label} was still UNPROCESSED after 3 s" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    standin(unprocessed_seconds=0)
    again = project.inv("eb.version", "--label", label, env={**versioned, "DEPLOY_TIMEOUT": "3"})
    assert again.returncode == 3, "a rerun reusing the label waits for it too, and is not reported ready"


@pytest.mark.slow
@pytest.mark.parametrize("list_bucket", ["granted", "denied"])
def test_eb_version_refuses_a_label_whose_bundle_is_gone_in_both_modes(
    project: Any, standin: Any, versioned: dict[str, str], list_bucket: str
) -> None:
    label = f"gone-{list_bucket}-{uuid.uuid4().hex[:6]}"
    first = project.inv("eb.version", "--label", label, env=versioned)
    assert first.returncode == 0, first.stdout + first.stderr
    bundle = eb_client(project.env).describe_application_versions(ApplicationName=APP, VersionLabels=[label])
    source = bundle["ApplicationVersions"][0]["SourceBundle"]
    s3_client(project.env).delete_object(Bucket=source["S3Bucket"], Key=source["S3Key"])
    standin(s3_list_bucket=list_bucket)
    again = project.inv("eb.version", "--label", label, env=versioned)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "is missing or not readable" in again.stderr and "Traceback" not in again.stderr


def spec() -> versions.VersionSpec:
    return versions.VersionSpec(
        APP, "v1", "registry.example/acme/web:v1", "deploy-bucket", "deploy/v1/Dockerrun.aws.json", b"{}", "commit"
    )


def stubbed_versions(*statuses: str) -> tuple[Beanstalk, Stubber]:
    client = boto3.client("elasticbeanstalk", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for status in statuses:
        stubber.add_response(
            "describe_application_versions",
            {
                "ApplicationVersions": [
                    {
                        "ApplicationName": APP,
                        "VersionLabel": "v1",
                        "Status": status,
                        "SourceBundle": {"S3Bucket": "deploy-bucket", "S3Key": "deploy/v1/Dockerrun.aws.json"},
                    }
                ]
            },
        )
    stubber.activate()
    return Beanstalk(client), stubber


def wait_processed(eb: Beanstalk, job: Job, timeout: float) -> None:
    """eb.version's wait for processing, on a fake clock, with DEPLOY_TIMEOUT set to ``timeout``."""
    job = dataclasses.replace(job, settings=dataclasses.replace(job.settings, deploy_timeout=str(timeout)))
    actions = Actions(job, Cloud(job.settings, FakeClock(), eb=eb))
    version = spec()
    actions.eb_wait_processed(version.application, version.label, version.bucket, version.key)


def test_a_failed_version_is_a_failure_naming_the_bundle(tmp_path: Path) -> None:
    eb, stubber = stubbed_versions("Unprocessed", "Processing", "Failed")
    with pytest.raises(PipelineError) as raised:
        wait_processed(eb, job_for(tmp_path), 60)
    assert raised.value.exit_code == 1
    assert "status FAILED" in str(raised.value) and "s3://deploy-bucket/deploy/v1/Dockerrun.aws.json" in str(raised.value)
    stubber.assert_no_pending_responses()


def test_processing_past_the_deadline_is_a_timeout_with_the_last_status(tmp_path: Path) -> None:
    eb, _ = stubbed_versions(*["PROCESSING"] * 40)
    with pytest.raises(DeployTimeout) as raised:
        wait_processed(eb, job_for(tmp_path), 10)
    assert raised.value.exit_code == 3 and "still PROCESSING after 10 s" in str(raised.value)
