"""Verdicts on fleets: `inv eb.deploy` against load-balanced environments of the stand-in under every deployment policy,
for a deploy that works, one whose batch k fails (the app dies on an instance of that batch), one whose health fails
after events that said success, and one where an instance replaced mid-deploy runs the previous version behind
success events (mixed versions): each verdict and exit code is checked (zero false passes, zero false failures).

The policies run in parallel, each on an environment of its own in one stand-in; the fault injections are the
stand-in's settings (localeb/README.md, "Fleets"), one phase per setting. Small fleets (2 instances, 3 for Rolling) and a
one-second traffic-splitting evaluation keep it short. RELIABILITY_REPEATS sets the repetitions (CI: 2, run as 1 here).
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from typing import Any

import pytest
from reliability_support import (
    REPEATS,
    Recorder,
    clients,
    environment,
    make_project,
    record_verdict,
    start_standin,
    stop_standin,
    wait_for,
)
from tests_support import MARKER_PASSWORD, Project

pytestmark = pytest.mark.slow

APP = "fleetapp"
BUCKET = "fleet-deploys"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
ROUNDS = max(1, REPEATS // 2)
# policy -> (instances, batch options, the batch whose failure is provoked)
POLICIES: dict[str, tuple[int, dict[str, str], int]] = {
    "AllAtOnce": (2, {}, 1),
    "Rolling": (3, {"BatchSizeType": "Fixed", "BatchSize": "1"}, 2),
    "RollingWithAdditionalBatch": (2, {"BatchSizeType": "Fixed", "BatchSize": "1"}, 2),
    "Immutable": (2, {}, 2),
    "TrafficSplitting": (2, {"NewVersionPercent": "50"}, 2),
}
# scenario -> (stand-in settings, expected exit, what the output must say)
SCENARIOS: dict[str, tuple[dict[str, Any], int, str]] = {
    "success": ({}, 0, "Deployed"),
    "batch-fails": ({"fail_batch": "k"}, 1, "Failed to deploy application."),
    "health-after-success": ({"health_after_deploy": "Degraded"}, 1, "health stayed Red for 20 s"),
    "replaced-mid-deploy": ({"replace_instance": "previous"}, 1, "mixed versions: 1 of"),
}
RESET = {"fail_batch": 0, "health_after_deploy": "Ok", "replace_instance": "none"}


def env_name(policy: str) -> str:
    return f"fleet-{policy.lower()}"[:40]


def create_fleets(endpoint: str) -> None:
    eb, _ = clients(endpoint)
    for policy, (size, extra, _) in POLICIES.items():
        settings = {
            ("aws:elasticbeanstalk:environment", "EnvironmentType"): "LoadBalanced",
            ("aws:autoscaling:asg", "MinSize"): str(size),
            ("aws:elasticbeanstalk:command", "DeploymentPolicy"): policy,
            ("aws:elasticbeanstalk:healthreporting:system", "SystemType"): "enhanced",
        }
        for name, value in extra.items():
            namespace = "aws:elasticbeanstalk:trafficsplitting" if name == "NewVersionPercent" else "aws:elasticbeanstalk:command"
            settings[(namespace, name)] = value
        eb.create_environment(
            ApplicationName=APP,
            EnvironmentName=env_name(policy),
            SolutionStackName=STACK,
            OptionSettings=[{"Namespace": ns, "OptionName": name, "Value": value} for (ns, name), value in settings.items()],
        )
    for policy in POLICIES:
        wait_for(lambda policy=policy: environment(endpoint, env_name(policy))["Status"] == "Ready", 60, policy)


def instance_versions(endpoint: str, name: str) -> list[str]:
    eb, _ = clients(endpoint)
    found, params = [], {"EnvironmentName": name, "AttributeNames": ["Deployment"]}
    while True:
        page = eb.describe_instances_health(**params)
        found += [i.get("Deployment", {}).get("VersionLabel", "") for i in page["InstanceHealthList"]]
        if not page.get("NextToken"):
            return found
        params["NextToken"] = page["NextToken"]


def run(endpoint: str, project: Project, policy: str, scenario: str, label: str, repeat: int) -> dict[str, Any]:
    _, expected_exit, cause = SCENARIOS[scenario]
    name = env_name(policy)
    result = project.inv("eb.deploy", "--env", name, "--label", label)
    output = result.stdout + result.stderr
    env = environment(endpoint, name)
    runs = instance_versions(endpoint, name)
    problems = []
    all_new = (env["Status"], env["Health"], env["VersionLabel"]) == ("Ready", "Green", label) and set(runs) == {label}
    if expected_exit == 0:
        if result.returncode != 0:
            problems.append(f"FALSE FAILURE: exit {result.returncode}" + ("" if all_new else " (and not all new)"))
        elif not all_new:
            problems.append(f"FALSE PASS: exit 0 but {env['Health']} on {env['VersionLabel']}, instances {runs}")
    elif result.returncode == 0:
        problems.append(f"FALSE PASS: exit 0 ({scenario}: {env['Health']}, instances {runs})")
    elif result.returncode != expected_exit:
        problems.append(f"exit {result.returncode}, expected {expected_exit}")
    if cause not in output:
        problems.append(f"{cause!r} not printed")
    if "Traceback" in output or MARKER_PASSWORD in output:
        problems.append("a traceback or the registry password in the output")
    return {
        "class": f"{policy} {scenario}",
        "variant": scenario,
        "repeat": repeat,
        "exit": result.returncode,
        "expected_exit": expected_exit,
        "cause_printed": cause in output,
        "instances": runs,
        "problems": problems,
        **({"output": output[-3000:]} if problems else {}),
    }


def test_every_policy_and_partial_failure_gets_the_right_verdict(tmp_path, registry, base_image, engine):
    rec = Recorder(
        "fleets",
        "Verdicts on fleets: every deployment policy x {success, batch k fails, health fails after "
        "success events, an instance replaced mid-deploy runs the previous version}",
    )
    rec.data["parameters"].update(policies=list(POLICIES), scenarios=list(SCENARIOS), rounds=ROUNDS)
    rows: list[dict[str, Any]] = []
    leftovers: list[str] = []
    standin = start_standin(
        tmp_path / "standin",
        "--health-timeout",
        "15",
        "--evaluation-seconds",
        "1",
        application=APP,
        environments=(),
        bucket=BUCKET,
    )
    try:
        endpoint = standin.endpoint_url
        create_fleets(endpoint)
        toml = "".join(f'[{env_name(p)}]\neb_environment = "{env_name(p)}"\n\n' for p in POLICIES)
        project = make_project(
            tmp_path / "project",
            endpoint=endpoint,
            registry=registry,
            base_image=base_image,
            repository="acme/fleet",
            bucket=BUCKET,
            application=APP,
            environments_toml=toml,
            DEPLOY_TIMEOUT="120",
            HEALTH_SETTLE_TIMEOUT="20",
        )
        for args in (("docker.build",), ("docker.push",), ("s3.auth",), ("eb.version",)):
            project.inv(*args, check=True)
        release = project.git("rev-parse", "HEAD")
        eb, _ = clients(endpoint)
        bundle = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[release])["ApplicationVersions"][0][
            "SourceBundle"
        ]
        sequence = 0

        def next_label() -> str:
            """A label of its own for each deploy (the same bits), so that none is a no-op."""
            nonlocal sequence
            sequence += 1
            label = f"{release[:12]}-{sequence}-{uuid.uuid4().hex[:4]}"
            eb.create_application_version(ApplicationName=APP, VersionLabel=label, SourceBundle=bundle, Process=True)
            return label

        started = time.monotonic()
        for repeat in range(ROUNDS):
            for scenario, (settings, _, _) in SCENARIOS.items():
                for batch in sorted({k for _, _, k in POLICIES.values()}) if "fail_batch" in settings else [0]:
                    policies = [p for p, (_, _, k) in POLICIES.items() if not batch or k == batch]
                    standin.update_settings(**{**RESET, **settings, **({"fail_batch": batch} if batch else {})})
                    labels = {policy: next_label() for policy in policies}
                    with concurrent.futures.ThreadPoolExecutor(len(policies)) as pool:
                        jobs = [(policy, scenario, labels[policy], repeat) for policy in policies]
                        found = list(pool.map(lambda job: run(endpoint, project, *job), jobs))
                    for row in found:
                        rows.append(row)
                        record_verdict(rec, row, failing=scenario != "success")
        standin.update_settings(**RESET)
        rec.data["matrix_seconds"] = round(time.monotonic() - started, 1)
    finally:
        leftovers += stop_standin(standin, engine)
    rec.finish()
    problems = [f"{row['class']} #{row['repeat']}: {problem}" for row in rows for problem in row["problems"]]
    assert len(rows) == ROUNDS * len(POLICIES) * len(SCENARIOS)
    assert not problems, "\n".join(problems)
    assert not leftovers, f"the stand-in left containers behind: {leftovers}"
