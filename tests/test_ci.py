"""`inv ci` and `inv doctor` end to end: branches, failures, dry runs and the newcomer's rehearsal on the local stand-in."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from tests_support import MARKER_PASSWORD, REGION, Project, base_env, copy_project, standin_env

pytestmark = pytest.mark.slow

APP = "ciapp"
ENV_NAME = "ciapp-e2e"
MUTATING = ("UpdateEnvironment", "CreateApplicationVersion", "DeleteApplicationVersion", "s3:PutObject", "s3:DeleteObject")


def clients(endpoint: str):
    kwargs = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("elasticbeanstalk", **kwargs), boto3.client("s3", **kwargs)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    from localeb.server import start_server

    running = start_server(tmp_path_factory.mktemp("ci-standin") / "server.log", extra_args=["--health-timeout", "8"])
    eb, s3 = clients(running.endpoint_url)
    s3.create_bucket(Bucket="ci-deploys")
    s3.create_bucket(Bucket="ci-elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eb.create_application(ApplicationName=APP)
    eb.create_environment(
        ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ci_project(standin, registry, base_image, tmp_path_factory):
    root = copy_project(tmp_path_factory.mktemp("ci-project"))
    (root / "environments.toml").write_text(f'[e2e]\neb_environment = "{ENV_NAME}"\nbranch = "release/e2e"\n')
    project = Project(
        root,
        standin_env(standin.endpoint_url, registry, base_image, "acme/ci", "ci-deploys", APP, DEPLOY_TIMEOUT="120", CI="true"),
    )
    project.commit("Declare the e2e environment")
    return project


def environment(project):
    eb, _ = clients(project.env["AWS_ENDPOINT_URL"])
    return eb.describe_environments(EnvironmentNames=[ENV_NAME])["Environments"][0]


def test_release_branch_deploys_and_ends_healthy(ci_project):
    ci_project.git("checkout", "-q", "-B", "release/e2e")
    result = ci_project.inv("ci")
    assert result.returncode == 0, result.stdout + result.stderr
    sha = ci_project.git("rev-parse", "HEAD")
    env = environment(ci_project)
    assert env["VersionLabel"] == sha and env["Health"] == "Green"
    summary = result.stdout.split("=== summary ===")[1]
    for stage in ("docker.build", "docker.test", "docker.push", "s3.auth", "eb.version", "eb.deploy"):
        assert f"{stage}" in summary and "ok" in summary
    assert "image digest  sha256:" in summary and f"url           http://{env['CNAME']}" in summary
    assert "result        OK" in summary
    with urllib.request.urlopen(f"http://{env['CNAME']}/", timeout=5) as response:
        assert response.status == 200 and sha in response.read().decode()
    assert MARKER_PASSWORD not in result.stdout + result.stderr


def test_rerun_on_a_deployed_commit_changes_nothing(ci_project, standin):
    ci_project.git("checkout", "-q", "release/e2e")
    standin.reset_calls()
    result = ci_project.inv("ci")
    assert result.returncode == 0, result.stderr
    assert "nothing to deploy" in result.stdout
    assert not any(op in standin.calls() for op in MUTATING), standin.calls()


def test_feature_branch_builds_and_tests_only(ci_project, standin):
    ci_project.git("checkout", "-q", "-B", "feature/x")
    standin.reset_calls()
    result = ci_project.inv("ci")
    assert result.returncode == 0, result.stderr
    assert "build and test only" in result.stdout
    assert "docker.push" not in result.stdout.split("=== summary ===")[1]
    assert standin.calls() == {}


def test_failing_app_test_stops_before_any_push(ci_project, standin, engine, registry):
    ci_project.git("checkout", "-q", "-B", "release/e2e")
    test_file = next((ci_project.root / "app").rglob("test_views.py"))
    test_file.write_text(test_file.read_text() + "\n\ndef test_broken_on_purpose():\n    assert False\n")
    sha = ci_project.commit("A commit whose test fails")
    standin.reset_calls()
    try:
        result = ci_project.inv("ci")
    finally:
        ci_project.git("revert", "--no-edit", "HEAD")
    assert result.returncode == 1
    summary = result.stdout.split("=== summary ===")[1]
    assert "docker.test   failed" in summary and "docker.push" not in summary
    assert standin.calls() == {}
    tags = json.load(
        urllib.request.urlopen(
            urllib.request.Request(
                f"http://{registry.address}/v2/acme/ci/tags/list",
                headers={
                    "Authorization": "Basic "
                    + __import__("base64").b64encode(f"{registry.username}:{registry.password}".encode()).decode()
                },
            )
        )
    )["tags"]
    assert sha not in tags


def test_failing_deploy_exits_non_zero_with_the_cause_in_the_summary(ci_project):
    ci_project.git("checkout", "-q", "-B", "release/e2e")
    dockerfile = ci_project.root / "Dockerfile"
    # The last CMD wins: this release crashes on start with a message the summary must carry.
    dockerfile.write_text(dockerfile.read_text() + '\nCMD ["python3", "-c", "raise SystemExit(\'fatal: no database\')"]\n')
    ci_project.commit("A release that crashes on start")
    try:
        result = ci_project.inv("ci")
    finally:
        ci_project.git("revert", "--no-edit", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout.split("=== summary ===")[1]
    assert "eb.deploy     failed" in summary and "result        FAILED" in summary
    assert "fatal: no database" in result.stdout + result.stderr


def test_ci_without_a_target_fails_clearly(ci_project, standin):
    env = {key: value for key, value in ci_project.env.items() if key not in ("EB_APPLICATION", "EB_BUCKET")}
    standin.reset_calls()
    result = Project(ci_project.root, env).inv("ci")
    assert result.returncode == 2
    assert "CI=true but no deploy target is configured" in result.stderr
    assert "EB_APPLICATION" in result.stderr and "EB_BUCKET" in result.stderr
    assert standin.calls() == {}


def test_dry_run_changes_nothing(ci_project, standin, engine):
    ci_project.git("checkout", "-q", "-B", "release/e2e")
    (ci_project.root / "app" / "sampleapp" / "dry_run_marker.py").write_text("MARKER = 1\n")
    ci_project.commit("A commit that is only planned")

    def images() -> set[tuple[str, ...]]:  # this project's images only: the engine may be shared with other builds
        return {tuple(image.tags) + (image.id,) for image in engine.images.list(name=ci_project.env["IMAGE_REPOSITORY"])}

    images_before = images()
    standin.reset_calls()
    result = ci_project.inv("ci", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Dry run" in result.stdout and "(dry run: nothing was changed)" in result.stdout
    assert not any(op in standin.calls() for op in MUTATING), standin.calls()
    assert images() == images_before
    assert MARKER_PASSWORD not in result.stdout + result.stderr


# --- doctor ---------------------------------------------------------------------------------------------------------


def doctor(project, **changes):
    env = {**project.env, **changes}
    return Project(project.root, env).inv("doctor", "--env", "e2e")


def test_doctor_passes_on_a_working_setup(ci_project):
    ci_project.inv("s3.auth", check=True)
    result = doctor(ci_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


@pytest.mark.parametrize(
    ("changes", "check", "fix"),
    [
        ({"EB_BUCKET": "no-such-bucket"}, "bucket", "create it"),
        ({"EB_BUCKET": "ci-elsewhere"}, "bucket", "use a bucket in us-east-1"),
        ({"REGISTRY_PASSWORD": MARKER_PASSWORD + "-wrong"}, "registry login", "check REGISTRY_USERNAME and REGISTRY_PASSWORD"),
        ({"EB_APPLICATION": "no-such-app"}, "application", "create it"),
    ],
)
def test_doctor_reports_each_misconfiguration_with_its_fix(ci_project, standin, changes, check, fix):
    standin.reset_calls()
    result = doctor(ci_project, **changes)
    assert result.returncode == 2
    failing = [line for line in result.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert any(check in line for line in failing), result.stdout
    assert fix in result.stdout
    assert MARKER_PASSWORD not in result.stdout + result.stderr
    assert not any(op in standin.calls() for op in MUTATING)


def test_doctor_reports_an_unknown_environment(ci_project):
    (ci_project.root / "environments.toml").write_text('[e2e]\neb_environment = "ciapp-missing"\n')
    try:
        result = doctor(ci_project)
    finally:
        ci_project.git("checkout", "environments.toml")
    assert result.returncode == 2
    assert "no environment ciapp-missing" in result.stdout and "fix:" in result.stdout


# --- the newcomer's rehearsal ---------------------------------------------------------------------------------------


def test_rehearsal_deploys_to_the_local_stand_in_and_local_down_leaves_nothing(tmp_path, base_image, engine):
    project = Project(
        copy_project(tmp_path / "newcomer"), {**base_env(), "BASE_IMAGE": base_image, "DOCKER_BUILD_NETWORK": "host"}
    )
    try:
        result = project.inv("ci")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "rehearsing on the local stand-in" in result.stdout
        url = [line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith("url ")][0]
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
        status = project.inv("local.status", check=True)
        assert "running" in status.stdout
        state = json.loads((project.root / ".local" / "stand-in" / "localeb.json").read_text())
    finally:
        down = project.inv("local.down")
    assert down.returncode == 0, down.stderr
    server_id = state["server"]["server_id"]
    assert not engine.containers.list(all=True, filters={"label": f"localeb.server={server_id}"})
    for pid in (state["server"]["pid"], state["registry"]["pid"]):
        assert not running(pid), f"process {pid} left behind"
    assert "not running" in project.inv("local.status").stdout


def running(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
