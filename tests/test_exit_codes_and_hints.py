"""Our exit codes and hints mean what the README says, whatever the test runner or the network does.

- docker.test exits 1 for any test failure and prints the runner's own status: pytest's 2 (collection error) or 5 (no
  tests) passed through would read as "bad input, nothing changed" or, with 3, "deadline passed".
- A login that never reached the registry says so and names the address; only a registry's refusal points at
  REGISTRY_USERNAME and REGISTRY_PASSWORD.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke import Context, Exit
from tests_support import MARKER_PASSWORD, Project, copy_project, default_signals

from ebship.errors import EXIT_INTERRUPTED
from ebship.images import Credentials, login_failure

CLOSED = "127.0.0.1:1"  # nothing listens on port 1 (binding it needs root)


# --- docker.test: any failure is exit 1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("runner_status", [1, 2, 3, 4, 5, 137])
def test_docker_test_maps_any_runner_status_to_1_and_prints_it(monkeypatch, runner_status):
    from ebship import release
    from tasks import docker

    monkeypatch.setattr(release, "test", lambda job, dry_run=False: runner_status)
    with pytest.raises(Exit) as failed:
        docker.test(Context())
    assert failed.value.code == 1
    assert f"the test runner exited with status {runner_status}" in str(failed.value.message)


def broken_tests(destination: Path, env: dict[str, str], files: dict[str, str]) -> Project:
    """A copy of the project whose app/tests holds only ``files`` (and its __init__.py), committed."""
    copy = Project(copy_project(destination), env)
    tests_dir = copy.root / "app" / "tests"
    for path in tests_dir.glob("test_*.py"):
        path.unlink()
    for file_name, text in files.items():
        (tests_dir / file_name).write_text(text)
    copy.commit("tests that make pytest fail without a failing test")
    return copy


@pytest.mark.slow
@pytest.mark.parametrize(
    ("runner_status", "files", "pytest_says"),
    [
        (2, {"test_unparsable.py": "def test_(:\n"}, "error during collection"),  # pytest's INTERRUPTED
        (5, {}, "no tests ran"),  # pytest's NO_TESTS_COLLECTED
    ],
)
def test_docker_test_exits_1_when_pytest_exits_2_or_5(project, tmp_path, engine, runner_status, files, pytest_says):
    copy = broken_tests(tmp_path / f"pytest-{runner_status}", project.env, files)
    built = copy.inv("docker.build")
    assert built.returncode == 0, built.stdout + built.stderr
    try:
        result = copy.inv("docker.test")
        assert pytest_says in result.stdout, result.stdout + result.stderr
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"the test runner exited with status {runner_status}" in result.stderr
        assert f"failed (exit status {runner_status})" in result.stdout
        assert "Traceback" not in result.stderr
    finally:
        sha = copy.git("rev-parse", "HEAD")
        for tag in (f"{project.env['IMAGE_REPOSITORY']}:{sha}-test", f"{project.env['IMAGE_REPOSITORY']}:{sha}"):
            if any(tag in image.tags for image in engine.images.list(name=project.env["IMAGE_REPOSITORY"])):
                engine.images.remove(tag)


HANGING_TEST = {"test_hangs.py": "import time\n\ndef test_hangs():\n    time.sleep(3600)\n"}


@pytest.mark.slow
def test_tests_that_hang_are_stopped_at_test_timeout_exit_3_and_leave_no_container(project, tmp_path, engine):
    """docker.test had no deadline: an app test that hangs ran until someone killed the job."""
    from ebship.images import OWNER_LABEL

    copy = broken_tests(tmp_path / "hangs", project.env, HANGING_TEST)
    assert copy.inv("docker.build").returncode == 0
    try:
        result = copy.inv("docker.test", env={"TEST_TIMEOUT": "20"}, timeout=300)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "The app's tests were still running after 20 s (TEST_TIMEOUT): stopped, and their container removed." in (
            result.stderr
        )
        assert "Traceback" not in result.stderr
        sha = copy.git("rev-parse", "HEAD")
        running = [c for c in engine.containers.list(all=True, filters={"label": OWNER_LABEL}) if sha in str(c.image.tags)]
        assert running == [], "the test container was removed"
    finally:
        sha = copy.git("rev-parse", "HEAD")
        for tag in (f"{project.env['IMAGE_REPOSITORY']}:{sha}-test", f"{project.env['IMAGE_REPOSITORY']}:{sha}"):
            if any(tag in image.tags for image in engine.images.list(name=project.env["IMAGE_REPOSITORY"])):
                engine.images.remove(tag)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_tests_run_removes_their_container(project, tmp_path, engine, sig):
    """SIGTERM (how CI cancels a job) is handled as Ctrl-C is: the test container did keep running."""
    from ebship.images import OWNER_LABEL

    copy = broken_tests(tmp_path / f"hangs-{sig}", project.env, HANGING_TEST)
    assert copy.inv("docker.build").returncode == 0
    sha = copy.git("rev-parse", "HEAD")

    def ours() -> list:
        return [c for c in engine.containers.list(all=True, filters={"label": OWNER_LABEL}) if f"{sha}-test" in str(c.image.tags)]

    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("inv")), "docker.test"],
        cwd=copy.root,
        env=copy.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    try:
        deadline = time.monotonic() + 240
        while not any(c.status == "running" for c in ours()):  # the phase: the tests run in their container
            assert time.monotonic() < deadline and process.poll() is None, "the test container never ran"
            time.sleep(0.2)
        os.killpg(process.pid, sig)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for tag in (f"{project.env['IMAGE_REPOSITORY']}:{sha}-test", f"{project.env['IMAGE_REPOSITORY']}:{sha}"):
            if any(tag in image.tags for image in engine.images.list(name=project.env["IMAGE_REPOSITORY"])):
                engine.images.remove(tag, force=True)
    assert process.returncode == EXIT_INTERRUPTED, stdout + stderr
    assert "Interrupted." in stderr and "Traceback" not in stderr
    assert ours() == [], "the test container was removed"


# --- docker.push: not reached is not refused -------------------------------------------------------------------------

ROBOT = Credentials("registry.example:5000", "ci-robot", MARKER_PASSWORD)


@pytest.mark.parametrize(
    "reason",
    [
        'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
        'Get "https://nonexistent.invalid:5000/v2/": dial tcp: lookup nonexistent.invalid on 10.0.0.2:53: no such host',
    ],
)
def test_a_login_that_reached_no_registry_names_the_address_and_not_the_credentials(reason):
    message = login_failure(ROBOT, reason, 500)
    assert message.startswith("Could not reach the registry at registry.example:5000")
    assert reason in message and "IMAGE_REPOSITORY" in message
    assert "refused" not in message.split(":", 1)[0] and "REGISTRY_PASSWORD" not in message


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized", 500),  # Docker 20.10
        ("unauthorized: incorrect username or password", 401),
    ],
)
def test_a_registry_refusing_the_login_points_at_the_credentials(reason, status):
    message = login_failure(ROBOT, reason, status)
    assert message.startswith("The registry registry.example:5000 refused the login of 'ci-robot'")
    assert "Check REGISTRY_USERNAME and REGISTRY_PASSWORD." in message
    assert MARKER_PASSWORD not in message


def test_another_login_failure_neither_blames_the_credentials_nor_the_network():
    message = login_failure(ROBOT, "received unexpected HTTP status: 503 Service Unavailable", 500)
    assert (
        message
        == "The login to the registry registry.example:5000 failed: received unexpected HTTP status: 503 Service Unavailable."
    )


@pytest.fixture(scope="module")
def built(project, engine) -> Iterator[str]:
    """The project's release image, also tagged for a registry address nothing listens on."""
    result = project.inv("docker.build")
    assert result.returncode == 0, result.stdout + result.stderr
    sha = project.git("rev-parse", "HEAD")
    engine.images.get(f"{project.env['IMAGE_REPOSITORY']}:{sha}").tag(f"{CLOSED}/x", sha)
    yield sha
    for tag in (sha, "latest"):  # docker.push tags :latest before it logs in
        if any(f"{CLOSED}/x:{tag}" in image.tags for image in engine.images.list(name=f"{CLOSED}/x")):
            engine.images.remove(f"{CLOSED}/x:{tag}")


@pytest.mark.slow
def test_push_to_a_closed_port_says_the_registry_was_not_reached(project, built):
    result = project.inv("docker.push", env={"IMAGE_REPOSITORY": f"{CLOSED}/x"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"Could not reach the registry at {CLOSED}" in result.stderr
    assert "connection refused" in result.stderr
    assert "refused the login" not in result.stderr and "REGISTRY_PASSWORD" not in result.stderr
    assert "Traceback" not in result.stderr
    assert MARKER_PASSWORD not in result.stdout + result.stderr


@pytest.mark.slow
def test_push_with_a_wrong_password_is_a_refusal_that_points_at_the_credentials(project, built, registry):
    result = project.inv("docker.push", env={"REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"The registry {registry.address} refused the login of 'ci-robot'" in result.stderr
    assert "Check REGISTRY_USERNAME and REGISTRY_PASSWORD." in result.stderr
    assert "Could not reach" not in result.stderr
    assert MARKER_PASSWORD not in result.stdout + result.stderr


def test_a_reader_that_closes_the_pipe_early_ends_the_task_quietly():
    """`inv eb.events --count 50 | head -2` ended in a BrokenPipeError traceback and "Unexpected error"."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, tasks\n"
        "from invoke import Exit\n"
        "from tasks._support import reported\n"
        "from ebship.output import console\n"
        "many = reported(lambda: [console.print(f'line {n}') for n in range(100000)])\n"
        "try:\n"
        "    many()\n"
        "except Exit as stop:\n"  # as Invoke's program does with it
        "    sys.exit(stop.code)\n"
    )
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # as head does once it has its lines
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert first == b"line 0\n"
    assert "Traceback" not in stderr and "Unexpected error" not in stderr and "BrokenPipe" not in stderr
