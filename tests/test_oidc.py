"""CircleCI's OIDC path: the config's credentials step, then real tasks that obtain credentials from the stand-in's STS
by web identity, exactly as boto3's chain does in a CircleCI job (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, no keys)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml
from tests_support import REGION, base_env, copy_project

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".circleci" / "aws-credentials.sh"
ROLE = "arn:aws:iam::123456789012:role/eb-ship-ci"
TOKEN_MARKER = 'eyJoZWFkZXIi.oidc-"M4rk3r"$HOME-€.c2ln'  # quotes, $ and non-ASCII: no quoting path may mangle or show it
APP, ENV_NAME = "oidcapp", "oidcapp-e2e"


def config_steps() -> list[dict]:
    config = yaml.safe_load((ROOT / ".circleci" / "config.yml").read_text())
    return [step["run"] for step in config["jobs"]["ci"]["steps"] if isinstance(step, dict) and "run" in step]


def credentials_command() -> str:
    """The config's own credentials step, run as CircleCI runs it."""
    commands = [run["command"] for run in config_steps() if "aws-credentials.sh" in run["command"]]
    assert len(commands) == 1, "one step of .circleci/config.yml sets up the AWS credentials"
    return commands[0]


def run_step(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Runs the credentials step with CircleCI's BASH_ENV, then what a later step's shell sees after sourcing it."""
    bash_env = tmp_path / "bash_env"
    bash_env.touch()
    full = {**base_env(), **env, "BASH_ENV": str(bash_env), "TMPDIR": str(tmp_path)}
    step = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", credentials_command()],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
    seen = subprocess.run(["bash", "-c", "env -0"], env=full, capture_output=True, check=True, timeout=60).stdout.decode()
    after = dict(item.split("=", 1) for item in seen.split("\0") if "=" in item)
    return step, after


def test_credentials_step_runs_before_inv_ci():
    commands = [run["command"].strip() for run in config_steps()]
    step = next(i for i, command in enumerate(commands) if "aws-credentials.sh" in command)
    ci = next(i for i, command in enumerate(commands) if command.endswith("inv ci"))
    assert step < ci


def test_role_puts_the_token_in_a_private_file_and_exports_what_boto3_reads(tmp_path):
    step, after = run_step(
        tmp_path,
        AWS_ROLE_ARN=ROLE,
        CIRCLE_OIDC_TOKEN_V2=TOKEN_MARKER,
        CIRCLE_OIDC_TOKEN="v1-token",
        CIRCLE_BUILD_NUM="42",
        CIRCLE_PROJECT_REPONAME="web app",
        AWS_ACCESS_KEY_ID="AKIAOLDKEY",
        AWS_SECRET_ACCESS_KEY="old-secret",
    )
    assert step.returncode == 0, step.stderr
    token_file = Path(after["AWS_WEB_IDENTITY_TOKEN_FILE"])
    assert token_file.read_text(encoding="utf-8") == TOKEN_MARKER, "the V2 token, byte for byte"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert ROOT not in token_file.parents, "never inside the checkout (the Docker build context)"
    assert after["AWS_ROLE_ARN"] == ROLE
    assert after["AWS_ROLE_SESSION_NAME"] == "circleci-web-app-42"
    assert "AWS_ACCESS_KEY_ID" not in after and "AWS_SECRET_ACCESS_KEY" not in after, "keys would win over the role"
    assert "by web identity" in step.stdout and "is ignored" in step.stdout
    assert TOKEN_MARKER not in step.stdout + step.stderr + (tmp_path / "bash_env").read_text(encoding="utf-8")


def test_v1_token_when_no_v2(tmp_path):
    step, after = run_step(tmp_path, AWS_ROLE_ARN=ROLE, CIRCLE_OIDC_TOKEN=TOKEN_MARKER)
    assert step.returncode == 0, step.stderr
    assert Path(after["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text(encoding="utf-8") == TOKEN_MARKER


def test_no_role_falls_back_to_the_access_keys(tmp_path):
    step, after = run_step(tmp_path, AWS_ACCESS_KEY_ID="AKIAKEY", AWS_SECRET_ACCESS_KEY="secret", CIRCLE_OIDC_TOKEN_V2="t")
    assert step.returncode == 0, step.stderr
    assert "access keys" in step.stdout
    assert after["AWS_ACCESS_KEY_ID"] == "AKIAKEY" and "AWS_WEB_IDENTITY_TOKEN_FILE" not in after
    assert (tmp_path / "bash_env").read_text() == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_ROLE_ARN": ROLE}, "no OIDC token"),
        ({"AWS_ROLE_ARN": "eb-ship-ci", "CIRCLE_OIDC_TOKEN_V2": TOKEN_MARKER}, "AWS_ROLE_ARN is not an IAM role ARN"),
    ],
)
def test_bad_role_settings_stop_with_one_line_and_change_nothing(tmp_path, env, message):
    step, after = run_step(tmp_path, **env)
    assert step.returncode == 2
    assert message in step.stderr and len(step.stderr.strip().splitlines()) == 1
    assert (tmp_path / "bash_env").read_text() == "" and not list(tmp_path.glob("circleci-oidc-token.*"))
    assert TOKEN_MARKER not in step.stdout + step.stderr


# --- end to end: the tasks take their credentials from the stand-in's STS ------------------------------------------


@pytest.fixture(scope="module")
def oidc_project(aws, registry, tmp_path_factory):
    kwargs = {"endpoint_url": aws.endpoint_url, "region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    boto3.client("s3", **kwargs).create_bucket(Bucket="oidc-deploys")
    eb = boto3.client("elasticbeanstalk", **kwargs)
    eb.create_application(ApplicationName=APP)
    eb.create_environment(
        ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    root = copy_project(tmp_path_factory.mktemp("oidc-project"))
    (root / "environments.toml").write_text(f'[e2e]\neb_environment = "{ENV_NAME}"\nbranch = "release/e2e"\n')
    home = tmp_path_factory.mktemp("oidc-home")  # no ~/.aws: the chain finds nothing but the role
    env = {
        **base_env(),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": aws.endpoint_url,
        "AWS_REGION": REGION,
        "IMAGE_REPOSITORY": f"{registry.address}/acme/oidc",
        "REGISTRY_USERNAME": registry.username,
        "REGISTRY_PASSWORD": registry.password,
        "EB_BUCKET": "oidc-deploys",
        "EB_APPLICATION": APP,
    }
    return root, env


def inv_after_step(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A later CircleCI step: bash sources $BASH_ENV, then runs the task."""
    inv = Path(sys.executable).with_name("inv")
    command = " ".join([str(inv), *args])
    return subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_tasks_run_on_credentials_assumed_by_web_identity(oidc_project, aws, tmp_path):
    root, env = oidc_project
    assert not any(name in env for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"))
    step, after = run_step(tmp_path, **env, AWS_ROLE_ARN=ROLE, CIRCLE_OIDC_TOKEN_V2=TOKEN_MARKER)
    assert step.returncode == 0, step.stderr
    task_env = {**env, "BASH_ENV": str(tmp_path / "bash_env"), "TMPDIR": str(tmp_path)}
    # doctor shows the caller's identity: the role, and the session name the step exported, reached STS.
    assumed = "assumed-role/eb-ship-ci/circleci-job-0"
    for args, done in (
        (("s3.auth",), "auth"),
        (("eb.status", "--env", "e2e"), ENV_NAME),
        (("eb.events", "--env", "e2e"), ""),
        (("doctor", "--env", "e2e"), assumed),
    ):
        aws.reset_calls()
        result = inv_after_step(root, task_env, *args)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
        assert done in result.stdout
        calls = aws.calls()
        assert calls.get("sts:AssumeRoleWithWebIdentity", 0) >= 1, (args, calls)
        assert TOKEN_MARKER not in result.stdout + result.stderr
    assert boto3.client(
        "s3", endpoint_url=aws.endpoint_url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    ).head_object(Bucket="oidc-deploys", Key="registry-auth/config.json")

    # The token is on the critical path: without its file, the same task cannot get credentials.
    os.remove(after["AWS_WEB_IDENTITY_TOKEN_FILE"])
    aws.reset_calls()
    result = inv_after_step(root, task_env, "eb.status", "--env", "e2e")
    assert result.returncode != 0, result.stdout
    assert "DescribeEnvironments" not in aws.calls()
