"""First contact: no AWS credentials (or unusable ones), `inv doctor` when AWS cannot be used, and `inv ci`'s summary
after a crash or Ctrl-C. Every task runs for real, as a subprocess, in a copy of the project with a HOME of its own and
no AWS_* variable of the developer's.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests_support import MARKER_PASSWORD, REGION, Project, base_env, copy_project, default_signals

from ebship import aws, cloud, doctor, pipeline
from ebship import settings as settings_module
from ebship.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from ebship.job import Destination, Job, Target
from ebship.output import Console
from tasks.ci import run_ci

NO_CREDENTIALS = "No AWS credentials found"
MARKER_KEY_ID = "AKIAM4RK3R7F3A000000"


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Project:
    """The project on a machine where AWS was never set up: every setting but the credentials."""
    root = copy_project(tmp_path_factory.mktemp("first-contact"))
    home = tmp_path_factory.mktemp("home")
    env = {
        **{name: value for name, value in base_env().items() if name != "HOME"},
        "HOME": str(home),
        "AWS_REGION": REGION,
        "IMAGE_REPOSITORY": "127.0.0.1:9/acme/web",  # a closed port: the registry check fails at once
        "REGISTRY_USERNAME": "ci-robot",
        "REGISTRY_PASSWORD": MARKER_PASSWORD,
        "EB_APPLICATION": "sampleapp",
        "EB_BUCKET": "sampleapp-deploys",
        "SECRET_KEY": "first-contact-secret-key",
        "PROD_SECRET_KEY": "first-contact-prod-key",
    }
    assert not any(name.startswith("AWS_") and name != "AWS_REGION" for name in env)
    return Project(root, env)


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


# --- no credentials: one line, exit 2, no traceback ------------------------------------------------------------------

AWS_TASKS = [
    ("eb.status", "--env", "stg"),
    ("eb.events", "--env", "stg"),
    ("eb.deploy", "--env", "stg"),
    ("eb.deploy", "--env", "stg", "--dry-run"),
    ("eb.env", "--env", "stg", "--dry-run"),
    ("eb.version", "--dry-run"),
    ("eb.prune", "--env", "stg", "--dry-run"),
    ("s3.auth",),
    ("s3.auth", "--dry-run"),
]


@pytest.mark.parametrize("args", AWS_TASKS, ids=" ".join)
def test_every_aws_task_without_credentials_says_what_is_missing(bare, args):
    result = bare.inv(*args)
    output = output_of(result)
    assert result.returncode == EXIT_USAGE, output
    assert NO_CREDENTIALS in result.stderr and "AWS_PROFILE" in result.stderr, output
    assert "Traceback" not in output and "Unexpected error" not in output
    assert MARKER_PASSWORD not in output


@pytest.mark.parametrize("args", [("eb.status", "--env", "stg"), ("s3.auth", "--dry-run"), ("eb.deploy", "--env", "prod")])
def test_a_missing_profile_is_named(bare, args):
    result = bare.inv(*args, env={"AWS_PROFILE": "missing"})
    output = output_of(result)
    assert result.returncode == EXIT_USAGE, output
    assert "The AWS profile 'missing' (AWS_PROFILE)" in result.stderr, output
    assert "Traceback" not in output


def test_half_the_credentials_names_the_other_half_and_never_shows_the_key(bare):
    result = bare.inv("eb.status", "--env", "stg", env={"AWS_ACCESS_KEY_ID": MARKER_KEY_ID})
    output = output_of(result)
    assert result.returncode == EXIT_USAGE, output
    assert "AWS_SECRET_ACCESS_KEY is missing" in result.stderr, output
    assert MARKER_KEY_ID not in output and "Traceback" not in output


def test_ci_dry_run_without_credentials_is_not_ok(bare):
    result = bare.inv("ci", "--dry-run", "--env", "prod")
    output = output_of(result)
    assert result.returncode == EXIT_USAGE, output
    summary = result.stdout.split("=== summary ===")[1]
    assert "result        STOPPED" in summary and "result        OK" not in summary, output
    assert "s3.auth       failed" in summary and NO_CREDENTIALS in summary
    assert "Traceback" not in output and "Unexpected error" not in output


# --- credentials AWS refuses, as its answers say so (botocore's Stubber: error paths only) ---------------------------


@pytest.fixture
def fresh_run(monkeypatch):
    """A process that has changed nothing yet, with credentials in place (AWS is the one to refuse them)."""
    monkeypatch.setattr(aws, "changes", [])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MARKER_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MARKER_PASSWORD)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return settings_module.load({}, environ={"AWS_REGION": REGION}, dotenv_path=Path("/nonexistent/.env"))


REFUSALS = [
    ("elasticbeanstalk", "describe_environments", "ExpiredToken", "have expired"),
    ("elasticbeanstalk", "describe_environments", "ExpiredTokenException", "have expired"),
    ("elasticbeanstalk", "describe_environments", "RequestExpired", "clock"),
    ("elasticbeanstalk", "describe_environments", "InvalidClientTokenId", "does not recognise"),
    ("elasticbeanstalk", "describe_environments", "UnrecognizedClientException", "does not recognise"),
    ("elasticbeanstalk", "describe_environments", "SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"),
    ("s3", "list_objects_v2", "InvalidAccessKeyId", "does not recognise"),
    ("s3", "list_objects_v2", "ExpiredToken", "have expired"),
]


@pytest.mark.parametrize(("service", "operation", "code", "says"), REFUSALS)
def test_credentials_aws_refuses_become_one_line_exit_2(fresh_run, service, operation, code, says):
    from botocore.stub import Stubber

    from ebship.beanstalk import Beanstalk

    made = aws.client(fresh_run, service)
    with Stubber(made) as stub:
        stub.add_client_error(operation, service_error_code=code, service_message="as AWS says it", http_status_code=403)
        with pytest.raises(aws.CredentialsError) as raised:
            if service == "s3":
                made.list_objects_v2(Bucket="some-bucket")
            else:  # through the facade that turns other refusals into its own message: this one must get through
                Beanstalk(made).environment("sampleapp-stg")
    assert raised.value.exit_code == EXIT_USAGE
    assert code in str(raised.value) and says in str(raised.value)
    assert "\n" not in str(raised.value) and MARKER_KEY_ID not in str(raised.value) and MARKER_PASSWORD not in str(raised.value)


def test_credentials_expiring_after_a_change_exit_1_and_say_what_was_changed(fresh_run):
    from botocore.stub import Stubber

    made = aws.client(fresh_run, "elasticbeanstalk")
    with Stubber(made) as stub:
        stub.add_response("describe_environments", {"Environments": []})
        stub.add_response("update_environment", {"EnvironmentName": "sampleapp-stg"})
        stub.add_client_error("describe_events", service_error_code="ExpiredToken", http_status_code=403)
        made.describe_environments()
        made.update_environment(EnvironmentName="sampleapp-stg", VersionLabel="v1")
        with pytest.raises(aws.CredentialsError) as raised:
            made.describe_events(EnvironmentName="sampleapp-stg")
    assert raised.value.exit_code == EXIT_FAILED
    assert "UpdateEnvironment" in str(raised.value) and "DescribeEnvironments" not in str(raised.value)


def test_a_refused_web_identity_token_names_the_role_settings(fresh_run):
    """Raised while boto3's chain assumes the role, before any of our clients' hooks can see it."""
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": "InvalidIdentityToken", "Message": "No OpenIDConnect provider found"}}, "AssumeRoleWithWebIdentity"
    )
    known = aws.known_failure(error)
    assert known is not None and known.exit_code == EXIT_USAGE
    assert "AWS_ROLE_ARN" in str(known) and "AWS_WEB_IDENTITY_TOKEN_FILE" in str(known)


def test_other_refusals_are_left_to_their_callers(fresh_run):
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")
    assert aws.credentials_failure(error) is None and aws.known_failure(error) is None
    assert aws.known_failure(RuntimeError("a bug")) is None


# --- inv doctor: always the whole table --------------------------------------------------------------------------------

CHECKS = ("settings", "region", "aws credentials", "bucket", "application", "environment", "registry login", "auth object")


def table_of(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        parts = line.split(None, 1)
        if parts and parts[0] in ("PASS", "FAIL", "SKIP"):
            for name in CHECKS + ("variables",):
                if parts[1].startswith(name + " "):
                    rows[name] = parts[0]
    return rows


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({}, NO_CREDENTIALS),
        ({"AWS_PROFILE": "missing"}, "The AWS profile 'missing'"),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "AWS could not be reached"),
    ],
    ids=["no credentials", "missing profile", "unreachable"],
)
def test_doctor_prints_its_whole_table_when_aws_cannot_be_used(bare, changes, says):
    result = bare.inv("doctor", "--env", "stg", env=changes)
    output = output_of(result)
    assert result.returncode == EXIT_USAGE, output
    rows = table_of(result.stdout)
    assert set(rows) == set(CHECKS + ("variables",)), output
    assert rows["settings"] == "PASS" and rows["variables"] == "PASS", output
    assert rows["registry login"] == "FAIL" and says in result.stdout, output
    for name in ("bucket", "application", "environment", "auth object"):
        assert rows[name] == "SKIP", output
    assert "of 9 checks pass" in result.stdout and "Traceback" not in output and MARKER_PASSWORD not in output


def a_job(root: Path, settings: settings_module.Settings, console: Console) -> Job:
    return Job(root=root, settings=settings, console=console)


def test_doctor_application_and_environment_checks_fail_cleanly_on_a_refusal(fresh_run, monkeypatch, tmp_path):
    """AWS refusing DescribeApplications and DescribeEnvironments (e.g. a missing IAM permission) fails those checks
    with AWS's words; the table goes on."""
    from botocore.stub import Stubber

    answers = {  # the facade makes one client per service, on first use; each answers in the table's order
        "sts": [lambda stub: stub.add_response("get_caller_identity", {"Arn": "arn:aws:iam::123456789012:user/ci"})],
        "s3": [
            lambda stub: stub.add_response("get_bucket_location", {}),  # us-east-1
            lambda stub: stub.add_client_error("get_object", service_error_code="NoSuchKey", http_status_code=404),
        ],
        "elasticbeanstalk": [
            lambda stub: stub.add_client_error(
                "describe_applications", service_error_code="AccessDenied", service_message="denied", http_status_code=403
            ),
            lambda stub: stub.add_client_error(
                "describe_environments", service_error_code="AccessDenied", service_message="denied", http_status_code=403
            ),
        ],
    }

    def stubbed(settings, service):
        made = aws.client(settings, service)
        stub = Stubber(made)
        for answer in answers[service]:
            answer(stub)
        stub.activate()
        return made

    monkeypatch.setattr(cloud, "client", stubbed)
    settings = settings_module.load(
        {"EB_BUCKET": "deploys", "EB_APPLICATION": "sampleapp"}, environ={"AWS_REGION": REGION}, dotenv_path=tmp_path / ".env"
    )
    lines: list[str] = []
    target = Target("stg", "sampleapp-stg", "sampleapp")
    ok = doctor.run(a_job(tmp_path, settings, Console(io.StringIO(), io.StringIO())), Destination(target, None, {}), lines.append)
    assert not ok
    text = "\n".join(lines)
    rows = table_of(text)
    assert rows["application"] == "FAIL" and rows["environment"] == "FAIL", text
    assert "AccessDenied: denied" in text and rows["bucket"] == "PASS" and rows["aws credentials"] == "PASS", text


# --- one bucket-region rule for doctor and eb.version -------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "region"), [(None, "us-east-1"), ("", "us-east-1"), ("EU", "eu-west-1"), ("eu-west-2", "eu-west-2")]
)
def test_bucket_region_reads_the_legacy_constraints(constraint, region):
    assert cloud.bucket_region(constraint) == region


@pytest.mark.slow
def test_doctor_and_eb_version_agree_on_a_legacy_eu_bucket(aws_env, tmp_path):
    """S3 answers GetBucketLocation with "EU" for a bucket created with that legacy constraint (the stand-in, moto,
    does too): both checks must take it for eu-west-1, and both must refuse it for another region."""
    bucket = f"legacy-eu-{int(time.time() * 1000)}"
    boto3.client(
        "s3",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "EU"})
    for region, agrees in (("eu-west-1", True), ("us-east-1", False)):
        settings = settings_module.load(
            {"EB_BUCKET": bucket, "EB_APPLICATION": "sampleapp"},
            environ={"AWS_ENDPOINT_URL": aws_env["AWS_ENDPOINT_URL"], "AWS_REGION": region},
            dotenv_path=tmp_path / ".env",
        )
        lines: list[str] = []
        target = Target("stg", "sampleapp-stg", "sampleapp")
        doctor.run(a_job(tmp_path, settings, Console(io.StringIO(), io.StringIO())), Destination(target, None, {}), lines.append)
        assert (table_of("\n".join(lines))["bucket"] == "PASS") is agrees, "\n".join(lines)
        storage = cloud.Cloud(settings).s3
        if agrees:
            storage.require_bucket_in(bucket, region)
        else:
            with pytest.raises(UsageError, match="is in eu-west-1"):
                storage.require_bucket_in(bucket, region)


# --- inv ci's summary: OK only when every stage ended ok -------------------------------------------------------------


def git_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "README").write_text("a project\n")
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *command], cwd=root, check=True, capture_output=True)
    return root


def rehearsal(tmp_path: Path, start_local) -> tuple[pipeline.CiReport, str, str]:
    """`inv ci` outside CI without an AWS target: its first stage, local.up, runs ``start_local``."""
    out, err = io.StringIO(), io.StringIO()
    settings = settings_module.load({}, environ={}, dotenv_path=tmp_path / ".env")
    job = a_job(git_project(tmp_path / "project"), settings, Console(out, err))

    report = run_ci(job, "", ci=False, dry_run=False, start_local=start_local)
    return report, out.getvalue(), err.getvalue()


def raising(error: BaseException):
    def start_local() -> None:
        raise error

    return start_local


def test_ci_summary_after_ctrl_c_says_interrupted(tmp_path):
    report, out, err = rehearsal(tmp_path, raising(KeyboardInterrupt()))
    assert report.exit_code == EXIT_INTERRUPTED == 130
    assert "result        INTERRUPTED" in out and "result        OK" not in out
    assert "local.up      interrupted" in out and "Interrupted." in err


def test_ci_summary_after_a_crash_says_failed_and_shows_the_bug(tmp_path):
    report, out, err = rehearsal(tmp_path, raising(RuntimeError("a bug")))
    assert report.exit_code == EXIT_FAILED
    assert "result        FAILED" in out and "local.up      failed" in out and "unexpected error (RuntimeError)" in out
    assert "Traceback" in err and "Unexpected error (RuntimeError)" in err


def test_ci_summary_after_missing_credentials_says_stopped(tmp_path):
    from botocore.exceptions import NoCredentialsError

    report, out, err = rehearsal(tmp_path, raising(NoCredentialsError()))
    assert report.exit_code == EXIT_USAGE
    assert "result        STOPPED" in out and NO_CREDENTIALS in err and "Traceback" not in err


def test_ci_summary_never_reads_ok_with_a_stage_that_did_not_end_ok():
    report = pipeline.CiReport(
        "main", pipeline.Decision("", "test"), [pipeline.Stage("docker.build", "ok"), pipeline.Stage("docker.test")]
    )
    assert pipeline.verdict(report) == "FAILED"
    report.stages[1].result = "ok"
    assert pipeline.verdict(report) == "OK"


# --- Ctrl-C while a deploy is followed, end to end ------------------------------------------------------------------

STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
INTR_APP, INTR_ENV, INTR_BUCKET = "ctrlcapp", "ctrlcapp-env", "ctrlc-deploys"
INTERRUPTED_RUN_SECONDS = 600  # an interrupted run's whole life: its build and push, then the Ctrl-C


def wait_for(condition, timeout: float, what: str, state=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}\n{state()}"
        time.sleep(0.5)


def interrupt_while_the_update_is_held(
    project: Project, standin: Any, *args: str, sig: int = signal.SIGINT
) -> tuple[int, str, str]:
    """Runs `inv ARGS` with the stand-in holding updates as they start; once `inv` follows an update and that update
    waits at the hold, presses Ctrl-C (SIGINT to its process group, whose SIGINT handling is Python's own whatever the
    suite inherited). The hold stays armed: the caller checks what it needs, then releases it."""
    standin.hold("update-started")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("inv")), *args],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_signals,
    )
    # Every wait has a deadline: a run that outlives it is killed, and the assertion below shows all it printed.
    watchdog = threading.Timer(INTERRUPTED_RUN_SECONDS, os.killpg, (process.pid, signal.SIGKILL))
    watchdog.start()
    assert process.stdout is not None and process.stderr is not None
    # People's output is on stdout, or on stderr under --json (stdout carries the document): that one is followed.
    people, other = (process.stderr, process.stdout) if "--json" in args else (process.stdout, process.stderr)
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.append(other.read()), daemon=True)  # never a full pipe
    reader.start()
    try:
        seen, signalled = [], False
        for line in people:  # to the end: what the run prints after the signal is read here too
            seen.append(line)
            if line.startswith("Update of ") and not signalled:
                standin.wait_held("update-started", timeout=60)
                os.killpg(process.pid, sig)
                signalled = True
        process.wait()
        reader.join()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    stdout, stderr = ("".join(rest), "".join(seen)) if "--json" in args else ("".join(seen), "".join(rest))
    assert process.returncode != -signal.SIGKILL, (
        f"inv {' '.join(args)} was still running after {INTERRUPTED_RUN_SECONDS} s (Ctrl-C sent: {signalled}):\n"
        f"{stdout}\n{stderr}"
    )
    return process.returncode, stdout, stderr


@pytest.mark.slow
def test_ctrl_c_while_following_an_update_says_it_goes_on_and_how_to_follow_it(tmp_path, registry, base_image, engine):
    from localeb.server import start_server

    standin = start_server(tmp_path / "server.log", extra_args=["--health-timeout", "8"])
    endpoint = standin.endpoint_url
    keys = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    eb, s3 = boto3.client("elasticbeanstalk", **keys), boto3.client("s3", **keys)

    def environment() -> dict:
        return eb.describe_environments(EnvironmentNames=[INTR_ENV])["Environments"][0]

    def runs(label: str) -> bool:
        state = environment()
        return (state["Status"], state.get("VersionLabel"), state["Health"]) == ("Ready", label, "Green")

    def events() -> str:
        listed = eb.describe_events(EnvironmentName=INTR_ENV, MaxRecords=15)["Events"]
        return "\n".join(f"{event['Severity']} {event['Message'][:300]}" for event in reversed(listed))

    try:
        s3.create_bucket(Bucket=INTR_BUCKET)
        eb.create_application(ApplicationName=INTR_APP)
        eb.create_environment(ApplicationName=INTR_APP, EnvironmentName=INTR_ENV, SolutionStackName=STACK)
        wait_for(lambda: environment()["Status"] == "Ready", 60, "the environment Ready")
        root = copy_project(tmp_path / "project")
        (root / "environments.toml").write_text(f'[rel]\neb_environment = "{INTR_ENV}"\nbranch = "main"\n')
        project = Project(
            root,
            {
                **base_env(),
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_REGION": REGION,
                "IMAGE_REPOSITORY": f"{registry.address}/acme/ctrl-c",
                "REGISTRY_USERNAME": registry.username,
                "REGISTRY_PASSWORD": registry.password,
                "BASE_IMAGE": base_image,
                "DOCKER_BUILD_NETWORK": "host",
                "EB_BUCKET": INTR_BUCKET,
                "EB_APPLICATION": INTR_APP,
                "DEPLOY_TIMEOUT": "180",
                "CI": "true",
            },
        )
        first = project.commit("Declare the environment")
        for task in ("docker.build", "docker.push", "s3.auth", "eb.version"):
            project.inv(task, check=True)

        # eb.deploy: exit 130, and it says the update goes on and how to follow it; the update does go on to its end.
        code, stdout, stderr = interrupt_while_the_update_is_held(project, standin, "eb.deploy", "--env", "rel")
        assert code == EXIT_INTERRUPTED, stdout + stderr
        assert f"the update of {INTR_ENV} (request " in stderr and "goes on in Elastic Beanstalk" in stderr, stderr
        assert "`inv eb.events --env rel --follow`" in stderr and "`inv eb.status --env rel`" in stderr, stderr
        assert "Traceback" not in stdout + stderr and "Deployed" not in stdout
        assert environment()["Status"] == "Updating", "the Ctrl-C landed while the update ran"
        standin.release()
        wait_for(lambda: runs(first), 120, "the update's end", events)

        # inv ci interrupted in eb.deploy: the same words, and a summary that says INTERRUPTED, never OK.
        (root / "app" / "ctrl_c_marker.py").write_text("NOTE = 'second'\n")
        second = project.commit("A second release")
        code, stdout, stderr = interrupt_while_the_update_is_held(project, standin, "ci")
        assert code == EXIT_INTERRUPTED, stdout + stderr
        summary = stdout.split("=== summary ===")[1]
        assert "eb.deploy     interrupted" in summary and "result        INTERRUPTED" in summary, stdout
        assert "result        OK" not in stdout and "skipped" not in summary
        assert "goes on in Elastic Beanstalk" in stderr and "`inv eb.events --env rel --follow`" in stderr, stderr
        assert "Traceback" not in stdout + stderr
        assert (environment()["Status"], environment()["VersionLabel"]) == ("Updating", second)
        standin.release()
        wait_for(lambda: runs(second), 120, "the update's end", events)

        # CI cancels a job with SIGTERM: handled as Ctrl-C is, and --json still prints its document.
        (root / "app" / "ctrl_c_marker.py").write_text("NOTE = 'third'\n")
        third = project.commit("A third release")
        for task in ("docker.build", "docker.push", "eb.version"):
            project.inv(task, check=True)
        code, stdout, stderr = interrupt_while_the_update_is_held(
            project, standin, "eb.deploy", "--env", "rel", "--json", sig=signal.SIGTERM
        )
        assert code == EXIT_INTERRUPTED, stdout + stderr
        document = json.loads(stdout[stdout.index("{") :])
        assert (document["verdict"], document["exit_code"]) == ("interrupted", EXIT_INTERRUPTED), stdout
        assert f"the update of {INTR_ENV} (request " in stderr and "goes on in Elastic Beanstalk" in stderr, stderr
        assert "Traceback" not in stdout + stderr
        assert (environment()["Status"], environment()["VersionLabel"]) == ("Updating", third)
        standin.release()
        wait_for(lambda: runs(third), 120, "the update's end", events)
    finally:
        standin.stop()
    assert not engine.containers.list(all=True, filters={"label": f"localeb.server={standin.server_id}"})


def test_ci_exit_code_is_never_2_once_a_stage_changed_something():
    stopped = pipeline.CiReport("main", pipeline.Decision("stg", "test"), exit_code=EXIT_USAGE)
    stopped.stages = [
        pipeline.Stage("docker.build", "ok"),
        pipeline.Stage("docker.test", "ok"),
        pipeline.Stage("docker.push", "ok"),
    ]
    stopped.stages.append(pipeline.Stage("s3.auth"))  # refused: no credentials
    assert pipeline.settled_exit_code(stopped) == EXIT_FAILED
    stopped.stages[2].result = "planned"  # a dry run changed nothing
    assert pipeline.settled_exit_code(stopped) == EXIT_USAGE


def test_an_interrupted_configuration_update_says_it_goes_on(monkeypatch):
    """eb.env follows its update through the same Deployer.update as eb.deploy: Ctrl-C there says the same."""
    from ebship.deploy import Deployer

    class Followed:
        def until_ready(self, environment):
            return object()

        def follow(self, *args):
            raise KeyboardInterrupt

    class Beanstalk:
        def update(self, **params):
            return "req-42"

    err = io.StringIO()
    deployer = Deployer(Beanstalk(), Console(io.StringIO(), err), 60)  # type: ignore[arg-type]
    monkeypatch.setattr(deployer, "_watcher", lambda deadline: Followed())
    with pytest.raises(KeyboardInterrupt):
        deployer.update(Target("stg", "sampleapp-stg", "sampleapp"), {"OptionSettings": []}, None, None)  # type: ignore[arg-type]
    assert "the update of sampleapp-stg (request req-42) goes on in Elastic Beanstalk" in err.getvalue()
    assert "`inv eb.events --env stg --follow`" in err.getvalue() and "`inv eb.status --env stg`" in err.getvalue()
