"""Update closings: the endings of an update that a client reading "success" or "Ready" as the end would misreport.

Each closing the stand-in can be switched to (``--update-closing``) is met by the real task, M times, under both variants of
what VersionLabel reports after a failed update (revert, keep): a configuration update that closes with errors one second
after its success step, with Red and with Green health; a deploy that closes with command timeouts; a deploy whose health
stays Yellow past HEALTH_SETTLE_TIMEOUT. Each must end non-zero with its cause printed (zero false passes), and the same
tasks with the documented closing must end 0 (zero false failures). RELIABILITY_REPEATS sets M (CI: 2).
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid

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

pytestmark = pytest.mark.slow

APP = "closeapp"
BUCKET = "closing-deploys"
ENV_NAME = "closing-env"
HEALTH_NAMESPACE = "aws:elasticbeanstalk:healthreporting:system"
STACK = "64bit Amazon Linux 2023 v4.3.0 running Docker"
SETTLE = "4"
# closing -> (task, exit code, what the output must say about the cause)
CLOSINGS = {
    "late-errors": ("eb.env", 1, "Update environment operation is complete, but with errors."),
    "late-errors-green": ("eb.env", 1, "Update environment operation is complete, but with errors."),
    "command-timeouts": ("eb.deploy", 1, "have not responded in the allowed command timeout time"),
    "unsettled-yellow": ("eb.deploy", 1, f"health stayed Yellow for {SETTLE} s"),
    "normal": ("eb.env", 0, "Environment update completed successfully."),
    "normal-deploy": ("eb.deploy", 0, "Environment update completed successfully."),
}
# What enhanced health adds to the unsettled-yellow verdict: the cause it reports.
YELLOW_CAUSE = "12.5 % of the requests are erroring with HTTP 4xx."
VARIANTS = ("revert", "keep")
TOML = f'[closing]\neb_environment = "{ENV_NAME}"\n\n[closing.variables]\nGREETING = "${{ROUND}}"\n'


def run_closing(project, standin, closing: str, variant: str, repeat: int) -> dict:
    task, expected_exit, cause = CLOSINGS[closing]
    standin.update_settings(update_closing=closing.removesuffix("-deploy"))
    try:
        if task == "eb.env":
            result = project.inv("eb.env", "--env", "closing", env={"ROUND": uuid.uuid4().hex[:12]})
        else:
            label = f"{closing}-{uuid.uuid4().hex[:6]}"
            project.inv("eb.version", "--label", label, check=True)
            result = project.inv("eb.deploy", "--env", "closing", "--label", label)
    finally:
        standin.update_settings(update_closing="normal")
    output = result.stdout + result.stderr
    problems = []
    if expected_exit and result.returncode == 0:
        problems.append("FALSE PASS: exit 0")
    elif not expected_exit and result.returncode != 0:
        problems.append(f"FALSE FAILURE: exit {result.returncode}")
    elif result.returncode != expected_exit:
        problems.append(f"exit {result.returncode}, expected {expected_exit}")
    printed = cause in output and (closing != "unsettled-yellow" or YELLOW_CAUSE in output)
    if not printed:
        problems.append(f"cause {cause!r} not printed")
    if "Traceback" in output or "Unexpected error" in output:
        problems.append("an unexpected error's traceback")
    # The late error closing is emitted a second after Ready: wait for it, so the next run starts from a quiet environment.
    wait_for(lambda: environment(standin.endpoint_url, ENV_NAME)["Status"] == "Ready", 60, f"{ENV_NAME} Ready")
    time.sleep(1.2)
    return {
        "variant": variant,
        "class": closing,
        "repeat": repeat,
        "exit": result.returncode,
        "expected_exit": expected_exit,
        "cause_printed": printed,
        "problems": problems,
        "message": next((line for line in result.stderr.splitlines() if line.strip()), "")[:200],
        **({"output": output[-3000:]} if problems else {}),
    }


def one_variant(variant: str, tmp_path, registry, base_image, engine) -> tuple[list[dict], list[str]]:
    standin = start_standin(
        tmp_path / f"standin-{variant}", "--failed-version-label", variant, application=APP, environments=(), bucket=BUCKET
    )
    rows: list[dict] = []
    try:
        eb, _ = clients(standin.endpoint_url)
        eb.create_environment(
            ApplicationName=APP,
            EnvironmentName=ENV_NAME,
            SolutionStackName=STACK,
            OptionSettings=[{"Namespace": HEALTH_NAMESPACE, "OptionName": "SystemType", "Value": "enhanced"}],
        )
        wait_for(lambda: environment(standin.endpoint_url, ENV_NAME)["Status"] == "Ready", 60, f"{ENV_NAME} Ready")
        project = make_project(
            tmp_path / f"project-{variant}",
            endpoint=standin.endpoint_url,
            registry=registry,
            base_image=base_image,
            repository="acme/closing",
            bucket=BUCKET,
            application=APP,
            environments_toml=TOML,
            DEPLOY_TIMEOUT="120",
            HEALTH_SETTLE_TIMEOUT=SETTLE,
        )
        for args in (("docker.build",), ("docker.push",), ("s3.auth",), ("eb.version",), ("eb.deploy", "--env", "closing")):
            project.inv(*args, check=True, env={"ROUND": "first"})
        for repeat in range(REPEATS):
            for closing in CLOSINGS:
                rows.append(run_closing(project, standin, closing, variant, repeat))
    finally:
        leftovers = stop_standin(standin, engine)
    return rows, leftovers


def test_every_closing_is_read_for_what_it_says(tmp_path, registry, base_image, engine):
    rec = Recorder(
        "closings",
        "Update closings: errors a second after the success step (Red and Green health), command timeouts, health that "
        "does not settle, and the documented closing, under --failed-version-label revert and keep",
    )
    rec.data["parameters"].update(variants=list(VARIANTS), classes=list(CLOSINGS), HEALTH_SETTLE_TIMEOUT=SETTLE)
    started = time.monotonic()
    rows: list[dict] = []
    leftovers: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(len(VARIANTS)) as pool:
        for found, left in pool.map(lambda variant: one_variant(variant, tmp_path, registry, base_image, engine), VARIANTS):
            rows += found
            leftovers += left
    for row in rows:
        record_verdict(rec, row, failing=row["expected_exit"] != 0)
    rec.data["matrix_seconds"] = round(time.monotonic() - started, 1)
    rec.finish()
    problems = [f"{row['variant']} {row['class']} #{row['repeat']}: {problem}" for row in rows for problem in row["problems"]]
    assert len(rows) == REPEATS * len(CLOSINGS) * len(VARIANTS)
    assert not problems, "\n".join(problems + [row.get("output", "") for row in rows if row["problems"]][:2])
    assert not leftovers, f"the stand-ins left containers behind: {leftovers}"
