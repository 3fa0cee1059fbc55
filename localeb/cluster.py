"""A local Elastic Beanstalk for rehearsing a deploy: `up`, `status` and `down`, as plain functions.

`up` starts the server and a private registry (fresh credentials) as processes that outlive the caller,
creates the bucket, the application and an environment, and writes everything the other tasks need to
`<state_dir>/localeb.json`. `down` stops what `up` started and removes every container the server ran.

An `up` interrupted (Ctrl-C) or failing halfway stops what it had started. Should it be killed before it can, `down`
(and the next `up`) still find its processes, even those it had not recorded yet: the server writes its output to
`<state_dir>/server.log` and the registry reads `<state_dir>/registry/config.yml`, so both are tied to the state
directory.

A test can hold `up` at a phase (UP_HOLD_PHASES) to act there, a Ctrl-C say, instead of racing it: see `_hold`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_FILE = "localeb.json"
SERVER_LOG = "server.log"
REGISTRY_CONFIG = "registry/config.yml"  # localeb.registry writes it under the root that up gives it
ACCOUNT_ID = "123456789012"
ACCESS_KEY = "localeb"
SECRET_KEY = "localeb-secret"
# Where `up` can be held (LOCALEB_UP_HOLD=<phase>), in the order it reaches them.
UP_HOLD_PHASES = {
    "registry-started": "the registry answers and is recorded in localeb.json; no server yet",
    "server-started": "the server answers but is not recorded in localeb.json yet (only down's search finds it)",
}
UP_HOLD_VARIABLE = "LOCALEB_UP_HOLD"
UP_HOLD_SECONDS_VARIABLE = "LOCALEB_UP_HOLD_SECONDS"  # the hold's own deadline, default 300
UP_HOLD_FILE = "up.held"


class ClusterError(RuntimeError):
    pass


def state_path(state_dir: Path) -> Path:
    return Path(state_dir) / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_path(state_dir)
    if not path.exists():
        return None
    return dict(json.loads(path.read_text()))


def _clients(state: dict[str, Any]) -> tuple[Any, Any]:
    import boto3

    options = {
        "endpoint_url": state["endpoint_url"],
        "region_name": state["region"],
        "aws_access_key_id": state["access_key_id"],
        "aws_secret_access_key": state["secret_access_key"],
    }
    return boto3.client("elasticbeanstalk", **options), boto3.client("s3", **options)


def _start_registry_detached(root: Path, username: str, password: str, ecr_password: str) -> dict[str, Any]:
    """Starts the registry from a helper in a session of its own, so that it outlives the caller."""
    result = subprocess.run(
        [sys.executable, "-m", "localeb.cluster", "start-registry", str(root), username],
        input=f"{password}\n{ecr_password}",
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    if result.returncode != 0:
        raise ClusterError(f"the registry did not start: {result.stderr.strip() or result.stdout.strip()}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def up(
    state_dir: Path,
    application: str = "local-app",
    environment: str = "local",
    region: str = "us-east-1",
    bucket: str | None = None,
    port: int = 0,
    server_args: list[str] | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    """Starts everything and returns the state it wrote. Refuses if a previous `up` is still running."""
    state_dir = Path(state_dir).resolve()
    held = os.environ.get(UP_HOLD_VARIABLE)
    if held and held not in UP_HOLD_PHASES:
        raise ClusterError(f"{UP_HOLD_VARIABLE} must name one of {', '.join(UP_HOLD_PHASES)}, not {held!r}")
    if read_state(state_dir) is not None and status(state_dir)["running"]:
        raise ClusterError(f"a local Elastic Beanstalk already runs (state in {state_path(state_dir)}); stop it first with down")
    down(state_dir)  # what a previous up left: a stale state file, or processes an interrupted up never recorded
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _start(state_dir, application, environment, region, bucket, port, server_args, timeout)
    except BaseException:  # KeyboardInterrupt too: an interrupted up must not leave a server that nothing stops
        down(state_dir)
        raise


def _start(
    state_dir: Path,
    application: str,
    environment: str,
    region: str,
    bucket: str | None,
    port: int,
    server_args: list[str] | None,
    timeout: float,
) -> dict[str, Any]:
    from localeb import ecr
    from localeb.server import start_server

    username, password = "localeb", secrets.token_urlsafe(24)
    # The stand-in's ECR hands this out as its tokens' password; the registry accepts it for the user AWS.
    ecr_password = secrets.token_urlsafe(32)
    registry = _start_registry_detached(state_dir / "registry", username, password, ecr_password)
    state: dict[str, Any] = {
        "version": 1,
        "created": datetime.now(UTC).isoformat(),
        "region": region,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        "bucket": bucket or f"elasticbeanstalk-{region}-{ACCOUNT_ID}",
        "application": application,
        "environment": environment,
        "registry": {
            "address": registry["address"],
            "username": username,
            "password": password,
            "pid": registry.get("pid"),
            "container_id": registry.get("container_id"),
            "root": str(state_dir / "registry"),
        },
    }
    _write(state_dir, state)
    _hold(state_dir, "registry-started")
    ecr_env = {ecr.REGISTRY_VARIABLE: registry["address"], ecr.PASSWORD_VARIABLE: ecr_password}
    server = start_server(state_dir / SERVER_LOG, port=port, extra_args=server_args, detached=True, env={**os.environ, **ecr_env})
    _hold(state_dir, "server-started")
    state.update(
        endpoint_url=server.endpoint_url,
        server={"pid": server.process.pid, "server_id": server.server_id, "log": str(server.log_path)},
    )
    _write(state_dir, state)
    eb, s3 = _clients(state)
    if region == "us-east-1":
        s3.create_bucket(Bucket=state["bucket"])
    else:
        s3.create_bucket(Bucket=state["bucket"], CreateBucketConfiguration={"LocationConstraint": region})
    eb.create_application(ApplicationName=application)
    eb.create_environment(
        ApplicationName=application,
        EnvironmentName=environment,
        SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker",
    )
    env = _wait_ready(eb, environment, timeout)
    state.update(environment_id=env["EnvironmentId"], environment_url=f"http://{env['CNAME']}")
    _write(state_dir, state)
    return state


def _hold(state_dir: Path, phase: str) -> None:
    """When LOCALEB_UP_HOLD names `phase`: writes `<state_dir>/up.held` (the phase, the pid) and waits while it exists,
    at most LOCALEB_UP_HOLD_SECONDS (300), then goes on. The test that armed it waits for the file, acts, deletes it."""
    if os.environ.get(UP_HOLD_VARIABLE) != phase:
        return
    handshake = state_dir / UP_HOLD_FILE
    deadline = time.monotonic() + float(os.environ.get(UP_HOLD_SECONDS_VARIABLE) or 300)
    handshake.write_text(json.dumps({"phase": phase, "pid": os.getpid()}) + "\n")
    try:
        while handshake.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        handshake.unlink(missing_ok=True)


def _wait_ready(eb: Any, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        envs = eb.describe_environments(EnvironmentNames=[name], IncludeDeleted=False)["Environments"]
        if envs and envs[0]["Status"] == "Ready":
            return dict(envs[0])
        time.sleep(0.2)
    raise ClusterError(f"the environment {name} was not Ready within {timeout:.0f} s")


def _write(state_dir: Path, state: dict[str, Any]) -> None:
    path = state_path(state_dir)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)


def _ours(pid: int | None, marker: str) -> bool:
    """Whether `pid` is alive (not a zombie) and still the process we started (its command line names `marker`)."""
    if not pid:
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and marker in cmdline


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError as error:
        return error.code == 401
    except OSError:
        return False


def status(state_dir: Path) -> dict[str, Any]:
    """What runs: {"running": bool, "server": {...}, "registry": {...}, "environments": [...], "state": {...}}."""
    state = read_state(Path(state_dir))
    if state is None:
        return {"running": False, "state_file": None, "server": None, "registry": None, "environments": []}
    server = state.get("server") or {}
    registry = state.get("registry") or {}
    server_alive = _ours(server.get("pid"), "localeb.server")
    environments: list[dict[str, Any]] = []
    if server_alive and state.get("endpoint_url"):
        try:
            with urllib.request.urlopen(state["endpoint_url"] + "/_localeb/status", timeout=5) as response:
                environments = json.loads(response.read())["environments"]
        except OSError:
            server_alive = False
    registry_alive = _answers(f"http://{registry['address']}/v2/") if registry.get("address") else False
    return {
        "running": server_alive and registry_alive,
        "state_file": str(state_path(Path(state_dir))),
        "server": {
            "endpoint_url": state.get("endpoint_url"),
            "pid": server.get("pid"),
            "alive": server_alive,
            "log": server.get("log"),
        },
        "registry": {"address": registry.get("address"), "pid": registry.get("pid"), "alive": registry_alive},
        "environments": environments,
        "state": state,
    }


def _stop_pid(pid: int | None, marker: str, timeout: float = 20) -> bool:
    if not _ours(pid, marker):
        return False
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _ours(pid, marker):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            break
        time.sleep(0.1)
    return True


def _unrecorded(state_dir: Path) -> list[tuple[int, str]]:
    """(pid, marker) of this state directory's server and registry processes, found in /proc: the server's output
    goes to its log here, the registry's command line names its configuration here. Only processes of this user."""
    server_log = str(state_dir / SERVER_LOG)
    registry_config = str(state_dir / REGISTRY_CONFIG)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "localeb.server" in cmdline and os.readlink(entry / "fd" / "1") == server_log:
                found.append((int(entry.name), "localeb.server"))
            elif "docker-registry" in cmdline and registry_config in cmdline:
                found.append((int(entry.name), "docker-registry"))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def down(state_dir: Path) -> dict[str, Any]:
    """Stops the server (which removes its containers), the registry, and removes the state file; also stops the
    processes of an `up` that was killed before it recorded them."""
    import shutil

    from localeb.platform import remove_containers

    state_dir = Path(state_dir).resolve()
    state = read_state(state_dir) or {}
    stopped = []
    server = state.get("server") or {}
    if _stop_pid(server.get("pid"), "localeb.server"):
        stopped.append(f"server (pid {server['pid']})")
    removed = remove_containers(server["server_id"]) if server.get("server_id") else 0
    registry = state.get("registry") or {}
    if _stop_pid(registry.get("pid"), "docker-registry"):
        stopped.append(f"registry (pid {registry['pid']})")
    if registry.get("container_id"):
        subprocess.run(["docker", "rm", "-f", registry["container_id"]], capture_output=True, check=False)
        stopped.append(f"registry container {registry['container_id'][:12]}")
    stopped += [f"unrecorded {marker} (pid {pid})" for pid, marker in _unrecorded(state_dir) if _stop_pid(pid, marker)]
    for root in {registry.get("root"), str(state_dir / "registry")} - {None}:
        shutil.rmtree(str(root), ignore_errors=True)
    state_path(state_dir).unlink(missing_ok=True)
    return {"stopped": stopped, "containers_removed": removed}


def _start_registry_main(root: str, username: str) -> None:
    from localeb.registry import RegistryUnavailable, start_registry

    password, _, ecr_password = sys.stdin.read().partition("\n")
    try:
        registry = start_registry(Path(root), username, password, ecr_password=ecr_password)
    except RegistryUnavailable as error:
        sys.exit(str(error))
    print(
        json.dumps(
            {
                "address": registry.address,
                "pid": registry.process.pid if registry.process else None,
                "container_id": registry.container_id,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "start-registry":
        _start_registry_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(
            "usage: python -m localeb.cluster start-registry ROOT USERNAME  (password, then the ECR password, "
            "on stdin, one per line)"
        )
