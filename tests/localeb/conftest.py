"""Fixtures for the local Elastic Beanstalk: one server per session (fast pace), boto3 clients with dummy
credentials, and for the platform tests a registry with fresh credentials and a test image pushed to it.

Nothing here skips: a missing Docker engine, base image or registry binary fails with a message saying why.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localeb_support import BUCKET, PushedImage, client

APP_DIR = Path(__file__).resolve().parent / "app"
HEALTH_TIMEOUT = 3.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: end-to-end test on real services (runs by default, never skipped)")


@pytest.fixture(scope="session")
def eb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from localeb.server import start_server

    log = tmp_path_factory.mktemp("localeb") / "server.log"
    server = start_server(log, extra_args=["--pace", "fast", "--health-timeout", str(HEALTH_TIMEOUT)])
    yield server
    server.stop()
    leftovers = _containers(server.server_id)
    assert not leftovers, f"the server left containers behind: {leftovers}"


def _containers(server_id: str) -> list[str]:
    try:
        import docker

        client = docker.from_env()
        return [c.name for c in client.containers.list(all=True, filters={"label": f"localeb.server={server_id}"})]
    except Exception:
        return []


@pytest.fixture(scope="session")
def eb(eb_server: Any) -> Any:
    return client("elasticbeanstalk", eb_server.endpoint_url)


@pytest.fixture(scope="session")
def s3(eb_server: Any) -> Any:
    s3 = client("s3", eb_server.endpoint_url)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def settings(eb_server: Any) -> Iterator[Any]:
    """Changes the server's behaviour for one test and restores it afterwards."""
    before = eb_server.settings()
    yield eb_server.update_settings
    eb_server.update_settings(
        **{
            k: before[k]
            for k in (
                "phase_seconds",
                "version_limit",
                "failed_version_label",
                "combined_update",
                "env_limits",
                "legacy_dockercfg",
                "image_digest",
                "version_status_case",
                "health_timeout",
            )
        }
    )


@pytest.fixture
def app(eb: Any) -> str:
    name = f"app-{uuid.uuid4().hex[:8]}"
    eb.create_application(ApplicationName=name)
    return name


# -- Docker -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client(engine: Any) -> Any:
    """The root conftest's engine fixture (fails, never skips, when no engine answers)."""
    return engine


@pytest.fixture(scope="session")
def test_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from localeb.registry import start_registry

    running = start_registry(tmp_path_factory.mktemp("registry"), "deployer", secrets.token_urlsafe(16))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def test_image(docker_client: Any, test_registry: Any) -> Iterator[PushedImage]:
    """The test app, built once and pushed to the session's registry; removed from the engine at the end."""
    candidates = [os.environ.get("BASE_IMAGE", ""), "local/python:3.11-bookworm", "python:3.12-slim"]
    base = next((c for c in candidates if c and docker_client.images.list(name=c)), None)
    if base is None:
        pytest.fail("No Python base image: build local/python:3.11-bookworm (bash scripts/services.sh).", pytrace=False)
    name = f"{test_registry.address}/localeb/testapp:1"
    docker_client.images.build(path=str(APP_DIR), tag=name, buildargs={"BASE": base}, rm=True)
    auth = {"username": test_registry.username, "password": test_registry.password}
    for line in docker_client.api.push(name, auth_config=auth, stream=True, decode=True):
        if "error" in line:
            pytest.fail(f"pushing the test image failed: {line['error']}", pytrace=False)
    yield PushedImage(name, test_registry)
    try:
        docker_client.images.remove(name, force=True)
    except Exception:
        pass
