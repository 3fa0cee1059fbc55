"""The stand-in's ECR, on real services: `localeb.cluster.up` (server, registry, environment), tokens from boto3 that
the real registry accepts, DescribeImages after a docker push, and the platform pulling ECR images as an instance
profile would: without any auth file, and with one when the Dockerrun names it."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from localeb_support import REGION, messages, wait_ready

from localeb import cluster

pytestmark = pytest.mark.slow

APP_DIR = Path(__file__).resolve().parent / "app"
ACCOUNT = cluster.ACCOUNT_ID
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("ecr-standin")
    state = cluster.up(state_dir, server_args=["--pace", "fast", "--health-timeout", "15"])
    yield state
    cluster.down(state_dir)


def _client(state: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=state["endpoint_url"],
        region_name=state["region"],
        aws_access_key_id=state["access_key_id"],
        aws_secret_access_key=state["secret_access_key"],
    )


def _login(state: dict[str, Any]) -> tuple[str, str, str, datetime]:
    data = _client(state, "ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return data["proxyEndpoint"].split("://", 1)[1], user, password, data["expiresAt"]


@pytest.fixture(scope="module")
def pushed(standin: dict[str, Any], engine: Any, base_image: str) -> Iterator[str]:
    """The test app pushed with an ECR token to repository testapp (created first, as on AWS); its tag."""
    _client(standin, "ecr").create_repository(repositoryName="ecr-tests/testapp")
    registry, user, password, _ = _login(standin)
    tag = uuid.uuid4().hex[:8]
    local = f"{registry}/ecr-tests/testapp:{tag}"
    engine.images.build(path=str(APP_DIR), tag=local, buildargs={"BASE": base_image}, rm=True)
    engine.login(username=user, password=password, registry=registry, reauth=True)
    for line in engine.api.push(local, auth_config={"username": user, "password": password}, stream=True, decode=True):
        assert "error" not in line, line
    yield tag
    engine.images.remove(local, force=True)


def test_a_token_is_aws_password_for_the_registry_and_lasts_twelve_hours(standin):
    registry, user, password, expires = _login(standin)
    assert user == "AWS" and len(password) >= 32
    assert registry == standin["registry"]["address"]  # the stand-in serves ECR from its registry (localeb/README.md)
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=12)


def test_the_registry_accepts_the_token_and_refuses_another_password(standin):
    registry, user, password, _ = _login(standin)

    def status(secret: str) -> int:
        basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
        request = urllib.request.Request(f"http://{registry}/v2/", headers={"Authorization": f"Basic {basic}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert status(password) == 200
    assert status(password + "x") == 401


def test_describe_images_shows_what_was_pushed(standin, pushed):
    ecr = _client(standin, "ecr")
    details = ecr.describe_images(repositoryName="ecr-tests/testapp", imageIds=[{"imageTag": pushed}])["imageDetails"]
    assert pushed in details[0]["imageTags"] and details[0]["imageDigest"].startswith("sha256:")
    with pytest.raises(ecr.exceptions.ImageNotFoundException):
        ecr.describe_images(repositoryName="ecr-tests/testapp", imageIds=[{"imageTag": "never-pushed"}])
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_images(repositoryName="ecr-tests/none", imageIds=[{"imageTag": pushed}])


def _deploy(standin: dict[str, Any], dockerrun: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    eb, s3 = _client(standin, "elasticbeanstalk"), _client(standin, "s3")
    label = f"ecr-{uuid.uuid4().hex[:8]}"
    key = f"bundles/{label}/Dockerrun.aws.json"
    s3.put_object(Bucket=standin["bucket"], Key=key, Body=json.dumps(dockerrun).encode())
    eb.create_application_version(
        ApplicationName=standin["application"],
        VersionLabel=label,
        SourceBundle={"S3Bucket": standin["bucket"], "S3Key": key},
    )
    request = eb.update_environment(EnvironmentName=standin["environment"], VersionLabel=label)
    env = wait_ready(eb, standin["environment"])
    return env, messages(eb, EnvironmentName=standin["environment"], RequestId=request["ResponseMetadata"]["RequestId"])


def _dockerrun(image: str, **extra: Any) -> dict[str, Any]:
    return {"AWSEBDockerrunVersion": "1", "Image": {"Name": image}, "Ports": [{"ContainerPort": "80"}], **extra}


def test_an_ecr_image_is_pulled_with_the_instance_profile_and_no_auth_file(standin, pushed):
    s3 = _client(standin, "s3")
    env, events = _deploy(standin, _dockerrun(f"{ECR_HOST}/ecr-tests/testapp:{pushed}"))
    assert events[-1] == "Environment update completed successfully.", events
    assert env["Health"] == "Green"
    with urllib.request.urlopen(f"http://{env['CNAME']}/", timeout=5) as response:
        assert response.read() == b"app\n"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=standin["bucket"]).get("Contents", [])]
    assert all(key.startswith("bundles/") for key in keys), keys  # no auth object anywhere to read


def test_an_ecr_dockerrun_with_authentication_still_deploys(standin, pushed):
    registry, user, password, _ = _login(standin)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    s3 = _client(standin, "s3")
    s3.put_object(Bucket=standin["bucket"], Key="auth/ecr.json", Body=json.dumps({"auths": {ECR_HOST: {"auth": token}}}))
    try:
        dockerrun = _dockerrun(
            f"{ECR_HOST}/ecr-tests/testapp:{pushed}", Authentication={"Bucket": standin["bucket"], "Key": "auth/ecr.json"}
        )
        env, events = _deploy(standin, dockerrun)
        assert events[-1] == "Environment update completed successfully.", events
        assert env["Health"] == "Green"
    finally:
        s3.delete_object(Bucket=standin["bucket"], Key="auth/ecr.json")


def test_an_ecr_repository_that_does_not_exist_fails_the_deploy_with_ecrs_words(standin, pushed):
    _, events = _deploy(standin, _dockerrun(f"{ECR_HOST}/ecr-tests/missing:{pushed}"))
    assert "Failed to deploy application." in events, events
    assert any(
        f"name unknown: The repository with name 'ecr-tests/missing' does not exist in the registry with id '{ACCOUNT}'" in event
        for event in events
    ), events


def test_the_local_registry_address_still_needs_credentials(standin, pushed):
    """Only ECR names get the instance profile: the same image named by the registry's address, without an auth
    file, is refused by the registry as on any private registry."""
    _, events = _deploy(standin, _dockerrun(f"{standin['registry']['address']}/ecr-tests/testapp:{pushed}"))
    assert "Failed to deploy application." in events, events
