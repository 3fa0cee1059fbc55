"""Interruption: `inv ci` killed with SIGKILL at random points, then run again. The re-run must converge: exit 0, the
environment Ready and Green on the commit's label, exactly one application version per label and none other, and no
container of the stand-in beyond the one serving (nor a test container of the killed run).

Kill times are drawn from RELIABILITY_SEED, one per slice of a run's duration so that early, middle and late stages all
get hit, plus one kill while the app's tests run in their container and one while the update the run started is held
at `deploying` by the stand-in (the client dies, the update goes on); RELIABILITY_RUNS sets the number of random
kills (CI: 3).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from reliability_support import (
    RUNS,
    SEED,
    Recorder,
    environment,
    make_project,
    new_commit,
    popen_inv,
    start_standin,
    stop_standin,
    stray_containers,
    versions,
)

pytestmark = pytest.mark.slow

APP = "intrapp"
ENV_NAME = "intrapp-env"
BUCKET = "intr-deploys"


def stage_reached(stdout: str) -> str:
    stages = [line.strip("= ").strip() for line in stdout.splitlines() if line.startswith("=== ")]
    if "Update of" in stdout and "eb.deploy" in stages:
        return "eb.deploy (update started)"
    return stages[-1] if stages else "(start-up)"


def test_a_killed_ci_run_converges_when_run_again(tmp_path, registry, base_image, engine):
    recorder = Recorder("interruption", "Interruption: `inv ci` SIGKILLed at random points, then run again")
    standin = start_standin(tmp_path / "standin", application=APP, environments=(ENV_NAME,), bucket=BUCKET)
    problems: list[str] = []
    try:
        project = make_project(
            tmp_path / "project",
            endpoint=standin.endpoint_url,
            registry=registry,
            base_image=base_image,
            repository="acme/interrupted",
            bucket=BUCKET,
            application=APP,
            environments_toml=f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n',
        )
        shas = [new_commit(project, "first")]
        project.inv("ci", check=True)
        shas.append(new_commit(project, "baseline"))  # a steady-state run (auth file in place): its duration
        started = time.monotonic()
        project.inv("ci", check=True)
        duration = time.monotonic() - started
        rng = random.Random(SEED)
        recorder.data["parameters"]["baseline_seconds"] = round(duration, 1)
        # RUNS kills at random times, then two at fixed points: while the app's tests run in their container (a kill
        # there once left the test container behind for ever), and while the update the run started is held.
        for kill in range(RUNS + 2):
            sha = new_commit(project, f"kill {kill}")
            shas.append(sha)
            repository = project.env["IMAGE_REPOSITORY"]
            if kill == RUNS + 1:
                standin.hold("deploying")
            process = popen_inv(project, "ci")
            started = time.monotonic()
            if kill < RUNS:
                at = rng.uniform(0.3 + kill * duration / RUNS, (kill + 1) * duration / RUNS)
                time.sleep(at)
                os.killpg(process.pid, signal.SIGKILL)
                stdout, _ = process.communicate(timeout=30)
            else:
                point = "test session starts" if kill == RUNS else "Update of "
                seen = []
                assert process.stdout is not None  # popen_inv pipes it
                for line in process.stdout:
                    seen.append(line)
                    if point in line:
                        break
                if kill == RUNS + 1:
                    standin.wait_held("deploying", timeout=60)
                os.killpg(process.pid, signal.SIGKILL)
                at = time.monotonic() - started
                stdout = "".join(seen) + process.communicate(timeout=30)[0]
                assert point in stdout, stdout
                if kill == RUNS + 1:
                    assert environment(standin.endpoint_url, ENV_NAME)["Status"] == "Updating"
                    standin.release()  # the update goes on without its client, as EB's would
            stage = stage_reached(stdout)
            finished_before_kill = "=== summary ===" in stdout
            result = project.inv("ci")
            env = environment(standin.endpoint_url, ENV_NAME)
            labels = versions(standin.endpoint_url, APP)
            containers = stray_containers(engine, standin.server_id)
            test_containers = [c.name for c in engine.containers.list(all=True, filters={"ancestor": f"{repository}:{sha}-test"})]
            run_problems = []
            if result.returncode != 0:
                run_problems.append(f"the re-run exited {result.returncode}: {result.stderr.strip()[-500:]}")
            if (env["Status"], env["Health"], env["VersionLabel"]) != ("Ready", "Green", sha):
                run_problems.append(f"environment {env['Status']} {env['Health']} on {env['VersionLabel']}, not {sha}")
            if sorted(labels) != sorted(set(labels)) or set(labels) != set(shas):
                run_problems.append(f"application versions {sorted(labels)} != one per commit {sorted(shas)}")
            if len(containers) != 1:
                run_problems.append(f"the stand-in has {len(containers)} containers, expected the serving one: {containers}")
            if test_containers:
                run_problems.append(f"test containers left behind: {test_containers}")
            recorder.count(
                kills=1,
                reruns_converged=int(not run_problems),
                reruns_not_converged=int(bool(run_problems)),
                stray_versions=len(set(labels) - set(shas)),
                stray_containers=max(0, len(containers) - 1),
                test_containers_left=len(test_containers),
            )
            recorder.row(
                kill=kill,
                after_seconds=round(at, 2),
                stage=stage,
                finished_before_kill=finished_before_kill,
                rerun_exit=result.returncode,
                problems=run_problems,
            )
            problems += [f"kill {kill} at {at:.1f} s ({stage}): {problem}" for problem in run_problems]
    finally:
        leftovers = stop_standin(standin, engine)
        recorder.count(containers_left_after_stop=len(leftovers))
        recorder.finish()
    assert recorder.data["figures"]["kills"] == RUNS + 2
    assert not problems, "\n".join(problems)
    assert not leftovers, f"the stand-in left containers behind: {leftovers}"
