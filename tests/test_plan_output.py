"""What people read: a plan's notes as they were written (a diff line is not prefixed with another marker), and
`inv local.up` on a running stand-in saying what runs, where."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from tests_support import Project, base_env, copy_project

from ebship import envvars
from ebship.output import Console
from ebship.plan import Plan, Step, print_plan

SECRET = "plan-output-marker-5e1"


def printed(plan: Plan, dry_run: bool = False) -> list[str]:
    out = io.StringIO()
    print_plan(plan, Console(out=out), dry_run)
    return out.getvalue().splitlines()


def test_diff_notes_print_as_written_above_the_steps():
    difference = envvars.diff({"SAME": "1", "OLD": "x", "GONE": "y"}, {"SAME": "1", "OLD": "z", "NEW": "n"}, prune=True)
    plan = Plan(
        "eb.env stg (sampleapp-stg)",
        (Step("eb.update_environment", {}, "update the variables"),),
        tuple(envvars.describe(difference)),
    )
    assert printed(plan) == [
        "eb.env stg (sampleapp-stg):",
        "  + NEW = ****",
        "  ~ OLD = ****",
        "  - GONE",
        "  = 1 unchanged",
        "  1. update the variables",
    ]


def test_a_plain_note_prints_indented_without_a_marker():
    lines = printed(Plan("s3.auth s3://b/k", notes=("s3://b/k already holds these credentials, encrypted (AES256)",)))
    assert lines == ["s3.auth s3://b/k:", "  s3://b/k already holds these credentials, encrypted (AES256)", "  nothing to do"]


# --- end to end, on a stand-in of this test's own ------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Iterator[tuple[Project, str]]:
    project = Project(copy_project(tmp_path_factory.mktemp("plan-output")), {**base_env(), "SECRET_KEY": SECRET})
    first = project.inv("local.up", timeout=300)
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        yield project, first.stdout
    finally:
        down = project.inv("local.down", timeout=300)
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.mark.slow
def test_local_up_on_a_running_stand_in_says_what_runs(stand_in):
    project, first = stand_in
    started = next(line for line in first.splitlines() if line.startswith("Local Elastic Beanstalk up: "))
    where = started.removeprefix("Local Elastic Beanstalk up: ")
    again = project.inv("local.up", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == f"Local Elastic Beanstalk already running: {where} (`inv local.down` stops it).", again.stdout
    assert "Starting" not in again.stdout


@pytest.mark.slow
def test_eb_env_dry_run_prints_the_diff_lines_as_written(stand_in):
    project, _ = stand_in
    applied = project.inv("eb.env", "--env", "local", "--like", "stg", timeout=600)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # prod: the same DJANGO_SETTINGS_MODULE, another LOG_LEVEL, and SECRET_KEY from PROD_SECRET_KEY (another value).
    dry = project.inv("eb.env", "--env", "local", "--like", "prod", "--dry-run", env={"PROD_SECRET_KEY": SECRET + "-prod"})
    assert dry.returncode == 0, dry.stdout + dry.stderr
    lines = dry.stdout.splitlines()
    assert "  ~ LOG_LEVEL = ****" in lines and "  ~ SECRET_KEY = ****" in lines, dry.stdout
    assert "  = 1 unchanged" in lines, dry.stdout
    assert not [line for line in lines if line.startswith("  = +") or line.startswith("  = ~") or line.startswith("  = =")]
    assert SECRET not in dry.stdout + dry.stderr
