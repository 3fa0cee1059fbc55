"""The stand-in's HTTP server: moto's S3 (and the rest of moto) plus the Elastic Beanstalk operations.

Run it as a process: ``python -m localeb.server --port 4566``. ``start_server`` does that and waits until
it answers, for tests and for ``inv local.up``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_app() -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def serve(host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(host, port, build_app(), threaded=True, use_reloader=False)


@dataclass
class RunningServer:
    endpoint_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def start_server(log_path: Path, port: int = 0, extra_args: list[str] | None = None, timeout: float = 30) -> RunningServer:
    """Starts the server in a child process and returns once it answers HTTP."""
    port = port or free_port()
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "localeb.server", "--host", "127.0.0.1", "--port", str(port), *(extra_args or [])],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local AWS server exited with {process.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
            return RunningServer(endpoint, process, log_path)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the local AWS server did not answer on {endpoint} within {timeout:.0f} s; see {log_path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
