"""Each of the doctor's checks is a small function over the facade: here each is called alone, on stubbed answers."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.stub import Stubber

from ebship import doctor
from ebship.cloud import Cloud, Storage
from ebship.job import Destination, Job, Target
from ebship.output import Console
from ebship.settings import load

REGION = "eu-west-1"


def checkup(tmp_path, s3_client, **flags: str | None) -> doctor.Checkup:
    loaded = load(flags, environ={"AWS_REGION": REGION}, dotenv_path=tmp_path / ".env")
    job = Job(tmp_path, loaded, Console(io.StringIO(), io.StringIO()))
    cloud = Cloud(loaded, s3=Storage(s3_client))
    found = doctor.Checkup(job, Destination(Target("stg", "web-stg", "web"), None, {}), cloud)
    found.__dict__["region"] = REGION  # what the region check found, without asking the session
    return found


def s3() -> tuple[object, Stubber]:
    client = boto3.client("s3", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


@pytest.mark.parametrize(
    ("answer", "passes", "says"),
    [
        ({"LocationConstraint": REGION}, True, f"deploys in {REGION}"),
        ({"LocationConstraint": "EU"}, True, f"deploys in {REGION}"),  # the legacy name of eu-west-1
        ({}, False, "is in us-east-1, the environment in eu-west-1"),
    ],
)
def test_the_bucket_check_alone(tmp_path, answer, passes, says):
    client, stub = s3()
    stub.add_response("get_bucket_location", answer, {"Bucket": "deploys"})
    with stub:
        check = doctor.checked("bucket", doctor.bucket, checkup(tmp_path, client, EB_BUCKET="deploys"))
    assert check.ok is passes and says in check.detail


def test_the_bucket_check_names_a_missing_bucket(tmp_path):
    client, stub = s3()
    stub.add_client_error("get_bucket_location", service_error_code="NoSuchBucket", http_status_code=404)
    with stub:
        check = doctor.checked("bucket", doctor.bucket, checkup(tmp_path, client, EB_BUCKET="deploys"))
    assert not check.ok and check.detail == "bucket deploys does not exist" and "create it in eu-west-1" in check.fix


def test_the_auth_object_check_alone_reads_a_denied_object_as_missing_or_unreadable(tmp_path):
    client, stub = s3()
    stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
    with stub:
        check = doctor.checked(
            "auth object",
            doctor.auth_object,
            checkup(tmp_path, client, EB_BUCKET="deploys", IMAGE_REPOSITORY="quay.io/acme/web"),
        )
    assert not check.ok and "missing or not readable (AccessDenied" in check.detail
    assert "inv s3.auth --env stg" in check.fix
