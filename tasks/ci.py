"""ci and doctor: the whole pipeline in one call (what CircleCI runs), and a read-only preflight."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from invoke import Exit

from ebship.job import Job
from ebship.output import console
from tasks._flags import JSON, YES, task
from tasks._support import job, reported, targeted

if TYPE_CHECKING:
    from ebship.pipeline import CiReport


@task(
    help={
        "env": "Deploy to this environment whatever the branch (default: the one environments.toml maps the branch to).",
        "dry_run": "Print the plan of every stage, secrets masked, and change nothing.",
        "yes": YES,
        "json_": JSON,
    }
)
@reported
def ci(c, env=None, yes=False, dry_run=False, json_=False):
    """Build, test, and on a deploy branch push, upload auth, register and deploy; rehearses locally by default."""
    from ebship import results

    with results.recorded("ci", console, json_, dry_run=dry_run) as record:
        record.ci = run_ci(job(), env or "", os.environ.get("CI", "").lower() in ("true", "1", "yes"), dry_run, yes=yes)
    if record.exit_code:
        raise Exit(code=record.exit_code)


def run_ci(
    current: Job, env: str, ci: bool, dry_run: bool, start_local: Callable[[], Any] | None = None, yes: bool = False
) -> CiReport:
    """inv ci's run and its last-resort handler: whatever stops the stages, the summary says how far the run got."""
    from ebship import pipeline

    report = pipeline.start(current, explicit_env=env, ci=ci)
    try:
        pipeline.run(current, report, dry_run=dry_run, start_local=start_local, yes=yes)
    except KeyboardInterrupt:
        pipeline.interrupted(report, current.console)
    except BrokenPipeError:
        raise  # the reader closed early: nothing more can be said to it (tasks/_support.reported)
    except Exception as error:  # the last-resort handler of inv ci: a bug's masked traceback, then the summary
        pipeline.failed(report, error, current.console)
    pipeline.finish(report, current.console, dry_run)
    return report


@task(help={"env": "Environment to check: a name from environments.toml, or local."})
@reported
def doctor(c, env=None):
    """Check, without changing anything, that AWS, the bucket, the environment and the registry are set up right."""
    from ebship import doctor as checks

    current, resolved = targeted(env)
    if not checks.run(current, resolved):
        raise Exit(code=2)
