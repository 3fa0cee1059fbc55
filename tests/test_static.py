"""Static checks, run in CI with the rest: ruff (lint and format) and mypy on the whole tree, hadolint on both
Dockerfiles, and the CircleCI config against CircleCI's schema (bundled in check-jsonschema, so it works offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff():
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = run(str(BIN / "ruff"), "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy():
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.test"])
def test_hadolint(dockerfile):
    result = run(str(BIN / "hadolint"), dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_circleci_config_matches_the_schema():
    result = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.circle-ci", ".circleci/config.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_circleci_calls_inv_ci_with_remote_docker():
    import yaml

    config = yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())
    steps = config["jobs"]["ci"]["steps"]
    commands = [step["run"]["command"] for step in steps if isinstance(step, dict) and "run" in step]
    assert any(command.strip().endswith("inv ci") for command in commands)
    assert "setup_remote_docker" in str(steps)
