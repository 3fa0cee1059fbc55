"""Figures 2, 4 and 6: `inv ci` in a committed copy of the project, against the stand-in, under the probe.

One run deploys the copy's first commit, one deploys a one-line change (the usual CI run), then `inv ci` runs again
on the deployed commit, several times (the no-change re-run). Every run goes through bench/probe.py, which times the
waits on Docker and the stand-in; the stand-in's counters are reset before each run and read after it.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.services import Stack, git, is_mutating

PROBE = Path(__file__).resolve().with_name("probe.py")


@dataclass
class CiRun:
    kind: str  # "first deploy", "one-line change", "no-change re-run"
    wall: float
    exit_code: int
    waits: dict[str, float]
    calls: dict[str, int]
    cpu: float  # user + system seconds of inv and its children (git)
    stages: dict[str, float] = field(default_factory=dict)
    output: str = ""

    @property
    def waited(self) -> float:
        return sum(self.waits.values())

    @property
    def overhead(self) -> float:
        return max(0.0, self.wall - self.waited)

    @property
    def mutating(self) -> dict[str, int]:
        return {op: n for op, n in self.calls.items() if is_mutating(op)}


def run_ci(stack: Stack, kind: str) -> CiRun:
    assert stack.project is not None
    out = stack.workdir / f"probe-{time.monotonic_ns()}.json"
    stack.server.reset_calls()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(PROBE), str(out), "--", "ci"],
        cwd=stack.project,
        env=stack.inv_env(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    calls = stack.server.calls()
    probe = json.loads(out.read_text()) if out.exists() else {"waits": {}}
    out.unlink(missing_ok=True)
    run = CiRun(
        kind,
        wall,
        result.returncode,
        probe["waits"],
        calls,
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        stages=_stages(result.stdout),
        output=result.stdout + result.stderr,
    )
    if result.returncode != 0:
        raise RuntimeError(f"inv ci ({kind}) exited {result.returncode}:\n{run.output[-4000:]}")
    return run


def _stages(stdout: str) -> dict[str, float]:
    stages: dict[str, float] = {}
    summary = stdout.split("=== summary ===", 1)[-1]
    for line in summary.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].endswith("s") and parts[1] in ("ok", "failed", "planned", "skipped"):
            try:
                stages[parts[0]] = float(parts[2][:-1])
            except ValueError:
                pass
    return stages


def one_line_change(project: Path, note: str) -> str:
    """Appends a comment line to the app's views (the image's last COPY layer changes, nothing above it)."""
    views = project / "app" / "sampleapp" / "views.py"
    views.write_text(views.read_text() + f"# {note}\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", note)
    return git(project, "rev-parse", "HEAD")


def run_all(stack: Stack, reruns: int, log: Callable[[str], None]) -> dict[str, list[CiRun]]:
    runs: dict[str, list[CiRun]] = {"first deploy": [], "one-line change": [], "no-change re-run": []}
    log("inv ci: first deploy of the copy's commit")
    runs["first deploy"].append(run_ci(stack, "first deploy"))
    assert stack.project is not None
    one_line_change(stack.project, "bench: one-line change")
    log("inv ci: a one-line change")
    runs["one-line change"].append(run_ci(stack, "one-line change"))
    for index in range(reruns):
        log(f"inv ci: no-change re-run {index + 1}/{reruns}")
        runs["no-change re-run"].append(run_ci(stack, "no-change re-run"))
    return runs
