"""Say why, without being asked (issue 12 item 7, issue 14 item 8), end to end on the stand-in with the real Docker
engine and the authenticated registry: a failed configuration update (a DJANGO_SETTINGS_MODULE that names no module)
and a failed deploy (a release whose start-up raises) each print, under "Why it failed", the exception and its traceback
from the instance's tail logs, fetched by the tool itself; the exit code stays the failure's; the secret the crashing app
prints is masked. The stand-in enforces exactly docs/iam.md's CI policy on the tool's calls, so the policy is proven to
grant what the explanation asks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests_support import REGION, Project, copy_project, documented_policy, s3_client, standin_env

pytestmark = pytest.mark.slow

APP, ENV_NAME, BUCKET = "whyapp", "whyapp-env", "why-deploys"
IMMUTABLE_ENV = "whyapp-imm"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
SECRET = "Why-S3cr3t-M4rk3r-9d1"
HEADING = "Why it failed (each instance's tail logs, then enhanced health's causes):"
TRACEBACK = "Traceback (most recent call last):"
TOML = (
    f'[why]\neb_environment = "{ENV_NAME}"\nbranch = "main"\n\n[why.variables]\n'
    'DJANGO_SETTINGS_MODULE = "{module}"\nSECRET_KEY = "${{WHY_SECRET}}"\n'
    f'\n[whyimm]\neb_environment = "{IMMUTABLE_ENV}"\nbranch = "release/whyimm"\n'
)
# The last CMD wins: a release that prints its secret, as apps printing their settings do, then fails at start-up.
CRASH_CMD = (
    '\nCMD ["python3", "-c", "import os; '
    "print('SECRET_KEY=' + os.environ['SECRET_KEY'], flush=True); "
    "raise RuntimeError('cannot start: no database at ' + os.environ['SECRET_KEY'])\"]\n"
)


ROOT = Path(__file__).resolve().parent.parent
TOOL_KEY = "local"  # the access key the tool signs its calls to a stand-in on the loopback with (ebship/aws.py)
EXPLANATION_CALLS = (
    "DescribeEnvironmentResources",
    "RequestEnvironmentInfo",
    "RetrieveEnvironmentInfo",
    "DescribeEnvironmentHealth",
)


def documented_ci_policy() -> dict[str, Any]:
    """docs/iam.md's CI policy, placeholders filled in for this test's application and bucket."""
    return dict(
        documented_policy(
            "ci-policy", {"REGION": REGION, "ACCOUNT_ID": "123456789012", "EB_APPLICATION": APP, "EB_BUCKET": BUCKET}
        )
    )


@pytest.fixture(scope="module")
def standin(tmp_path_factory: Any) -> Any:
    from localeb.server import start_server

    directory = tmp_path_factory.mktemp("why")
    (directory / "ci-policy.json").write_text(json.dumps(documented_ci_policy()))
    running = start_server(
        directory / "server.log",
        extra_args=[
            "--health-timeout",
            "8",
            "--iam-policy",
            str(directory / "ci-policy.json"),
            "--iam-access-key",
            TOOL_KEY,
        ],
    )
    yield running
    running.stop()


def assert_explained_within_the_policy_in_a_few_calls(standin: Any) -> None:
    calls = standin.calls()
    print("explanation calls:", {operation: calls.get(operation, 0) for operation in EXPLANATION_CALLS})  # pytest -s
    assert standin.denied() == [], standin.denied()
    assert calls.get("RequestEnvironmentInfo") == 1, calls
    assert calls.get("DescribeEnvironmentResources") == 1, calls
    assert 1 <= calls.get("RetrieveEnvironmentInfo", 0) <= 5, calls
    assert sum(calls.get(operation, 0) for operation in EXPLANATION_CALLS) <= 8, calls


def eb_client(standin: Any) -> Any:
    return boto3.client(
        "elasticbeanstalk",
        endpoint_url=standin.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def wait_ready(standin: Any, name: str = ENV_NAME) -> None:
    import time

    deadline = time.monotonic() + 60
    while eb_client(standin).describe_environments(EnvironmentNames=[name])["Environments"][0]["Status"] != "Ready":
        assert time.monotonic() < deadline, "the environment never became Ready"
        time.sleep(0.5)


def declare(root: Path, module: str) -> None:
    (root / "environments.toml").write_text(TOML.format(module=module))


@pytest.fixture(scope="module")
def deployed(standin: Any, registry: Any, base_image: str, tmp_path_factory: Any, engine: Any) -> Project:
    """The sample app deployed healthy, with its variables set by eb.env."""
    eb = eb_client(standin)
    s3_client({"AWS_ENDPOINT_URL": standin.endpoint_url}).create_bucket(Bucket=BUCKET)
    eb.create_application(ApplicationName=APP)
    eb.create_environment(ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName=STACK)
    wait_ready(standin)
    root = copy_project(tmp_path_factory.mktemp("why-project"))
    declare(root, "sampleapp.settings")
    project = Project(
        root,
        standin_env(standin.endpoint_url, registry, base_image, "acme/why", BUCKET, APP, DEPLOY_TIMEOUT="240", WHY_SECRET=SECRET),
    )
    project.commit("Declare the environment")
    for task in ("docker.build", "docker.push", "s3.auth", "eb.version"):
        project.inv(task, check=True)
    project.inv("eb.env", "--env", "why", check=True)
    project.inv("eb.deploy", "--env", "why", check=True)
    return project


@pytest.fixture(scope="module")
def crash_release(deployed: Project) -> tuple[str, str]:
    """A release that prints its secret and raises at start-up, registered; returns (the good label, its label)."""
    good = deployed.git("rev-parse", "HEAD")
    dockerfile = deployed.root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + CRASH_CMD)
    crash = deployed.commit("A release that cannot start")
    for task in ("docker.build", "docker.push", "eb.version"):
        deployed.inv(task, check=True)
    return good, crash


def inv_interleaved(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """`inv` with its stderr into its stdout, so that the order of the verdict (stderr) and the explanation shows."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("inv")), *args],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )


def why_block(output: str) -> list[str]:
    assert HEADING in output, output
    return output[output.index(HEADING) :].splitlines()


def test_a_settings_module_that_does_not_exist_shows_the_module_not_found_error(deployed: Project, standin: Any) -> None:
    declare(deployed.root, "sampleapp.missing_settings")
    standin.reset_calls()
    try:
        result = deployed.inv("eb.env", "--env", "why")
    finally:
        declare(deployed.root, "sampleapp.settings")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    why = why_block(result.stdout)
    assert any(line.strip() == TRACEBACK for line in why), output
    exception = "ModuleNotFoundError: No module named 'sampleapp.missing_settings'"
    assert any(line.strip() == exception for line in why), output
    assert [line.strip() for line in why].index(TRACEBACK) < [line.strip() for line in why].index(exception)
    assert "Could not fetch" not in output
    assert "FAILED" in result.stderr, "the verdict is the failure's, as before"
    assert_explained_within_the_policy_in_a_few_calls(standin)


def test_a_release_that_raises_at_start_up_shows_the_exception_with_the_secret_masked(
    deployed: Project, standin: Any, crash_release: tuple[str, str]
) -> None:
    standin.reset_calls()
    result = inv_interleaved(deployed, "eb.deploy", "--env", "why", "--label", crash_release[1])
    output = result.stdout
    assert result.returncode == 1, output
    verdict = re.search(r"^Deploy of \S+ to why \(whyapp-env\) FAILED\.$", output, re.MULTILINE)
    assert verdict and verdict.start() < output.index(HEADING), "the verdict first, then why"
    assert output.count("FAILED.") == 1, "the verdict is printed once"
    assert "Fetching the instances' tail logs (up to 2 min): 0 of 1 in" in output, output
    assert "Fetching the instances' tail logs: 1 of 1 in after" in output, output
    why = [line.strip() for line in why_block(output)]
    assert TRACEBACK in why, output
    assert "RuntimeError: cannot start: no database at ****" in why, output
    assert why.index(TRACEBACK) < why.index("RuntimeError: cannot start: no database at ****")
    assert SECRET not in output
    assert_explained_within_the_policy_in_a_few_calls(standin)


def bundle_zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


def test_a_failed_immutable_deploy_is_explained_from_the_terminated_instances_bundle_logs(
    deployed: Project, standin: Any, crash_release: tuple[str, str]
) -> None:
    """Immutable: the failed new instance is terminated, so the tail request reaches only the old one; the new one's
    bundle logs are in Elastic Beanstalk's bucket, where the developer guide puts them. The stand-in does not upload
    them itself (the `slow-logs` variant), so the test puts one there, as the failed instance would, before the deploy."""
    good, crash = crash_release
    eb = eb_client(standin)
    settings = {
        ("aws:elasticbeanstalk:environment", "EnvironmentType"): "LoadBalanced",
        ("aws:autoscaling:asg", "MinSize"): "1",
        ("aws:elasticbeanstalk:command", "DeploymentPolicy"): "Immutable",
        ("aws:elasticbeanstalk:healthreporting:system", "SystemType"): "enhanced",
        ("aws:elasticbeanstalk:application:environment", "DJANGO_SETTINGS_MODULE"): "sampleapp.settings",
        ("aws:elasticbeanstalk:application:environment", "SECRET_KEY"): SECRET,
    }
    eb.create_environment(
        ApplicationName=APP,
        EnvironmentName=IMMUTABLE_ENV,
        SolutionStackName=STACK,
        OptionSettings=[{"Namespace": ns, "OptionName": name, "Value": value} for (ns, name), value in settings.items()],
    )
    wait_ready(standin, IMMUTABLE_ENV)
    deployed.inv("eb.deploy", "--env", "whyimm", "--label", good, check=True)
    described = eb.describe_environments(EnvironmentNames=[IMMUTABLE_ENV])["Environments"][0]
    account = described["EnvironmentArn"].split(":")[4]
    storage = f"elasticbeanstalk-{REGION}-{account}"
    prefix = f"resources/environments/logs/bundle/{described['EnvironmentId']}/"
    s3 = s3_client({"AWS_ENDPOINT_URL": standin.endpoint_url})
    try:
        s3.create_bucket(Bucket=storage)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    crashed = f'Traceback (most recent call last):\n  File "<string>", line 1\nRuntimeError: cannot start: {SECRET}\n'
    s3.put_object(
        Bucket=storage,
        Key=f"{prefix}i-0terminated/BundleLogs-1.zip",
        Body=bundle_zip({"var/log/eb-docker/containers/eb-current-app/eb-0abc-stdouterr.log": crashed}),
    )
    standin.reset_calls()
    result = inv_interleaved(deployed, "eb.deploy", "--env", "whyimm", "--label", crash)
    output = result.stdout
    assert result.returncode == 1, output
    assert "Immutable deployment policy enabled" in output, output
    verdict = re.search(r"^Deploy of \S+ to whyimm \(whyapp-imm\) FAILED\.$", output, re.MULTILINE)
    assert verdict and verdict.start() < output.index(HEADING), output
    why = output[output.index(HEADING) :]
    assert f"uploaded their bundle logs to s3://{storage}/{prefix} (kept one hour):" in why, output
    assert "[Instance: i-0terminated] (bundle logs, terminated)" in why, output
    assert "RuntimeError: cannot start: ****" in why and SECRET not in output, output
    assert standin.denied() == [], standin.denied()
