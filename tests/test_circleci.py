""".circleci/config.yml read as data: the venv cache is keyed on the interpreter, only the branches environments.toml maps
deploy (with the eb-deploy context), and every other branch, a fork's pull request included, builds and tests without
any secret or context. The schema itself is checked in tests/test_static.py."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests_support import Project, base_env, copy_project

from ebship import environments

ROOT = Path(__file__).resolve().parent.parent


def config() -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())


def workflow_jobs() -> dict[str, dict[str, Any]]:
    (workflow,) = config()["workflows"].values()
    entries: dict[str, dict[str, Any]] = {}
    for entry in workflow["jobs"]:
        (name, options), *_ = entry.items() if isinstance(entry, dict) else [(entry, {})]
        entries[name] = options or {}
    return entries


def mapped_branches() -> list[str]:
    declared = environments.load(ROOT / environments.DEFAULT_PATH)
    return sorted(environment.branch for environment in declared.values() if environment.branch)


def steps_of(job: str) -> list[Any]:
    return config()["jobs"][job]["steps"]


def runs(steps: list[Any]) -> list[str]:
    return [step["run"]["command"].strip() for step in steps if isinstance(step, dict) and "run" in step]


# --- the venv cache ---------------------------------------------------------------------------------------------------


def cache_steps() -> tuple[list[Any], list[str], str]:
    steps = config()["commands"]["install"]["steps"]
    (restore,) = [step["restore_cache"] for step in steps if isinstance(step, dict) and "restore_cache" in step]
    (save,) = [step["save_cache"] for step in steps if isinstance(step, dict) and "save_cache" in step]
    assert save["paths"] == [".venv"]
    return steps, restore["keys"], save["key"]


def test_the_venv_cache_key_holds_the_interpreter_and_the_requirements():
    steps, restore_keys, save_key = cache_steps()
    assert restore_keys == [save_key], "no fallback key: a partial match would restore a venv of other requirements"
    assert '{{ checksum "requirements.txt" }}' in save_key
    checksummed = re.findall(r'\{\{ checksum "([^"]+)" \}\}', save_key)
    interpreter_files = [name for name in checksummed if name != "requirements.txt"]
    assert interpreter_files, f"the key {save_key!r} holds nothing about the Python interpreter"
    restore_at = next(i for i, step in enumerate(steps) if isinstance(step, dict) and "restore_cache" in step)
    written_before = " ".join(runs(steps[:restore_at]))
    for name in interpreter_files:
        assert f"> {name}" in written_before, f"{name} is not written before the cache is restored"


def test_the_recorded_interpreter_changes_with_the_python_patch_release(tmp_path):
    """Runs the step that writes the key's file, with this venv's python first on PATH: the file names this
    interpreter's full version and location, so a new patch release (a new cimg/python image) is a new key."""
    steps, _, save_key = cache_steps()
    (name,) = [name for name in re.findall(r'\{\{ checksum "([^"]+)" \}\}', save_key) if name != "requirements.txt"]
    restore_at = next(i for i, step in enumerate(steps) if isinstance(step, dict) and "restore_cache" in step)
    (command,) = [command for command in runs(steps[:restore_at]) if f"> {name}" in command]
    written = tmp_path / "interpreter"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", command.replace(name, str(written))], check=True, env=env, timeout=60)
    recorded = written.read_text()
    assert platform.python_version() in recorded  # e.g. 3.12.7, not 3.12
    assert sys.base_prefix in recorded


def test_every_job_installs_through_the_cached_install_command():
    for job in config()["jobs"]:
        steps = steps_of(job)
        assert "install" in steps, f"{job} does not use the install command"
        assert not [step for step in steps if isinstance(step, dict) and {"restore_cache", "save_cache"} & step.keys()]


# --- who deploys, with what ------------------------------------------------------------------------------------------


def test_only_the_branches_environments_toml_maps_run_inv_ci_with_the_context():
    jobs = workflow_jobs()
    assert mapped_branches() == ["release/prod", "release/stg"]
    assert sorted(jobs["ci"]["filters"]["branches"]["only"]) == mapped_branches()
    assert jobs["ci"]["context"] == ["eb-deploy"]
    assert any(command.endswith("inv ci") for command in runs(steps_of("ci")))


def test_every_other_branch_builds_and_tests_without_a_context_or_credentials():
    jobs = workflow_jobs()
    assert set(jobs) == {"ci", "approve-prod", "promote-prod", "build-and-test"}
    assert sorted(jobs["build-and-test"]["filters"]["branches"]["ignore"]) == mapped_branches()
    assert "context" not in jobs["build-and-test"]
    commands = runs(steps_of("build-and-test"))
    assert [command.split()[:2] for command in commands] == [[".venv/bin/inv", "docker.build"], [".venv/bin/inv", "docker.test"]]
    assert "aws-credentials" not in str(steps_of("build-and-test"))


def test_prod_is_promoted_from_stg_after_an_approval_job():
    """On stg's branch, after inv ci deployed stg: an approval job, then eb.promote from stg to prod, whose --yes is that
    approval (prod is protected, and a run on stg's branch is not on prod's own)."""
    declared = environments.load(ROOT / environments.DEFAULT_PATH)
    jobs = workflow_jobs()
    approval, promotion = jobs["approve-prod"], jobs["promote-prod"]
    assert approval["type"] == "approval" and approval["requires"] == ["ci"]
    assert approval["filters"]["branches"]["only"] == [declared["stg"].branch]
    assert "approve-prod" not in config()["jobs"], "an approval job has no steps of its own"
    assert promotion["requires"] == ["approve-prod"]
    assert promotion["filters"]["branches"]["only"] == [declared["stg"].branch]
    assert promotion["context"] == ["eb-deploy"]
    steps = steps_of("promote-prod")
    assert "setup_remote_docker" in steps, "the image's digest is asked of the registry through the Docker engine"
    commands = runs(steps)
    assert "bash .circleci/aws-credentials.sh" in commands
    assert commands[-1] == ".venv/bin/inv eb.promote --from stg --to prod --yes"
    assert declared["prod"].protected and declared["prod"].branch != declared["stg"].branch
    assert not any("inv ci" in command or "docker.build" in command for command in commands), "no rebuild"


def test_the_promote_command_parses_as_the_task_defines_it():
    from invoke import Collection
    from invoke.parser import Parser

    from tasks import eb

    command = runs(steps_of("promote-prod"))[-1].split()
    root = Collection()
    root.add_collection(eb.ns, "eb")
    (call,) = Parser(contexts=root.to_contexts()).parse_argv(command[1:])
    assert call.name == "eb.promote"
    assert {name: arg.value for name, arg in call.args.items() if arg.got_value} == {"from": "stg", "to": "prod", "yes": True}


def test_branch_based_prod_deploys_keep_working():
    """release/prod still deploys prod with inv ci, as before promotion existed; its own branch passes prod's gate."""
    declared = environments.load(ROOT / environments.DEFAULT_PATH)
    assert declared["prod"].branch in workflow_jobs()["ci"]["filters"]["branches"]["only"]
    assert any(command.endswith("inv ci") for command in runs(steps_of("ci")))


@pytest.mark.slow
def test_a_forks_pull_request_builds_and_tests_with_no_project_variable(tmp_path, base_image, engine):
    """The build-and-test job's own commands, as CircleCI runs them for a fork's pull request: CI=true, branch pull/N,
    and none of the project's variables (no IMAGE_REPOSITORY, no registry or AWS credentials)."""
    project = Project(copy_project(tmp_path / "fork-pr"))
    (project.root / ".venv").symlink_to(Path(sys.executable).parent.parent)
    with open(project.root / ".git" / "info" / "exclude", "a") as exclude:
        exclude.write("/.venv\n")  # a symlink is not the directory .gitignore's ".venv/" names: keep the tree clean
    env = {
        **base_env(),
        "CI": "true",
        "CIRCLECI": "true",
        "CIRCLE_BRANCH": "pull/7",
        "CIRCLE_PR_NUMBER": "7",
        "CIRCLE_PR_USERNAME": "someone",
        "CIRCLE_PR_REPONAME": "eb-ship",
        # What this machine's engine needs and CircleCI's does not: a local base image, host networking for builds.
        "BASE_IMAGE": base_image,
        "DOCKER_BUILD_NETWORK": "host",
    }
    sha = project.git("rev-parse", "HEAD")
    try:
        for command in runs(steps_of("build-and-test")):
            result = subprocess.run(
                ["bash", "-c", command], cwd=project.root, env=env, capture_output=True, text=True, timeout=1200
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        assert f"Tests passed in localhost/build-and-test:{sha}-test." in result.stdout  # the commit's own tag, not -dirty-
    finally:
        for image in engine.images.list(name="localhost/build-and-test"):
            for reference in image.tags:
                if reference.startswith(f"localhost/build-and-test:{sha}"):
                    engine.images.remove(reference)
