"""The gate before a protected environment (ebship.gate): through the real tasks, on the stand-in, in subprocesses whose
stdin is a pipe (no terminal) or a pseudo-terminal (python's pty module) where the name is typed. A pass is proven by the
change it lets through (the variable eb.env sets), a refusal by exit 2 and no changing call counted by the stand-in."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests_support import REGION, Project, base_env, copy_project, standin_client

from ebship import environments, gate
from ebship.environments import Environment
from ebship.errors import UsageError
from ebship.output import Console
from ebship.plan import Plan, Step

APP = "gateapp"
EB_NAME = "gateapp-prot"
BRANCH = "release/prot"
CHANGING = ("UpdateEnvironment", "s3:PutObject", "CreateApplicationVersion")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(out=out, err=out), out


PROTECTED = Environment(name="prot", eb_environment=EB_NAME, branch=BRANCH, protected=True)


# --- the rule, in process --------------------------------------------------------------------------------------------


def test_protected_is_read_from_environments_toml_and_must_be_a_boolean():
    table = {"eb_environment": EB_NAME, "protected": True}
    assert environments.parse({"prot": table})["prot"].protected
    assert not environments.parse({"open": {"eb_environment": EB_NAME}})["open"].protected
    with pytest.raises(UsageError, match=r"\[prot\] protected: must be true or false"):
        environments.parse({"prot": {**table, "protected": "yes"}})


def test_an_open_environment_is_never_asked():
    con, _ = console()
    open_one = Environment(name="stg", eb_environment="gateapp-stg")
    gate.Gate(open_one, stdin=io.StringIO()).check(con, "a deploy")  # no terminal, no --yes: nothing to ask
    gate.Gate(None, stdin=io.StringIO()).check(con, "a deploy")  # local


@pytest.mark.parametrize(
    ("ci", "branch", "yes", "passes"),
    [
        (False, "", False, False),
        (False, "", True, True),
        (True, BRANCH, False, True),
        (True, f"refs/heads/{BRANCH}", False, True),
        (True, "release/stg", False, False),
        (False, BRANCH, False, False),  # its branch outside CI is a person's checkout: asked like any other
    ],
)
def test_without_a_terminal_only_yes_or_ci_on_its_own_branch_pass(ci, branch, yes, passes):
    con, out = console()
    checked = gate.Gate(PROTECTED, yes=yes, ci=ci, branch=branch, stdin=io.StringIO())
    if passes:
        checked.check(con, "a deploy")
        assert "is protected" in out.getvalue()
    else:
        with pytest.raises(UsageError, match="needs its name typed on a terminal") as refused:
            checked.check(con, "a deploy")
        assert "--yes" in str(refused.value) and BRANCH in str(refused.value)


def test_on_a_terminal_the_elastic_beanstalk_name_must_be_typed():
    con, _ = console()
    prompt = io.StringIO()
    gate.Gate(PROTECTED, stdin=Tty(EB_NAME + "\n"), prompt_to=prompt).check(con, "a deploy")
    assert f"type {EB_NAME}" in prompt.getvalue()
    for typed in ("prot\n", "", f"{EB_NAME}x\n"):
        with pytest.raises(UsageError, match="is cancelled. Nothing was changed"):
            gate.Gate(PROTECTED, stdin=Tty(typed), prompt_to=io.StringIO()).check(con, "a deploy")


def test_a_prune_lists_what_it_would_remove_before_asking():
    con, out = console()
    prompt = io.StringIO()
    step = Step(
        "eb.update_environment",
        {"OptionsToRemove": [{"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "OLD_KEY"}]},
        "update",
    )
    confirm = gate.Gate(PROTECTED, stdin=Tty(""), prompt_to=prompt).confirmer(con)
    with pytest.raises(UsageError):
        confirm(Plan("eb.env prot", (step,)))
    assert "would remove OLD_KEY" in out.getvalue() and prompt.getvalue()


def test_the_gate_reads_ci_and_the_branch_from_the_run(tmp_path):
    destination = environments_destination()

    class FakeJob:
        class source:  # noqa: N801
            branch = BRANCH

    made = gate.for_destination(FakeJob(), destination, yes=False, environ={"CI": "true"})  # type: ignore[arg-type]
    assert made.ci and made.on_own_branch()
    assert not gate.for_destination(FakeJob(), destination, yes=False, environ={}).ci  # type: ignore[arg-type]


def environments_destination():
    from ebship.job import Destination, Target

    return Destination(Target("prot", EB_NAME, APP), PROTECTED, {})


# --- through the tasks, on the stand-in -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Iterator[tuple[Project, Any]]:
    """A project whose environments.toml declares one protected environment, on a stand-in of its own."""
    from localeb.server import start_server

    standin = start_server(tmp_path_factory.mktemp("gate-standin") / "server.log")
    root = copy_project(tmp_path_factory.mktemp("gate-project"))
    (root / "environments.toml").write_text(
        f'[prot]\neb_environment = "{EB_NAME}"\nbranch = "{BRANCH}"\nprotected = true\nhealth = ["Green", "Grey"]\n\n'
        '[prot.variables]\nGATE = "${GATE_VALUE}"\n'
    )
    project = Project(root)
    project.commit("A protected environment")
    project.env = {
        **base_env(),
        "AWS_ENDPOINT_URL": standin.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "EB_APPLICATION": APP,
        "EB_BUCKET": "gate-bucket",
        "DEPLOY_TIMEOUT": "60",
    }
    eb = standin_client("elasticbeanstalk", project.env)
    standin_client("s3", project.env).create_bucket(Bucket="gate-bucket")
    eb.create_application(ApplicationName=APP)
    eb.create_environment(
        ApplicationName=APP, EnvironmentName=EB_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    yield project, standin
    standin.stop()


def gate_value(project: Project) -> str:
    eb = standin_client("elasticbeanstalk", project.env)
    (settings,) = eb.describe_configuration_settings(ApplicationName=APP, EnvironmentName=EB_NAME)["ConfigurationSettings"]
    found = [o.get("Value") for o in settings["OptionSettings"] if o.get("OptionName") == "GATE"]
    return found[0] if found else ""


def changes(standin) -> list[str]:
    return [op for op, count in standin.calls().items() if count and op in CHANGING]


def run_on_pty(project: Project, typed: str, *args: str) -> subprocess.CompletedProcess[str]:
    """inv with a pseudo-terminal as stdin (isatty is true), ``typed`` written to it as a person would."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("inv")), *args],
            cwd=project.root,
            env=project.env,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, typed.encode())
        stdout, stderr = process.communicate(timeout=300)
    finally:
        os.close(controller)
        os.close(terminal)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def refused_without_change(result: subprocess.CompletedProcess[str], standin, project: Project, before: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert not changes(standin), standin.calls()
    assert gate_value(project) == before


def test_eb_env_without_a_terminal_refuses_and_changes_nothing(gated):
    project, standin = gated
    before = gate_value(project)
    standin.reset_calls()
    result = project.inv("eb.env", "--env", "prot", env={"GATE_VALUE": "no-terminal"})
    refused_without_change(result, standin, project, before)
    assert "is protected (environments.toml)" in result.stderr and "--yes" in result.stderr


def test_eb_env_with_yes_passes(gated):
    project, _ = gated
    result = project.inv("eb.env", "--env", "prot", "--yes", env={"GATE_VALUE": "with-yes"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert gate_value(project) == "with-yes"


def test_ci_on_its_own_branch_passes(gated):
    project, _ = gated
    ci = {"GATE_VALUE": "ci-own-branch", "CI": "true", "CIRCLE_BRANCH": BRANCH}
    result = project.inv("eb.env", "--env", "prot", env=ci)
    assert result.returncode == 0, result.stdout + result.stderr
    assert gate_value(project) == "ci-own-branch"


def test_ci_on_another_branch_refuses(gated):
    project, standin = gated
    before = gate_value(project)
    standin.reset_calls()
    result = project.inv("eb.env", "--env", "prot", env={"GATE_VALUE": "ci-other", "CI": "true", "CIRCLE_BRANCH": "main"})
    refused_without_change(result, standin, project, before)


def test_typing_the_name_on_a_terminal_passes(gated):
    project, _ = gated
    project.env["GATE_VALUE"] = "typed-on-a-terminal"
    result = run_on_pty(project, f"{EB_NAME}\n", "eb.env", "--env", "prot")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"type {EB_NAME}:" in result.stderr
    assert gate_value(project) == "typed-on-a-terminal"


def test_typing_a_wrong_name_on_a_terminal_refuses(gated):
    project, standin = gated
    before = gate_value(project)
    project.env["GATE_VALUE"] = "wrong-name"
    standin.reset_calls()
    result = run_on_pty(project, "prot\n", "eb.env", "--env", "prot")
    refused_without_change(result, standin, project, before)
    assert "Typed 'prot', not 'gateapp-prot'" in result.stderr


def test_eb_env_prune_lists_the_removals_before_asking(gated):
    project, standin = gated
    eb = standin_client("elasticbeanstalk", project.env)
    namespace = "aws:elasticbeanstalk:application:environment"
    eb.update_environment(EnvironmentName=EB_NAME, OptionSettings=[{"Namespace": namespace, "OptionName": "STALE", "Value": "x"}])
    for _ in range(60):
        if eb.describe_environments(EnvironmentNames=[EB_NAME])["Environments"][0]["Status"] == "Ready":
            break
        time.sleep(1)
    project.env["GATE_VALUE"] = gate_value(project)
    standin.reset_calls()
    result = run_on_pty(project, "nope\n", "eb.env", "--env", "prot", "--prune")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "would remove STALE" in result.stdout
    assert not changes(standin)


def test_eb_deploy_and_a_rollback_are_gated_too(gated):
    project, standin = gated
    eb = standin_client("elasticbeanstalk", project.env)
    bundle = b'{"AWSEBDockerrunVersion": "1", "Image": {"Name": "example.invalid/app:v1"}, "Ports": [{"ContainerPort": "8000"}]}'
    standin_client("s3", project.env).put_object(Bucket="gate-bucket", Key="v-gate/Dockerrun.aws.json", Body=bundle)
    eb.create_application_version(
        ApplicationName=APP, VersionLabel="v-gate", SourceBundle={"S3Bucket": "gate-bucket", "S3Key": "v-gate/Dockerrun.aws.json"}
    )
    standin.reset_calls()
    result = project.inv("eb.deploy", "--env", "prot", "--label", "v-gate", "--rollback")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "needs its name typed on a terminal" in result.stderr
    assert not changes(standin), standin.calls()
    assert not eb.describe_environments(EnvironmentNames=[EB_NAME])["Environments"][0].get("VersionLabel")


class FirstStageReached(Exception):
    """Raised by the first stage of inv ci in place of a build: the gate has let the run through."""


@pytest.mark.parametrize(("ci", "branch", "passes"), [("true", BRANCH, True), ("true", "main", False), ("", BRANCH, False)])
def test_inv_ci_passes_the_gate_in_ci_on_the_environments_own_branch_only(tmp_path, monkeypatch, ci, branch, passes):
    from ebship import job as jobs
    from ebship import pipeline, release

    (tmp_path / "environments.toml").write_text(f'[prot]\neb_environment = "{EB_NAME}"\nbranch = "{BRANCH}"\nprotected = true\n')
    for name, value in {"CIRCLE_SHA1": "a" * 40, "CIRCLE_BRANCH": branch, "CI": ci, "EB_APPLICATION": APP}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # no terminal

    def build(*args: Any, **kwargs: Any) -> str:
        raise FirstStageReached

    monkeypatch.setattr(release, "build", build)
    con, out = console()
    current = jobs.load(tmp_path, con)
    report = pipeline.CiReport(branch, pipeline.Decision("prot", "test"))
    if passes:
        with pytest.raises(FirstStageReached):
            pipeline.run(current, report, dry_run=False)
        assert [stage.name for stage in report.stages] == ["docker.build"]
    else:
        with pytest.raises(UsageError, match="needs its name typed on a terminal"):
            pipeline.run(current, report, dry_run=False)
        assert report.stages == []  # refused before the first stage
