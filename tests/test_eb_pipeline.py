"""eb.version, eb.deploy and eb.env end to end against the local Elastic Beanstalk, under each unconfirmed-behaviour variant.

Failure images are built FROM the release image with one change each, pushed to the same registry, and registered as
versions with bundles rendered from the project's own template, so eb.deploy meets each failure the way AWS would show it.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.request
import uuid

import boto3
import pytest
from tests_support import MARKER_PASSWORD, REGION, Project, copy_project

pytestmark = pytest.mark.slow

APP = "sampleapp"
ENV_NAME = "sampleapp-e2e"
AWKWARD = {
    "QUOTES": 'it\'s "quoted"',
    "BACKSLASH": "C:\\path\\to",
    "URLISH": "postgres://user@db.example:5432/name/x=1+2",
    "SPACES": "  leading and trailing  ",
    "EQUALS": "a=b=c",
}
SECRET_MARKER = "Sekr1t-M4rk3r-value"


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def clients(endpoint: str):
    kwargs = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("elasticbeanstalk", **kwargs), boto3.client("s3", **kwargs)


VARIANTS = {
    # What VersionLabel reports after a failed deploy (UNCONFIRMED on AWS), and the case of a version's status on the
    # wire (AWS sends upper case, the model documents title case): each combination the client must survive.
    "revert": ["--failed-version-label", "revert", "--version-status-case", "upper"],
    "keep": ["--failed-version-label", "keep", "--version-status-case", "title"],
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request) -> str:
    """The name of one of VARIANTS."""
    return request.param


@pytest.fixture(scope="module")
def standin(variant, tmp_path_factory):
    """A stand-in per variant of the behaviours AWS leaves unconfirmed."""
    from localeb.server import start_server

    running = start_server(
        tmp_path_factory.mktemp("standin") / "server.log",
        extra_args=[*VARIANTS[variant], "--health-timeout", "8"],
    )
    yield running
    running.stop()


class ShippedProject(Project):
    last: subprocess.CompletedProcess[str]  # the `inv eb.deploy` that shipped it


@pytest.fixture(scope="module")
def shipped(standin, variant, registry, base_image, tmp_path_factory, engine):
    """A project deployed once, healthy, through the real tasks: the baseline every failure must leave serving."""
    root = copy_project(tmp_path_factory.mktemp("eb-project"))
    (root / "environments.toml").write_text(
        f'[e2e]\neb_environment = "{ENV_NAME}"\nbranch = "release/e2e"\n\n[e2e.variables]\n'
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in AWKWARD.items())
        + 'SECRET_KEY = "${E2E_SECRET}"\n'
    )
    project = ShippedProject(root, {})
    project.commit("Declare the e2e environment")
    from tests_support import base_env

    project.env = {
        **base_env(),
        "AWS_ENDPOINT_URL": standin.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "IMAGE_REPOSITORY": f"{registry.address}/acme/web-{variant}",
        "REGISTRY_USERNAME": registry.username,
        "REGISTRY_PASSWORD": registry.password,
        "BASE_IMAGE": base_image,
        "DOCKER_BUILD_NETWORK": "host",
        "EB_BUCKET": "eb-deploys",
        "EB_APPLICATION": APP,
        "DEPLOY_TIMEOUT": "120",
        "E2E_SECRET": SECRET_MARKER,
    }
    eb, s3 = clients(standin.endpoint_url)
    s3.create_bucket(Bucket="eb-deploys")
    eb.create_application(ApplicationName=APP)
    eb.create_environment(
        ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    for args in (("docker.build",), ("docker.push",), ("s3.auth",), ("eb.version",), ("eb.deploy", "--env", "e2e")):
        result = project.inv(*args)
        assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    project.last = result
    return project


def state(project):
    eb, _ = clients(project.env["AWS_ENDPOINT_URL"])
    return eb.describe_environments(EnvironmentNames=[ENV_NAME])["Environments"][0]


def serving(project) -> str:
    env = state(project)
    status, body = http_get(f"http://{env['CNAME']}/")
    assert status == 200
    return body


def label_of(project) -> str:
    return project.git("rev-parse", "HEAD")


def test_healthy_deploy_ends_zero_and_the_app_answers_the_new_version(shipped):
    env = state(shipped)
    assert env["Status"] == "Ready" and env["Health"] == "Green"
    assert env["VersionLabel"] == label_of(shipped)
    assert label_of(shipped) in serving(shipped), "the page shows APP_VERSION, the commit's sha"
    assert "Environment update completed successfully." in shipped.last.stdout
    assert f"Deployed {label_of(shipped)}" in shipped.last.stdout
    _, s3 = clients(shipped.env["AWS_ENDPOINT_URL"])
    bundle = s3.head_object(Bucket="eb-deploys", Key=f"deploy/{label_of(shipped)}/Dockerrun.aws.json")
    assert bundle["ServerSideEncryption"] == "AES256"


def test_rerun_of_the_running_label_is_a_no_op(shipped, standin):
    standin.reset_calls()
    version = shipped.inv("eb.version")
    again = shipped.inv("eb.deploy", "--env", "e2e")
    assert version.returncode == 0 and again.returncode == 0, again.stderr
    assert "already exists with this exact bundle" in version.stdout
    assert "nothing to deploy" in again.stdout
    calls = standin.calls()
    assert not any(op in calls for op in ("UpdateEnvironment", "CreateApplicationVersion", "s3:PutObject")), calls


def failing_version(shipped, engine, registry, kind: str) -> str:
    """Registers a version whose deploy fails in the given way; returns its label."""
    import docker

    eb, s3 = clients(shipped.env["AWS_ENDPOINT_URL"])
    repository = shipped.env["IMAGE_REPOSITORY"]
    label = f"{kind}-{uuid.uuid4().hex[:6]}"
    image = f"{repository}:{label}"
    auth_key = "registry-auth/config.json"
    release = f"{repository}:{label_of(shipped)}"
    dockerfiles = {
        "crash": f'FROM {release}\nCMD ["python3", "-c", "import sys; print(\'boom: cannot start\'); sys.exit(3)"]\n',
        "wrong-port": f'FROM {release}\nCMD ["python3", "-m", "http.server", "8081"]\n',
        "unhealthy": f'FROM {release}\nCMD ["python3", "-c", "import http.server as h; '
        "h.HTTPServer(('',80), type('H',(h.BaseHTTPRequestHandler,),"
        f"{{'do_GET': lambda s: s.send_error(500)}})).serve_forever()\"]\n",
    }
    if kind in dockerfiles:
        client = docker.from_env()
        client.images.build(fileobj=io.BytesIO(dockerfiles[kind].encode()), tag=image, rm=True)
        for line in client.api.push(
            repository,
            tag=label,
            stream=True,
            decode=True,
            auth_config={"username": registry.username, "password": registry.password},
        ):
            assert "error" not in line, line
    else:
        image = release
    template = (shipped.root / "Dockerrun.aws.json.template").read_text()
    bundle = (
        template.replace("{{BUCKET}}", "eb-deploys")
        .replace("{{AUTH_KEY}}", auth_key)
        .replace("{{IMAGE}}", image)
        .replace("{{PORT}}", "80")
    )
    if kind == "bad-dockerrun":
        bundle = json.dumps({"AWSEBDockerrunVersion": "1", "Image": {"Name": image}})  # no Ports
    if kind == "missing-auth":
        bundle = bundle.replace(auth_key, "registry-auth/missing.json")
    if kind == "pull-denied":
        wrong = {"auths": {registry.address: {"auth": __import__("base64").b64encode(b"ci-robot:wrong").decode()}}}
        s3.put_object(Bucket="eb-deploys", Key="registry-auth/wrong.json", Body=json.dumps(wrong).encode())
        bundle = bundle.replace(auth_key, "registry-auth/wrong.json")
    key = f"failing/{label}/Dockerrun.aws.json"
    s3.put_object(Bucket="eb-deploys", Key=key, Body=bundle.encode())
    eb.create_application_version(ApplicationName=APP, VersionLabel=label, SourceBundle={"S3Bucket": "eb-deploys", "S3Key": key})
    return label


CAUSES = {
    "crash": "boom: cannot start",
    "wrong-port": "",
    "unhealthy": "",
    "pull-denied": "",
    "missing-auth": "missing.json",
    "bad-dockerrun": "Ports",
}


@pytest.mark.parametrize("kind", list(CAUSES))
def test_every_failure_class_ends_non_zero_with_its_cause_and_the_old_version_serving(shipped, engine, registry, kind):
    before = serving(shipped)
    label = failing_version(shipped, engine, registry, kind)
    result = shipped.inv("eb.deploy", "--env", "e2e", "--label", label)
    assert result.returncode == 1, f"{result.stdout}\n{result.stderr}"
    assert "FAILED" in result.stderr
    assert "Failed to deploy application." in result.stdout
    assert " ERROR " in result.stdout, "the ERROR events of the deploy are printed"
    if CAUSES[kind]:
        assert CAUSES[kind] in result.stdout + result.stderr
    assert serving(shipped) == before, "the old version still serves"
    assert state(shipped)["Status"] == "Ready"


def test_rollback_redeploys_the_previous_version_and_reports_both(shipped, engine, registry):
    previous = label_of(shipped)  # the last label that ran healthy, whatever VersionLabel reports after earlier failures
    label = failing_version(shipped, engine, registry, "crash")
    result = shipped.inv("eb.deploy", "--env", "e2e", "--label", label, "--rollback")
    assert result.returncode == 1
    assert f"rollback to {previous}: succeeded" in result.stderr
    after = state(shipped)
    assert after["VersionLabel"] == previous and after["Health"] == "Green"


def test_deploy_started_while_updating_waits_then_succeeds(shipped, standin):
    eb, _ = clients(shipped.env["AWS_ENDPOINT_URL"])
    eb.update_environment(
        EnvironmentName=ENV_NAME,
        OptionSettings=[{"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "WAIT_TEST", "Value": "1"}],
    )
    assert state(shipped)["Status"] == "Updating"
    label = f"again-{uuid.uuid4().hex[:6]}"
    source = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[label_of(shipped)])["ApplicationVersions"][0]
    eb.create_application_version(ApplicationName=APP, VersionLabel=label, SourceBundle=source["SourceBundle"])
    result = shipped.inv("eb.deploy", "--env", "e2e", "--label", label)
    assert result.returncode == 0, result.stdout + result.stderr
    assert state(shipped)["VersionLabel"] == label
    shipped.inv("eb.deploy", "--env", "e2e", "--label", label_of(shipped), check=True)


def test_deploy_past_its_deadline_ends_with_the_timeout_code_and_last_state(shipped, standin):
    eb, _ = clients(shipped.env["AWS_ENDPOINT_URL"])
    source = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[label_of(shipped)])["ApplicationVersions"][0]
    label = f"slow-{uuid.uuid4().hex[:6]}"
    eb.create_application_version(ApplicationName=APP, VersionLabel=label, SourceBundle=source["SourceBundle"])
    standin.update_settings(phase_seconds=3.0)
    try:
        started = time.monotonic()
        result = shipped.inv("eb.deploy", "--env", "e2e", "--label", label, "--timeout", "2")
        elapsed = time.monotonic() - started
    finally:
        standin.update_settings(phase_seconds=0.15)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "TIMED OUT" in result.stderr and "last known state" in result.stderr and "Updating" in result.stderr
    assert elapsed < 30
    eb_wait = time.monotonic() + 60
    while state(shipped)["Status"] != "Ready" and time.monotonic() < eb_wait:
        time.sleep(0.2)
    shipped.inv("eb.deploy", "--env", "e2e", "--label", label_of(shipped), check=True)


def test_label_clash_is_refused_before_any_change(shipped, standin):
    eb, s3 = clients(shipped.env["AWS_ENDPOINT_URL"])
    clash = f"clash-{uuid.uuid4().hex[:6]}"
    s3.put_object(Bucket="eb-deploys", Key=f"other/{clash}.json", Body=b'{"AWSEBDockerrunVersion": "1"}')
    eb.create_application_version(
        ApplicationName=APP, VersionLabel=clash, SourceBundle={"S3Bucket": "eb-deploys", "S3Key": f"other/{clash}.json"}
    )
    standin.reset_calls()
    result = shipped.inv("eb.version", "--label", clash)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "different bundle" in result.stderr
    calls = standin.calls()
    assert not any(op in calls for op in ("CreateApplicationVersion", "s3:PutObject", "UpdateEnvironment")), calls


def test_deploys_succeed_under_injected_throttling(shipped, standin):
    eb, _ = clients(shipped.env["AWS_ENDPOINT_URL"])
    source = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[label_of(shipped)])["ApplicationVersions"][0]
    label = f"throttled-{uuid.uuid4().hex[:6]}"
    eb.create_application_version(ApplicationName=APP, VersionLabel=label, SourceBundle=source["SourceBundle"])
    standin.set_faults({"operation": "*", "kind": "throttle", "rate": 0.3})
    try:
        result = shipped.inv("eb.deploy", "--env", "e2e", "--label", label)
    finally:
        faults = standin.faults()
        standin.set_faults()
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(rule["injected"] for rule in faults) > 0, "faults were injected"
    shipped.inv("eb.deploy", "--env", "e2e", "--label", label_of(shipped), check=True)


# --- eb.env ---------------------------------------------------------------------------------------------------------


def configured(project) -> dict[str, str]:
    eb, _ = clients(project.env["AWS_ENDPOINT_URL"])
    settings = eb.describe_configuration_settings(ApplicationName=APP, EnvironmentName=ENV_NAME)["ConfigurationSettings"][0]
    return {
        o["OptionName"]: o.get("Value", "")
        for o in settings["OptionSettings"]
        if o["Namespace"] == "aws:elasticbeanstalk:application:environment"
    }


def test_env_round_trips_awkward_values_and_prints_no_secret(shipped, standin):
    result = shipped.inv("eb.env", "--env", "e2e")
    assert result.returncode == 0, result.stdout + result.stderr
    values = configured(shipped)
    for key, value in AWKWARD.items():
        assert values[key] == value, key
    assert values["SECRET_KEY"] == SECRET_MARKER
    for output in (result.stdout, result.stderr):
        assert SECRET_MARKER not in output
        for value in AWKWARD.values():
            assert value not in output
    assert "Successfully deployed new configuration to environment." in result.stdout
    standin.reset_calls()
    again = shipped.inv("eb.env", "--env", "e2e")
    assert again.returncode == 0 and "UpdateEnvironment" not in standin.calls(), "no difference, no update"


def env_with_variables(shipped, standin, variables: str):
    """Runs eb.env with the e2e environment declaring ``variables`` (TOML lines); counts start from zero."""
    (shipped.root / "environments.toml").write_text(f'[e2e]\neb_environment = "{ENV_NAME}"\n[e2e.variables]\n{variables}')
    try:
        standin.reset_calls()
        return shipped.inv("eb.env", "--env", "e2e")
    finally:
        shipped.git("checkout", "environments.toml")


def test_env_lists_every_unset_variable_before_any_call(shipped, standin):
    result = env_with_variables(shipped, standin, 'A = "${UNSET_ONE}"\nB = "x-${UNSET_TWO}"\n')
    assert result.returncode == 2
    assert "UNSET_ONE" in result.stderr and "UNSET_TWO" in result.stderr
    assert standin.calls() == {}


def test_env_rejects_an_over_limit_or_illegal_set_before_any_call(shipped, standin):
    big = "".join(f'K{i} = "{"v" * 250}"\n' for i in range(20))
    result = env_with_variables(shipped, standin, big + 'HASH = "${E2E_SECRET},$2b$12"\n')
    assert result.returncode == 2
    assert "4096" in result.stderr.replace(",", "") and "HASH" in result.stderr and "','" in result.stderr
    assert SECRET_MARKER not in result.stdout + result.stderr
    assert standin.calls() == {}


def test_env_sends_what_aws_documents_or_shows_and_warns_about_the_rest(shipped, standin):
    """AWS's own example value, a query string and a percent-encoded password reach the environment byte-equal; only
    the characters outside the documented set get a warning, naming the key (a secret's characters are not named)."""
    sent = {
        "JDBC_CONNECTION_STRING": "jdbc:mysql://localhost:3306/mydatabase?user=me&password=mypassword",
        "CALLBACK": "https://app.example/cb?state=a1&next=/home",
        "DATABASE_URL": "postgres://app:p%40ss%3Aword@db:5432/app",
    }
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in sent.items())
    result = env_with_variables(shipped, standin, lines + 'HASH_SECRET = "${E2E_SECRET}$2b$12"\n')
    assert result.returncode == 0, result.stdout + result.stderr
    values = configured(shipped)
    assert {key: values[key] for key in sent} == sent
    assert values["HASH_SECRET"] == SECRET_MARKER + "$2b$12"
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning: ")]
    assert [line.split(":")[1].strip() for line in warnings] == ["DATABASE_URL", "HASH_SECRET"], warnings
    assert "'%' (percent sign)" in warnings[0] and "its value holds characters outside" in warnings[1]
    assert SECRET_MARKER not in result.stdout + result.stderr and "$2b$12" not in result.stdout + result.stderr


def test_no_marker_secret_in_any_output(shipped):
    for args in (
        ("eb.status", "--env", "e2e"),
        ("eb.events", "--env", "e2e"),
        ("eb.deploy", "--env", "e2e", "--dry-run"),
        ("eb.env", "--env", "e2e", "--dry-run"),
        ("eb.version", "--dry-run"),
    ):
        result = shipped.inv(*args)
        assert result.returncode == 0, f"{args}: {result.stderr}"
        for output in (result.stdout, result.stderr):
            assert MARKER_PASSWORD not in output and SECRET_MARKER not in output


# --- operator helpers -----------------------------------------------------------------------------------------------


def test_status_and_events_show_the_environment(shipped):
    status = shipped.inv("eb.status", "--env", "e2e")
    assert status.returncode == 0, status.stderr
    env = state(shipped)
    assert env["VersionLabel"] in status.stdout and env["CNAME"] in status.stdout and "health" in status.stdout
    events = shipped.inv("eb.events", "--env", "e2e", "--count", "5")
    assert events.returncode == 0 and len([line for line in events.stdout.splitlines() if line.strip()]) == 5


def test_prune_keeps_the_newest_and_never_the_running_version(shipped, standin):
    eb, _ = clients(shipped.env["AWS_ENDPOINT_URL"])
    running = state(shipped)["VersionLabel"]
    source = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[running])["ApplicationVersions"][0]
    for _ in range(3):
        eb.create_application_version(
            ApplicationName=APP, VersionLabel=f"old-{uuid.uuid4().hex[:6]}", SourceBundle=source["SourceBundle"]
        )
    standin.reset_calls()
    dry = shipped.inv("eb.prune", "--keep", "1", "--dry-run")
    assert dry.returncode == 0 and "delete version" in dry.stdout
    assert "DeleteApplicationVersion" not in standin.calls()
    result = shipped.inv("eb.prune", "--keep", "1")
    assert result.returncode == 0, result.stderr
    after = [v["VersionLabel"] for v in eb.describe_application_versions(ApplicationName=APP)["ApplicationVersions"]]
    assert running in after
    assert len(after) <= 2
    _, s3 = clients(shipped.env["AWS_ENDPOINT_URL"])
    s3.head_object(Bucket=source["SourceBundle"]["S3Bucket"], Key=source["SourceBundle"]["S3Key"])  # shared bundle kept
