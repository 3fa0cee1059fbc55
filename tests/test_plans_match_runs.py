"""A dry run prints the plan the real run executes: for each task, the actions of the plan its dry run printed imply
exactly the changing operations the stand-in counted when the task then ran for real, and the real run printed the
same steps. A task that changed something outside its plan (or planned what it did not do) fails here."""

from __future__ import annotations

import json
import re
from collections import Counter

import boto3
import pytest
from tests_support import REGION, Project, base_env, copy_project

from ebship.aws import READ_ONLY_PREFIXES

pytestmark = pytest.mark.slow

APP = "sampleapp"
ENV_NAME = "sampleapp-plans"
# The changing AWS operations each plan action makes when it succeeds; the others only read, wait or talk to Docker.
OPERATIONS = {
    "s3.put_object": ["s3:PutObject"],
    "eb.create_application_version": ["CreateApplicationVersion"],
    "eb.update_environment": ["UpdateEnvironment"],
    "eb.record_last_good": ["s3:PutObject"],  # what runs healthy before a deploy, in the bucket, for rollbacks
    "eb.delete_application_version": ["DeleteApplicationVersion"],
    "eb.roll_back": [],  # only after a failed deploy
    "eb.wait_ready": [],
    "eb.wait_processed": [],
    "registry.verify_login": [],
}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    from localeb.server import start_server

    running = start_server(tmp_path_factory.mktemp("standin") / "server.log", extra_args=["--health-timeout", "8"])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def plans_project(standin, registry, base_image, tmp_path_factory, engine):
    root = copy_project(tmp_path_factory.mktemp("plans-project"))
    (root / "environments.toml").write_text(
        f'[plans]\neb_environment = "{ENV_NAME}"\nbranch = "release/plans"\n\n[plans.variables]\nGREETING = "hello"\n'
    )
    project = Project(root, {})
    project.commit("Declare the plans environment")
    project.env = {
        **base_env(),
        "AWS_ENDPOINT_URL": standin.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "IMAGE_REPOSITORY": f"{registry.address}/acme/plans",
        "REGISTRY_USERNAME": registry.username,
        "REGISTRY_PASSWORD": registry.password,
        "BASE_IMAGE": base_image,
        "DOCKER_BUILD_NETWORK": "host",
        "EB_BUCKET": "plan-deploys",
        "EB_APPLICATION": APP,
        "DEPLOY_TIMEOUT": "120",
    }
    kwargs = {"endpoint_url": standin.endpoint_url, "region_name": REGION, "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    boto3.client("s3", **kwargs).create_bucket(Bucket="plan-deploys")
    eb = boto3.client("elasticbeanstalk", **kwargs)
    eb.create_application(ApplicationName=APP)
    eb.create_environment(
        ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
    )
    return project


def steps(output: str) -> list[str]:
    return re.findall(r"^  \d+\. (.*)$", output, flags=re.MULTILINE)


def actions(output: str) -> list[str]:
    return re.findall(r"^ +action: (\S+)$", output, flags=re.MULTILINE)


def changes(calls: dict[str, int]) -> Counter[str]:
    """The changing operations the stand-in counted (reads and the stand-in's own control calls left out)."""
    return Counter(
        {
            op: n
            for op, n in calls.items()
            if not op.split(":")[-1].startswith((*READ_ONLY_PREFIXES, "Retrieve")) and not op.startswith("_")
        }
    )


def run_both(project: Project, standin, *args: str, extra: list[str] | None = None) -> tuple[list[str], Counter[str], str]:
    """The task's dry run, then its real run: the planned actions, the counted changes, the real run's output."""
    dry = project.inv(*args, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    planned = actions(dry.stdout)
    standin.reset_calls()
    real = project.inv(*args)
    assert real.returncode == 0, real.stdout + real.stderr
    assert steps(real.stdout) == steps(dry.stdout), (dry.stdout, real.stdout)
    return planned, changes(standin.calls()), real.stdout


def implied(planned: list[str], *more: str) -> Counter[str]:
    return Counter([op for action in planned for op in OPERATIONS[action]] + list(more))


def test_every_task_does_what_its_dry_run_planned(plans_project, standin):
    project = plans_project
    for docker_task in ("docker.build", "docker.test", "docker.push"):  # no AWS call: the same steps, none counted
        planned, counted, _ = run_both(project, standin, docker_task)
        assert planned and not counted, (docker_task, counted)

    planned, counted, _ = run_both(project, standin, "s3.auth")
    assert planned == ["registry.verify_login", "s3.put_object"] and counted == implied(planned)

    planned, counted, _ = run_both(project, standin, "eb.version")
    assert planned == ["s3.put_object", "eb.create_application_version", "eb.wait_processed"]
    assert counted == implied(planned)

    planned, counted, output = run_both(project, standin, "eb.deploy", "--env", "plans", "--rollback")
    assert "eb.update_environment" in planned and "Deployed" in output
    assert counted == implied(planned)

    planned, counted, _ = run_both(project, standin, "eb.env", "--env", "plans")
    assert planned == ["eb.update_environment"] and counted == implied(planned)

    for label in ("second", "third"):
        assert project.inv("eb.version", "--label", label).returncode == 0
    planned, counted, output = run_both(project, standin, "eb.prune", "--keep", "1")
    assert planned.count("eb.delete_application_version") == 1 and counted == implied(planned), output
    assert json.dumps(dict(counted))  # the counts as the stand-in gave them, for the failure message
