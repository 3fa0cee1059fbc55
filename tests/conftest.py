"""Real services for the tests: the Docker engine, a private registry with htpasswd auth, and the local AWS server.

Nothing here skips: a missing service fails the run with a message saying what to start (`scripts/services.sh`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests_support import MARKER_PASSWORD, MARKER_USERNAME, REGION, Project, base_env, copy_project, s3_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project root, never tasks/ (a tasks/docker.py would shadow docker-py)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: end-to-end test on real services (runs in CI, never skipped)")


@pytest.fixture(scope="session")
def engine():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as error:
        pytest.fail(f"No Docker engine answers ({error}). Start one: bash scripts/services.sh", pytrace=False)
    return client


@pytest.fixture(scope="session")
def base_image(engine) -> str:
    candidates = [os.environ.get("BASE_IMAGE", ""), "python:3.12-slim", "local/python:3.11-bookworm"]
    for image in filter(None, candidates):
        if any(image in tags.tags for tags in engine.images.list(name=image.split(":")[0])):
            return image
    pytest.fail("No Python base image is available: run `bash scripts/services.sh` (it builds one).", pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Iterator:
    from localeb.registry import start_registry

    running = start_registry(tmp_path_factory.mktemp("registry"), MARKER_USERNAME, MARKER_PASSWORD)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def aws(tmp_path_factory) -> Iterator:
    from localeb.server import start_server

    running = start_server(tmp_path_factory.mktemp("aws") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def aws_env(aws) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
    }


@pytest.fixture(scope="session")
def project(tmp_path_factory, registry, aws_env, base_image) -> Project:
    root = copy_project(tmp_path_factory.mktemp("project"))
    env = {
        **base_env(),
        **aws_env,
        "IMAGE_REPOSITORY": f"{registry.address}/acme/web",
        "REGISTRY_USERNAME": registry.username,
        "REGISTRY_PASSWORD": registry.password,
        "BASE_IMAGE": base_image,
        "DOCKER_BUILD_NETWORK": "host",
        "EB_BUCKET": "deploy-bucket",
    }
    s3_client(env).create_bucket(Bucket=env["EB_BUCKET"])
    return Project(root, env)
