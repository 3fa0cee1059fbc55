"""The stand-in's lifecycle under users' mistakes: a Ctrl-C (a real SIGINT) or a kill while `up` starts it, and a bad
--pace while it runs. Nothing it started may outlive `up`'s cleanup or `down`.

`up` is held at the phase a test signals it in (LOCALEB_UP_HOLD, localeb.cluster.UP_HOLD_PHASES), so the signal lands
there however fast or slow the machine, and it runs with default signal handling whatever the suite inherited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests_support import default_signals

from localeb.cluster import UP_HOLD_FILE, UP_HOLD_VARIABLE

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# The collection is loaded first, as `inv local.up` loads it: its SIGTERM handling (CI's cancel) is what is tested too.
UP = (
    "import sys; from pathlib import Path; import tasks; from localeb import cluster; "
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


def start_up(state_dir: Path, held_at: str) -> subprocess.Popen[bytes]:
    """`up` in a process group of its own, as a shell runs a foreground command (a Ctrl-C reaches the whole group),
    held at `held_at`."""
    return subprocess.Popen(
        [sys.executable, "-c", UP, str(state_dir)],
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=default_signals,
        env={**os.environ, UP_HOLD_VARIABLE: held_at},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_held(up: subprocess.Popen[bytes], state_dir: Path, phase: str) -> None:
    handshake = state_dir / UP_HOLD_FILE
    wait_for(lambda: handshake.exists() or up.poll() is not None, 120, f"up never reached {phase}")
    assert up.poll() is None, f"up ended (exit {up.returncode}) before {phase}: {up.communicate()[1].decode()[-2000:]}"
    wait_for(lambda: phase in handshake.read_text(errors="replace"), 5, f"the handshake does not name {phase}")


def registry_is_a_process(state_dir: Path) -> bool:
    """Whether up runs Debian's docker-registry (a process tied to the state directory), not the registry:2 image."""
    return bool(json.loads((state_dir / "localeb.json").read_text())["registry"]["pid"])


def sweep(state_dir: Path) -> None:
    for pid in processes_of(state_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize(
    "phase, running",
    [("server-started", ("localeb.server", "docker-registry")), ("registry-started", ("docker-registry",))],
)
def test_ctrl_c_during_up_leaves_nothing_running(tmp_path: Path, phase: str, running: tuple[str, ...], sig: int) -> None:
    state_dir = (tmp_path / "stand-in").resolve()
    up = start_up(state_dir, held_at=phase)
    try:
        wait_held(up, state_dir, phase)
        started = processes_of(state_dir).values()
        for name in running:  # what the cleanup has to stop (a registry container instead of a process: none here)
            if name == "localeb.server" or registry_is_a_process(state_dir):
                assert any(name in cmd for cmd in started), f"held at {phase}, {name} is not running: {started}"
        os.killpg(up.pid, sig)
        _, stderr = up.communicate(timeout=60)
        assert up.returncode != 0
        assert b"KeyboardInterrupt" in stderr, stderr.decode(errors="replace")[-2000:]
        left = processes_of(state_dir)
        assert not left, f"an interrupted up left these running: {left}"
        assert not (state_dir / "localeb.json").exists()
        assert not (state_dir / UP_HOLD_FILE).exists()
    finally:
        if up.poll() is None:
            up.kill()
        sweep(state_dir)


def test_down_stops_what_a_killed_up_never_recorded(tmp_path: Path) -> None:
    from localeb import cluster

    state_dir = (tmp_path / "stand-in").resolve()
    up = start_up(state_dir, held_at="server-started")  # the server answers; up has not recorded it
    try:
        wait_held(up, state_dir, "server-started")
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
