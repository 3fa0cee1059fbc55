"""EB's Docker platform on the local engine: pull with the bundle's credentials, run, health-check, remove."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass

import docker
import docker.errors

from localeb.dockerrun import Dockerrun

SERVER_LABEL = "localeb.server"
ENVIRONMENT_LABEL = "localeb.environment"
VERSION_LABEL = "localeb.version"


class DeployError(Exception):
    """A deploy step failed; `events` are the ERROR event messages that tell why, `engine` what eb-engine.log says.

    Events carry Elastic Beanstalk's own texts, never the container's output: that goes to the tail logs.
    """

    def __init__(self, *events: str, engine: str = "") -> None:
        super().__init__(events[0] if events else "deployment failed")
        self.events = list(events)
        self.engine = engine or (events[0] if events else "")
        self.failed_output: tuple[str, str] | None = None  # (container id, output) of a container removed for failing


# eb-engine.log's line for an app container that stops at start (a real one: "[ERROR] An error occurred during
# execution of command [app-deploy] - [Docker Specific Start Application]. Stop running the command. Error: container
# exited with code 3", as tests/test_logs.py quotes it).
CONTAINER_EXITED = (
    "An error occurred during execution of command [app-deploy] - [Docker Specific Start Application]. "
    "Stop running the command. Error: container exited with code {code}"
)


def command_failed(instance_id: str) -> tuple[str, str]:
    """The ERROR events of an instance whose deploy command failed (public AL2 transcripts, eb-behaviour section 3)."""
    return (
        f"[Instance: {instance_id}] Command failed on instance. Return code: 1 Output: "
        "Engine execution has encountered an error.",
        "Instance deployment failed. For details, see 'eb-engine.log'.",
    )


@dataclass
class RunningContainer:
    id: str
    name: str
    host_port: int


class DockerPlatform:
    def __init__(self, server_id: str) -> None:
        self.server_id = server_id
        self._lock = threading.Lock()
        self._closing = False
        self._counter = 0

    def _client(self) -> docker.DockerClient:
        return docker.from_env(timeout=120)

    def pull(self, image: str, repository: str, tag: str, credentials: dict[str, str] | None, update: bool) -> None:
        client = self._client()
        try:
            if not update:
                try:
                    client.images.get(image)
                    return
                except docker.errors.ImageNotFound:
                    pass
            # An explicit (possibly empty) auth_config stops docker-py from reading the host's own credentials.
            if "@" in repository or tag.startswith("sha256:"):
                client.images.pull(repository if "@" in repository else f"{repository}@{tag}", auth_config=credentials or {})
            else:
                client.images.pull(repository, tag=tag, auth_config=credentials or {})
        except docker.errors.APIError as error:
            raise DeployError(
                f"Instance deployment failed to download the Docker image {image}: {_explain(error)}. The deployment failed."
            ) from None
        finally:
            client.close()

    def run(
        self, environment_id: str, environment_name: str, version_label: str, spec: Dockerrun, variables: dict[str, str]
    ) -> RunningContainer:
        client = self._client()
        try:
            with self._lock:
                if self._closing:
                    raise DeployError("The server is shutting down.")
                self._counter += 1
                name = f"localeb-{self.server_id}-{environment_name}-{self._counter}"
                volumes = {host: {"bind": inside, "mode": "rw"} for host, inside in spec.volumes}
                try:
                    container = client.containers.run(
                        spec.image,
                        command=spec.command,
                        entrypoint=spec.entrypoint,
                        environment=variables,
                        ports={f"{spec.container_port}/tcp": ("127.0.0.1", None)},
                        volumes=volumes or None,
                        labels={
                            SERVER_LABEL: self.server_id,
                            ENVIRONMENT_LABEL: environment_id,
                            VERSION_LABEL: version_label[:200],
                        },
                        name=name,
                        detach=True,
                    )
                except docker.errors.APIError as error:
                    raise DeployError(
                        f"Instance deployment failed to start the Docker container from {spec.image}: "
                        f"{_explain(error)}. The deployment failed."
                    ) from None
            container.reload()
            bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{spec.container_port}/tcp") or []
            if not bindings:
                code, output = container.attrs["State"].get("ExitCode"), self.output(container.id)
                self.remove(container.id)
                exited = DeployError(engine=CONTAINER_EXITED.format(code=code))
                exited.failed_output = (container.id, output)
                raise exited
            return RunningContainer(container.id, name, int(bindings[0]["HostPort"]))
        finally:
            client.close()

    def wait_healthy(
        self, running: RunningContainer, instance_id: str, path: str, codes: set[int], timeout: float, interval: float
    ) -> None:
        client = self._client()
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        try:
            while True:
                container = client.containers.get(running.id)
                if container.status in ("exited", "dead"):
                    code = container.attrs["State"].get("ExitCode")
                    raise DeployError(*command_failed(instance_id), engine=CONTAINER_EXITED.format(code=code))
                status = _probe(running.host_port, path)
                if isinstance(status, int) and status in codes:
                    return
                last = f"HTTP {status}" if isinstance(status, int) else status
                if time.monotonic() >= deadline:
                    break
                time.sleep(interval)
        finally:
            client.close()
        expected = ", ".join(str(c) for c in sorted(codes)) if len(codes) < 5 else f"{min(codes)}-{max(codes)}"
        raise DeployError(
            f"[Instance: {instance_id}] Health check GET {path} on the application's port failed for "
            f"{timeout:.0f} seconds: {last} (expected HTTP {expected}).",
            f"Instance id(s) '{instance_id}' did not pass health check after command execution. Aborting the operation.",
        )

    def kill(self, container_id: str) -> None:
        """Stops a container at once (a fault injection: the instance's app dies)."""
        try:
            client = self._client()
            try:
                client.containers.get(container_id).kill()
            finally:
                client.close()
        except docker.errors.DockerException:
            pass

    def is_running(self, container_id: str) -> bool:
        """False only when the engine says the container is gone or stopped; True when it cannot tell."""
        try:
            client = self._client()
        except docker.errors.DockerException:
            return True
        try:
            return bool(client.containers.get(container_id).status == "running")
        except docker.errors.NotFound:
            return False
        except (docker.errors.DockerException, OSError):
            return True
        finally:
            client.close()

    def output(self, container_id: str, lines: int = 100) -> str:
        """The last lines the container wrote to stdout and stderr (for tail logs); "" when the engine cannot tell."""
        try:
            client = self._client()
            try:
                data = client.containers.get(container_id).logs(tail=lines)
            finally:
                client.close()
        except (docker.errors.DockerException, OSError):
            return ""
        return bytes(data).decode("utf-8", errors="replace")

    def remove(self, container_id: str | None) -> None:
        """Removes a container; an engine that cannot is logged, not raised (the label sweep at exit catches it)."""
        if not container_id:
            return
        try:
            client = self._client()
            try:
                client.containers.get(container_id).remove(force=True)
            finally:
                client.close()
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as error:
            print(f"localeb: could not remove container {container_id[:12]}: {error}", flush=True)

    def close(self) -> int:
        with self._lock:
            self._closing = True
        return remove_containers(self.server_id)


def remove_containers(server_id: str) -> int:
    client = docker.from_env(timeout=120)
    try:
        containers = client.containers.list(all=True, filters={"label": f"{SERVER_LABEL}={server_id}"})
        for container in containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        return len(containers)
    finally:
        client.close()


def _probe(port: int, path: str) -> int | str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"User-Agent": "ELB-HealthChecker/2.0"})
        return int(connection.getresponse().status)
    except (OSError, http.client.HTTPException) as error:
        detail = f"{error.__class__.__name__}: {error}" if str(error) else error.__class__.__name__
        return f"no HTTP answer ({detail})"
    finally:
        connection.close()


def _explain(error: docker.errors.APIError) -> str:
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", errors="replace")
    return str(explanation or error).strip()
