"""The set-up scripts (scripts/*.sh): a failing step stops them with its cause, Python 3.11+ is checked before anything
is installed, and the base-image builder really builds a Python image (on the engine, into a throwaway tag).

The fast tests put stub commands first on PATH (docker, debootstrap, apt-get, ...) so that each step can be made to
fail on purpose; the slow test runs the builder for real.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A docker CLI that answers `info`, knows only the image named by STUB_PRESENT_IMAGE, cannot pull, and fails `import`
# the way the engine reports an error.
STUB_DOCKER = """#!/bin/sh
case "$1" in
  info) exit 0 ;;
  image) [ -n "$STUB_PRESENT_IMAGE" ] && [ "$3" = "$STUB_PRESENT_IMAGE" ] && exit 0
         echo "Error: No such image: $3" >&2; exit 1 ;;
  pull) echo "Error response from daemon: no route to registry" >&2; exit 1 ;;
  import) cat >/dev/null; echo "Error response from daemon: stub import failure" >&2; exit 1 ;;
esac
echo "stub docker: unexpected call: $*" >&2
exit 99
"""

# debootstrap ... bookworm TARGET [MIRROR]: records the target it was given; fails when STUB_DEBOOTSTRAP_FAILS is set.
STUB_DEBOOTSTRAP = """#!/bin/sh
echo "$4" > "$STUB_LOG_DIR/debootstrap-target"
if [ -n "$STUB_DEBOOTSTRAP_FAILS" ]; then echo "E: stub: Failed getting release file"; exit 1; fi
mkdir -p "$4/etc/ssl/certs" && echo rootfs > "$4/marker"
"""

PRESENT_BASE_IMAGE = {"BASE_IMAGE": "acme/python:3.12", "STUB_PRESENT_IMAGE": "acme/python:3.12"}

STUBS = {
    "docker": STUB_DOCKER,
    "debootstrap": STUB_DEBOOTSTRAP,
    "id": '#!/bin/sh\n[ "$1" = -u ] && echo 0\n',  # root wherever the tests run
    "apt-get": '#!/bin/sh\necho "stub apt-get: must not be called: $*" >&2\nexit 98\n',
    "htpasswd": "#!/bin/sh\nexit 0\n",
    "docker-registry": "#!/bin/sh\nexit 0\n",
}


def stub_bin(tmp_path: Path, **overrides: str) -> Path:
    directory = tmp_path / "stub-bin"
    directory.mkdir()
    for name, text in {**STUBS, **overrides}.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o755)
    return directory


def script_env(tmp_path: Path, stubs: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("BASE_IMAGE", "LOCAL_BASE_IMAGE", "CI")}
    env.update(
        PATH=f"{stubs}:{os.environ['PATH']}",
        LOCAL_BASE_IMAGE=f"ebship-test/never-built:{uuid.uuid4().hex[:8]}",
        STUB_LOG_DIR=str(tmp_path),
        **extra,
    )
    return env


def run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def project_copy(tmp_path: Path, *scripts: str) -> Path:
    """The named scripts in a throwaway project, with a setup.sh that installs nothing and a .venv whose python and
    inv record their calls (in calls.log) and succeed."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for name in scripts:
        shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
    (root / "scripts" / "setup.sh").write_text("#!/usr/bin/env bash\nexit 0\n")
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name in ("python", "inv"):
        recorder = venv_bin / name
        recorder.write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/calls.log"\n' + 'eval "$STUB_VENV_ANSWER"\n')
        recorder.chmod(0o755)
    return root


def calls(tmp_path: Path) -> str:
    log = tmp_path / "calls.log"
    return log.read_text() if log.exists() else ""


def test_services_stops_with_the_cause_when_docker_import_fails(tmp_path):
    env = script_env(tmp_path, stub_bin(tmp_path))

    result = run(["bash", "scripts/services.sh"], env)

    assert result.returncode == 1, result
    assert "stub import failure" in result.stderr
    assert f"docker import of {env['LOCAL_BASE_IMAGE']} failed" in result.stderr
    assert "BASE_IMAGE=" not in result.stdout
    assert not Path((tmp_path / "debootstrap-target").read_text().strip()).exists(), "the root file system was left behind"


def test_services_stops_with_debootstraps_log_when_debootstrap_fails(tmp_path):
    env = script_env(tmp_path, stub_bin(tmp_path), STUB_DEBOOTSTRAP_FAILS="1")

    result = run(["bash", "scripts/services.sh"], env)

    assert result.returncode == 1, result
    assert "Failed getting release file" in result.stderr
    assert "debootstrap failed" in result.stderr
    assert "BASE_IMAGE=" not in result.stdout


def test_services_names_a_base_image_that_is_present_and_builds_nothing(tmp_path):
    env = script_env(tmp_path, stub_bin(tmp_path), **PRESENT_BASE_IMAGE)

    result = run(["bash", "scripts/services.sh"], env)

    assert result.returncode == 0, result
    assert result.stdout.splitlines()[-1] == "BASE_IMAGE=acme/python:3.12"
    assert not (tmp_path / "debootstrap-target").exists()


def test_services_without_root_says_it_cannot_build_a_base_image(tmp_path):
    env = script_env(tmp_path, stub_bin(tmp_path, id="#!/bin/sh\necho 1000\n"))

    result = run(["bash", "scripts/services.sh"], env)

    assert result.returncode == 1, result
    assert "cannot build a local base image (needs root and apt-get)" in result.stderr
    assert "BASE_IMAGE=" not in result.stdout


@pytest.mark.parametrize("script", ["test.sh", "demo.sh"])
def test_a_failing_base_image_build_stops_test_and_demo_before_they_run_anything(tmp_path, script):
    project = project_copy(tmp_path, script, "services.sh")
    env = script_env(tmp_path, stub_bin(tmp_path))

    result = run(["bash", f"scripts/{script}"], env, cwd=project)

    assert result.returncode == 1, result
    assert "stub import failure" in result.stderr
    assert calls(tmp_path) == "", "pytest or inv ran after a failed set-up step"


def test_demo_fails_when_the_deployed_app_does_not_answer(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    project = project_copy(tmp_path, "demo.sh", "services.sh")
    answer = f"case \"$1\" in ci) echo '{ci_result('ok', 0, closed_url)}' ;; esac"
    env = script_env(tmp_path, stub_bin(tmp_path), **PRESENT_BASE_IMAGE, STUB_VENV_ANSWER=answer)

    result = run(["bash", "scripts/demo.sh"], env, cwd=project)

    assert result.returncode == 1, result
    assert f"the sample app does not answer at {closed_url}" in result.stderr
    assert "answers at" not in result.stdout
    assert "inv ci" in calls(tmp_path)


def ci_result(verdict: str, exit_code: int, url: str | None, message: str | None = None) -> str:
    """The fields of `inv ci --json`'s document (docs/results.schema.json) that demo.sh reads."""
    import json

    fields = {"verdict": verdict, "exit_code": exit_code, "url": url, "message": message, "version": "abc", "health": "Green"}
    return json.dumps(fields)


def test_demo_fails_when_ci_names_no_url(tmp_path):
    project = project_copy(tmp_path, "demo.sh", "services.sh")
    answer = f"case \"$1\" in ci) echo '{ci_result('ok', 0, None)}' ;; esac"
    env = script_env(tmp_path, stub_bin(tmp_path), **PRESENT_BASE_IMAGE, STUB_VENV_ANSWER=answer)

    result = run(["bash", "scripts/demo.sh"], env, cwd=project)

    assert result.returncode == 1, result
    assert "names no URL" in result.stderr


def test_demo_fails_with_ci_s_verdict_and_message_when_ci_fails(tmp_path):
    project = project_copy(tmp_path, "demo.sh", "services.sh")
    document = ci_result("failed", 1, None, "the app's tests failed (exit status 1)").replace("'", "'\\''")
    answer = f"case \"$1\" in ci) echo '{document}'; exit 1 ;; esac"
    env = script_env(tmp_path, stub_bin(tmp_path), **PRESENT_BASE_IMAGE, STUB_VENV_ANSWER=answer)

    result = run(["bash", "scripts/demo.sh"], env, cwd=project)

    assert result.returncode == 1, result
    assert "inv ci ended failed (exit 1): the app's tests failed (exit status 1)" in result.stderr
    assert "answers at" not in result.stdout


def test_setup_refuses_python_older_than_3_11_before_installing_anything(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", project / "scripts" / "setup.sh")
    # Python 3.10 as setup.sh meets it: too old for the version check, and it would create a venv if asked.
    python310 = stub_bin(
        tmp_path,
        python3=f'#!/bin/sh\nif [ "$1" = -c ]; then echo 3.10.13; exit 1; fi\ntouch "{tmp_path}/venv-created"\n',
    )
    env = script_env(tmp_path, python310)

    result = run(["bash", "scripts/setup.sh", "--dev"], env, cwd=project)

    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines() == [
        "setup.sh: Python 3.11 or newer is needed; python3 is 3.10.13. Install Python 3.11+ (or set PYTHON to one) and run again."
    ]
    assert not (tmp_path / "venv-created").exists()
    assert not (project / ".venv").exists()


def test_setup_refuses_a_venv_made_with_an_older_python(tmp_path):
    project = project_copy(tmp_path)
    shutil.copy(ROOT / "scripts" / "setup.sh", project / "scripts" / "setup.sh")
    env = script_env(
        tmp_path,
        stub_bin(tmp_path),
        PYTHON=sys.executable,
        STUB_VENV_ANSWER='if [ "$1" = -c ]; then echo 3.10.13; exit 1; fi',
    )

    result = run(["bash", "scripts/setup.sh"], env, cwd=project)

    assert result.returncode == 2, result
    assert ".venv was made with Python 3.10.13; 3.11 or newer is needed. Remove it (rm -rf .venv)" in result.stderr
    assert "-m pip" not in calls(tmp_path)


@pytest.mark.slow
def test_base_image_builder_builds_a_python_image_into_a_throwaway_tag(engine):
    tag = f"ebship-test/base-image:{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "LOCAL_BASE_IMAGE": tag}
    try:
        built = subprocess.run(
            ["bash", "-c", "source scripts/services.sh && build_local_base_image"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert built.returncode == 0, built.stderr
        ran = subprocess.run(
            ["docker", "run", "--rm", tag, "python3", "-c", "import sys, ssl, venv; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (ran.returncode, ran.stdout.strip()) == (0, "True"), ran.stderr
    finally:
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True, timeout=120)
    assert not engine.images.list(name=tag), f"{tag} was not removed"
