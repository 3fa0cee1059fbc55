"""Real services for the tests: the Docker engine, a private registry with htpasswd auth, and the local AWS server.

Nothing here skips: a missing service fails the run with a message saying what to start (`scripts/engine.sh`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project root, never tasks/ (a tasks/docker.py would shadow docker-py)

# Marker secrets: quotes, $, backslashes and non-ASCII, so that no quoting or encoding path hides a leak.
MARKER_PASSWORD = 'pw-"M4rk3r"$HOME\\n\'€-7f3a'
MARKER_USERNAME = "ci-robot"
REGION = "us-east-1"


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
        pytest.fail(f"No Docker engine answers ({error}). Start one: bash scripts/engine.sh", pytrace=False)
    return client


@pytest.fixture(scope="session")
def base_image(engine) -> str:
    candidates = [os.environ.get("BASE_IMAGE", ""), "python:3.12-slim", "local/python:3.11-bookworm"]
    for image in filter(None, candidates):
        if any(image in tags.tags for tags in engine.images.list(name=image.split(":")[0])):
            return image
    pytest.fail("No Python base image is available: run `bash scripts/engine.sh` (it builds one).", pytrace=False)


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


def s3_client(aws_env: dict[str, str]):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Project:
    """A throw-away copy of the project, committed in a git repository of its own, where `inv` runs for real."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def inv(self, *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        full_env = {**self.env, **(env or {})}
        result = subprocess.run(
            [str(Path(sys.executable).with_name("inv")), *args],
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"inv {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")


def copy_project(destination: Path) -> Path:
    """Copies the files git would ship (tracked and untracked, not ignored) and commits them in a new repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for relative in filter(None, listed):
        source = ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=destination, check=True)
    subprocess.run(["git", "add", "-A"], cwd=destination, check=True)
    subprocess.run(["git", *identity, "commit", "-qm", "Sample app release"], cwd=destination, check=True)
    subprocess.run(["git", "config", "user.name", "Test"], cwd=destination, check=True)
    subprocess.run(["git", "config", "user.email", "test@example.com"], cwd=destination, check=True)
    return destination


def base_env() -> dict[str, str]:
    """The process environment for `inv`, without anything of the developer's that could change a test's outcome."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "DOCKER_HOST", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")
    return {name: os.environ[name] for name in keep if name in os.environ}


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
