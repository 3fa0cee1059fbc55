"""Fault matrix: `inv ci` against a stand-in that answers a share of Elastic Beanstalk and S3 calls with throttling or
5xx errors, or slowly. Every run must succeed, create exactly one application version, and make exactly the mutating
calls a run without faults makes (the calls that got a fault, which botocore retries, aside). Besides the share, the
first call of each mutating operation always gets a fault, so every run retries mutating calls.

Each fault level runs in its own stand-in, its own project and its own environment, the levels in parallel; within a
level the runs are consecutive. RELIABILITY_RUNS sets the runs per level (CI: 3).
"""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from reliability_support import (
    MUTATING,
    RUNS,
    SEED,
    Recorder,
    environment,
    make_project,
    new_commit,
    start_standin,
    stop_standin,
    versions,
)
from tests_support import MARKER_PASSWORD

pytestmark = pytest.mark.slow

APP = "faultapp"
ENV_NAME = "faultapp-env"
BUCKET = "fault-deploys"
# Every operation `inv ci` calls on the stand-in (checked below: a call outside this list fails the test).
OPERATIONS = (
    "DescribeEnvironments",
    "DescribeApplicationVersions",
    "DescribeApplications",
    "DescribeEvents",
    "DescribeInstancesHealth",  # the verdict: every instance runs the new version
    "CreateApplicationVersion",
    "UpdateEnvironment",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:PutObject",
    "s3:HeadObject",
)
LEVELS = {
    "throttle+5xx 10%": {"rate": 0.10, "slow": 0.0},
    "throttle+5xx 30%": {"rate": 0.30, "slow": 0.0},
    "slow 25% (1 s) + throttle+5xx 10%": {"rate": 0.10, "slow": 0.25},
}


# The first call of each mutating operation always gets a fault (and is retried): so every run meets at least three,
# whatever the share drew, and a retried mutating call that would act twice shows in the counts.
FIRST_CALL_FAULTED = ("UpdateEnvironment", "CreateApplicationVersion", "s3:PutObject")


def rules(rate: float, slow: float, run: int) -> list[dict]:
    """One rule per operation, so that the calls that got a fault are counted per operation: throttling, 500 or 503
    in turn across operations and runs. A slow rule never answers with an error, so it can share the operations."""
    kinds = ({"kind": "throttle"}, {"kind": "error", "status": 500}, {"kind": "error", "status": 503})
    chosen = [
        {
            "operation": op,
            **kinds[(index + run) % 3],
            **({"rate": 1.0, "count": 1} if op in FIRST_CALL_FAULTED else {"rate": rate}),
        }
        for index, op in enumerate(OPERATIONS)
    ]
    if slow:
        chosen.append({"operation": "*", "kind": "slow", "rate": slow, "seconds": 1.0})
    return chosen


def successful_mutations(calls: dict[str, int], faults: list[dict]) -> dict[str, int]:
    injected = {rule["operation"]: rule["injected"] for rule in faults if rule["kind"] != "slow"}
    return {op: calls.get(op, 0) - injected.get(op, 0) for op in MUTATING if calls.get(op, 0)}


def run_level(name: str, level: dict, index: int, tmp_path, registry, base_image, engine, recorder: Recorder) -> dict:
    tag = f"level{index}"
    standin = start_standin(
        tmp_path / tag / "standin", "--fault-seed", str(SEED + index), application=APP, environments=(ENV_NAME,), bucket=BUCKET
    )
    problems: list[str] = []
    try:
        project = make_project(
            tmp_path / tag / "project",
            endpoint=standin.endpoint_url,
            registry=registry,
            base_image=base_image,
            repository=f"acme/faults-{index}",
            bucket=BUCKET,
            application=APP,
            environments_toml=f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n',
        )
        # The auth file first (a run uploads it only when it changed), and a first deploy: every run below deploys over a
        # version that runs healthy (and so records it for rollbacks first). Then one run without faults: the baseline.
        project.inv("s3.auth", check=True)
        project.inv("ci", check=True)
        sha = new_commit(project, f"{tag} baseline")
        standin.reset_calls()
        result = project.inv("ci")
        assert result.returncode == 0, f"{name}: the run without faults failed\n{result.stdout}\n{result.stderr}"
        baseline = standin.calls()
        unknown = set(baseline) - set(OPERATIONS)
        assert not unknown, f"inv ci called operations the fault rules do not cover: {unknown}"
        expected = successful_mutations(baseline, [])
        labels = set(versions(standin.endpoint_url, APP))
        for run in range(RUNS):
            sha = new_commit(project, f"{tag} run {run}")
            standin.reset_calls()
            standin.set_faults(*rules(level["rate"], level["slow"], run))
            started = time.monotonic()
            result = project.inv("ci")
            seconds = time.monotonic() - started
            faults = standin.faults()
            standin.set_faults()
            calls = standin.calls()
            injected = sum(rule["injected"] for rule in faults)
            errors = sum(rule["injected"] for rule in faults if rule["kind"] != "slow")
            env = environment(standin.endpoint_url, ENV_NAME)
            now = set(versions(standin.endpoint_url, APP))
            mutations = successful_mutations(calls, faults)
            run_problems = []
            if result.returncode != 0:
                run_problems.append(f"exit {result.returncode}: {result.stderr.strip()[-400:]}")
            if (env["VersionLabel"], env["Status"], env["Health"]) != (sha, "Ready", "Green"):
                run_problems.append(f"environment {env['Status']} {env['Health']} on {env['VersionLabel']}, not {sha}")
            if now - labels != {sha} or not labels <= now:
                run_problems.append(f"versions created: {sorted(now - labels)}")
            if errors < len(FIRST_CALL_FAULTED):
                run_problems.append(f"only {errors} error answers were injected")
            if mutations != expected:
                run_problems.append(f"mutating calls {mutations} != without faults {expected}")
            if set(calls) - set(OPERATIONS):
                run_problems.append(f"uncovered operations {set(calls) - set(OPERATIONS)}")
            if MARKER_PASSWORD in result.stdout + result.stderr:
                run_problems.append("the registry password was printed")
            labels = now
            recorder.count(
                runs=1,
                faults_injected=injected,
                error_answers=errors,
                slow_answers=injected - errors,
                runs_succeeded=int(result.returncode == 0),
                false_failures=int(result.returncode != 0),
                runs_with_problems=int(bool(run_problems)),
            )
            recorder.row(
                level=name,
                run=run,
                exit=result.returncode,
                seconds=round(seconds, 1),
                faults=injected,
                error_answers=errors,
                mutating_calls=mutations,
                problems=run_problems,
            )
            problems += [f"{name} run {run}: {problem}" for problem in run_problems]
    finally:
        leftovers = stop_standin(standin, engine)
        if leftovers:
            problems.append(f"{name}: containers left behind: {leftovers}")
    return {"level": name, "problems": problems}


def test_every_ci_run_succeeds_under_faults_with_the_same_mutations(tmp_path, registry, base_image, engine):
    recorder = Recorder("faults", "Fault matrix: `inv ci` runs under injected throttling, 5xx and slow answers")
    recorder.data["parameters"]["levels"] = list(LEVELS)
    with concurrent.futures.ThreadPoolExecutor(len(LEVELS)) as pool:
        futures = [
            pool.submit(run_level, name, level, index, tmp_path, registry, base_image, engine, recorder)
            for index, (name, level) in enumerate(LEVELS.items())
        ]
        outcomes = [future.result() for future in futures]
    recorder.finish()
    problems = [problem for outcome in outcomes for problem in outcome["problems"]]
    assert recorder.data["figures"].get("runs", 0) == RUNS * len(LEVELS)
    assert not problems, "\n".join(problems)
