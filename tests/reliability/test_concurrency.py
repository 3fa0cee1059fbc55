"""Concurrency: two `inv ci` runs for different commits, started together against one environment. Both must end
truthfully (exit 0 only for a version that really deployed healthy, a non-zero exit only for one that did not, never a
traceback), and the environment must end Ready and Green on the label of the deploy that finished last, which that
run's output names. RELIABILITY_REPEATS sets the number of pairs (CI: 2); the second run of a pair starts after a
random delay (RELIABILITY_SEED) so that the two meet at different stages.
"""

from __future__ import annotations

import random
import time

import pytest
from reliability_support import (
    REPEATS,
    SEED,
    Recorder,
    clients,
    environment,
    make_project,
    new_commit,
    popen_inv,
    start_standin,
    stop_standin,
)
from tests_support import Project

pytestmark = pytest.mark.slow

APP = "concapp"
ENV_NAME = "concapp-env"
BUCKET = "conc-deploys"
SUCCESS = "Environment update completed successfully."


def deployed_events(endpoint: str) -> list[dict]:
    """The successful application deploys of the environment, oldest first."""
    eb, _ = clients(endpoint)
    events = eb.describe_events(EnvironmentName=ENV_NAME, MaxRecords=1000)["Events"]
    return sorted((e for e in events if e["Message"] == SUCCESS and e.get("VersionLabel")), key=lambda e: e["EventDate"])


def test_two_ci_runs_at_once_both_end_truthfully(tmp_path, registry, base_image, engine):
    recorder = Recorder("concurrency", "Concurrency: two `inv ci` runs for different commits at once, one environment")
    standin = start_standin(tmp_path / "standin", application=APP, environments=(ENV_NAME,), bucket=BUCKET)
    rng = random.Random(SEED)
    problems: list[str] = []
    try:
        toml = f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n'
        projects: list[Project] = [
            make_project(
                tmp_path / f"project-{side}",
                endpoint=standin.endpoint_url,
                registry=registry,
                base_image=base_image,
                repository="acme/concurrent",
                bucket=BUCKET,
                application=APP,
                environments_toml=toml,
            )
            for side in ("a", "b")
        ]
        new_commit(projects[0], "warm-up")
        projects[0].inv("ci", check=True)
        for pair in range(REPEATS):
            labels = [new_commit(project, f"pair {pair} side {side}") for project, side in zip(projects, "ab", strict=True)]
            assert labels[0] != labels[1]
            delay = 0.0 if pair == 0 else rng.uniform(0, 6)
            before = {e["EventDate"] for e in deployed_events(standin.endpoint_url)}
            first = popen_inv(projects[0], "ci")
            time.sleep(delay)
            second = popen_inv(projects[1], "ci")
            results = [(process.communicate(timeout=600), process.returncode) for process in (first, second)]
            env = environment(standin.endpoint_url, ENV_NAME)
            deploys = [e for e in deployed_events(standin.endpoint_url) if e["EventDate"] not in before]
            deployed = {e["VersionLabel"] for e in deploys}
            pair_problems = []
            for label, ((stdout, stderr), code) in zip(labels, results, strict=True):
                output = stdout + stderr
                if "Traceback" in output or "Unexpected error" in output:
                    tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-6:])
                    pair_problems.append(f"{label[:8]}: a traceback: {tail}")
                if code == 0 and label not in deployed:
                    pair_problems.append(f"{label[:8]}: FALSE PASS: exit 0 but it never deployed successfully")
                if code != 0 and label in deployed and "superseded" not in output:
                    pair_problems.append(
                        f"{label[:8]}: FALSE FAILURE: exit {code} but it deployed successfully: "
                        + " | ".join(line.strip() for line in stderr.splitlines()[-4:])
                    )
                if code not in (0, 1, 3):
                    pair_problems.append(f"{label[:8]}: exit {code}")
                if code != 0 and "result        " not in stdout:
                    pair_problems.append(f"{label[:8]}: no summary")
            last = deploys[-1]["VersionLabel"] if deploys else ""
            if (env["Status"], env["Health"]) != ("Ready", "Green") or env["VersionLabel"] != last:
                pair_problems.append(
                    f"environment {env['Status']} {env['Health']} on {env['VersionLabel']}, last successful deploy {last}"
                )
            winner = results[labels.index(last)] if last in labels else None
            if winner is None or winner[1] != 0 or f"running {last}" not in winner[0][0]:
                pair_problems.append(f"the output of the run that deployed last ({last[:8]}) does not say it runs")
            recorder.count(
                pairs=1,
                runs=2,
                exits_zero=sum(code == 0 for _, code in results),
                false_passes=sum("FALSE PASS" in p for p in pair_problems),
                false_failures=sum("FALSE FAILURE" in p for p in pair_problems),
                pairs_with_problems=int(bool(pair_problems)),
                superseded_reported=sum("superseded" in out + err for (out, err), _ in results),
            )
            recorder.row(
                pair=pair,
                delay=round(delay, 2),
                exits=[code for _, code in results],
                deployed_in_order=[e["VersionLabel"][:12] for e in deploys],
                final=env["VersionLabel"][:12],
                labels=[label[:12] for label in labels],
                problems=pair_problems,
                # what a run that did not end 0 said (its verdict, as printed), so the table shows why
                said=[
                    " | ".join(line.strip() for line in err.strip().splitlines()[:3]) if code else ""
                    for (_, err), code in results
                ],
            )
            problems += [f"pair {pair} (delay {delay:.1f} s): {problem}" for problem in pair_problems]
    finally:
        leftovers = stop_standin(standin, engine)
        recorder.finish()
    assert recorder.data["figures"]["pairs"] == REPEATS
    assert not problems, "\n".join(problems)
    assert not leftovers, f"the stand-in left containers behind: {leftovers}"


def test_a_deploy_superseded_the_moment_it_succeeded_is_reported_truthfully(tmp_path, registry, base_image, engine):
    """Another deployer starts an update the instant ours reaches Ready: ours succeeded and must say so (exit 0), and
    must say that it was superseded and by which request, rather than judge the other update's state as its own."""
    recorder = Recorder("superseded", "Concurrency: an update started by another deployer the instant ours succeeded")
    standin = start_standin(tmp_path / "standin", application=APP, environments=(ENV_NAME,), bucket=BUCKET)
    problems: list[str] = []
    try:
        project = make_project(
            tmp_path / "project",
            endpoint=standin.endpoint_url,
            registry=registry,
            base_image=base_image,
            repository="acme/superseded",
            bucket=BUCKET,
            application=APP,
            environments_toml=f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n',
        )
        project.inv("ci", check=True)
        other = project.git("rev-parse", "HEAD")
        eb, _ = clients(standin.endpoint_url)
        for repeat in range(REPEATS):
            label = f"ours-{repeat}"
            project.inv("eb.version", "--label", label, check=True)
            process = popen_inv(project, "eb.deploy", "--env", "rel", "--label", label)
            deadline = time.monotonic() + 120
            while True:
                env = environment(standin.endpoint_url, ENV_NAME)
                if (env["VersionLabel"], env["Status"]) == (label, "Ready") or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            request = eb.update_environment(EnvironmentName=ENV_NAME, VersionLabel=other)["ResponseMetadata"]["RequestId"]
            stdout, stderr = process.communicate(timeout=300)
            ours = [e for e in deployed_events(standin.endpoint_url) if e["VersionLabel"] == label]
            run_problems = []
            if not ours:
                run_problems.append("our update never succeeded: the scenario did not happen")
            if process.returncode != 0:
                run_problems.append(f"FALSE FAILURE: exit {process.returncode}: {stderr.strip()[-300:]}")
            elif f"Deployed {label}" not in stdout or ("superseded" in stdout) != (request in stdout):
                run_problems.append(f"the output does not say what happened: {stdout.strip()[-300:]}")
            superseded = "superseded" in stdout
            # Whether the other update started before our last look at the state is a race: either way the verdict
            # must be exit 0; when the state already showed the other update, the output must name it.
            recorder.count(
                runs=1,
                superseded_reported=int(superseded),
                false_failures=int(process.returncode != 0),
                runs_with_problems=int(bool(run_problems)),
            )
            recorder.row(repeat=repeat, exit=process.returncode, superseded_reported=superseded, problems=run_problems)
            problems += [f"repeat {repeat}: {problem}" for problem in run_problems]
            from reliability_support import wait_for

            wait_for(lambda: environment(standin.endpoint_url, ENV_NAME)["Status"] == "Ready", 60, "Ready")
            env = environment(standin.endpoint_url, ENV_NAME)
            if (env["VersionLabel"], env["Health"]) != (other, "Green"):
                problems.append(f"repeat {repeat}: the environment ends {env['Health']} on {env['VersionLabel']}")
    finally:
        leftovers = stop_standin(standin, engine)
        recorder.finish()
    assert not problems, "\n".join(problems)
    assert recorder.data["figures"].get("superseded_reported", 0) >= 1, "the race was never hit: the test proves nothing"
    assert not leftovers, f"the stand-in left containers behind: {leftovers}"
