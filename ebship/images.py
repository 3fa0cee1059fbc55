"""One facade over docker-py: builds, test runs, login, push, digests.

Docker reports many failures inside the JSON stream of a build or a push (``errorDetail``) rather than as an HTTP
error, so every stream is read to its end and any error in it raises.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebship.errors import DeployTimeout, PipelineError, UsageError
from ebship.output import Console

if TYPE_CHECKING:
    import docker


class DockerError(PipelineError):
    pass


def engine() -> docker.DockerClient:
    """The Docker engine of ``DOCKER_HOST`` (CircleCI's remote Docker) or the local socket."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as error:
        raise UsageError(
            "No Docker engine answers: start Docker (or set DOCKER_HOST to a running engine) and try again. "
            f"The client said: {error}"
        ) from None
    return client


@dataclass(frozen=True)
class Credentials:
    registry: str
    username: str
    password: str = field(repr=False)
    # Where they came from, for the hint of a refused login.
    origin: str = field(default="REGISTRY_USERNAME and REGISTRY_PASSWORD", compare=False)

    def auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


class StreamPrinter:
    """Prints a build's or push's stream: plain lines in CI logs, a compact display on a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self._status_shown = False
        self._layers: dict[str, str] = {}

    def line(self, text: str) -> None:
        self._clear_status()
        self.console.print(text)

    def status(self, text: str) -> None:
        """A line that the next one replaces on a terminal; printed plainly elsewhere."""
        if self.live:
            width = 100
            self.console.print("\r\x1b[2K" + text[:width], end="")
            self._status_shown = True
        else:
            self.console.print(text)

    def layer(self, layer_id: str, status: str, progress: str = "") -> None:
        """Per-layer push or pull progress: one summary line on a terminal, state changes only in logs."""
        previous = self._layers.get(layer_id)
        self._layers[layer_id] = status
        if self.live:
            done = sum(
                1 for s in self._layers.values() if s in ("Pushed", "Layer already exists", "Pull complete", "Already exists")
            )
            self.status(f"layers {done}/{len(self._layers)}: {layer_id} {status} {progress}".rstrip())
        elif previous != status and status not in ("Pushing", "Downloading", "Extracting"):
            self.console.print(f"{layer_id}: {status}")

    def close(self) -> None:
        self._clear_status()

    def _clear_status(self) -> None:
        if self._status_shown:
            self.console.print("\r\x1b[2K", end="")
            self._status_shown = False


STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")


@dataclass
class BuildResult:
    image_id: str
    log: list[str]


def follow_build(events: Iterable[dict[str, Any]], printer: StreamPrinter) -> BuildResult:
    """Reads a classic-builder stream to its end; raises with the failing step and its output on any error."""
    step = ""
    step_output: list[str] = []
    log: list[str] = []
    image_id = ""
    for event in events:
        if "errorDetail" in event or "error" in event:
            message = (event.get("errorDetail") or {}).get("message") or event.get("error") or "unknown error"
            printer.close()
            shown = "\n".join(f"    {line}" for line in step_output[-30:])
            where = f"Build failed at {step}" if step else "Build failed"
            raise DockerError(f"{where}:\n{shown}\n  {message.strip()}" if shown else f"{where}: {message.strip()}")
        if "aux" in event and isinstance(event["aux"], dict) and "ID" in event["aux"]:
            image_id = event["aux"]["ID"]
        text = event.get("stream") or ""
        for line in text.splitlines():
            if not line.strip():
                continue
            log.append(line)
            match = STEP.match(line)
            if match:
                step, step_output = f"step {match[1]}/{match[2]} ({match[3]})", []
                printer.line(line)
            elif line.startswith(" ---> "):
                printer.line(line) if not printer.live else printer.status(line)
            else:
                step_output.append(line)
                printer.status(line) if printer.live else printer.line(line)
        if "status" in event:
            printer.layer(event.get("id", ""), event["status"], event.get("progress", ""))
    printer.close()
    if not image_id:
        ids = [m[1] for line in log if (m := re.match(r"Successfully built ([0-9a-f]+)", line))]
        if not ids:
            raise DockerError("The build stream ended without an image id: the build did not finish.")
        image_id = ids[-1]
    return BuildResult(image_id=image_id, log=log)


def build(
    client: docker.DockerClient,
    *,
    context: Path,
    dockerfile: str,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    console: Console,
    cache_from: list[str] | None = None,
    network_mode: str | None = None,
) -> BuildResult:
    from docker.errors import APIError

    try:
        events = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs,
            labels=labels,
            cache_from=cache_from or None,
            network_mode=network_mode or None,
            rm=True,
            forcerm=True,
            decode=True,
        )
        return follow_build(events, StreamPrinter(console))
    except APIError as error:
        raise DockerError(f"Docker refused the build of {dockerfile}: {error.explanation or error}") from None


def pull_quietly(client: docker.DockerClient, reference: str, credentials: Credentials | None) -> str:
    """Pulls an image for use as a cache source; returns an empty string when it cannot be had."""
    from docker.errors import DockerException

    repository, _, tag = reference.rpartition(":")
    try:
        events = client.api.pull(
            repository,
            tag=tag,
            stream=True,
            decode=True,
            auth_config=credentials.auth_config() if credentials else None,
        )
        for event in events:
            if "errorDetail" in event or "error" in event:
                return ""
    except DockerException:
        return ""
    return reference


def image_exists(client: docker.DockerClient, reference: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(reference)
        return True
    except ImageNotFound:
        return False


OWNER_LABEL = "ebship.test-run.owner"


def _owner() -> str:
    """This process, as ``host/pid/start time``: a pid alone may have been reused by the time someone looks."""
    return f"{socket.gethostname()}/{os.getpid()}/{_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def remove_orphaned_test_containers(client: docker.DockerClient) -> int:
    """Removes test containers whose run was killed (SIGKILL skips its own clean-up): those labelled by a process of
    this host that no longer runs. Containers of other hosts sharing the engine are left alone."""
    from docker.errors import NotFound

    removed = 0
    # ignore_removed: a concurrent run may remove its own container between the listing and docker-py's inspect of it.
    for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}, ignore_removed=True):
        host, _, rest = str(container.labels.get(OWNER_LABEL, "")).partition("/")
        pid, _, started = rest.partition("/")
        if host != socket.gethostname() or not pid.isdigit():
            continue
        if started and _start_time(int(pid)) == started:
            continue  # its run is still going
        try:
            container.remove(force=True)
        except NotFound:
            continue  # another run swept it first
        removed += 1
    return removed


class TestsTimedOut(DeployTimeout):
    """The app's tests ran past TEST_TIMEOUT: stopped, their container removed (exit 3, as every deadline)."""


def run_to_completion(
    client: docker.DockerClient,
    image: str,
    console: Console,
    environment: dict[str, str] | None = None,
    timeout: float = 900.0,
) -> int:
    """Runs the image's default command, streams its output live, returns its exit status within ``timeout`` seconds
    (past it: TestsTimedOut); always removes the container (and any container a killed earlier run left behind)."""
    import requests

    remove_orphaned_test_containers(client)
    container = client.containers.create(image, environment=environment or {}, detach=True, labels={OWNER_LABEL: _owner()})
    try:
        container.start()
        streaming = threading.Thread(target=_print_output, args=(container, console), name="test-output", daemon=True)
        streaming.start()
        try:
            status = container.wait(timeout=timeout)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            raise TestsTimedOut(
                f"The app's tests were still running after {timeout:.0f} s (TEST_TIMEOUT): stopped, and their container "
                "removed. Find the test that hangs, or raise TEST_TIMEOUT."
            ) from None
        streaming.join(timeout=30)  # the output's end follows the container's
        return int(status["StatusCode"])
    finally:
        remove_quietly(container)


def _print_output(container: Any, console: Console) -> None:
    pending = b""
    for chunk in container.logs(stream=True, follow=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            console.print(line.decode(errors="replace"))
    if pending:
        console.print(pending.decode(errors="replace"))


def remove_quietly(container: Any) -> None:
    from docker.errors import NotFound

    try:
        container.remove(force=True)
    except NotFound:
        pass  # already gone: what this call was for


def login(client: docker.DockerClient, credentials: Credentials) -> None:
    from docker.errors import APIError

    try:
        client.login(
            username=credentials.username,
            password=credentials.password,
            registry=credentials.registry,
            reauth=True,
        )
    except APIError as error:
        reason = str(error.explanation or error)
        raise DockerError(login_failure(credentials, reason, error.status_code)) from None


# What the engine says when it could not connect (Go's net errors, "dial tcp ...: connect: connection refused"):
# the registry was not reached, so nothing about the credentials is known.
UNREACHED = ("dial tcp", "connection refused", "no such host", "no route to host", "network is unreachable")
# The engine reports a registry's 401 as a 500 of its own, naming the registry's status in the text (Docker 20.10:
# "login attempt to http://host/v2/ failed with status: 401 Unauthorized"); an engine answering 401 counts too.
REFUSED = ("401 unauthorized", "unauthorized:", "incorrect username or password")


def login_failure(credentials: Credentials, reason: str, status: int | None) -> str:
    """The one line for a failed login: a refusal (with the hint about the credentials) or a registry not reached."""
    lowered = reason.lower()
    if status == 401 or any(sign in lowered for sign in REFUSED):
        return (
            f"The registry {credentials.registry} refused the login of {credentials.username!r}: {reason}. "
            f"Check {credentials.origin}."
        )
    if any(sign in lowered for sign in UNREACHED):
        return (
            f"Could not reach the registry at {credentials.registry} (the host of IMAGE_REPOSITORY) to log in: {reason}. "
            "Check the host and port in IMAGE_REPOSITORY, and that the registry is up and reachable from the Docker engine."
        )
    return f"The login to the registry {credentials.registry} failed: {reason}."


def follow_push(events: Iterator[dict[str, Any]], registry: str, printer: StreamPrinter) -> str:
    digest = ""
    for event in events:
        if "errorDetail" in event or "error" in event:
            printer.close()
            message = (event.get("errorDetail") or {}).get("message") or event.get("error")
            raise DockerError(f"The registry {registry} refused the push: {message}")
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = aux["Digest"]
        if "status" in event:
            if "id" in event:
                printer.layer(event["id"], event["status"], event.get("progress", ""))
            else:
                printer.line(event["status"])
    printer.close()
    if not digest:
        raise DockerError(f"The push to {registry} ended without a digest: it did not complete.")
    return digest


def push(client: docker.DockerClient, repository: str, tag: str, credentials: Credentials, console: Console) -> str:
    """Pushes ``repository:tag`` and returns the digest the registry recorded."""
    from docker.errors import APIError

    try:
        events = client.api.push(repository, tag=tag, stream=True, decode=True, auth_config=credentials.auth_config())
        return follow_push(events, credentials.registry, StreamPrinter(console))
    except APIError as error:
        raise DockerError(f"The registry {credentials.registry} refused the push: {error.explanation or error}") from None


def registry_digest(client: docker.DockerClient, reference: str, credentials: Credentials) -> str:
    """The digest the registry holds for ``reference`` (asked of the registry, not of local images)."""
    from docker.errors import APIError, NotFound

    try:
        data = client.images.get_registry_data(reference, auth_config=credentials.auth_config())
    except NotFound:
        return ""
    except APIError as error:
        raise DockerError(f"Could not look up {reference} in {credentials.registry}: {error.explanation or error}") from None
    return str(data.id)


# Local settings files that hold secrets (.env.example is a template without them).
SECRET_FILES = (".env",)
SECRET_FILE_PATTERN = ".env.*"


def dockerignore_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore: a whole line each, comments and blank lines left out (Docker's rules)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def sent_to_engine(patterns: list[str], path: str) -> bool:
    """Whether a build context with these .dockerignore patterns sends ``path`` to the engine (docker-py's matcher,
    the one its builds use: later patterns win, "!" re-includes)."""
    from docker.utils.build import PatternMatcher

    return not PatternMatcher(patterns).matches(path)


def secrets_in_context(root: Path) -> list[str]:
    """The local settings files at ``root`` that a build would send to the engine, and so bake into the image."""
    ignore = root / ".dockerignore"
    patterns = dockerignore_patterns(ignore.read_text(encoding="utf-8", errors="replace")) if ignore.is_file() else []
    found = [root / name for name in SECRET_FILES] + sorted(root.glob(SECRET_FILE_PATTERN))
    return [path.name for path in found if path.is_file() and path.name != ".env.example" and sent_to_engine(patterns, path.name)]


def refuse_secrets_in_context(root: Path) -> None:
    """Stops a build whose context would carry a .env: its secrets would be in a layer of the image for good."""
    exposed = secrets_in_context(root)
    if exposed:
        raise UsageError(
            f"The build context would send {', '.join(exposed)} to the Docker engine, and its secrets would be baked into "
            f"the image. Add {', '.join(exposed)} to .dockerignore (python -m ebship init writes one that keeps them out)."
        )
