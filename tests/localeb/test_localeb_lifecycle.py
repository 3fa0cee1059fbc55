"""The stand-in's lifecycle under users' mistakes: a Ctrl-C (a real SIGINT) or a kill while `up` starts it, and a bad
--pace while it runs. Nothing it started may outlive `up`'s cleanup or `down`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
UP = (
    "import sys; from pathlib import Path; from localeb import cluster; "
    "cluster.up(Path(sys.argv[1]), application='a', environment='a-env')"
)


def processes_of(state_dir: Path) -> dict[int, str]:
    """Every live process tied to ``state_dir``: its command line names it, or its output goes to a file in it."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            output = os.readlink(entry / "fd" / "1") if (entry / "fd" / "1").exists() else ""
        except OSError:
            continue
        if (str(state_dir) in cmdline or output.startswith(str(state_dir))) and "import sys; from pathlib" not in cmdline:
            found[int(entry.name)] = cmdline.strip()
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout:.0f} s")


def start_up(state_dir: Path) -> subprocess.Popen[bytes]:
    """`up` in a process group of its own, as a shell runs a foreground command: a Ctrl-C reaches the whole group."""
    return subprocess.Popen(
        [sys.executable, "-c", UP, str(state_dir)],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def sweep(state_dir: Path) -> None:
    for pid in processes_of(state_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("during", ["localeb.server", "docker-registry"])
def test_ctrl_c_during_up_leaves_nothing_running(tmp_path: Path, during: str) -> None:
    state_dir = (tmp_path / "stand-in").resolve()
    up = start_up(state_dir)
    try:
        wait_for(lambda: any(during in cmd for cmd in processes_of(state_dir).values()), 60, f"no {during} started")
        os.killpg(up.pid, signal.SIGINT)
        _, stderr = up.communicate(timeout=60)
        assert up.returncode != 0
        assert b"KeyboardInterrupt" in stderr, stderr.decode(errors="replace")[-2000:]
        left = processes_of(state_dir)
        assert not left, f"an interrupted up left these running: {left}"
        assert not (state_dir / "localeb.json").exists()
    finally:
        if up.poll() is None:
            up.kill()
        sweep(state_dir)


def test_down_stops_what_a_killed_up_never_recorded(tmp_path: Path) -> None:
    from localeb import cluster

    state_dir = (tmp_path / "stand-in").resolve()
    up = start_up(state_dir)
    try:
        wait_for(lambda: any("localeb.server" in cmd for cmd in processes_of(state_dir).values()), 60, "no server")
        os.killpg(up.pid, signal.SIGKILL)  # no cleanup at all: only down can stop what it started
        up.wait(timeout=30)
        wait_for(lambda: len(processes_of(state_dir)) >= 2, 30, "the server and the registry are not both running")
        result = cluster.down(state_dir)
        assert any("unrecorded localeb.server" in line for line in result["stopped"]), result
        assert not processes_of(state_dir), processes_of(state_dir)
    finally:
        sweep(state_dir)


def test_a_bad_pace_leaves_a_running_stand_in_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from invoke import Context, Exit

    from ebship.targets import LOCAL_DIR
    from localeb import cluster
    from tasks import local

    monkeypatch.setattr(local, "ROOT", tmp_path)
    state_dir = (tmp_path / LOCAL_DIR).resolve()
    state = cluster.up(state_dir, application="a", environment="a-env")
    try:
        with pytest.raises(Exit) as refused:
            local.up(Context(), pace="banana")
        assert refused.value.code == 2
        assert "--pace" in str(refused.value.message) and "banana" in str(refused.value.message)
        now = cluster.status(state_dir)
        assert now["running"] and now["server"]["pid"] == state["server"]["pid"]
    finally:
        cluster.down(state_dir)
        sweep(state_dir)
