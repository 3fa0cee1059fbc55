"""Helpers and fakes shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Marker secrets: quotes, $, backslashes and non-ASCII, so that no quoting or encoding path hides a leak.
MARKER_PASSWORD = 'pw-"M4rk3r"$HOME\\n\'€-7f3a'
MARKER_USERNAME = "ci-robot"
REGION = "us-east-1"


def default_signals() -> None:
    """A `preexec_fn` for a child that a test signals: SIGINT and SIGTERM at their defaults, whatever the suite inherited.

    A suite started in the background (`... &`, `nohup`) ignores SIGINT, and children inherit that; Python then installs
    no KeyboardInterrupt handler, and a test's Ctrl-C would do nothing. With the default disposition before exec, Python
    installs its own handler, as it does in a terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def standin_client(service: str, aws_env: dict[str, str]):
    """A boto3 client of ``service`` on the stand-in named by ``aws_env``'s AWS_ENDPOINT_URL."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def s3_client(aws_env: dict[str, str]):
    return standin_client("s3", aws_env)


@dataclass
class Project:
    """A throw-away copy of the project, committed in a git repository of its own, where `inv` runs for real."""

    root: Path
    # Left out of repr: pytest prints a failed test's locals, and the environment holds the tests' marker secrets.
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def inv(
        self, *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
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
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
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


def standin_env(
    endpoint: str, registry, base_image: str, repository: str, bucket: str, application: str, **extra: str
) -> dict[str, str]:
    """The process environment for `inv` against a stand-in at ``endpoint`` and the tests' registry."""
    return {
        **base_env(),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "IMAGE_REPOSITORY": f"{registry.address}/{repository}",
        "REGISTRY_USERNAME": registry.username,
        "REGISTRY_PASSWORD": registry.password,
        "BASE_IMAGE": base_image,
        "DOCKER_BUILD_NETWORK": "host",
        "EB_BUCKET": bucket,
        "EB_APPLICATION": application,
        **extra,
    }


def base_env() -> dict[str, str]:
    """The process environment for `inv`, without anything of the developer's that could change a test's outcome."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "DOCKER_HOST", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")
    return {name: os.environ[name] for name in keep if name in os.environ}


def documented_policy(name: str, placeholders: dict[str, str]) -> Any:
    """The JSON block that follows `<!-- iam:NAME -->` in docs/iam.md, its placeholders filled in (PARTITION is aws)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "iam.md").read_text()
    match = re.search(rf"<!-- iam:{re.escape(name)} -->\s*```json\n(.*?)```", text, re.DOTALL)
    assert match, f"docs/iam.md has no JSON block marked iam:{name}"
    block = match.group(1)
    for placeholder, value in {"PARTITION": "aws", **placeholders}.items():
        block = re.sub(rf"\b{placeholder}\b", value, block)
    return json.loads(block)
