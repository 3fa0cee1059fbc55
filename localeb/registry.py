"""A private Docker registry with htpasswd authentication on 127.0.0.1, for tests and `inv local.up`.

Uses Debian's ``docker-registry`` binary where it is installed, else the ``registry:2`` image.
The engine treats registries on 127.0.0.0/8 as insecure-allowed, so plain HTTP works for push and pull.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from localeb.server import free_port

ECR_USERNAME = "AWS"  # the user of every ECR token (ECR user guide, "Private registry authentication")


class RegistryUnavailable(RuntimeError):
    pass


def _htpasswd(username: str, password: str) -> str:
    if not shutil.which("htpasswd"):
        raise RegistryUnavailable("htpasswd is missing: install it (Debian: apt-get install apache2-utils).")
    # -i reads the password from standard input, so it never shows in a process list.
    result = subprocess.run(["htpasswd", "-niB", username], input=password.encode(), capture_output=True, check=True)
    return result.stdout.decode().strip() + "\n"


@dataclass
class RunningRegistry:
    address: str
    username: str
    password: str = field(repr=False)
    process: subprocess.Popen[bytes] | None = None
    container_id: str | None = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.container_id:
            subprocess.run(["docker", "rm", "-f", self.container_id], capture_output=True)


def _config(root: Path, port: int, listen: str) -> str:
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {listen}:{port}\n"
        f"auth:\n  htpasswd:\n    realm: local-registry\n    path: {root / 'htpasswd'}\n"
    )


def _wait(address: str, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://{address}/v2/", timeout=1)
            return
        except urllib.error.HTTPError as error:
            if error.code == 401:  # up, and asking for credentials as it should
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RegistryUnavailable(f"the registry did not answer on {address} within {timeout:.0f} s; see {log_path}")


def start_registry(
    root: Path,
    username: str,
    password: str,
    port: int = 0,
    timeout: float = 30,
    ecr_password: str = "",
) -> RunningRegistry:
    """`ecr_password`, when given, is also accepted for ECR's user ``AWS`` (the stand-in's ECR hands it out as tokens)."""
    root.mkdir(parents=True, exist_ok=True)
    users = _htpasswd(username, password) + (_htpasswd(ECR_USERNAME, ecr_password) if ecr_password else "")
    (root / "htpasswd").write_text(users)
    port = port or free_port()
    address = f"127.0.0.1:{port}"
    log_path = root / "registry.log"
    binary = shutil.which("docker-registry")
    if binary:
        (root / "config.yml").write_text(_config(root, port, "127.0.0.1"))
        with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
        registry = RunningRegistry(address, username, password, process=process)
    else:
        if subprocess.run(["docker", "image", "inspect", "registry:2"], capture_output=True).returncode != 0:
            pulled = subprocess.run(["docker", "pull", "registry:2"], capture_output=True)
            if pulled.returncode != 0:
                raise RegistryUnavailable(
                    "No registry is available: install Debian's 'docker-registry' package "
                    "(apt-get install docker-registry) or make the 'registry:2' image pullable."
                )
        (root / "config.yml").write_text(_config(Path("/var/lib/registry"), 5000, "0.0.0.0"))
        container = subprocess.run(
            [
                "docker",
                "run",
                "-d",
                "--rm",
                "-p",
                f"{address}:5000",
                "-v",
                f"{root}:/var/lib/registry",
                "-v",
                f"{root / 'config.yml'}:/etc/docker/registry/config.yml:ro",
                "registry:2",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        registry = RunningRegistry(address, username, password, container_id=container.stdout.strip())
    try:
        _wait(address, timeout, log_path)
    except RegistryUnavailable:
        registry.stop()
        raise
    return registry
