"""Figure 5: start-up wall time of `inv --list` and `inv --help eb.deploy`, next to `eb --version` (awsebcli).

awsebcli goes into a throwaway virtual environment under /tmp (never the project's .venv); the commands run
interleaved, each several times, and the median counts. `python -c pass` with the same interpreter is the floor.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_EBCLI = Path("/tmp/ebship-bench-ebcli")


def ensure_ebcli(venv: Path, log: Callable[[str], None]) -> Path | None:
    eb = venv / "bin" / "eb"
    if eb.exists():
        return eb
    log(f"installing awsebcli into a throwaway venv at {venv} (pip install awsebcli)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "awsebcli"],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as error:
        log(f"could not install awsebcli ({error}); eb --version is left out")
        return None
    return eb if eb.exists() else None


def _time(command: list[str], cwd: Path) -> float:
    began = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, timeout=120)
    took = time.monotonic() - began
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    return took


def run(cwd: Path, eb: Path | None, repeats: int) -> dict[str, float]:
    inv = str(Path(sys.executable).with_name("inv"))
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "inv --list": [inv, "--list"],
        "inv --help eb.deploy": [inv, "--help", "eb.deploy"],
    }
    if eb is not None:
        commands["eb --version (awsebcli)"] = [str(eb), "--version"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # one warm-up each: the page cache, .pyc files
        _time(command, cwd)
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(_time(command, cwd))
    return {name: statistics.median(values) for name, values in times.items()}
