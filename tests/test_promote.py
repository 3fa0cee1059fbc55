"""eb.promote end to end on the stand-in, through the real tasks: stg built, pushed, registered and deployed once; prod
gets the very version stg runs, the same image digest, with no rebuild; and every refusal (another label, stg unhealthy,
the tag pushed again) exits 2 with prod untouched."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests_support import Project, copy_project, standin_client, standin_env

from ebship import promote, versions

APP = "promoapp"
STG, PROD = "promoapp-stg", "promoapp-prod"
REPOSITORY = "acme/promote"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def test_only_two_environments_of_one_application_promote_to_each_other():
    from ebship.errors import UsageError
    from ebship.job import Target

    stg, prod = Target("stg", STG, APP), Target("prod", PROD, APP)
    promote.check_pair(stg, prod)
    with pytest.raises(UsageError, match="a version belongs to one application"):
        promote.check_pair(stg, Target("prod", PROD, "otherapp"))
    with pytest.raises(UsageError, match="are the same environment"):
        promote.check_pair(stg, Target("again", STG, APP))


def test_a_digest_is_recorded_within_the_description_limit_and_read_back():
    digest = "sha256:" + "a" * 64
    described = versions.with_digest("x" * 300, digest)
    assert len(described) == versions.MAX_DESCRIPTION and versions.recorded_digest(described) == digest
    assert versions.recorded_digest("Sample app release") == ""
    assert promote.bundle_image(b'{"Image": {"Name": "r.example/app:1"}}') == "r.example/app:1"
    assert promote.bundle_image(b"not json") == "" and promote.bundle_image(None) == ""


@pytest.fixture(scope="module")
def standin(tmp_path_factory, registry, engine) -> Iterator[Any]:
    from localeb.server import start_server

    running = start_server(tmp_path_factory.mktemp("promote-standin") / "server.log", extra_args=["--health-timeout", "8"])
    yield running
    running.stop()  # its containers go with it; then the tags this module made, never the images under them
    repository = f"{registry.address}/{REPOSITORY}"
    from docker.errors import ImageNotFound

    references = [
        reference
        for image in engine.images.list(name=repository)
        for reference in image.tags + image.attrs.get("RepoDigests", [])
        if reference.startswith((f"{repository}:", f"{repository}@"))
    ]
    for reference in references:
        try:
            engine.images.remove(reference)
        except ImageNotFound:  # went with an earlier reference to the same image
            pass


@pytest.fixture(scope="module")
def promoted(standin, registry, base_image, tmp_path_factory, engine) -> Project:
    """stg deployed healthy through the real tasks; prod created, running nothing yet."""
    root = copy_project(tmp_path_factory.mktemp("promote-project"))
    (root / "environments.toml").write_text(
        f'[stg]\neb_environment = "{STG}"\nbranch = "release/stg"\n\n'
        f'[prod]\neb_environment = "{PROD}"\nbranch = "release/prod"\nprotected = true\n'
    )
    project = Project(root)
    project.commit("Declare stg and prod")
    project.env = standin_env(standin.endpoint_url, registry, base_image, REPOSITORY, "promote-bucket", APP, DEPLOY_TIMEOUT="180")
    eb = standin_client("elasticbeanstalk", project.env)
    standin_client("s3", project.env).create_bucket(Bucket="promote-bucket")
    eb.create_application(ApplicationName=APP)
    for name in (STG, PROD):
        eb.create_environment(ApplicationName=APP, EnvironmentName=name, SolutionStackName=STACK)
    for args in (("docker.build",), ("docker.push",), ("s3.auth",), ("eb.version",), ("eb.deploy", "--env", "stg")):
        project.inv(*args, check=True)
    return project


def environment(project: Project, name: str) -> dict[str, Any]:
    return standin_client("elasticbeanstalk", project.env).describe_environments(EnvironmentNames=[name])["Environments"][0]


def running_image_ids(project: Project, engine, name: str) -> set[str]:
    """The images of the containers the stand-in runs for the environment (what its instances really pulled)."""
    from localeb.platform import ENVIRONMENT_LABEL

    environment_id = environment(project, name)["EnvironmentId"]
    containers = engine.containers.list(filters={"label": f"{ENVIRONMENT_LABEL}={environment_id}"})
    return {container.image.id for container in containers}


def changes(standin) -> dict[str, int]:
    return {op: n for op, n in standin.calls().items() if op in ("UpdateEnvironment", "CreateApplicationVersion")}


@pytest.mark.slow
def test_prod_gets_the_version_and_the_digest_stg_runs(promoted, standin, engine):
    project = promoted
    label = project.git("rev-parse", "HEAD")
    assert environment(project, STG)["VersionLabel"] == label
    eb = standin_client("elasticbeanstalk", project.env)
    (version,) = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[label])["ApplicationVersions"]
    recorded = versions.recorded_digest(version["Description"])
    assert DIGEST.fullmatch(recorded), version["Description"]

    standin.reset_calls()
    dry = project.inv("eb.promote", "--from", "stg", "--to", "prod", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "action: eb.update_environment" in dry.stdout and f"VersionLabel: {label}" in dry.stdout
    assert not changes(standin) and not environment(project, PROD).get("VersionLabel")

    result = project.inv("eb.promote", "--from", "stg", "--to", "prod", "--yes")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Promoted {label} ({recorded}) from stg to prod." in result.stdout
    assert "docker" not in " ".join(changes(standin)).lower() and changes(standin) == {"UpdateEnvironment": 1}
    prod = environment(project, PROD)
    assert (prod["VersionLabel"], prod["Status"], prod["Health"]) == (label, "Ready", "Green")
    stg_images, prod_images = running_image_ids(project, engine, STG), running_image_ids(project, engine, PROD)
    assert stg_images and stg_images == prod_images  # the same bits run in both
    pushed = engine.images.get_registry_data(
        f"{project.env['IMAGE_REPOSITORY']}:{label}",
        auth_config={"username": project.env["REGISTRY_USERNAME"], "password": project.env["REGISTRY_PASSWORD"]},
    )
    assert pushed.id == recorded  # the digest asserted equal: registered, in the registry, and deployed to prod


@pytest.mark.slow
def test_a_promotion_with_rollback_plans_the_way_back_to_what_prod_ran(promoted, standin):
    """stg moves on to a second label; its promotion with --rollback plans, after the deploy, a rollback to the label
    prod runs healthy now (eb.deploy's own plan: the executor's eb.roll_back runs only if the deploy fails)."""
    project = promoted
    first = environment(project, PROD)["VersionLabel"]
    assert first, "runs after test_prod_gets_the_version_and_the_digest_stg_runs"
    project.inv("eb.version", "--label", "second", check=True)
    project.inv("eb.deploy", "--env", "stg", "--label", "second", check=True)
    standin.reset_calls()
    dry = project.inv("eb.promote", "--from", "stg", "--to", "prod", "--rollback", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "action: eb.roll_back" in dry.stdout and f"VersionLabel: {first}" in dry.stdout
    assert not changes(standin) and environment(project, PROD)["VersionLabel"] == first


def refused(project: Project, standin, *args: str) -> str:
    """eb.promote with ``args`` (default: stg to prod): exit 2, no change, prod untouched; returns what it said."""
    before = environment(project, PROD).get("VersionLabel")
    standin.reset_calls()
    result = project.inv("eb.promote", *(args or ("--from", "stg", "--to", "prod")), "--yes")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert not changes(standin), standin.calls()
    assert environment(project, PROD).get("VersionLabel") == before
    return result.stderr


@pytest.mark.slow
def test_refuses_when_stg_runs_another_label(promoted, standin):
    message = refused(promoted, standin, "--from", "stg", "--to", "prod", "--label", "not-what-stg-runs")
    assert "runs" in message and "not not-what-stg-runs: nothing to promote" in message


@pytest.mark.slow
def test_refuses_without_both_environments_or_with_the_same_one(promoted, standin):
    result = promoted.inv("eb.promote", "--to", "prod", "--yes")
    assert result.returncode == 2 and "--from stg --to prod" in result.stderr
    assert "are the same environment" in refused(promoted, standin, "--from", "prod", "--to", "prod")


@pytest.mark.slow
def test_refuses_when_the_tag_was_pushed_again(promoted, standin, engine, base_image):
    """The tag stg's version names now points at other bits: prod would pull those, so nothing is deployed."""
    project = promoted
    label = project.git("rev-parse", "HEAD")
    repository = project.env["IMAGE_REPOSITORY"]
    auth = {"username": project.env["REGISTRY_USERNAME"], "password": project.env["REGISTRY_PASSWORD"]}
    original = engine.images.get(f"{repository}:{label}")
    other = engine.images.get(base_image)  # other bits under the same tag
    other.tag(repository, label)
    try:
        for _ in engine.images.push(repository, label, auth_config=auth, stream=True, decode=True):
            pass
        message = refused(project, standin)
        assert "was pushed again" in message
    finally:
        original.tag(repository, label)
        for _ in engine.images.push(repository, label, auth_config=auth, stream=True, decode=True):
            pass


@pytest.mark.slow
def test_refuses_when_stg_is_unhealthy(promoted, standin, engine):
    """stg's app stops (its container exits, as an instance's app can): stg turns Red, and what it runs is not promoted."""
    project = promoted
    from localeb.platform import ENVIRONMENT_LABEL

    environment_id = environment(project, STG)["EnvironmentId"]
    for container in engine.containers.list(filters={"label": f"{ENVIRONMENT_LABEL}={environment_id}"}):
        container.stop(timeout=5)
    deadline = time.monotonic() + 60
    while environment(project, STG)["Health"] != "Red":
        assert time.monotonic() < deadline, environment(project, STG)
        time.sleep(0.5)
    message = refused(project, standin)
    assert "is Ready with health Red, not Ready with health Green: only a version running healthy is promoted" in message


# --- what the source's instances run (no services: the facade's answer is stubbed) -----------------------------------


class HealthOnly:
    def __init__(self, report) -> None:
        self.report = report

    def instances_health(self, environment: str):
        return self.report


def checked(report) -> str:
    from types import SimpleNamespace

    from ebship.errors import UsageError
    from ebship.job import Target
    from ebship.promote import check_instances

    try:
        check_instances(SimpleNamespace(eb=HealthOnly(report)), Target("stg", "web-stg", "web"), "v2", ("Green",))  # type: ignore[arg-type]
    except UsageError as refused:
        return str(refused)
    return ""


def test_a_source_whose_instances_do_not_all_run_the_label_healthy_is_not_promoted():
    """After a partly failed rolling deploy the environment can look Green on v2 while an instance runs v1."""
    from ebship.beanstalk import HealthReport, InstanceHealth

    mixed = HealthReport(None, [InstanceHealth("i-a", "v2", "Deployed", "Ok"), InstanceHealth("i-b", "v1", "Deployed", "Ok")])
    assert checked(mixed).startswith("stg (web-stg) says it runs v2, but not every instance does, deployed and green: i-b (v1")
    severe = HealthReport(None, [InstanceHealth("i-a", "v2", "Deployed", "Severe")])
    assert "i-a (v2, Deployed, Severe)" in checked(severe)
    assert checked(HealthReport(None, [])).startswith("Cannot tell what stg (web-stg)'s instances run")
    healthy = HealthReport(None, [InstanceHealth("i-a", "v2", "Deployed", "Ok"), InstanceHealth("i-b", "v2", "Deployed", "Info")])
    assert checked(healthy) == ""
    assert checked(None) == "", "basic health: no per-instance report to check"
