"""End to end on the stand-in: an image on ECR goes from a build to a healthy environment with no registry credentials
in settings and no auth file, through the tool's own parts (ebship.ecr, ebship.images, ebship.dockerrun, ebship.deploy)
over real sockets, a real registry with auth and the real Docker engine."""

from __future__ import annotations

import io
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ebship import dockerrun, ecr, images
from ebship.beanstalk import Beanstalk
from ebship.deploy import Deployer
from ebship.job import Target
from ebship.output import Console
from localeb import cluster

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP_DIR = ROOT / "tests" / "localeb" / "app"
REGION = "us-east-1"
REPOSITORY = f"{cluster.ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/acme/ecr-web"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("ecr-pipeline")
    state = cluster.up(state_dir, region=REGION, server_args=["--pace", "fast", "--health-timeout", "15"])
    yield state
    cluster.down(state_dir)


def _client(state: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=state["endpoint_url"],
        region_name=REGION,
        aws_access_key_id=state["access_key_id"],
        aws_secret_access_key=state["secret_access_key"],
    )


def _wait_processed(eb: Beanstalk, application: str, label: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = eb.version(application, label)
        if version is not None and version.status.upper() in ("PROCESSED", "FAILED"):
            assert version.status.upper() == "PROCESSED", version
            return
        time.sleep(0.2)
    raise AssertionError(f"version {label} was not processed within {timeout} s")


def test_an_ecr_image_goes_from_build_to_a_healthy_environment_without_an_auth_file(standin, engine, base_image):
    out = io.StringIO()
    console = Console(out=out, err=out)
    ecr_client = ecr.client_for(
        boto3.session.Session(aws_access_key_id=standin["access_key_id"], aws_secret_access_key=standin["secret_access_key"]),
        REPOSITORY,
        standin["endpoint_url"],
    )
    ecr_client.create_repository(repositoryName="acme/ecr-web")  # as `aws ecr create-repository` does on AWS
    tag = uuid.uuid4().hex[:12]

    # The login comes from GetAuthorizationToken alone: no REGISTRY_USERNAME/PASSWORD anywhere.
    login = ecr.credentials(ecr_client, REPOSITORY, console)
    push_to = ecr.push_repository(REPOSITORY, login)
    images.build(
        engine,
        context=APP_DIR,
        dockerfile="Dockerfile",
        tag=f"{push_to}:{tag}",
        buildargs={"BASE": base_image},
        labels={},
        console=console,
    )
    try:
        images.login(engine, login)
        digest = images.push(engine, push_to, tag, login, console)
        assert digest.startswith("sha256:")
        assert ecr.repository_exists(ecr_client, REPOSITORY)
        assert ecr.image_tag_exists(ecr_client, REPOSITORY, tag)
        assert not ecr.image_tag_exists(ecr_client, REPOSITORY, "never-pushed")

        template = (ROOT / "Dockerrun.aws.json.template").read_text()
        bundle = dockerrun.render(template, {"IMAGE": f"{REPOSITORY}:{tag}", "PORT": "80"}, authentication=False)
        assert b"Authentication" not in bundle

        s3, eb = _client(standin, "s3"), Beanstalk(_client(standin, "elasticbeanstalk"))
        key = f"deploy/{tag}/Dockerrun.aws.json"
        s3.put_object(Bucket=standin["bucket"], Key=key, Body=bundle, ServerSideEncryption="AES256")
        eb.create_version(standin["application"], tag, "ECR rehearsal", standin["bucket"], key)
        _wait_processed(eb, standin["application"], tag)

        report = Deployer(eb, console, timeout=180).run(Target("local", standin["environment"], standin["application"]), tag)
        assert report.outcome.ok, out.getvalue()
        state = report.outcome.state
        assert state is not None and state.version_label == tag and state.health == "Green"
        with urllib.request.urlopen(f"http://{state.cname}/", timeout=5) as response:
            assert response.status == 200

        # Nothing the platform could have read as an auth file exists: the bucket holds the bundle (and the
        # deploy's own record), and the registry refuses anonymous pulls, so the instance profile pulled.
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=standin["bucket"]).get("Contents", [])]
        assert keys == [key], keys
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://{login.registry}/v2/acme/ecr-web/manifests/{tag}", timeout=5)
        assert refused.value.code == 401
        assert login.password not in out.getvalue()
    finally:
        engine.images.remove(f"{push_to}:{tag}", force=True)


def test_the_tasks_ship_an_ecr_image_with_no_registry_credentials_and_no_auth_file(standin, base_image, tmp_path):
    """What a user runs: the real tasks, IMAGE_REPOSITORY on ECR, and neither REGISTRY_USERNAME nor REGISTRY_PASSWORD."""
    from tests_support import base_env, copy_project

    repository = f"{cluster.ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/acme/ecr-tasks"
    _client(standin, "ecr").create_repository(repositoryName="acme/ecr-tasks")
    root = copy_project(tmp_path / "project")
    (root / "environments.toml").write_text(f'[ecr]\neb_environment = "{standin["environment"]}"\nbranch = "release/ecr"\n')
    import subprocess

    subprocess.run(["git", "commit", "-qam", "Declare the ecr environment"], cwd=root, check=True)
    env = {
        **base_env(),
        "AWS_ENDPOINT_URL": standin["endpoint_url"],
        "AWS_ACCESS_KEY_ID": standin["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": standin["secret_access_key"],
        "AWS_REGION": REGION,
        "IMAGE_REPOSITORY": repository,
        "BASE_IMAGE": base_image,
        "DOCKER_BUILD_NETWORK": "host",
        "EB_BUCKET": standin["bucket"],
        "EB_APPLICATION": standin["application"],
        "DEPLOY_TIMEOUT": "180",
    }
    inv = str(Path(sys.executable).parent / "inv")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([inv, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)

    outputs = []
    for args in (("docker.build",), ("docker.push",), ("s3.auth",), ("eb.version",), ("eb.deploy", "--env", "ecr")):
        result = run(*args)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    assert "token from ECR" in outputs[1] and "not needed for ECR" in outputs[2]
    s3 = _client(standin, "s3")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=standin["bucket"]).get("Contents", [])]
    assert not any("registry-auth" in key for key in keys), keys
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    bundle = s3.get_object(Bucket=standin["bucket"], Key=f"deploy/{sha}/Dockerrun.aws.json")["Body"].read()
    assert b"Authentication" not in bundle and repository.encode() in bundle
    environment = _client(standin, "elasticbeanstalk").describe_environments(EnvironmentNames=[standin["environment"]])
    state = environment["Environments"][0]
    assert state["VersionLabel"] == sha and state["Health"] == "Green", state
    doctor = run("doctor", "--env", "ecr")
    assert "PASS  registry login" in doctor.stdout and f"acme/ecr-tasks holds {sha}" in doctor.stdout, doctor.stdout
    assert "PASS  auth object" in doctor.stdout and doctor.returncode == 0, doctor.stdout
