"""EB's Docker platform, end to end: deploys of an image pushed to a private registry, on the local engine."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile
from typing import Any

import pytest
from localeb_support import (
    BUCKET,
    PushedImage,
    create_environment,
    dockerrun,
    put_json,
    unique,
    wait_ready,
)

pytestmark = pytest.mark.slow

SUCCESS = [
    "Environment update is starting.",
    "Deploying new version to instance(s).",
    "Instance deployment completed successfully.",
    "New application version was deployed to running EC2 instances.",
    "Environment update completed successfully.",
]
ENV_NS = "aws:elasticbeanstalk:application:environment"


def get(env: dict[str, Any], path: str = "/") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{env['CNAME']}{path}", timeout=5) as response:
            return int(response.status), response.read().decode().strip()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode().strip()


def containers(docker_client: Any, env: dict[str, Any]) -> list[Any]:
    return list(docker_client.containers.list(all=True, filters={"label": f"localeb.environment={env['EnvironmentId']}"}))


def put_auth(s3: Any, content: bytes) -> str:
    key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=content)
    return key


def deploy(
    eb: Any, s3: Any, app: str, env: dict[str, Any], bundle: dict[str, Any] | bytes, label: str | None = None
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """Registers `bundle` (a Dockerrun dict, or zip bytes) as a version, deploys it, waits; returns its RequestId,
    the environment afterwards and the deploy's events, oldest first."""
    label = label or unique("v")
    if isinstance(bundle, bytes):
        key = f"bundles/{uuid.uuid4().hex}.zip"
        s3.put_object(Bucket=BUCKET, Key=key, Body=bundle)
        source = {"S3Bucket": BUCKET, "S3Key": key}
    else:
        source = put_json(s3, bundle)
    eb.create_application_version(ApplicationName=app, VersionLabel=label, SourceBundle=source)
    response = eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel=label)
    request_id = response["ResponseMetadata"]["RequestId"]
    after = wait_ready(eb, env["EnvironmentName"], timeout=90)
    events = eb.describe_events(EnvironmentName=env["EnvironmentName"], RequestId=request_id)["Events"]
    return request_id, after, list(reversed(events))


@pytest.fixture(scope="module")
def web(eb: Any, s3: Any, test_image: PushedImage) -> dict[str, Any]:
    """An environment serving the test image as `v1`, with its auth file in S3."""
    app = unique("web")
    eb.create_application(ApplicationName=app)
    env = create_environment(eb, app, OptionSettings=[{"Namespace": ENV_NS, "OptionName": "GREETING", "Value": "hello from EB"}])
    auth_key = put_auth(s3, test_image.auth_file())
    _, after, events = deploy(eb, s3, app, env, dockerrun(test_image.name, "serve v1", auth_key=auth_key), "v1")
    assert [e["Message"] for e in events] == SUCCESS, events
    return {**after, "app": app, "auth_key": auth_key}


def assert_failed_and_old_still_serving(
    eb: Any, web: dict[str, Any], before: tuple[int, str], after: dict[str, Any], events: list[dict[str, Any]], cause: str
) -> None:
    texts = [e["Message"] for e in events]
    assert texts[:2] == SUCCESS[:2]
    assert texts[-1] == "Failed to deploy application."
    assert SUCCESS[2] not in texts and SUCCESS[3] not in texts
    errors = [e["Message"] for e in events if e["Severity"] == "ERROR"]
    assert any(cause in message for message in errors), errors
    assert (after["Status"], after["Health"]) == ("Ready", "Red")
    assert get(web) == before


def test_deploy_of_a_pushed_image_ends_green_and_serves(web: dict[str, Any], docker_client: Any) -> None:
    assert web["Health"] == "Green" and web["VersionLabel"] == "v1"
    assert get(web) == (200, "v1")
    assert get(web, "/env/GREETING") == (200, "hello from EB")
    [container] = containers(docker_client, web)
    assert container.labels["localeb.version"] == "v1"
    assert container.attrs["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"] == "127.0.0.1"


def test_zip_bundle_replaces_the_previous_container(
    eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage, docker_client: Any
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Dockerrun.aws.json", json.dumps(dockerrun(test_image.name, "serve v2", auth_key=web["auth_key"])))
        archive.writestr(".ebextensions/readme.txt", "ignored")
    old = {c.id for c in containers(docker_client, web)}
    _, after, events = deploy(eb, s3, web["app"], web, buffer.getvalue())
    assert [e["Message"] for e in events] == SUCCESS
    assert after["Health"] == "Green"
    assert get(web) == (200, "v2")
    now = containers(docker_client, web)
    assert len(now) == 1 and now[0].id not in old


def test_wrong_registry_credentials(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    before = get(web)
    auth_key = put_auth(s3, test_image.auth_file(password="not-the-password"))
    _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "serve v9", auth_key=auth_key))
    assert_failed_and_old_still_serving(eb, web, before, after, events, "failed to download the Docker image")


def test_no_auth_file_means_no_credentials_not_the_hosts(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    before = get(web)
    _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "serve v9"))
    assert_failed_and_old_still_serving(eb, web, before, after, events, "failed to download the Docker image")


def test_missing_auth_object(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    before = get(web)
    _, after, events = deploy(
        eb, s3, web["app"], web, dockerrun(test_image.name, "serve v9", auth_key="auth/does-not-exist.json")
    )
    assert_failed_and_old_still_serving(
        eb, web, before, after, events, "authentication file s3://localeb-tests/auth/does-not-exist.json"
    )


def test_crashing_container_reports_its_log(
    eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage, docker_client: Any
) -> None:
    before = get(web)
    count = len(containers(docker_client, web))
    _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "crash", auth_key=web["auth_key"]))
    # EB's own words; the container's output is in the tail logs (tests/localeb/test_fleet.py)
    assert_failed_and_old_still_serving(
        eb, web, before, after, events, "Instance deployment failed. For details, see 'eb-engine.log'."
    )
    assert len(containers(docker_client, web)) == count


def test_failing_health_check(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    before = get(web)
    _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "fail v9", auth_key=web["auth_key"]))
    assert_failed_and_old_still_serving(eb, web, before, after, events, "did not pass health check")
    assert any("HTTP 500" in e["Message"] for e in events)


def test_health_check_path_is_configurable(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    eb.update_environment(
        EnvironmentName=web["EnvironmentName"],
        OptionSettings=[
            {"Namespace": "aws:elasticbeanstalk:application", "OptionName": "Application Healthcheck URL", "Value": "/health"}
        ],
    )
    wait_ready(eb, web["EnvironmentName"])
    try:
        before = get(web)
        _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "sick v9", auth_key=web["auth_key"]))
        assert_failed_and_old_still_serving(eb, web, before, after, events, "GET /health")
    finally:
        eb.update_environment(
            EnvironmentName=web["EnvironmentName"],
            OptionsToRemove=[{"Namespace": "aws:elasticbeanstalk:application", "OptionName": "Application Healthcheck URL"}],
        )
        wait_ready(eb, web["EnvironmentName"])


def test_wrong_container_port(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    before = get(web)
    _, after, events = deploy(
        eb, s3, web["app"], web, dockerrun(test_image.name, "serve v9", port=8080, auth_key=web["auth_key"])
    )
    assert_failed_and_old_still_serving(eb, web, before, after, events, "did not pass health check")


def test_invalid_dockerrun(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    before = get(web)
    _, after, events = deploy(eb, s3, web["app"], web, {"AWSEBDockerrunVersion": "1", "Image": {"Name": test_image.name}})
    assert_failed_and_old_still_serving(eb, web, before, after, events, "Ports is required")


def test_legacy_dockercfg_auth_file(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage, settings: Any) -> None:
    legacy = put_auth(s3, test_image.auth_file(legacy=True))
    settings(legacy_dockercfg="reject")
    before = get(web)
    _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "serve legacy", auth_key=legacy))
    assert_failed_and_old_still_serving(eb, web, before, after, events, "no 'auths' key")
    settings(legacy_dockercfg="accept")
    _, after, events = deploy(eb, s3, web["app"], web, dockerrun(test_image.name, "serve legacy", auth_key=legacy))
    assert [e["Message"] for e in events] == SUCCESS
    assert (after["Health"], get(web)) == ("Green", (200, "legacy"))


def test_configuration_update_restarts_the_container_with_new_variables(eb: Any, web: dict[str, Any], docker_client: Any) -> None:
    old = {c.id for c in containers(docker_client, web)}
    response = eb.update_environment(
        EnvironmentName=web["EnvironmentName"],
        OptionSettings=[{"Namespace": ENV_NS, "OptionName": "GREETING", "Value": "changed"}],
    )
    after = wait_ready(eb, web["EnvironmentName"])
    texts = [
        e["Message"]
        for e in reversed(
            eb.describe_events(EnvironmentName=web["EnvironmentName"], RequestId=response["ResponseMetadata"]["RequestId"])[
                "Events"
            ]
        )
    ]
    assert texts == [
        "Environment update is starting.",
        f"Updating environment {web['EnvironmentName']}'s configuration settings.",
        "Successfully deployed new configuration to environment.",
        "Environment update completed successfully.",
    ]
    assert after["Health"] == "Green"
    assert get(web, "/env/GREETING") == (200, "changed")
    assert not old & {c.id for c in containers(docker_client, web)}


def test_swap_cnames_moves_the_traffic(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    other = create_environment(eb, web["app"])
    _, other, _ = deploy(eb, s3, web["app"], other, dockerrun(test_image.name, "serve green", auth_key=web["auth_key"]))
    before = get(web)
    eb.swap_environment_cnames(SourceEnvironmentName=web["EnvironmentName"], DestinationEnvironmentName=other["EnvironmentName"])
    wait_ready(eb, web["EnvironmentName"])
    wait_ready(eb, other["EnvironmentName"])
    assert get(web) == (200, "green")
    assert get(other) == before
    eb.swap_environment_cnames(SourceEnvironmentName=web["EnvironmentName"], DestinationEnvironmentName=other["EnvironmentName"])
    wait_ready(eb, web["EnvironmentName"])
    eb.terminate_environment(EnvironmentName=other["EnvironmentName"])


def test_environment_created_with_a_version_launches_it(eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage) -> None:
    label = unique("launch")
    eb.create_application_version(
        ApplicationName=web["app"],
        VersionLabel=label,
        SourceBundle=put_json(s3, dockerrun(test_image.name, "serve launched", auth_key=web["auth_key"])),
    )
    name = unique("env")
    created = eb.create_environment(ApplicationName=web["app"], EnvironmentName=name, VersionLabel=label)
    assert (created["Status"], created["VersionLabel"]) == ("Launching", label)
    env = wait_ready(eb, name, timeout=60)
    assert (env["Health"], env["VersionLabel"]) == ("Green", label)
    assert get(env) == (200, "launched")
    eb.terminate_environment(EnvironmentName=name)


def test_image_by_digest(
    eb: Any, s3: Any, web: dict[str, Any], test_image: PushedImage, docker_client: Any, settings: Any
) -> None:
    digests = [
        d for d in docker_client.images.get(test_image.name).attrs["RepoDigests"] if d.startswith(test_image.registry.address)
    ]
    assert digests, "the pushed image has no digest from the test registry"
    by_digest = dockerrun(digests[0], "serve digest", auth_key=web["auth_key"])
    settings(image_digest="reject")
    before = get(web)
    _, after, events = deploy(eb, s3, web["app"], web, by_digest)
    assert_failed_and_old_still_serving(eb, web, before, after, events, "refers to a digest")
    settings(image_digest="accept")
    _, after, events = deploy(eb, s3, web["app"], web, by_digest)
    assert [e["Message"] for e in events] == SUCCESS
    assert get(web) == (200, "digest")


def test_host_credentials_are_never_used_and_containers_go_with_the_server(
    tmp_path: Any, test_image: PushedImage, docker_client: Any
) -> None:
    """The server's own Docker config holds valid credentials for the registry: a bundle without an auth file
    must still be denied. Stopping the server removes every container it started."""
    import base64
    import os

    from localeb_support import client

    from localeb.server import start_server

    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    token = base64.b64encode(f"{test_image.registry.username}:{test_image.registry.password}".encode()).decode()
    (docker_config / "config.json").write_text(json.dumps({"auths": {test_image.registry.address: {"auth": token}}}))
    server = start_server(
        tmp_path / "server.log", extra_args=["--pace", "0.05"], env={**os.environ, "DOCKER_CONFIG": str(docker_config)}
    )
    try:
        eb, s3 = client("elasticbeanstalk", server.endpoint_url), client("s3", server.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        eb.create_application(ApplicationName="short-lived")
        env = create_environment(eb, "short-lived")
        _, after, events = deploy(eb, s3, "short-lived", env, dockerrun(test_image.name, "serve x"))
        assert after["Health"] == "Red"
        assert any("failed to download the Docker image" in e["Message"] for e in events)
        auth_key = put_auth(s3, test_image.auth_file())
        _, after, _ = deploy(eb, s3, "short-lived", env, dockerrun(test_image.name, "serve x", auth_key=auth_key))
        assert after["Health"] == "Green"
        assert docker_client.containers.list(filters={"label": f"localeb.server={server.server_id}"})
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert not docker_client.containers.list(all=True, filters={"label": f"localeb.server={server.server_id}"})


def test_environment_turns_red_when_its_container_stops(eb: Any, s3: Any, web: dict[str, Any], docker_client: Any) -> None:
    """Runs last in this module: it leaves the shared environment Red."""
    import time

    assert wait_ready(eb, web["EnvironmentName"])["Health"] == "Green"
    for container in containers(docker_client, web):
        container.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        env = eb.describe_environments(EnvironmentNames=[web["EnvironmentName"]])["Environments"][0]
        if env["Health"] == "Red":
            break
        time.sleep(0.2)
    assert (env["Status"], env["Health"]) == ("Ready", "Red")
    latest = eb.describe_events(EnvironmentName=web["EnvironmentName"], MaxRecords=1)["Events"][0]
    assert latest["Message"] == "Environment health has been set to RED"
    assert get(web)[0] == 502
