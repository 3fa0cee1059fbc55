"""The stand-in's HTTP server: moto's S3 (and the rest of moto) plus the Elastic Beanstalk operations.

Run it as a process: ``python -m localeb.server --port 4566``. ``start_server`` does that and waits until
it answers, for tests and for ``inv local.up``. ``python -m localeb.server --help`` lists the behaviours
that can be chosen at start; most can be changed while it runs through ``/_localeb/settings``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localeb.control import Control, FaultRule
from localeb.settings import Settings, add_arguments, from_arguments


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WithoutListBucket:
    """S3 as a caller without s3:ListBucket sees it, when `Settings.s3_list_bucket` is `denied`.

    S3 GetObject API reference, "Permissions": "If you don't have the s3:ListBucket permission, Amazon S3 returns an
    HTTP status code 403 Access Denied error" for a key that does not exist (404 Not Found only with that permission);
    the same holds for HeadObject, whose answer has no body. Listing the bucket is then denied as well.
    """

    DENIED_WHEN_FOUND = ("s3:ListObjects", "s3:ListObjectsV2")

    def __init__(
        self,
        app: Any,
        settings: Settings,
        operation: Callable[[dict[str, Any]], tuple[str, str | None]],
        policy_denies: Callable[[dict[str, Any], str, str], bool] = lambda environ, action, resource: False,
    ):
        self.app, self.settings, self.operation, self.policy_denies = app, settings, operation, policy_denies

    def _lacks_list_bucket(self, environ: dict[str, Any]) -> bool:
        """Denied by the setting, or by an enforced IAM policy that does not grant s3:ListBucket on the bucket."""
        if self.settings.s3_list_bucket == "denied":
            return True
        if self.settings.iam_policy is None:
            return False
        bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        return bool(bucket) and self.policy_denies(environ, "s3:ListBucket", f"arn:aws:s3:::{bucket}")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._lacks_list_bucket(environ):
            return self._pass(environ, start_response)
        name, _ = self.operation(environ)
        if name not in ("s3:GetObject", "s3:HeadObject", *self.DENIED_WHEN_FOUND):
            return self._pass(environ, start_response)
        status, headers, body = self._answer(environ)
        missing_key = status.startswith("404") and (
            b"<Code>NoSuchKey</Code>" in body
            if name == "s3:GetObject"
            else name == "s3:HeadObject" and self._bucket_exists(environ)
        )
        if missing_key or (name in self.DENIED_WHEN_FOUND and status.startswith("200")):
            return self._access_denied(start_response, with_body=name != "s3:HeadObject")
        start_response(status, headers)
        return [body]

    def _pass(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.app(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        answer: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        chunks = self.app(environ, keep)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return str(answer["status"]), list(answer["headers"]), body

    def _bucket_exists(self, environ: dict[str, Any]) -> bool:
        bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        status, _, _ = self._answer({**environ, "PATH_INFO": f"/{bucket}", "QUERY_STRING": ""})
        return status.startswith("200")

    @staticmethod
    def _access_denied(start_response: Callable[..., Any], with_body: bool) -> list[bytes]:
        request_id = uuid.uuid4().hex[:16].upper()
        body = (
            (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>'
                f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
            ).encode()
            if with_body
            else b""
        )
        start_response(
            "403 Forbidden",
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(body))),
                ("x-amz-request-id", request_id),
                ("x-amz-id-2", request_id),
            ],
        )
        return [body]


def build_app(settings: Settings | None = None, faults: list[FaultRule] | None = None) -> Control:
    """moto's DomainDispatcherApplication with the EB operations installed, behind the counting/fault middleware."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    from localeb import ecr
    from localeb.backend import LocalEB
    from localeb.platform import DockerPlatform
    from localeb.responses import install

    settings = settings or Settings()
    backend = LocalEB(settings, DockerPlatform(settings.server_id))
    install(backend)
    ecr.install()
    dispatcher = DomainDispatcherApplication(create_backend_app)

    def timeline(env: Any) -> dict[str, Any]:
        with backend.lock:
            return backend.variants.timeline(env)

    def status() -> dict[str, Any]:
        return {
            "server_id": settings.server_id,
            "pid": os.getpid(),
            "environments": [
                {
                    "name": env.name,
                    "id": env.id,
                    "application": env.application,
                    "region": env.region,
                    "status": env.status,
                    "health": env.health,
                    "version_label": env.version_label,
                    "address": None if env.terminated else env.proxy.address,
                    "container": env.container.name if env.container else None,
                    "timeline": timeline(env),
                }
                for env in backend.all_environments()
            ],
        }

    backend.watch_health()
    control = Control(dispatcher, settings, status, faults or [])
    control.app = WithoutListBucket(dispatcher, settings, control.operation, control.denies)
    control.find_environment = backend.environment_named
    control.holds = backend.holds
    control.backend = backend  # type: ignore[attr-defined]
    return control


def serve(host: str, port: int, settings: Settings | None = None, faults: list[FaultRule] | None = None) -> None:
    from werkzeug.serving import run_simple

    from localeb.platform import remove_containers

    os.environ.setdefault("MOTO_PORT", str(port))
    app = build_app(settings, faults)

    def stop(*_: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        removed = app.backend.close()  # type: ignore[attr-defined]
        if removed:
            print(f"localeb: removed {removed} container(s) of server {app.settings.server_id}", flush=True)
        remove_containers(app.settings.server_id)


@dataclass
class RunningServer:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    server_id: str = field(default="")

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.endpoint_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            message = json.loads(error.read() or b"{}").get("error", str(error))
            raise ValueError(f"{method} {path}: {message}") from None

    def calls(self) -> dict[str, int]:
        """Calls served per operation since the start or the last reset (EB Action, `s3:<Operation>`)."""
        return dict(self._request("GET", "/_localeb/calls"))

    def reset_calls(self) -> None:
        self._request("DELETE", "/_localeb/calls")

    def set_faults(self, *rules: dict[str, Any] | str | FaultRule) -> list[dict[str, Any]]:
        """Replaces the fault rules; no rules removes them all. A rule is a dict (operation, kind, rate, count,
        status, seconds), a `KIND,OPERATION[,RATE[,ARG]]` string, or a FaultRule."""
        parsed = [
            FaultRule.parse(r) if isinstance(r, str) else FaultRule.from_dict(r) if isinstance(r, dict) else r for r in rules
        ]
        body = [{k: v for k, v in rule.public().items() if k != "injected"} for rule in parsed]
        return list(self._request("PUT", "/_localeb/faults", body)["rules"])

    def throttled(self) -> dict[str, int]:
        """Elastic Beanstalk calls the `throttle` variant refused, per operation, since the start or the last reset."""
        return dict(self._request("GET", "/_localeb/throttled"))

    def reset_throttled(self) -> None:
        self._request("DELETE", "/_localeb/throttled")

    def denied(self) -> list[str]:
        """The calls the enforced IAM policy denied since the start or the last reset, as "<action> on <resource>"."""
        return list(self._request("GET", "/_localeb/denied"))

    def reset_denied(self) -> None:
        self._request("DELETE", "/_localeb/denied")

    def faults(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/_localeb/faults")["rules"])

    def settings(self) -> dict[str, Any]:
        return dict(self._request("GET", "/_localeb/settings"))

    def update_settings(self, **changes: Any) -> dict[str, Any]:
        """Changes behaviours while running, e.g. `failed_version_label="keep"`, `phase_seconds=0.1`."""
        return dict(self._request("POST", "/_localeb/settings", changes))

    def status(self) -> dict[str, Any]:
        return dict(self._request("GET", "/_localeb/status"))

    def hold(self, phase: str, seconds: float = 300) -> dict[str, Any]:
        """Arms a hold (localeb.hold.PHASES): background work that reaches `phase` waits there until `release()`, or
        until `seconds` have passed."""
        return dict(self._request("PUT", "/_localeb/hold", {"phase": phase, "seconds": seconds}))

    def held(self) -> dict[str, Any]:
        """The armed phase (None: none), how many work items wait at it, how many reached it since it was armed."""
        return dict(self._request("GET", "/_localeb/hold"))

    def wait_held(self, phase: str, timeout: float = 60) -> dict[str, Any]:
        """Returns once a work item waits at `phase`; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.held()
            if now["phase"] == phase and now["waiting"] > 0:
                return now
            if now["phase"] != phase:
                raise TimeoutError(f"no hold is armed at {phase} (its deadline passed, or it was released): {now}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing reached the hold at {phase} within {timeout:.0f} s: {now}")
            time.sleep(0.05)

    def release(self) -> dict[str, Any]:
        return dict(self._request("DELETE", "/_localeb/hold"))


def start_server(
    log_path: Path,
    port: int = 0,
    extra_args: list[str] | None = None,
    timeout: float = 30,
    detached: bool = False,
    env: dict[str, str] | None = None,
) -> RunningServer:
    """Starts the server in a child process and returns once it answers HTTP.

    `detached` puts it in its own session, so it outlives the caller (for `inv local.up`); `env` replaces the
    child's environment variables.
    """
    port = port or free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localeb.server", "--host", "127.0.0.1", "--port", str(port), *(extra_args or [])],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parent.parent,
            start_new_session=detached,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"the local AWS server exited with {process.returncode}; see {log_path}:\n{tail}")
        try:
            with urllib.request.urlopen(endpoint + "/_localeb/settings", timeout=1) as response:
                server_id = json.loads(response.read())["server_id"]
            return RunningServer(endpoint, process, log_path, server_id)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the local AWS server did not answer on {endpoint} within {timeout:.0f} s; see {log_path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    add_arguments(parser)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND,OPERATION[,RATE[,ARG]]",
        help="inject a fault: KIND is throttle, error (ARG: 5xx status) or slow (ARG: seconds); "
        "OPERATION an EB Action, s3:<Operation>, s3:<METHOD> or *; RATE the share of calls",
    )
    parser.add_argument(
        "--faults-json", help="fault rules as a JSON list of objects (operation, kind, rate, count, status, seconds)"
    )
    args = parser.parse_args(argv)
    try:
        faults = [FaultRule.parse(text) for text in args.fault]
        if args.faults_json:
            faults += [FaultRule.from_dict(rule) for rule in json.loads(args.faults_json)]
    except ValueError as error:
        parser.error(str(error))
    serve(args.host, args.port, from_arguments(args), faults)


if __name__ == "__main__":
    main()
