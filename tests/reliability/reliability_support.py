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
from botocore.config import Config
from tests_support import REGION, Project, copy_project, standin_env

from localeb.variants import HEALTH_HIDDEN, REALISTIC_PHASE_SECONDS, REALISTIC_VARIANTS, parse_variants

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

# The stand-in's time variants (localeb/README.md, "Time variants") the detection, closings and fleets suites run under:
# passes separated by commas, each `none` (everything at once), one variant, `realistic`, or variants joined by `+`.
# CI: the suite as it always ran, plus one compressed `realistic` pass (every variant but health-hidden at once); the
# soak names each variant (docs/reliability.md, "Time variants").
CI_TIME_VARIANTS = "none,realistic"
NO_VARIANT = "none"
# Compresses every documented duration of the variants (10 s health reports become 1 s at 0.1), so that the suites stay
# short; the tool's own poll intervals are not compressed, so a compressed variant is a harder test, never an easier one.
TIME_SCALE = float(os.environ.get("RELIABILITY_TIME_SCALE", "").strip() or 0.1)
# What the tool says when DescribeInstancesHealth lists no instance (ebship/watch.py): the verdict the health-hidden
# variant must get for a deploy whose events said success.
UNKNOWN_INSTANCES = "unknown which version the instances run"


def time_passes() -> list[str]:
    """RELIABILITY_VARIANTS as passes (CI: `none,realistic`); an unknown variant stops the suite before anything starts."""
    text = os.environ.get("RELIABILITY_VARIANTS", "").strip() or CI_TIME_VARIANTS
    passes = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for name in passes:
        if name != NO_VARIANT:
            parse_variants(name.replace("+", ","))  # ValueError naming the unknown variant and the known ones
    return passes


TIME_PASSES = time_passes()


def variant_names(time_variants: str) -> list[str]:
    return [] if time_variants == NO_VARIANT else parse_variants(time_variants.replace("+", ","))


def hides_health(time_variants: str) -> bool:
    return HEALTH_HIDDEN in variant_names(time_variants)


def variant_args(time_variants: str, time_scale: float = TIME_SCALE) -> list[str]:
    """The stand-in's arguments for a pass: its variants on the compressed clock, seeded. `realistic`'s preset pace (20 s
    per phase) is compressed like the rest, so that its minutes-long updates take seconds here."""
    names = variant_names(time_variants)
    if not names:
        return []
    args = ["--variants", ",".join(names), "--time-scale", str(time_scale), "--fault-seed", str(SEED)]
    if set(REALISTIC_VARIANTS) <= set(names):
        args += ["--pace", str(round(REALISTIC_PHASE_SECONDS * time_scale, 3))]
    return args


def settle_seconds(time_variants: str, without_variants: int) -> int:
    """HEALTH_SETTLE_TIMEOUT for a pass. Under the variants, health needs after the closing event up to one report
    interval (10 s), two more for instances being retired (20 s) and three failed checks before a downgrade (30 s): 40 s
    on EB's clock, compressed, plus 10 s of the tool's own (uncompressed) polling and a loaded machine."""
    if time_variants == NO_VARIANT:
        return without_variants
    return max(without_variants, round(10 + 40 * TIME_SCALE))


def deploy_timeout(time_variants: str, without_variants: int) -> int:
    """DEPLOY_TIMEOUT for a pass: the throttle variant (2 calls/s for the whole account) and realistic's paced phases
    make a deploy take longer, so a variant pass gets three times the time, never less than 180 s."""
    return without_variants if time_variants == NO_VARIANT else max(180, 3 * without_variants)


class Recorder:
    """The figures of one suite, saved to JSON on every change."""

    def __init__(self, suite: str, description: str, time_variants: list[str] | None = None) -> None:
        # A run under chosen variants (RELIABILITY_VARIANTS) keeps a file of its own, so that a soak of one variant at a
        # time leaves every variant's figures side by side: `detection@health-refresh.json`.
        chosen = os.environ.get("RELIABILITY_VARIANTS", "").strip()
        self.path = RESULTS / (f"{suite}@{'_'.join(time_variants or [])}.json" if chosen else f"{suite}.json")
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {
            "suite": suite,
            "description": description,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "finished": None,
            "parameters": {
                "RELIABILITY_RUNS": RUNS,
                "RELIABILITY_REPEATS": REPEATS,
                "RELIABILITY_SEED": SEED,
                **(
                    {"RELIABILITY_VARIANTS": ",".join(time_variants), "RELIABILITY_TIME_SCALE": TIME_SCALE}
                    if time_variants is not None
                    else {}
                ),
            },
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


# The suites' own reads share the throttle variant's account-wide rate with the tool under test, as another caller of
# the account would: they retry longer than botocore's default, so that a throttled read never ends a run.
PATIENT = Config(retries={"mode": "standard", "max_attempts": 20})


def clients(endpoint: str) -> tuple[Any, Any]:
    kwargs = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": PATIENT,
    }
    return boto3.client("elasticbeanstalk", **kwargs), boto3.client("s3", **kwargs)


def start_standin(
    directory: Path,
    *args: str,
    application: str,
    environments: tuple[str, ...],
    bucket: str,
    time_variants: str = NO_VARIANT,
    time_scale: float = TIME_SCALE,
):
    """A stand-in server with a bucket, an application and Ready environments, under the given time variants."""
    from localeb.server import start_server

    directory.mkdir(parents=True, exist_ok=True)
    arguments = ["--health-timeout", "8", *args, *variant_args(time_variants, time_scale)]
    running = start_server(directory / "server.log", extra_args=arguments)
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
        time.sleep(0.5)


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
