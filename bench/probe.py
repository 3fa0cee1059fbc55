"""Runs `inv` with its waits on Docker and on the stand-in timed: ``python bench/probe.py OUT.json -- ARGS...``.

The tool's main thread is either working (Python: start-up, imports, planning, parsing, printing, git) or blocked on a
socket (the Docker engine's Unix socket, the stand-in's HTTP port) or in ``time.sleep`` (the deploy watcher waiting
for the stand-in). This wraps the socket calls that block and ``time.sleep`` and adds up, for the main thread only, the
time spent inside them. Everything else of the process's wall time is the tool's own overhead.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import threading
import time
from typing import Any, SupportsIndex

OUT = sys.argv[1]
ARGS = sys.argv[sys.argv.index("--") + 1 :]
MAIN = threading.main_thread()
waits = {"docker": 0.0, "stand-in": 0.0, "sleep": 0.0, "other": 0.0}
started = time.monotonic()


def _kind(sock: socket.socket) -> str:
    try:
        if sock.family == socket.AF_UNIX:
            return "docker"
        port = sock.getpeername()[1]
    except OSError:
        return "other"
    return "stand-in" if port == STAND_IN_PORT else "docker" if port == DOCKER_PORT else "other"


def _endpoint_port(url: str) -> int:
    try:
        return int(url.rsplit(":", 1)[1].split("/", 1)[0])
    except (IndexError, ValueError):
        return -1


STAND_IN_PORT = _endpoint_port(os.environ.get("AWS_ENDPOINT_URL", ""))
DOCKER_PORT = _endpoint_port(os.environ.get("DOCKER_HOST", "")) if os.environ.get("DOCKER_HOST", "").startswith("tcp") else -1


def _timed_socket(name: str) -> None:
    original = getattr(socket.socket, name)

    def wrapper(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not MAIN:
            return original(self, *args, **kwargs)
        began = time.monotonic()
        try:
            return original(self, *args, **kwargs)
        finally:
            waits[_kind(self)] += time.monotonic() - began

    setattr(socket.socket, name, wrapper)


for _name in ("recv", "recv_into", "send", "sendall", "connect"):
    _timed_socket(_name)

_sleep = time.sleep


def _timed_sleep(seconds: float | SupportsIndex) -> None:
    began = time.monotonic()
    try:
        _sleep(seconds)
    finally:
        if threading.current_thread() is MAIN:
            waits["sleep"] += time.monotonic() - began


time.sleep = _timed_sleep


@atexit.register
def _write() -> None:
    with open(OUT, "w") as out:
        json.dump({"waits": waits, "inside": time.monotonic() - started}, out)


if __name__ == "__main__":
    sys.path = [entry for entry in sys.path if os.path.abspath(entry or ".") != os.path.dirname(os.path.abspath(__file__))]
    sys.argv = ["inv", *ARGS]
    from invoke.main import program

    program.run()  # calls sys.exit itself on a failure; returning means success (exit status 0)
