"""Serves the app on PORT after STARTUP_DELAY seconds: an app that is slow to start, as many are."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from wsgiref.simple_server import make_server

PORT = int(os.environ.get("PORT", "8080"))


def app(environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    body = f"greeter {os.environ.get('APP_VERSION', '')} on port {PORT}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def main() -> None:
    delay = float(os.environ.get("STARTUP_DELAY", "0"))
    print(f"greeter: starting in {delay:.0f} s", flush=True)
    time.sleep(delay)
    with make_server("0.0.0.0", PORT, app) as server:
        print(f"greeter: listening on {PORT}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
