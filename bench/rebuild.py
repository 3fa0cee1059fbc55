"""Figure 3: a fresh runner rebuilds after a one-line change in the app, with the app's local images gone.

Three ways, each starting from the same state: this run's images of the app removed, the base image kept, as Docker
Hub is out of reach here (a real fresh runner would fetch it too: as layers of `<repo>:latest` in the registry way,
from Docker Hub in the no-cache way; the tarball already carries it).

- registry: what `inv docker.build` does: pulls `<repo>:latest` (pushed by the previous run) and builds with it as
  `cache_from`. Bytes: what crossed the registry proxy.
- tarball: the article's CircleCI cache: `docker load -i image.tar` (the previous run's `docker save`), build with the
  loaded image as `cache_from` (without it this engine's builder would not use it at all), `docker save` the new image for the
  next run. Bytes: the tarball read plus the tarball written (on CircleCI they also travel to and from its cache store,
  which is not counted here).
- no cache: `docker build --no-cache`: every layer is built again, the dependencies downloaded again (here from
  the machine's package mirror).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ci import one_line_change
from bench.services import Stack

SCENARIOS = ("registry", "tarball", "no cache")
DETAILS = {
    "registry": "`inv docker.build`: pull `<repo>:latest`, build with `cache_from`",
    "tarball": "`docker load`, build with `cache_from`, `docker save`",
    "no cache": "`docker build --no-cache` (package downloads not counted)",
}


@dataclass
class Rebuild:
    scenario: str
    seconds: float
    bytes_in: int
    bytes_out: int
    detail: str = ""


def _engine() -> Any:
    import docker

    return docker.from_env(timeout=1800)


def _build(stack: Stack, sha: str, cache_from: list[str] | None, nocache: bool) -> None:
    assert stack.project is not None
    events = _engine().api.build(
        path=str(stack.project),
        dockerfile="Dockerfile",
        tag=f"{stack.repository}:{sha}",
        buildargs={"BASE_IMAGE": stack.base, "APP_VERSION": sha},
        labels={"org.opencontainers.image.revision": sha},
        cache_from=cache_from,
        nocache=nocache,
        network_mode="host",
        rm=True,
        forcerm=True,
        decode=True,
    )
    for event in events:
        if "error" in event or "errorDetail" in event:
            raise RuntimeError(f"build failed: {event}")


def _empty(stack: Stack) -> None:
    stack.remove_own_images()
    left = _engine().images.list(name=stack.repository)
    if left:
        raise RuntimeError(f"could not empty the local cache of {stack.repository}: {[i.tags for i in left]}")


def registry(stack: Stack, sha: str) -> Rebuild:
    assert stack.project is not None and stack.proxy is not None
    stack.proxy.reset()
    began = time.monotonic()
    result = subprocess.run(
        [*stack.inv_command(), "docker.build"],
        cwd=stack.project,
        env=stack.inv_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    took = time.monotonic() - began
    if result.returncode != 0 or "as a cache source" not in result.stdout:
        output = result.stdout[-3000:] + result.stderr[-2000:]
        raise RuntimeError(f"inv docker.build did not build from the registry cache:\n{output}")
    sent, received = stack.proxy.totals()
    return Rebuild("registry", took, received, sent, DETAILS["registry"])


def tarball(stack: Stack, sha: str, previous: Path) -> Rebuild:
    saved = previous.with_name("image-next.tar")
    began = time.monotonic()
    subprocess.run(["docker", "load", "-q", "-i", str(previous)], check=True, capture_output=True, timeout=1800)
    _build(stack, sha, [f"{stack.repository}:latest"], nocache=False)
    subprocess.run(
        ["docker", "save", "-o", str(saved), f"{stack.repository}:{sha}"], check=True, capture_output=True, timeout=1800
    )
    took = time.monotonic() - began
    written = saved.stat().st_size
    saved.unlink()
    return Rebuild("tarball", took, previous.stat().st_size, written, DETAILS["tarball"])


def no_cache(stack: Stack, sha: str) -> Rebuild:
    began = time.monotonic()
    _build(stack, sha, None, nocache=True)
    return Rebuild("no cache", time.monotonic() - began, 0, 0, DETAILS["no cache"])


def run(stack: Stack, rounds: int, log: Callable[[str], None]) -> list[Rebuild]:
    """Needs `<repo>:latest` in the registry and locally (the `inv ci` runs leave both). Stops the stand-in first: its
    environment's container holds the deployed image, which a fresh runner would not have."""
    assert stack.project is not None
    stack.server.stop()
    previous = stack.workdir / "image.tar"
    subprocess.run(
        ["docker", "save", "-o", str(previous), f"{stack.repository}:latest"], check=True, capture_output=True, timeout=1800
    )
    sha = one_line_change(stack.project, "bench: fresh-runner rebuild")
    results: list[Rebuild] = []
    try:
        for index in range(rounds):
            order = SCENARIOS[index % 3 :] + SCENARIOS[: index % 3]  # rotate, so no way always goes first
            for scenario in order:
                _empty(stack)
                log(f"rebuild round {index + 1}/{rounds}: {scenario}")
                if scenario == "registry":
                    results.append(registry(stack, sha))
                elif scenario == "tarball":
                    results.append(tarball(stack, sha, previous))
                else:
                    results.append(no_cache(stack, sha))
                last = results[-1]
                log(f"  {last.seconds:.1f} s, {last.bytes_in / 1e6:.1f} MB in, {last.bytes_out / 1e6:.1f} MB out")
    finally:
        previous.unlink(missing_ok=True)
        _empty(stack)
    return results
