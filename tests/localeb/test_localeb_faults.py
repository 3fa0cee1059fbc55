"""Injected faults and call counts: what boto3 sees, and what the server reports."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localeb_support import BUCKET, client

from localeb.control import FaultRule


@pytest.fixture
def faults(eb_server: Any) -> Any:
    yield eb_server.set_faults
    eb_server.set_faults()


def test_throttling_is_seen_as_throttling(eb_server: Any, faults: Any) -> None:
    faults({"operation": "DescribeApplications", "kind": "throttle"})
    no_retries = client("elasticbeanstalk", eb_server.endpoint_url, retries={"total_max_attempts": 1, "mode": "standard"})
    with pytest.raises(ClientError) as caught:
        no_retries.describe_applications()
    response = caught.value.response
    assert response["Error"]["Code"] == "Throttling"
    assert response["Error"]["Message"] == "Rate exceeded"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_throttling_is_recovered_by_boto3_retries(eb_server: Any, faults: Any) -> None:
    faults({"operation": "DescribeEnvironments", "kind": "throttle", "count": 2})
    eb_server.reset_calls()
    eb = client("elasticbeanstalk", eb_server.endpoint_url, retries={"total_max_attempts": 3, "mode": "standard"})
    response = eb.describe_environments()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert eb_server.calls()["DescribeEnvironments"] == 3
    assert eb_server.faults()[0]["injected"] == 2


def test_server_errors_and_their_retries(eb_server: Any, faults: Any) -> None:
    faults("error,DescribeEvents,1,503")
    no_retries = client("elasticbeanstalk", eb_server.endpoint_url, retries={"total_max_attempts": 1, "mode": "standard"})
    with pytest.raises(ClientError) as caught:
        no_retries.describe_events()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    faults({"operation": "DescribeEvents", "kind": "error", "status": 500, "count": 1})
    retried = client("elasticbeanstalk", eb_server.endpoint_url, retries={"total_max_attempts": 3, "mode": "standard"})
    assert retried.describe_events(MaxRecords=1)["ResponseMetadata"]["RetryAttempts"] == 1


def test_s3_faults_by_http_method(eb_server: Any, s3: Any, faults: Any) -> None:
    faults({"operation": "s3:PUT", "kind": "throttle", "count": 1})
    eb_server.reset_calls()
    response = s3.put_object(Bucket=BUCKET, Key="throttled.txt", Body=b"x")
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert eb_server.calls()["s3:PutObject"] == 2
    faults({"operation": "s3:GetObject", "kind": "error", "status": 500})
    no_retries = client("s3", eb_server.endpoint_url, retries={"total_max_attempts": 1, "mode": "standard"})
    with pytest.raises(ClientError) as caught:
        no_retries.get_object(Bucket=BUCKET, Key="throttled.txt")
    assert caught.value.response["Error"]["Code"] == "InternalError"


def test_slow_answers(eb_server: Any, eb: Any, faults: Any) -> None:
    faults({"operation": "DescribeApplications", "kind": "slow", "seconds": 0.5})
    started = time.monotonic()
    eb.describe_applications()
    assert time.monotonic() - started >= 0.5


def test_share_of_calls(eb_server: Any, faults: Any) -> None:
    faults({"operation": "ListAvailableSolutionStacks", "kind": "throttle", "rate": 0.5})
    no_retries = client("elasticbeanstalk", eb_server.endpoint_url, retries={"total_max_attempts": 1, "mode": "standard"})
    throttled = 0
    for _ in range(40):
        try:
            no_retries.list_available_solution_stacks()
        except ClientError:
            throttled += 1
    assert 5 <= throttled <= 35


def test_calls_are_counted_per_operation_and_resettable(eb_server: Any, eb: Any, s3: Any) -> None:
    eb_server.reset_calls()
    eb.describe_applications()
    eb.describe_applications()
    s3.list_objects_v2(Bucket=BUCKET)
    s3.head_bucket(Bucket=BUCKET)
    assert eb_server.calls() == {"DescribeApplications": 2, "s3:ListObjectsV2": 1, "s3:HeadBucket": 1}
    eb_server.reset_calls()
    assert eb_server.calls() == {}


def test_faults_from_the_command_line(tmp_path: Any) -> None:
    from localeb.server import start_server

    server = start_server(
        tmp_path / "server.log", extra_args=["--fault", "throttle,CreateApplication,1,", "--fault", "slow,*,1,0.01"]
    )
    try:
        rules = server.faults()
        assert [(r["kind"], r["operation"]) for r in rules] == [("throttle", "CreateApplication"), ("slow", "*")]
        eb = client("elasticbeanstalk", server.endpoint_url, retries={"total_max_attempts": 2, "mode": "standard"})
        with pytest.raises(ClientError) as caught:
            eb.create_application(ApplicationName="never")
        assert caught.value.response["Error"]["Code"] == "Throttling"
        assert server.calls()["CreateApplication"] == 2
    finally:
        server.stop()


def test_fault_rule_syntax() -> None:
    assert FaultRule.parse("slow,s3:GetObject,0.5,2.5").seconds == 2.5
    assert FaultRule.parse("error,UpdateEnvironment,1,503").status == 503
    with pytest.raises(ValueError):
        FaultRule.parse("explode,UpdateEnvironment")
    with pytest.raises(ValueError):
        FaultRule.from_dict({"operation": "X", "kind": "error", "status": 404})


def test_settings_change_while_running_and_refuse_nonsense(eb_server: Any, settings: Any) -> None:
    assert settings(failed_version_label="keep")["failed_version_label"] == "keep"
    with pytest.raises(ValueError, match="revert, keep"):
        eb_server.update_settings(failed_version_label="sometimes")
    with pytest.raises(ValueError, match="cannot be changed"):
        eb_server.update_settings(server_id="x")
    assert eb_server.settings()["failed_version_label"] == "keep"


def test_pace_names_and_seconds() -> None:
    import argparse

    from localeb.settings import PACES, parse_pace

    assert parse_pace("fast") == PACES["fast"] < 0.5
    assert parse_pace("realistic") == PACES["realistic"] >= 5
    assert parse_pace("2.5") == 2.5
    with pytest.raises(argparse.ArgumentTypeError):
        parse_pace("glacial")
