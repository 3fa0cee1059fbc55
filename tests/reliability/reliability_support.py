"""Helpers of the reliability suites: figures recorded as they run, stand-ins and throw-away projects.

Each suite writes its figures to `.local/reliability/<suite>.json` after every change, so an interrupted run still
leaves what it measured; `scripts/reliability_report.py` turns the files into `docs/reliability.md`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from tests_support import REGION, Project, copy_project, standin_env

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".local" / "reliability"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
MUTATING = (
    "CreateApplicationVersion",
    "UpdateEnvironment",
    "DeleteApplicationVersion",
    "CreateEnvironment",
    "TerminateEnvironment",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjects",
    "s3:CopyObject",
    "s3:CreateMultipartUpload",
    "s3:UploadPart",
    "s3:CompleteMultipartUpload",
)


def env_int(name: str, default: int) -> int:
    """A size of the run: the CI default, or bigger for a soak (RELIABILITY_RUNS, RELIABILITY_REPEATS, ...)."""
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


RUNS = env_int("RELIABILITY_RUNS", 3)  # `inv ci` runs per fault level; SIGKILLs in the interruption suite
REPEATS = env_int("RELIABILITY_REPEATS", 2)  # repetitions per failure class; concurrent pairs
SEED = env_int("RELIABILITY_SEED", int(time.time()) % 100000)


class Recorder:
    """The figures of one suite, saved to JSON on every change."""

    def __init__(self, suite: str, description: str) -> None:
        self.path = RESULTS / f"{suite}.json"
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {
            "suite": suite,
            "description": description,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "finished": None,
            "parameters": {"RELIABILITY_RUNS": RUNS, "RELIABILITY_REPEATS": REPEATS, "RELIABILITY_SEED": SEED},
            "figures": {},
            "rows": [],
            "seconds": 0.0,
        }
        self.started = time.monotonic()
        self.save()

    def count(self, **figures: int) -> None:
        with self.lock:
            for name, value in figures.items():
                self.data["figures"][name] = self.data["figures"].get(name, 0) + value
        self.save()

    def row(self, **row: Any) -> None:
        with self.lock:
            self.data["rows"].append(row)
        self.save()

    def finish(self) -> None:
        self.data["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.save()

    def save(self) -> None:
        with self.lock:
            self.data["seconds"] = round(time.monotonic() - self.started, 1)
            RESULTS.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n")
            temporary.replace(self.path)


def record_verdict(rec: Recorder, row: dict[str, Any], failing: bool) -> None:
    """Records one judged run: a provoked failure (``failing``) or a healthy one, and what its verdict got wrong."""
    rec.row(**row)
    rec.count(
        runs=1,
        failures_injected=int(failing),
        failures_detected=int(failing and row["exit"] == row["expected_exit"] and row["cause_printed"]),
        false_passes=int(any(p.startswith("FALSE PASS") for p in row["problems"])),
        wrong_exit_class=int(failing and row["exit"] not in (0, row["expected_exit"])),
        cause_missing=int(not row.get("cause_printed", True)),
        healthy_runs=int(not failing),
        false_failures=int(any(p.startswith("FALSE FAILURE") for p in row["problems"])),
        runs_with_problems=int(bool(row["problems"])),
    )


def clients(endpoint: str) -> tuple[Any, Any]:
    kwargs = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("elasticbeanstalk", **kwargs), boto3.client("s3", **kwargs)


def start_standin(directory: Path, *args: str, application: str, environments: tuple[str, ...], bucket: str):
    """A stand-in server with a bucket, an application and Ready environments."""
    from localeb.server import start_server

    directory.mkdir(parents=True, exist_ok=True)
    running = start_server(directory / "server.log", extra_args=["--health-timeout", "8", *args])
    eb, s3 = clients(running.endpoint_url)
    s3.create_bucket(Bucket=bucket)
    eb.create_application(ApplicationName=application)
    for name in environments:
        eb.create_environment(ApplicationName=application, EnvironmentName=name, SolutionStackName=STACK)
    for name in environments:
        wait_for(lambda name=name: environment(running.endpoint_url, name)["Status"] == "Ready", 60, f"{name} Ready")
    return running


def environment(endpoint: str, name: str) -> dict[str, Any]:
    eb, _ = clients(endpoint)
    return eb.describe_environments(EnvironmentNames=[name])["Environments"][0]


def versions(endpoint: str, application: str) -> list[str]:
    eb, _ = clients(endpoint)
    return [v["VersionLabel"] for v in eb.describe_application_versions(ApplicationName=application)["ApplicationVersions"]]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def stray_containers(engine, server_id: str) -> list[str]:
    return [c.name for c in engine.containers.list(all=True, filters={"label": f"localeb.server={server_id}"})]


def stop_standin(running, engine) -> list[str]:
    """Stops the server; returns the names of containers it left behind (there should be none)."""
    running.stop()
    return stray_containers(engine, running.server_id)


def make_project(
    destination: Path,
    *,
    endpoint: str,
    registry,
    base_image: str,
    repository: str,
    bucket: str,
    application: str,
    environments_toml: str,
    **extra: str,
) -> Project:
    root = copy_project(destination)
    (root / "environments.toml").write_text(environments_toml)
    project = Project(
        root,
        standin_env(
            endpoint, registry, base_image, repository, bucket, application, **{"DEPLOY_TIMEOUT": "180", "CI": "true", **extra}
        ),
    )
    project.commit("Declare the reliability environment")
    return project


def new_commit(project: Project, note: str) -> str:
    """A commit that changes the app's bits (a module of its own), so that it gets a label and an image of its own."""
    marker = project.root / "app" / "sampleapp" / "reliability_marker.py"
    marker.write_text(f"NOTE = {note!r}\n")
    return project.commit(f"Reliability: {note}")


def inv_command(project: Project, *args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("inv")), *args]


def popen_inv(project: Project, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`inv` in a process group of its own (so that a SIGKILL reaches everything it started)."""
    return subprocess.Popen(
        inv_command(project, *args),
        cwd=project.root,
        env={**project.env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
