"""A client nobody here wrote reads the stand-in: the EB CLI (awsebcli, pinned in ebcli-requirements.txt) with its
hidden `--endpoint-url` flag runs `eb status`, `eb health`, `eb events`, `eb printenv` and `eb logs` against an enhanced-health
environment running a deployed version, and prints what the stand-in says.

The EB CLI cannot share the project's venv (it pins pathspec 0.12, mypy 2.x needs 1.x), so the session installs it
once into .local/ebcli from the pinned file; a failed install fails the test, it never skips."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from localeb_support import BUCKET, PushedImage, create_environment, dockerrun, messages, put_json, unique, wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("ebcli-requirements.txt")
VENV = ROOT / ".local" / "ebcli"
ENHANCED = [
    {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"},
    {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "GREETING", "Value": "hello"},
]


@pytest.fixture(scope="session")
def eb_command() -> Path:
    """The `eb` executable of a venv holding exactly the pinned EB CLI (installed on first use)."""
    pinned = (VENV / "pinned.txt").read_text() if (VENV / "pinned.txt").exists() else ""
    executable = VENV / "bin" / "eb"
    if pinned != REQUIREMENTS.read_text() or not executable.exists():
        steps = (
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
        )
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(f"installing the EB CLI failed ({' '.join(step[:3])}): {done.stderr[-2000:]}", pytrace=False)
        (VENV / "pinned.txt").write_text(REQUIREMENTS.read_text())
    return executable


@pytest.fixture
def deployed(eb: Any, s3: Any, app: str, test_image: PushedImage) -> dict[str, Any]:
    env = create_environment(eb, app, OptionSettings=ENHANCED)
    auth_key = f"auth/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=auth_key, Body=test_image.auth_file())
    label = unique("v")
    eb.create_application_version(
        ApplicationName=app,
        VersionLabel=label,
        SourceBundle=put_json(s3, dockerrun(test_image.name, "serve v1", auth_key=auth_key)),
    )
    eb.update_environment(EnvironmentName=env["EnvironmentName"], VersionLabel=label)
    after = wait_ready(eb, env["EnvironmentName"], timeout=90)
    assert (after["VersionLabel"], after["Health"]) == (label, "Green")
    instance = eb.describe_environment_resources(EnvironmentName=env["EnvironmentName"])["EnvironmentResources"]
    return {**after, "App": app, "InstanceId": instance["Instances"][0]["Id"]}


def run_eb(eb_command: Path, endpoint: str, project: Path, *args: str) -> tuple[str, float]:
    """Runs `eb ARGS --endpoint-url ENDPOINT` in an initialised project directory; returns its output and duration."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(project),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "COLUMNS": "200",
        "TERM": "dumb",
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(eb_command), *args, "--endpoint-url", endpoint],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"eb {' '.join(args)} exited {done.returncode}:\n{output}"
    assert "ERROR" not in output, output
    return output, time.monotonic() - started


def initialised_project(tmp_path: Path, application: str, environment: str) -> Path:
    """What `eb init` leaves: .elasticbeanstalk/config.yml naming the application, region and default environment."""
    config = tmp_path / ".elasticbeanstalk" / "config.yml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"branch-defaults:\n  default:\n    environment: {environment}\n"
        f"global:\n  application_name: {application}\n  default_region: us-east-1\n  profile: null\n  sc: null\n"
    )
    return tmp_path


def squeezed(text: str) -> str:
    """The screen's text with runs of blanks as one space and no trailing blanks."""
    return "\n".join(re.sub(r"[ \t]+", " ", line).rstrip() for line in text.splitlines())


def test_the_eb_cli_reads_status_health_events_variables_and_logs(
    eb_command: Path, eb_server: Any, eb: Any, deployed: dict[str, Any], tmp_path: Path
) -> None:
    name, label, instance = deployed["EnvironmentName"], deployed["VersionLabel"], deployed["InstanceId"]
    project = initialised_project(tmp_path, deployed["App"], name)
    endpoint = eb_server.endpoint_url
    eb_server.reset_calls()

    status, took = run_eb(eb_command, endpoint, project, "status")
    for line in (
        f"Environment details for: {name}",
        f"Application name: {deployed['App']}",
        "Region: us-east-1",
        f"Deployed Version: {label}",
        f"Environment ID: {deployed['EnvironmentId']}",
        f"Platform: {deployed['PlatformArn']}",
        "Tier: WebServer-Standard-1.0",
        f"CNAME: {deployed['CNAME']}",
        "Status: Ready",
        "Health: Green",
    ):
        assert f"  {line}\n" in status or status.startswith(line), (line, status)
    # It reads the platform (DescribePlatformVersion) once, answered at once: no retries of a failing call.
    assert eb_server.calls().get("DescribePlatformVersion") == 1 and took < 30, (eb_server.calls(), took)

    health = squeezed(run_eb(eb_command, endpoint, project, "health")[0])
    assert re.search(rf"^ {re.escape(name)} Ok \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d$", health, re.MULTILINE), health
    assert "WebServer Docker running on 64bit Amazon Linux 2023/4.6.0" in health
    assert " total ok warning degraded severe info pending unknown\n 1 1 0 0 0 0 0 0\n" in health
    assert f"\n {instance} Ok\n" in health, "the instance's status, with no cause"
    # The deployments table: the instance, its deployment's status, ID and version.
    assert re.search(rf"^ {instance} Deployed 1 {re.escape(label)} \d+ secs$", health, re.MULTILINE), health

    events = run_eb(eb_command, endpoint, project, "events")[0]
    assert re.search(r"INFO\s+Environment update completed successfully\.", events), events
    assert events.index("Environment update is starting.") < events.index("Environment update completed successfully.")

    variables = run_eb(eb_command, endpoint, project, "printenv")[0]
    assert variables.splitlines() == [" Environment Variables:", "     GREETING = hello"]

    # RequestEnvironmentInfo, the events it waits for, RetrieveEnvironmentInfo, then a GET of the pre-signed S3 URL.
    logs = run_eb(eb_command, endpoint, project, "logs")[0].splitlines()
    start = logs.index(f"============= {instance} ==============")
    assert logs[start + 1] == logs[start + 3] == "-" * 40
    assert re.fullmatch(r"/var/log/eb-docker/containers/eb-current-app/eb-[0-9a-f]{12}-stdouterr\.log", logs[start + 2])
    assert "listening on 80 as v1 (serve)" in logs[start + 4 :], logs
    messages_seen = messages(eb, EnvironmentName=name)
    assert messages_seen[-2:] == ["requestEnvironmentInfo is starting.", "Pulled logs for environment instances."], messages_seen
