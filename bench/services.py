"""What every figure runs against: the stand-in, a private registry behind a byte-counting proxy, a project copy.

Everything is started here and stopped by ``Stack.close``: the stand-in (it removes its own containers), the registry,
the proxy, and the images of the benchmark's own repository (never the base image, never anyone else's).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
APPLICATION = "bench-app"
ENVIRONMENT = "bench-env"
BUCKET = "bench-deploys"
STACK_NAME = "64bit Amazon Linux 2023 v4.6.0 running Docker"
BRANCH = "release/bench"
TARGET = "bench"  # the name in the copy's environments.toml
MUTATING_PREFIXES = (
    "Create",
    "Update",
    "Delete",
    "Put",
    "Terminate",
    "Swap",
    "Rebuild",
    "Restart",
    "Abort",
    "Compose",
    "Associate",
    "Disassociate",
    "Apply",
)


def is_mutating(operation: str) -> bool:
    name = operation.split(":", 1)[1] if ":" in operation else operation
    return name.startswith(MUTATING_PREFIXES) or name in ("PUT", "POST", "DELETE")


def base_image() -> str:
    """The Python base image the project builds on here (as tests/conftest.py picks it)."""
    import docker

    client = docker.from_env()
    for image in filter(None, (os.environ.get("BASE_IMAGE", ""), "python:3.12-slim", "local/python:3.11-bookworm")):
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound:
            continue
    raise SystemExit("No Python base image is available: run `bash scripts/services.sh` (it builds one).")


class CountingProxy:
    """A TCP forwarder on 127.0.0.1 that counts the bytes each way: what a registry pull or push really moves."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.sent = 0  # client -> registry (pushes)
        self.received = 0  # registry -> client (pulls)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.sent = self.received = 0

    def totals(self) -> tuple[int, int]:
        with self.lock:
            return self.sent, self.received

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            threading.Thread(target=self._pump, args=(client, server, "sent"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "received"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, counter: str) -> None:
        try:
            while True:
                data = source.recv(262144)
                if not data:
                    break
                sink.sendall(data)
                with self.lock:
                    setattr(self, counter, getattr(self, counter) + len(data))
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def copy_project(destination: Path, run_id: str) -> Path:
    """The files git would ship (tracked and untracked, not ignored), committed in a new repository on BRANCH.

    A comment naming the run goes into app/requirements.txt, so that the image's dependency layers are this run's own:
    otherwise the builder reuses layers of other builds of the same Dockerfile on this engine, and a "fresh runner"
    would find them on disk.
    """
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True
        )
        .stdout.decode()
        .split("\0")
    )
    for relative in filter(None, listed):
        source = ROOT / relative
        if source.is_file() and not relative.startswith("bench/"):
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    requirements = destination / "app" / "requirements.txt"
    requirements.write_text(requirements.read_text() + f"# bench run {run_id}\n")
    (destination / "environments.toml").write_text(f'[{TARGET}]\neb_environment = "{ENVIRONMENT}"\nbranch = "{BRANCH}"\n')
    git(destination, "init", "-q", "-b", BRANCH)
    git(destination, "config", "user.name", "Bench")
    git(destination, "config", "user.email", "bench@example.com")
    git(destination, "add", "-A")
    git(destination, "commit", "-qm", "Sample app release")
    return destination


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


@dataclass
class Stack:
    workdir: Path
    pace: float
    with_registry: bool = True
    server: Any = None
    registry: Any = None
    proxy: CountingProxy | None = None
    project: Path | None = None
    repository: str = ""
    base: str = ""
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    _stopped: bool = False

    # --- start ----------------------------------------------------------------------------------------------------

    def start(self) -> Stack:
        from localeb.server import start_server

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = start_server(self.workdir / "server.log", extra_args=["--pace", str(self.pace), "--health-timeout", "60"])
        eb, s3 = self.client("elasticbeanstalk"), self.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        eb.create_application(ApplicationName=APPLICATION)
        # The environment's launch is paced too: make it quick, then restore the pace.
        self.server.update_settings(phase_seconds=0.05)
        eb.create_environment(
            ApplicationName=APPLICATION,
            EnvironmentName=ENVIRONMENT,
            SolutionStackName=STACK_NAME,
        )
        self.wait_ready()
        self.server.update_settings(phase_seconds=self.pace)
        if self.with_registry:
            from localeb.registry import start_registry

            self.registry = start_registry(self.workdir / "registry", "bench-robot", secrets.token_urlsafe(18))
            self.proxy = CountingProxy(self.registry.address)
            self.repository = f"{self.proxy.address}/acme/bench-{self.run_id}"
            self.base = base_image()
            self.project = copy_project(self.workdir / "project", self.run_id)
        return self

    def client(self, service: str, config: Any = None) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.server.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )

    def wait_ready(self, timeout: float = 300, environment: str = ENVIRONMENT) -> dict[str, Any]:
        eb = self.client("elasticbeanstalk")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            env = eb.describe_environments(EnvironmentNames=[environment])["Environments"][0]
            if env["Status"] == "Ready":
                return dict(env)
            time.sleep(0.1)
        raise RuntimeError(f"{environment} was not Ready within {timeout:.0f} s")

    def inv_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "DOCKER_HOST", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")
        assert self.registry is not None
        return {
            **{name: os.environ[name] for name in keep if name in os.environ},
            "AWS_ENDPOINT_URL": self.server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "IMAGE_REPOSITORY": self.repository,
            "REGISTRY_USERNAME": self.registry.username,
            "REGISTRY_PASSWORD": self.registry.password,
            "BASE_IMAGE": self.base,
            "DOCKER_BUILD_NETWORK": "host",
            "EB_BUCKET": BUCKET,
            "EB_APPLICATION": APPLICATION,
            "DEPLOY_TIMEOUT": "600",
            "CI": "true",
        }

    def inv_command(self) -> list[str]:
        return [str(Path(sys.executable).with_name("inv"))]

    # --- stop -----------------------------------------------------------------------------------------------------

    def remove_own_images(self) -> int:
        """Removes every image of this run's repository (release, test, latest, loaded from a tarball), by tag, test
        images (the children) first; untagged parents go with their last child. Returns how many tags were removed."""
        if not self.repository:
            return 0
        import docker

        client = docker.from_env(timeout=300)
        removed = 0
        for _ in range(5):
            tags = sorted(
                (tag for image in client.images.list(name=self.repository) for tag in image.tags
                 if tag.startswith(self.repository + ":")),
                key=lambda tag: not tag.endswith("-test"),
            )  # fmt: skip
            if not tags:
                break
            for tag in tags:
                try:
                    client.images.remove(tag)
                    removed += 1
                except docker.errors.APIError:
                    pass
        return removed

    def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.server is not None:
            self.server.stop()
        if self.registry is not None:
            self.registry.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.remove_own_images()
