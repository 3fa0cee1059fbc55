"""Every line true: what the tasks print matches what happened and what can be done.

The declared health is the one applied; s3.auth refuses credentials the registry refuses; a rolled-back deploy is reported
in the state it ended in; advice names flags the task takes (--env on every task that talks to the registry or AWS, and
what `inv ci` users can do about a label clash); a deploy re-run after Ctrl-C recognises the label the interrupted update
put in place. End to end on the real engine, registry and stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from test_first_contact import interrupt_while_the_update_is_held, wait_for
from tests_support import MARKER_PASSWORD, REGION, Project, base_env, copy_project, s3_client, standin_env

from ebship import registry_auth, targets
from ebship.errors import EXIT_INTERRUPTED
from ebship.images import Credentials
from ebship.job import accepted_health

STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


# --- 1. the health environments.toml declares is the health applied --------------------------------------------------


def test_declared_health_wins_over_accepted_health_even_when_it_is_green(tmp_path: Path) -> None:
    (tmp_path / "environments.toml").write_text(
        '[strict]\neb_environment = "app-strict"\nhealth = ["Green"]\n\n'
        '[lenient]\neb_environment = "app-lenient"\nhealth = ["Green", "Yellow"]\n\n'
        '[plain]\neb_environment = "app-plain"\n'
    )

    def applied(name: str, setting: str) -> tuple[str, ...]:
        return accepted_health(targets.destination(tmp_path, name, "app").target, setting)

    assert applied("strict", "Green,Yellow") == ("Green",)
    assert applied("lenient", "Green") == ("Green", "Yellow")
    assert applied("plain", "Green,Yellow") == ("Green", "Yellow")  # not declared: ACCEPTED_HEALTH
    assert applied("plain", "") == ("Green",)


# --- 2. s3.auth checks the login before it uploads -------------------------------------------------------------------


def object_exists(env: dict[str, str], key: str) -> bool:
    try:
        s3_client(env).head_object(Bucket=env["EB_BUCKET"], Key=key)
    except Exception as error:
        if "404" in str(error) or "Not Found" in str(error):
            return False
        raise
    return True


@pytest.mark.slow
def test_s3_auth_refuses_credentials_the_registry_refuses(project: Project, registry: Any) -> None:
    key = f"registry-auth/{uuid.uuid4().hex}/config.json"
    wrong = {"REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong", "AUTH_KEY": key}
    refused = project.inv("s3.auth", env=wrong)
    assert refused.returncode == 1, output_of(refused)
    assert f"{registry.address} refused the login of {registry.username} (HTTP 401" in refused.stderr, refused.stderr
    assert "Check REGISTRY_USERNAME and REGISTRY_PASSWORD" in refused.stderr
    assert "Traceback" not in output_of(refused) and MARKER_PASSWORD not in output_of(refused)
    assert not object_exists(project.env, key), "nothing is uploaded for credentials that cannot log in"

    # An auth file already holding the same wrong credentials is no excuse: it fails the next deploy all the same.
    stale = registry_auth.auth_file(Credentials(registry.address, registry.username, wrong["REGISTRY_PASSWORD"]), "config.json")
    s3_client(project.env).put_object(Bucket=project.env["EB_BUCKET"], Key=key, Body=stale, ServerSideEncryption="AES256")
    again = project.inv("s3.auth", env=wrong)
    assert again.returncode == 1 and "refused the login" in again.stderr, output_of(again)

    accepted = project.inv("s3.auth", env={"AUTH_KEY": key})
    assert accepted.returncode == 0, output_of(accepted)
    assert f"check that {registry.address} accepts the login of {registry.username}" in accepted.stdout


@pytest.mark.slow
def test_s3_auth_says_an_unreachable_registry_was_not_reached(project: Project) -> None:
    key = f"registry-auth/{uuid.uuid4().hex}/config.json"
    result = project.inv("s3.auth", env={"IMAGE_REPOSITORY": "127.0.0.1:9/acme/web", "AUTH_KEY": key})
    assert result.returncode == 1, output_of(result)
    assert "The registry at http://127.0.0.1:9/v2/ was not reached" in result.stderr, result.stderr
    assert "refused the login" not in result.stderr and "Traceback" not in output_of(result)
    assert not object_exists(project.env, key)


@pytest.mark.slow
def test_s3_auth_dry_run_sends_the_password_nowhere(project: Project) -> None:
    """The dry run prints the check without making it: against a closed port, a check would fail."""
    key = f"registry-auth/{uuid.uuid4().hex}/config.json"
    closed = {"IMAGE_REPOSITORY": "127.0.0.1:9/acme/web", "REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong", "AUTH_KEY": key}
    result = project.inv("s3.auth", "--dry-run", env=closed)
    assert result.returncode == 0, output_of(result)
    assert "check that 127.0.0.1:9 accepts the login of" in result.stdout
    assert not object_exists(project.env, key) and MARKER_PASSWORD not in output_of(result)


# --- 6. --env on the registry's tasks and s3.auth, and advice that names what exists -------------------------------


@pytest.fixture
def local_project(tmp_path: Path, aws: Any, registry: Any) -> Project:
    """A project whose `--env local` points at the tests' stand-in and registry, through the state file local.up writes."""
    root = copy_project(tmp_path / "project")
    bucket = f"local-{uuid.uuid4().hex[:12]}"
    state = {
        "region": REGION,
        "endpoint_url": aws.endpoint_url,
        "bucket": bucket,
        "application": "localapp",
        "environment": "localapp-env",
        "registry": {"address": registry.address, "username": registry.username, "password": registry.password},
    }
    (root / targets.LOCAL_STATE).parent.mkdir(parents=True)
    (root / targets.LOCAL_STATE).write_text(json.dumps(state))
    env = {**base_env(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    s3_client({"AWS_ENDPOINT_URL": aws.endpoint_url}).create_bucket(Bucket=bucket)
    return Project(root, env)


@pytest.mark.slow
def test_registry_tasks_and_s3_auth_take_env_local(local_project: Project, registry: Any, aws: Any) -> None:
    local_repository = f"{registry.address}/{targets.LOCAL_REPOSITORY}"
    build = local_project.inv("docker.build", "--env", "local", "--dry-run")
    assert build.returncode == 0, output_of(build)
    assert f"{local_repository}:" in build.stdout
    push = local_project.inv("docker.push", "--env", "local", "--dry-run")
    assert push.returncode == 0, output_of(push)
    assert f"log in to {registry.address} as {registry.username}" in push.stdout and f"push {local_repository}:" in push.stdout
    test = local_project.inv("docker.test", "--env", "local", "--dry-run")
    assert test.returncode == 0 and f"{local_repository}:" in test.stdout, output_of(test)
    auth = local_project.inv("s3.auth", "--env", "local")
    assert auth.returncode == 0, output_of(auth)
    bucket = json.loads((local_project.root / targets.LOCAL_STATE).read_text())["bucket"]
    stored = s3_client({"AWS_ENDPOINT_URL": aws.endpoint_url}).get_object(Bucket=bucket, Key="registry-auth/config.json")
    assert registry_auth.credentials_from_file(stored["Body"].read(), registry.address) == (
        registry.username,
        registry.password,
    )


@pytest.fixture
def list_bucket(aws: Any) -> Any:
    before = aws.settings()["s3_list_bucket"]
    yield lambda mode: aws.update_settings(s3_list_bucket=mode)
    aws.update_settings(s3_list_bucket=before)


def auth_object_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.splitlines()
    at = next(index for index, line in enumerate(lines) if "auth object" in line)
    return "\n".join(lines[at : at + 2])


@pytest.mark.slow
def test_doctor_advice_for_the_auth_object_can_be_followed(local_project: Project, list_bucket: Any) -> None:
    missing = auth_object_line(local_project.inv("doctor", "--env", "local"))
    assert "FAIL" in missing and "is missing (NoSuchKey)" in missing, missing
    assert "fix: run `inv s3.auth --env local`" in missing, missing

    list_bucket("denied")  # least privilege: no s3:ListBucket, so S3 answers a missing key with 403
    denied = auth_object_line(local_project.inv("doctor", "--env", "local"))
    assert "is missing or not readable (AccessDenied" in denied, denied
    assert "run `inv s3.auth --env local`; if it exists, grant s3:GetObject on it" in denied, denied

    list_bucket("granted")
    assert local_project.inv("s3.auth", "--env", "local").returncode == 0
    fixed = auth_object_line(local_project.inv("doctor", "--env", "local"))
    assert "PASS" in fixed, fixed


# --- 3, 6 and 7 end to end: inv ci and eb.deploy on a released project ----------------------------------------------

APP, ENV_NAME, BUCKET = "truthapp", "truthapp-env", "truth-deploys"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: Any) -> Any:
    from localeb.server import start_server

    running = start_server(tmp_path_factory.mktemp("truth") / "server.log", extra_args=["--health-timeout", "8"])
    yield running
    running.stop()


def eb_client(standin: Any) -> Any:
    return boto3.client(
        "elasticbeanstalk",
        endpoint_url=standin.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def environment(standin: Any) -> dict[str, Any]:
    return dict(eb_client(standin).describe_environments(EnvironmentNames=[ENV_NAME])["Environments"][0])


@pytest.fixture(scope="module")
def released(standin: Any, registry: Any, base_image: str, tmp_path_factory: Any, engine: Any) -> Project:
    """A project on branch main, which environments.toml maps to `rel` (health declared Green), deployed once healthy."""
    eb = eb_client(standin)
    s3_client({"AWS_ENDPOINT_URL": standin.endpoint_url}).create_bucket(Bucket=BUCKET)
    eb.create_application(ApplicationName=APP)
    eb.create_environment(ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName=STACK)
    wait_for(lambda: environment(standin)["Status"] == "Ready", 60, "the environment Ready")
    root = copy_project(tmp_path_factory.mktemp("truth-project"))
    (root / "environments.toml").write_text(f'[rel]\neb_environment = "{ENV_NAME}"\nbranch = "main"\nhealth = ["Green"]\n')
    project = Project(
        root,
        standin_env(
            standin.endpoint_url,
            registry,
            base_image,
            "acme/truth",
            BUCKET,
            APP,
            DEPLOY_TIMEOUT="180",
            ACCEPTED_HEALTH="Green,Yellow",  # environments.toml's Green must win over it
        ),
    )
    project.commit("Declare the environment")
    for task in ("docker.build", "docker.push", "s3.auth", "eb.version"):
        project.inv(task, check=True)
    project.planned = project.inv("eb.deploy", "--env", "rel", "--dry-run", check=True)  # type: ignore[attr-defined]
    project.inv("eb.deploy", "--env", "rel", check=True)
    return project


@pytest.mark.slow
def test_the_deploy_follows_the_declared_health_not_accepted_health(released: Project) -> None:
    planned = released.planned.stdout  # type: ignore[attr-defined]
    assert "then follow it until Ready with health Green\n" in planned, planned


def summary_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.split("=== summary ===")[1]


@pytest.mark.slow
def test_ci_summary_after_a_rollback_shows_where_the_environment_ended_and_both_outcomes(released: Project) -> None:
    previous = released.git("rev-parse", "HEAD")
    dockerfile = released.root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + '\nCMD ["python3", "-c", "raise SystemExit(\'fatal: no database\')"]\n')
    crashing = released.commit("A release that crashes on start")
    try:
        result = released.inv("ci", env={"ROLLBACK": "true"})
    finally:
        released.git("revert", "--no-edit", "HEAD")
    assert result.returncode == 1, output_of(result)
    summary = summary_of(result)
    assert f"health        Green (Ready, running {previous})" in summary, summary
    assert "health        Red" not in summary, summary
    assert f"deploy        FAILED ({ENV_NAME}: Ready, health Red, running " in summary, summary
    assert f"rollback      to {previous}: succeeded" in summary, summary
    assert "result        FAILED" in summary
    # eb.deploy's own verdict: the failed deploy's state as history, then the rollback, then where it stands now.
    assert f"Deploy of {crashing} to rel ({ENV_NAME}) FAILED." in result.stderr, result.stderr
    assert f"state after the failed deploy: {ENV_NAME}: Ready, health Red" in result.stderr, result.stderr
    assert f"rollback to {previous}: succeeded" in result.stderr
    assert f"now: {ENV_NAME}: Ready, health Green, running {previous}" in result.stderr
    assert "last known state" not in result.stderr
    after = environment_of(released)
    assert (after["VersionLabel"], after["Health"]) == (previous, "Green")


def environment_of(project: Project) -> dict[str, Any]:
    eb = boto3.client(
        "elasticbeanstalk",
        endpoint_url=project.env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return dict(eb.describe_environments(EnvironmentNames=[ENV_NAME])["Environments"][0])


@pytest.mark.slow
def test_ci_label_clash_advises_what_ci_users_can_do(released: Project) -> None:
    """The same commit with another CONTAINER_PORT renders another bundle under the commit's label."""
    label = released.git("rev-parse", "HEAD")
    for task in ("docker.build", "docker.push", "eb.version"):
        released.inv(task, check=True)
    result = released.inv("ci", env={"CONTAINER_PORT": "8080"})
    assert result.returncode == 1, output_of(result)  # docker.push and s3.auth changed things: never 2
    output = output_of(result)
    assert f"Version {label} already exists in {APP} with a different bundle" in output, output
    assert "use another label (--label)" not in output, "ci takes no --label"
    assert f"--application-name {APP} --version-label {label}" in output
    assert "`inv eb.version --env rel --label NEW`, then `inv eb.deploy --env rel --label NEW`" in output
    assert "eb.version    failed" in summary_of(result)


def rerun_releasing_the_hold_once_it_waits(project: Project, standin: Any) -> subprocess.CompletedProcess[str]:
    """`inv eb.deploy --env rel` while the update is held; the hold is released once the re-run says it waits for the
    update under way (the plan's `wait until … is Ready (now Updating)`), so it must have met the update running."""
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("inv")), "eb.deploy", "--env", "rel"],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waiting = f"wait until {ENV_NAME} is Ready (now Updating)"
    try:
        seen = []
        assert process.stdout is not None
        for line in process.stdout:
            seen.append(line)
            if waiting in line:
                standin.release()
                break
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    stdout = "".join(seen) + stdout
    assert waiting in stdout, f"the re-run must meet the update under way:\n{stdout}\n{stderr}"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_a_deploy_rerun_after_ctrl_c_recognises_the_label_the_update_put_in_place(released: Project, standin: Any) -> None:
    (released.root / "app" / "rerun_marker.py").write_text(f"NOTE = {uuid.uuid4().hex!r}\n")
    label = released.commit("A release deployed twice")
    for task in ("docker.build", "docker.push", "eb.version"):
        released.inv(task, check=True)
    try:
        code, stdout, stderr = interrupt_while_the_update_is_held(released, standin, "eb.deploy", "--env", "rel")
        assert code == EXIT_INTERRUPTED, stdout + stderr
        assert environment(standin)["Status"] == "Updating", "the Ctrl-C landed while the update ran"
        standin.reset_calls()
        # The re-run meets the update still held; the hold lets it go once the re-run has said it waits for it.
        rerun = rerun_releasing_the_hold_once_it_waits(released, standin)
    finally:
        standin.release()
    assert rerun.returncode == 0, output_of(rerun)
    assert f"now runs {label}, Ready and Green: the update that was under way deployed it; nothing to deploy" in rerun.stdout
    assert "UpdateEnvironment" not in standin.calls(), standin.calls()
    assert "Update of " not in rerun.stdout
    after = environment(standin)
    assert (after["VersionLabel"], after["Status"], after["Health"]) == (label, "Ready", "Green")
