"""End to end on the stand-in: an image on ECR goes from a build to a healthy environment with no registry credentials
in settings and no auth file, through the tool's own parts (ebship.ecr, ebship.images, ebship.dockerrun, ebship.deploy)
over real sockets, a real registry with auth and the real Docker engine."""

from __future__ import annotations

import io
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
