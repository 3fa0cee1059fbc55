"""--json: one JSON document on stdout, valid against docs/results.schema.json, for success, failure, timeout and bad
input alike, with people's output on stderr and secrets masked; under GitHub Actions the same run masks each secret with
::add-mask:: before anything else and appends step outputs to $GITHUB_OUTPUT."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests_support import MARKER_PASSWORD, REGION, Project, base_env, copy_project, standin_client, standin_env

from ebship import results
from ebship.beanstalk import EnvState
from ebship.errors import UsageError
from ebship.job import Target
from ebship.output import Console, secret_forms
from ebship.verdict import DeployFailed, DeployTimedOut, Report
from ebship.watch import Outcome

SCHEMA = json.loads(results.SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
TARGET = Target("stg", "web-stg", "web")
DIGEST = "sha256:" + "ab" * 32


def valid(document: Any) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda error: list(error.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors) + f"\n{document}"
    return dict(document)


def only_document(stdout: str) -> dict[str, Any]:
    """stdout holds one JSON document and nothing else."""
    return valid(json.loads(stdout))


def test_the_schema_is_a_draft_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


# --- the console in --json mode ---------------------------------------------------------------------------------------


def test_people_output_goes_to_stderr_and_the_document_to_stdout_both_masked():
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_secrets([MARKER_PASSWORD])
    console.people_on_stderr = True
    console.print(f"human {MARKER_PASSWORD}")
    console.document(json.dumps({"message": f"a {MARKER_PASSWORD} b"}))
    assert out.getvalue() == '{"message": "a **** b"}\n'
    assert err.getvalue() == "human ****\n"
    console.people_on_stderr = False
    console.print("back")
    assert out.getvalue().endswith("back\n")


def test_a_secret_is_masked_in_the_json_text_and_in_each_string():
    console = Console(io.StringIO(), io.StringIO())
    console.add_secrets([MARKER_PASSWORD])
    built = results.masked({"message": f"x{MARKER_PASSWORD}y", "stages": [{"detail": MARKER_PASSWORD}]}, console)
    assert built == {"message": "x****y", "stages": [{"detail": "****"}]}
    # The JSON text is masked too: a secret's JSON-escaped form never reaches stdout.
    out = io.StringIO()
    Console(out, io.StringIO()).document("")  # nothing known, nothing masked
    masking = Console(out, io.StringIO())
    masking.add_secrets([MARKER_PASSWORD])
    masking.document(json.dumps({"raw": MARKER_PASSWORD}))
    assert json.loads(out.getvalue().splitlines()[-1]) == {"raw": "****"}


def test_on_secret_hears_each_new_form_once():
    heard: list[list[str]] = []
    console = Console(io.StringIO(), io.StringIO())
    console.on_secret = heard.append
    console.add_secrets([MARKER_PASSWORD])
    console.add_secrets([MARKER_PASSWORD])
    console.add_credentials("robot", "s3cr3t-pw")
    assert heard[0] == sorted(secret_forms(MARKER_PASSWORD))
    assert len(heard) == 3  # the password's forms, then the base64 of robot:s3cr3t-pw on its own
    assert console.secrets >= set(heard[0]) | set(heard[1]) | set(heard[2])


# --- the document of each ending ----------------------------------------------------------------------------------------


def run_recorded(body, command="eb.deploy", dry_run=False, environ=None) -> tuple[dict[str, Any], str, BaseException | None]:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_secrets([MARKER_PASSWORD])
    raised = None
    try:
        with results.recorded(command, console, True, dry_run=dry_run, environ=environ or {}) as record:
            body(record)
    except BaseException as error:  # noqa: BLE001 (the test looks at whatever the body raised)
        raised = error
    assert not console.people_on_stderr and console.on_secret is None  # the console is left as it was found
    return only_document(out.getvalue()), err.getvalue(), raised


def state(health="Green", label="v2") -> EnvState:
    return EnvState("web-stg", "Ready", health, label, "web-stg.example.elasticbeanstalk.com", "Docker")


def test_a_healthy_deploy():
    def body(record):
        record.target, record.version, record.digest = TARGET, "v2", DIGEST
        record.report = Report(Outcome("deployed", state()), "v2", TARGET)

    document, _, raised = run_recorded(body)
    assert raised is None
    assert document["verdict"] == "ok" and document["exit_code"] == 0 and document["message"] is None
    assert document["environment"] == {"name": "stg", "eb_environment": "web-stg", "application": "web"}
    assert (document["version"], document["digest"], document["health"]) == ("v2", DIGEST, "Green")
    assert document["url"] == "http://web-stg.example.elasticbeanstalk.com"
    assert [stage["name"] for stage in document["stages"]] == ["eb.deploy"]


def test_a_failed_deploy_with_its_rollback_keeps_its_exception_and_exit_code():
    report = Report(Outcome("failed", state("Red"), f"pull refused {MARKER_PASSWORD}"), "v2", TARGET, "v1")
    report.rollback = Outcome("deployed", state("Green", "v1"))

    def body(record):
        record.target = TARGET
        raise DeployFailed(f"Deploy of v2 FAILED: {MARKER_PASSWORD}", report)

    document, _, raised = run_recorded(body)
    assert isinstance(raised, DeployFailed)  # the task's handler still prints it and exits 1
    assert (document["verdict"], document["exit_code"]) == ("failed", 1)
    assert document["message"] == "Deploy of v2 FAILED: ****"
    assert document["rollback"] == {"to": "v1", "result": "deployed", "ok": True}
    assert (document["health"], document["running_version"]) == ("Green", "v1")  # where it ended: after the rollback
    assert MARKER_PASSWORD not in json.dumps(document)


def test_a_timeout():
    report = Report(Outcome("timeout", state("Grey", "v1"), "still Updating"), "v2", TARGET)

    def body(record):
        raise DeployTimedOut("Deploy of v2 TIMED OUT.", report)

    document, _, raised = run_recorded(body)
    assert isinstance(raised, DeployTimedOut)
    assert (document["verdict"], document["exit_code"], document["health"]) == ("timeout", 3, "Grey")
    assert document["stages"][0]["result"] == "failed"


def test_bad_input_before_anything_was_read():
    def body(record):
        raise UsageError("--timeout takes a whole number 1 or more, not 'abc'.")

    document, _, raised = run_recorded(body)
    assert isinstance(raised, UsageError)
    assert (document["verdict"], document["exit_code"]) == ("bad-input", 2)
    assert document["message"] == "--timeout takes a whole number 1 or more, not 'abc'."
    assert document["environment"] is None and document["version"] is None


def test_an_interruption_and_a_bug():
    def interrupted(record):
        raise KeyboardInterrupt

    def bug(record):
        raise ZeroDivisionError(MARKER_PASSWORD)

    document, _, _ = run_recorded(interrupted)
    assert (document["verdict"], document["exit_code"], document["stages"][0]["result"]) == ("interrupted", 130, "interrupted")
    document, _, _ = run_recorded(bug)
    assert (document["verdict"], document["exit_code"], document["message"]) == (
        "failed",
        1,
        "Unexpected error (ZeroDivisionError).",
    )


def test_a_dry_run_is_planned_and_lists_keys_never_values():
    from ebship.envvars import EnvDiff

    def body(record):
        record.target = TARGET
        record.changes = EnvDiff(added={"NEW": MARKER_PASSWORD}, changed={"SECRET_KEY": "x"}, removed=("OLD",), unchanged=("A",))

    document, _, _ = run_recorded(body, command="eb.env", dry_run=True)
    assert (document["verdict"], document["dry_run"]) == ("planned", True)
    assert document["changes"] == {
        "added": ["NEW"],
        "changed": ["SECRET_KEY"],
        "removed": ["OLD"],
        "undeclared": [],
        "unchanged": 1,
    }
    assert "****" not in json.dumps(document)  # not masked: absent


def test_ci_reports_its_stages_message_and_exit_code():
    from ebship.pipeline import CiReport, Decision, Stage

    def body(record):
        record.ci = CiReport(
            "release/stg",
            Decision("stg", "branch release/stg deploys to stg"),
            [Stage("docker.build", "ok", 12.5, "sha256:1234"), Stage("docker.test", "failed", 3.0, "tests failed")],
            exit_code=1,
            message="the app's tests failed (exit status 1)",
        )

    document, _, raised = run_recorded(body, command="ci")
    assert raised is None
    assert (document["verdict"], document["exit_code"]) == ("failed", 1)
    assert document["message"] == "the app's tests failed (exit status 1)"
    assert [(s["name"], s["result"], s["seconds"]) for s in document["stages"]] == [
        ("docker.build", "ok", 12.5),
        ("docker.test", "failed", 3.0),
    ]
    assert document["environment"] == {"name": "stg", "eb_environment": None, "application": None}


def test_inv_ci_keeps_the_message_it_stopped_with():
    from ebship import pipeline
    from ebship.errors import PipelineError

    report = pipeline.CiReport("main", pipeline.Decision("", "build and test only"))
    pipeline.failed(report, PipelineError(f"push refused for {MARKER_PASSWORD}"), Console(io.StringIO(), io.StringIO()))
    assert (report.exit_code, report.message) == (1, f"push refused for {MARKER_PASSWORD}")  # masked when documented
    pipeline.interrupted(report, Console(io.StringIO(), io.StringIO()))
    assert (report.exit_code, report.message) == (130, "Interrupted.")


# --- GitHub Actions ---------------------------------------------------------------------------------------------------


def test_add_mask_escapes_the_command_data_and_registers_each_line_of_a_multiline_secret():
    assert results.add_mask_lines("100%\r\nsure") == [
        "::add-mask::100%25%0D%0Asure",
        "::add-mask::100%25",
        "::add-mask::sure",
    ]
    assert results.add_mask_lines("one-line") == ["::add-mask::one-line"]
    assert results.add_mask_lines("ab\nlonger") == ["::add-mask::ab%0Alonger", "::add-mask::longer"]


def test_step_outputs_use_the_delimiter_form_only_for_a_line_break():
    assert results.output_entry("url", "http://x") == "url=http://x\n"
    entry = results.output_entry("result", "a\nb")
    delimiter = entry.split("\n")[0].removeprefix("result<<")
    assert delimiter.startswith("ghadelimiter_") and delimiter not in "a\nb"
    assert entry == f"result<<{delimiter}\na\nb\n{delimiter}\n"


def test_under_github_actions_masks_come_first_and_outputs_are_appended(tmp_path):
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=kept\n")
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_secrets(["known-before"])
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    with results.recorded("eb.deploy", console, False, environ=environ) as record:
        console.add_credentials("robot", MARKER_PASSWORD)  # as loading the settings does
        console.print(f"deploying with {MARKER_PASSWORD}")
        record.target, record.version, record.digest = TARGET, "v2", DIGEST
        record.report = Report(Outcome("deployed", state()), "v2", TARGET)
    lines = out.getvalue().splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert "::add-mask::known-before" in masks
    assert lines[: len(masks)] == masks  # every mask before the first other line
    assert lines[len(masks) :] == ["deploying with ****"]
    assert f"::add-mask::{results.escape_command_data(MARKER_PASSWORD)}" in masks
    assert err.getvalue() == ""
    written = outputs.read_text()
    assert written.startswith("earlier=kept\n")
    entries = dict(line.split("=", 1) for line in written.splitlines()[1:])
    assert entries["verdict"] == "ok" and entries["exit-code"] == "0" and entries["version"] == "v2"
    assert entries["digest"] == DIGEST and entries["url"] == "http://web-stg.example.elasticbeanstalk.com"
    assert valid(json.loads(entries["result"]))["verdict"] == "ok"
    assert MARKER_PASSWORD not in written


@pytest.mark.parametrize("where", ["missing/folder/output", "a-directory"])
def test_an_unwritable_github_output_stops_the_run_before_its_body_with_a_document_saying_so(tmp_path, where):
    """Step outputs that cannot be written were a traceback after the deploy: the document said ok, the exit was 1."""
    (tmp_path / "a-directory").mkdir()
    out, err = io.StringIO(), io.StringIO()
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / where)}
    ran = []
    with pytest.raises(UsageError) as refused, results.recorded("eb.deploy", Console(out, err), True, environ=environ):
        ran.append("the body")
    assert ran == [], "nothing runs, so nothing changes"
    assert f"GITHUB_OUTPUT names {tmp_path / where}, which cannot be written" in str(refused.value)
    assert refused.value.exit_code == 2
    lines = out.getvalue().splitlines()
    document = valid(json.loads("\n".join(line for line in lines if not line.startswith("::"))))
    assert (document["verdict"], document["exit_code"]) == ("bad-input", 2)
    assert "cannot be written" in document["message"]


# --- through the tasks, on the stand-in -------------------------------------------------------------------------------

APP = "jsonapp"
EB_NAME = "jsonapp-stg"
SECRET_VALUE = "json-marker-" + MARKER_PASSWORD


@pytest.fixture(scope="module")
def on_standin(tmp_path_factory) -> Iterator[tuple[Project, Any]]:
    """A project with one environment (a secret variable declared) on a stand-in of its own."""
    from localeb.server import start_server

    standin = start_server(tmp_path_factory.mktemp("json-standin") / "server.log")
    root = copy_project(tmp_path_factory.mktemp("json-project"))
    (root / "environments.toml").write_text(
        f'[stg]\neb_environment = "{EB_NAME}"\nbranch = "release/stg"\nhealth = ["Green", "Grey"]\n\n'
        '[stg.variables]\nAPI_TOKEN = "${JSON_SECRET}"\nGREETING = "hello"\n'
    )
    project = Project(root)
    project.commit("One environment for --json")
    project.env = {
        **base_env(),
        "AWS_ENDPOINT_URL": standin.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "EB_APPLICATION": APP,
        "EB_BUCKET": "json-bucket",
        "DEPLOY_TIMEOUT": "60",
        "JSON_SECRET": SECRET_VALUE,
        "REGISTRY_USERNAME": "robot",
        "REGISTRY_PASSWORD": MARKER_PASSWORD,
    }
    eb = standin_client("elasticbeanstalk", project.env)
    s3 = standin_client("s3", project.env)
    s3.create_bucket(Bucket="json-bucket")
    eb.create_application(ApplicationName=APP)
    eb.create_environment(
        ApplicationName=APP, EnvironmentName=EB_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    # A version whose image no registry serves: its deploy fails the way a bad pull does.
    dockerrun = {"AWSEBDockerrunVersion": "1", "Image": {"Name": "127.0.0.1:1/none/such:v-bad"}, "Ports": [{"ContainerPort": 80}]}
    s3.put_object(Bucket="json-bucket", Key="deploy/v-bad/Dockerrun.aws.json", Body=json.dumps(dockerrun).encode())
    eb.create_application_version(
        ApplicationName=APP,
        VersionLabel="v-bad",
        SourceBundle={"S3Bucket": "json-bucket", "S3Key": "deploy/v-bad/Dockerrun.aws.json"},
        Description=f"unpullable (image {DIGEST})",
    )
    yield project, standin
    standin.stop()


def no_secret(result) -> None:
    for text in (result.stdout, result.stderr):
        for secret in (MARKER_PASSWORD, SECRET_VALUE):
            assert not any(form in text for form in secret_forms(secret)), text


def test_eb_status_json(on_standin):
    project, _ = on_standin
    result = project.inv("eb.status", "--env", "stg", "--json")
    assert result.returncode == 0, result.stderr
    document = only_document(result.stdout)
    assert (document["command"], document["verdict"], document["status"]) == ("eb.status", "ok", "Ready")
    assert document["environment"] == {"name": "stg", "eb_environment": EB_NAME, "application": APP}
    assert document["url"] and document["url"].startswith("http")
    assert "status" in result.stderr and "health" in result.stderr  # people's rows, on stderr
    no_secret(result)


def test_bad_input_under_json_is_a_document_with_exit_2(on_standin):
    project, _ = on_standin
    for args, says in [
        (("eb.deploy", "--env", "stg", "--json", "--timeout", "abc"), "--timeout takes a whole number"),
        (("eb.deploy", "--env", "stg", "--json", "--label", "no-such"), "No version 'no-such'"),
        (("eb.status", "--env", "nowhere", "--json"), "nowhere"),
        (("eb.promote", "--to", "stg", "--json"), "Name both environments"),
    ]:
        result = project.inv(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        document = only_document(result.stdout)
        assert (document["verdict"], document["exit_code"]) == ("bad-input", 2), args
        assert says in document["message"] and says in result.stderr, (args, document)
        assert "Traceback" not in result.stderr
        no_secret(result)


def test_ci_with_no_target_under_ci_is_bad_input(on_standin):
    project, _ = on_standin
    env = {**project.env, "CI": "true"}
    env.pop("EB_BUCKET")
    result = project.inv("ci", "--json", env=env)
    assert result.returncode == 2, result.stderr
    document = only_document(result.stdout)
    assert (document["command"], document["verdict"]) == ("ci", "bad-input")
    assert "no deploy target is configured" in document["message"]


def test_eb_env_dry_run_json_lists_keys_and_never_a_value(on_standin):
    project, standin = on_standin
    standin.reset_calls()
    result = project.inv("eb.env", "--env", "stg", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    document = only_document(result.stdout)
    assert (document["verdict"], document["dry_run"]) == ("planned", True)
    assert document["changes"]["added"] == ["API_TOKEN", "GREETING"]
    assert "Dry run" in result.stderr and "Dry run" not in result.stdout
    no_secret(result)
    assert not [op for op, n in standin.calls().items() if n and "UpdateEnvironment" in op]


def test_a_failed_deploy_under_json_and_github_actions(on_standin, tmp_path):
    project, _ = on_standin
    outputs = tmp_path / "github_output"
    env = {**project.env, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    result = project.inv("eb.deploy", "--env", "stg", "--label", "v-bad", "--json", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    document = only_document(result.stdout)
    assert (document["verdict"], document["version"], document["digest"]) == ("failed", "v-bad", DIGEST)
    assert document["health"] == "Red"  # the failed deploy's own state, carried by its exception
    assert "FAILED" in document["message"] and "FAILED" in result.stderr
    # Each secret is masked with ::add-mask:: (on stderr, where people's output goes under --json) before anything else.
    lines = result.stderr.splitlines()
    masks = [line for line in lines if line.startswith("::add-mask::")]
    assert masks and lines[: len(masks)] == masks, result.stderr[:2000]
    assert f"::add-mask::{results.escape_command_data(MARKER_PASSWORD)}" in masks
    assert f"::add-mask::{results.escape_command_data(SECRET_VALUE)}" in masks
    rest = "\n".join(lines[len(masks) :]) + result.stdout + outputs.read_text()
    for secret in (MARKER_PASSWORD, SECRET_VALUE):
        assert not any(form in rest for form in secret_forms(secret))
    entries = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert (entries["verdict"], entries["exit-code"], entries["version"], entries["digest"]) == ("failed", "1", "v-bad", DIGEST)


def test_a_timed_out_deploy_under_json(on_standin):
    project, standin = on_standin
    phase = standin.settings()["phase_seconds"]
    standin.update_settings(phase_seconds=3.0)  # each step of the update takes longer than the deadline
    try:
        result = project.inv("eb.deploy", "--env", "stg", "--label", "v-bad", "--json", "--timeout", "2")
    finally:
        standin.update_settings(phase_seconds=phase)
    assert result.returncode == 3, result.stdout + result.stderr
    document = only_document(result.stdout)
    assert (document["verdict"], document["exit_code"]) == ("timeout", 3)
    assert "TIMED OUT" in document["message"]


def test_the_schema_file_is_in_the_docs_beside_its_description():
    assert Path(__file__).resolve().parent.parent / "docs" / "results.schema.json" == results.SCHEMA_PATH
    assert "results.schema.json" in (results.SCHEMA_PATH.parent / "results.md").read_text()


# --- inv ci --json end to end: build, test, push, register, deploy, under GitHub Actions --------------------------------

CI_APP = "jsonci"
CI_ENV = "jsonci-stg"


@pytest.mark.slow
def test_ci_json_under_github_actions_from_commit_to_an_app_that_answers(
    registry, base_image, engine, tmp_path_factory, tmp_path
):
    from localeb.server import start_server

    standin = start_server(tmp_path_factory.mktemp("json-ci-standin") / "server.log", extra_args=["--health-timeout", "8"])
    try:
        root = copy_project(tmp_path_factory.mktemp("json-ci-project"))
        (root / "environments.toml").write_text(f'[stg]\neb_environment = "{CI_ENV}"\nbranch = "release/stg"\n')
        outputs = tmp_path / "github_output"
        env = standin_env(
            standin.endpoint_url, registry, base_image, "acme/jsonci", "jsonci-deploys", CI_APP, DEPLOY_TIMEOUT="120", CI="true"
        )
        project = Project(root, {**env, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)})
        project.commit("Declare stg")
        project.git("checkout", "-q", "-B", "release/stg")
        standin_client("s3", project.env).create_bucket(Bucket="jsonci-deploys")
        eb = standin_client("elasticbeanstalk", project.env)
        eb.create_application(ApplicationName=CI_APP)
        eb.create_environment(
            ApplicationName=CI_APP, EnvironmentName=CI_ENV, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
        )

        result = project.inv("ci", "--json")

        assert result.returncode == 0, result.stdout + result.stderr
        document = only_document(result.stdout)
        sha = project.git("rev-parse", "HEAD")
        assert (document["command"], document["verdict"], document["version"], document["health"]) == ("ci", "ok", sha, "Green")
        assert [stage["name"] for stage in document["stages"]] == [
            "docker.build",
            "docker.test",
            "docker.push",
            "s3.auth",
            "eb.version",
            "eb.deploy",
        ]
        assert all(stage["result"] == "ok" and stage["seconds"] > 0 for stage in document["stages"])
        assert document["digest"].startswith("sha256:")
        assert "=== summary ===" in result.stderr  # people's output, on stderr
        with urllib.request.urlopen(document["url"], timeout=5) as response:
            assert response.status == 200
        lines = result.stderr.splitlines()
        masks = [line for line in lines if line.startswith("::add-mask::")]
        assert lines[: len(masks)] == masks and f"::add-mask::{results.escape_command_data(MARKER_PASSWORD)}" in masks
        rest = "\n".join(lines[len(masks) :]) + result.stdout + outputs.read_text()
        assert not any(form in rest for form in secret_forms(MARKER_PASSWORD))
        entries = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
        assert (entries["verdict"], entries["exit-code"], entries["version"]) == ("ok", "0", sha)
        assert (entries["url"], entries["digest"], entries["environment"]) == (document["url"], document["digest"], "stg")
    finally:
        standin.stop()
