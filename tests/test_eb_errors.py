"""Error codes the stand-in cannot easily produce, through botocore's Stubber (which checks parameters against the model)."""

from __future__ import annotations

import io

import boto3
import pytest
from botocore.stub import Stubber
from tests_support import FakeClock

from ebship.aws import CloudError
from ebship.beanstalk import Beanstalk
from ebship.clock import Deadline
from ebship.deploy import Deployer
from ebship.errors import EXIT_FAILED
from ebship.job import Target
from ebship.output import Console
from ebship.watch import Schedule


def eb_client():
    return boto3.client("elasticbeanstalk", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")


ENV = {"EnvironmentName": "web-stg", "Status": "Ready", "Health": "Green", "VersionLabel": "v1", "CNAME": "web.example"}
VERSION = {
    "ApplicationName": "web",
    "VersionLabel": "v2",
    "Status": "PROCESSED",
    "SourceBundle": {"S3Bucket": "b", "S3Key": "deploy/v2/Dockerrun.aws.json"},
}


@pytest.mark.parametrize(
    ("code", "hint"),
    [("TooManyApplicationVersionsException", "eb.prune"), ("InsufficientPrivilegesException", "IAM")],
)
def test_create_version_errors_carry_a_hint(code, hint):
    client = eb_client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "create_application_version", service_error_code=code, service_message="limit", http_status_code=400
        )
        with pytest.raises(CloudError) as raised:
            Beanstalk(client).create_version("web", "v2", "", "b", "deploy/v2/Dockerrun.aws.json")
    assert raised.value.exit_code == EXIT_FAILED
    assert code in str(raised.value) and hint in str(raised.value)
    assert not raised.value.transient


def test_insufficient_privileges_on_update_fails_the_deploy_clearly():
    client = eb_client()
    out = io.StringIO()
    with Stubber(client) as stub:
        stub.add_response("describe_environments", {"Environments": [ENV]})
        stub.add_response("describe_application_versions", {"ApplicationVersions": [VERSION]})
        stub.add_response("describe_environments", {"Environments": [ENV]})
        stub.add_client_error(
            "update_environment",
            service_error_code="InsufficientPrivilegesException",
            service_message="not authorized",
            http_status_code=403,
        )
        deployer = Deployer(Beanstalk(client), Console(out, io.StringIO()), 60, FakeClock(), Schedule())
        with pytest.raises(CloudError, match="InsufficientPrivileges"):
            deployer.run(Target("stg", "web-stg", "web"), "v2")


def test_operation_in_progress_is_reported_not_retried():
    client = eb_client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "delete_application_version",
            service_error_code="OperationInProgressFailure",
            service_message="busy",
            http_status_code=400,
        )
        with pytest.raises(CloudError) as raised:
            Beanstalk(client).delete_version("web", "v0", delete_bundle=False)
    assert "try again" in str(raised.value) and not raised.value.transient


def test_throttling_left_after_retries_counts_as_transient():
    client = eb_client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_environments", service_error_code="Throttling", service_message="Rate exceeded")
        with pytest.raises(CloudError) as raised:
            Beanstalk(client, FakeClock(), patience=0).environment("web-stg")
    assert raised.value.transient


def test_a_call_still_throttled_is_asked_again_after_growing_pauses_said_once_within_its_budget():
    client, clock = eb_client(), FakeClock()
    notes: list[str] = []
    eb = Beanstalk(client, clock)
    eb.on_throttled = notes.append
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("describe_environments", service_error_code="Throttling", service_message="Rate exceeded")
        stub.add_response("describe_environments", {"Environments": [{"EnvironmentName": "web-stg", "Status": "Ready"}]})
        state = eb.environment("web-stg")
    assert state is not None and state.status == "Ready"
    assert eb.throttled == 3 and len(notes) == 1 and "Throttling" in notes[0]
    assert 1.0 + 2.0 + 4.0 <= clock.now <= 2.0 + 4.0 + 8.0, "2, 4, 8 s, each spread between half and all of it"


def test_throttling_never_waits_past_the_runs_deadline():
    client, clock = eb_client(), FakeClock()
    eb = Beanstalk(client, clock)
    eb.budget = Deadline(clock, 5.0)
    with Stubber(client) as stub:
        for _ in range(5):
            stub.add_client_error("describe_environments", service_error_code="Throttling", service_message="Rate exceeded")
        with pytest.raises(CloudError):
            eb.environment("web-stg")
    assert clock.now <= 5.0


def test_an_error_that_is_not_transient_is_not_asked_again():
    client, clock = eb_client(), FakeClock()
    with Stubber(client) as stub:
        stub.add_client_error("describe_environments", service_error_code="InvalidParameterValue", service_message="bad")
        with pytest.raises(CloudError):
            Beanstalk(client, clock).environment("web-stg")
    assert clock.now == 0
