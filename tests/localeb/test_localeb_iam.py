"""IAM enforcement in the stand-in: the policy language's matching rules, AWS's denial shapes for Elastic Beanstalk and S3,
and the whole pipeline (`inv ci` and the operator tasks) run under exactly docs/iam.md's CI policy, then without one of
its permissions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localeb_support import BUCKET, create_environment, messages, unique

from localeb.iam import Request, decide, parse_policy

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
CALLER = "AKIAIAMTESTCALLER"  # the access key the policy is attached to; fixtures set up with another, unrestricted


def as_caller(service: str, endpoint: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=CALLER, aws_secret_access_key="caller-secret"
    )


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allowed(document: dict[str, Any], action: str, resource: str = "*", **context: str) -> bool:
    return decide(document, Request(action, (resource,), {k.replace("__", ":"): v for k, v in context.items()})).allowed


# -- the policy language ------------------------------------------------------------------------------------------


def test_actions_match_case_insensitively_with_both_wildcards() -> None:
    document = policy({"Effect": "Allow", "Action": ["elasticbeanstalk:Describe*", "s3:?etObject"], "Resource": "*"})
    assert allowed(document, "elasticbeanstalk:DescribeEvents")
    assert allowed(document, "ElasticBeanstalk:describeevents")
    assert allowed(document, "s3:GetObject") and allowed(document, "s3:PutObject") is False
    assert not allowed(document, "s3:GetObjectAcl"), "? is one character, and the pattern is anchored"
    assert not allowed(document, "elasticbeanstalk:UpdateEnvironment"), "nothing allowed is denied"


def test_resources_match_case_sensitively_with_wildcards() -> None:
    document = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/deploy/*"})
    assert allowed(document, "s3:GetObject", "arn:aws:s3:::bucket/deploy/v1/Dockerrun.aws.json")
    assert not allowed(document, "s3:GetObject", "arn:aws:s3:::bucket/Deploy/v1")
    assert not allowed(document, "s3:GetObject", "arn:aws:s3:::bucket/registry-auth/config.json")
    brackets = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/[ab]"})
    assert allowed(brackets, "s3:GetObject", "arn:aws:s3:::b/[ab]") and not allowed(brackets, "s3:GetObject", "arn:aws:s3:::b/a")


def test_an_explicit_deny_wins_and_not_action_inverts() -> None:
    document = policy(
        {"Effect": "Allow", "NotAction": "elasticbeanstalk:Delete*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "elasticbeanstalk:UpdateEnvironment",
            "NotResource": "arn:aws:elasticbeanstalk:*:*:environment/app/stg",
        },
    )
    assert allowed(document, "elasticbeanstalk:DescribeEvents")
    assert not allowed(document, "elasticbeanstalk:DeleteApplicationVersion")
    assert allowed(document, "elasticbeanstalk:UpdateEnvironment", "arn:aws:elasticbeanstalk:us-east-1:1:environment/app/stg")
    prod = "arn:aws:elasticbeanstalk:us-east-1:1:environment/app/prod"
    denied = decide(document, Request("elasticbeanstalk:UpdateEnvironment", (prod,)))
    assert (denied.allowed, denied.explicit) == (False, True)


def test_conditions_and_missing_keys() -> None:
    app = "arn:aws:elasticbeanstalk:us-east-1:1:application/app"
    equals = policy(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"elasticbeanstalk:InApplication": [app, app + "2"]}},
        }
    )
    assert allowed(equals, "elasticbeanstalk:DescribeEvents", elasticbeanstalk__InApplication=app)
    assert not allowed(equals, "elasticbeanstalk:DescribeEvents", elasticbeanstalk__InApplication=app + "3")
    assert not allowed(equals, "elasticbeanstalk:DescribeEvents"), "a key the request lacks does not match"
    negated = policy(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"elasticbeanstalk:InApplication": app}},
        }
    )
    assert allowed(negated, "elasticbeanstalk:DescribeEvents"), "...except under a negated operator"
    if_exists = policy(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"ArnLikeIfExists": {"elasticbeanstalk:InApplication": "arn:aws:*:*:*:application/a*"}},
        }
    )
    assert allowed(if_exists, "s3:GetObject") and allowed(if_exists, "x:Y", elasticbeanstalk__InApplication=app)
    # ArnLike matches each of the ARN's six parts on its own: a * does not reach across a colon.
    assert not allowed(if_exists, "x:Y", elasticbeanstalk__InApplication=app.replace(":1:", ":1:extra:"))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "the IAM policy is not JSON"),
        (
            '{"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}',
            "statement 1 of the IAM policy needs Effect Allow or Deny",
        ),
        ('{"Statement": [{"Effect": "Allow", "Resource": "*"}]}', "needs exactly one of Action and NotAction"),
        (
            '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"a": "1"}}}]}',
            "uses the condition operator NumericLessThan",
        ),
    ],
)
def test_a_policy_the_stand_in_cannot_evaluate_is_refused(document: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_policy(document)


def test_the_server_flag_refuses_a_bad_policy_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text('{"Statement": [{"Effect": "Allow", "Resource": "*"}]}')
    result = subprocess.run(
        [sys.executable, "-m", "localeb.server", "--iam-policy", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "statement 1 of the IAM policy needs exactly one of Action and NotAction" in result.stderr
    assert "Traceback" not in result.stderr


# -- the running stand-in -----------------------------------------------------------------------------------------


@pytest.fixture
def enforce(eb_server: Any) -> Iterator[Any]:
    """Attaches a policy to CALLER for one test; the fixtures' own key stays unrestricted."""

    def attach(document: dict[str, Any] | None, **changes: Any) -> None:
        eb_server.update_settings(**{"iam_policy": document, "iam_access_key": CALLER, **changes})

    eb_server.reset_denied()
    yield attach
    eb_server.update_settings(iam_policy=None, iam_access_key=None, iam_denial="access-denied")


def test_elastic_beanstalk_denies_with_access_denied_naming_action_and_resource(
    eb_server: Any, eb: Any, app: str, enforce: Any
) -> None:
    env = create_environment(eb, app)
    name = env["EnvironmentName"]
    app_arn = f"arn:aws:elasticbeanstalk:us-east-1:{ACCOUNT}:application/{app}"
    enforce(
        policy(
            {
                "Effect": "Allow",
                "Action": "elasticbeanstalk:Describe*",
                "Resource": "*",
                "Condition": {"StringEquals": {"elasticbeanstalk:InApplication": app_arn}},
            }
        )
    )
    caller = as_caller("elasticbeanstalk", eb_server.endpoint_url)
    # The environment's application is looked up when only the environment is named (InApplication).
    assert caller.describe_environments(EnvironmentNames=[name])["Environments"][0]["EnvironmentName"] == name
    assert caller.describe_events(EnvironmentName=name, MaxRecords=1)["Events"]
    with pytest.raises(ClientError) as caught:
        caller.update_environment(EnvironmentName=name, Description="denied")
    error = caught.value.response
    env_arn = f"arn:aws:elasticbeanstalk:us-east-1:{ACCOUNT}:environment/{app}/{name}"
    # The shape public transcripts show: HTTP 403, code AccessDenied, "User: ... is not authorized to perform: ...".
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (403, "AccessDenied")
    assert error["Error"]["Message"] == (
        "User: arn:aws:iam::123456789012:user/localeb-caller is not authorized to perform: "
        f"elasticbeanstalk:UpdateEnvironment on resource: {env_arn} because no identity-based policy allows the "
        "elasticbeanstalk:UpdateEnvironment action"
    )
    assert eb.describe_environments(EnvironmentNames=[name])["Environments"][0].get("Description") != "denied"
    eb.update_environment(EnvironmentName=name, Description="by the unrestricted key")  # not the policy's caller
    assert eb_server.denied() == [f"elasticbeanstalk:UpdateEnvironment on {env_arn}"]

    enforce(
        policy(
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "elasticbeanstalk:UpdateEnvironment", "Resource": env_arn},
        ),
        iam_denial="access-denied-exception",
    )
    with pytest.raises(ClientError) as caught:
        caller.update_environment(EnvironmentName=name, Description="denied")
    error = caught.value.response
    # The variant: the API reference's Common Errors list AccessDeniedException with HTTP 400.
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "AccessDeniedException")
    assert error["Error"]["Message"].endswith("with an explicit deny in an identity-based policy")


def test_health_reads_granted_only_under_in_application_answer_empty_not_denied(
    eb_server: Any, eb: Any, app: str, enforce: Any
) -> None:
    """The developer guide's action table lists no condition key for DescribeInstancesHealth and
    DescribeEnvironmentHealth, so a grant under elasticbeanstalk:InApplication does not cover them; and they answer an
    empty result, not an error, for an environment the caller may not see (API reference, both operations)."""
    env = create_environment(
        eb,
        app,
        OptionSettings=[
            {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}
        ],
    )
    name = env["EnvironmentName"]
    app_arn = f"arn:aws:elasticbeanstalk:us-east-1:{ACCOUNT}:application/{app}"
    in_application = {"StringEquals": {"elasticbeanstalk:InApplication": app_arn}}
    enforce(policy({"Effect": "Allow", "Action": "elasticbeanstalk:Describe*", "Resource": "*", "Condition": in_application}))
    caller = as_caller("elasticbeanstalk", eb_server.endpoint_url)
    assert caller.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"] == []
    assert set(caller.describe_environment_health(EnvironmentName=name, AttributeNames=["All"])) == {"ResponseMetadata"}
    assert caller.describe_environments(EnvironmentNames=[name])["Environments"], "other reads are granted as before"
    enforce(policy({"Effect": "Allow", "Action": "elasticbeanstalk:Describe*", "Resource": "*"}))
    assert caller.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])["InstanceHealthList"]


def test_s3_denies_with_403_access_denied_and_without_list_bucket_a_missing_key_is_403(
    eb_server: Any, s3: Any, enforce: Any
) -> None:
    prefix = unique("iam")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/readable", Body=b"text")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/secret", Body=b"text")
    objects = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{BUCKET}/{prefix}/r*"}
    enforce(policy(objects))
    caller = as_caller("s3", eb_server.endpoint_url)
    assert caller.get_object(Bucket=BUCKET, Key=f"{prefix}/readable")["Body"].read() == b"text"

    def refused(call: Any, **params: Any) -> dict[str, Any]:
        with pytest.raises(ClientError) as caught:
            call(Bucket=BUCKET, **params)
        return {"status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"], **caught.value.response["Error"]}

    denied = {"status": 403, "Code": "AccessDenied", "Message": "Access Denied"}
    assert refused(caller.get_object, Key=f"{prefix}/secret") == denied
    assert refused(caller.put_object, Key=f"{prefix}/secret", Body=b"x")["Code"] == "AccessDenied"
    assert refused(caller.head_object, Key=f"{prefix}/secret")["status"] == 403
    assert refused(caller.list_objects_v2)["Code"] == "AccessDenied"
    # S3 GetObject, "Permissions": without s3:ListBucket a missing key is 403 Access Denied, with it 404 NoSuchKey.
    assert refused(caller.get_object, Key=f"{prefix}/readable-missing")["status"] == 403
    enforce(policy(objects, {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"}))
    assert refused(caller.get_object, Key=f"{prefix}/readable-missing")["Code"] == "NoSuchKey"
    assert caller.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["KeyCount"] == 2
    assert s3.get_object(Bucket=BUCKET, Key=f"{prefix}/secret")["Body"].read() == b"text", "other keys: unrestricted"


def test_the_log_urls_elastic_beanstalk_hands_out_are_its_own_to_sign(eb_server: Any, eb: Any, app: str, enforce: Any) -> None:
    name = create_environment(eb, app)["EnvironmentName"]
    # Attached to every caller: only the service's own pre-signed URL is outside the policy.
    enforce(
        policy(
            {
                "Effect": "Allow",
                "Action": ["elasticbeanstalk:*EnvironmentInfo", "elasticbeanstalk:DescribeEvents"],
                "Resource": "*",
            }
        ),
        iam_access_key=None,
    )
    request_id = eb.request_environment_info(EnvironmentName=name, InfoType="tail")["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 30
    while "Pulled logs for environment instances." not in messages(eb, EnvironmentName=name, RequestId=request_id):
        assert time.monotonic() < deadline, messages(eb, EnvironmentName=name, RequestId=request_id)
        time.sleep(0.1)
    (info,) = eb.retrieve_environment_info(EnvironmentName=name, InfoType="tail")["EnvironmentInfo"]
    assert "X-Amz-Signature=" in info["Message"]
    with urllib.request.urlopen(info["Message"], timeout=10) as response:
        assert response.status == 200
    with pytest.raises(ClientError):
        eb.describe_applications()
    assert eb_server.denied() == ["elasticbeanstalk:DescribeApplications on *"]


# -- the pipeline under docs/iam.md ---------------------------------------------------------------------------------

APP, ENV_NAME, PIPELINE_BUCKET = "iamenforced", "iamenforced-e2e", "iam-enforced-deploys"
TOOL_KEY = "local"  # the access key the tool signs its calls to a stand-in on the loopback with (ebship/aws.py)
OPERATOR_TASKS = (
    ("eb.env", "--env", "e2e"),
    ("eb.status", "--env", "e2e"),
    ("eb.events", "--env", "e2e"),
    ("eb.prune", "--keep", "1"),
    ("doctor", "--env", "e2e"),
)


def documented_ci_policy() -> dict[str, Any]:
    """docs/iam.md's CI policy (the JSON block after `<!-- iam:ci-policy -->`), placeholders filled in."""
    from tests_support import documented_policy

    values = {"REGION": "us-east-1", "ACCOUNT_ID": ACCOUNT, "EB_APPLICATION": APP, "EB_BUCKET": PIPELINE_BUCKET}
    return dict(documented_policy("ci-policy", values))


def without(document: dict[str, Any], action: str) -> dict[str, Any]:
    narrowed = json.loads(json.dumps(document))
    for statement in narrowed["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action]
    narrowed["Statement"] = [s for s in narrowed["Statement"] if s["Action"]]
    assert narrowed != document, f"the documented policy does not grant {action}"
    return narrowed


@pytest.mark.slow
def test_the_pipeline_runs_under_exactly_the_documented_policy_and_fails_without_one_permission(
    registry: Any, base_image: str, tmp_path: Path
) -> None:
    from tests_support import REGION, Project, base_env, copy_project

    from localeb.server import start_server

    documented = documented_ci_policy()
    policy_file = tmp_path / "ci-policy.json"
    policy_file.write_text(json.dumps(documented))
    standin = start_server(
        tmp_path / "server.log",
        extra_args=["--health-timeout", "8", "--iam-policy", str(policy_file), "--iam-access-key", TOOL_KEY],
    )
    try:
        admin = {
            "endpoint_url": standin.endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        eb, s3 = boto3.client("elasticbeanstalk", **admin), boto3.client("s3", **admin)
        s3.create_bucket(Bucket=PIPELINE_BUCKET)
        eb.create_application(ApplicationName=APP)
        eb.create_environment(
            ApplicationName=APP, EnvironmentName=ENV_NAME, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker"
        )
        s3.put_object(Bucket=PIPELINE_BUCKET, Key="deploy/old-version/Dockerrun.aws.json", Body=b'{"AWSEBDockerrunVersion": "1"}')
        eb.create_application_version(
            ApplicationName=APP,
            VersionLabel="old-version",
            SourceBundle={"S3Bucket": PIPELINE_BUCKET, "S3Key": "deploy/old-version/Dockerrun.aws.json"},
        )
        root = copy_project(tmp_path / "project")
        (root / "environments.toml").write_text(
            f'[e2e]\neb_environment = "{ENV_NAME}"\nbranch = "release/e2e"\n\n[e2e.variables]\nGREETING = "hello"\n'
        )
        project = Project(
            root,
            {
                **base_env(),
                "AWS_ENDPOINT_URL": standin.endpoint_url,
                "AWS_ACCESS_KEY_ID": "ci-key",
                "AWS_SECRET_ACCESS_KEY": "ci-secret",
                "AWS_REGION": REGION,
                "IMAGE_REPOSITORY": f"{registry.address}/acme/iamenforced",
                "REGISTRY_USERNAME": registry.username,
                "REGISTRY_PASSWORD": registry.password,
                "BASE_IMAGE": base_image,
                "DOCKER_BUILD_NETWORK": "host",
                "EB_BUCKET": PIPELINE_BUCKET,
                "EB_APPLICATION": APP,
                "DEPLOY_TIMEOUT": "120",
                "CI": "true",
            },
        )
        project.commit("Declare the e2e environment")
        project.git("checkout", "-q", "-B", "release/e2e")
        standin.reset_calls()
        for args in (("ci",), *OPERATOR_TASKS):
            result = project.inv(*args, timeout=600)
            assert result.returncode == 0, f"inv {' '.join(args)}\n{result.stdout}\n{result.stderr}"
            assert standin.denied() == [], (args, standin.denied())
        calls = standin.calls()
        for operation in (
            "CreateApplicationVersion",
            "UpdateEnvironment",
            "DescribeConfigurationSettings",
            "DeleteApplicationVersion",
            "s3:PutObject",
            "s3:GetBucketLocation",
        ):
            assert calls.get(operation), (operation, calls)  # the policy was exercised, not bypassed
        label = project.git("rev-parse", "HEAD")
        running = eb.describe_environments(EnvironmentNames=[ENV_NAME])["Environments"][0]
        assert (running["VersionLabel"], running["Health"]) == (label, "Green")

        standin.update_settings(iam_policy=without(documented, "elasticbeanstalk:CreateApplicationVersion"))
        (root / "app" / "iam-marker.txt").write_text(uuid.uuid4().hex)
        project.commit("A change to deploy")
        result = project.inv("ci", timeout=600)
        output = result.stdout + result.stderr
        assert result.returncode == 1, output
        assert "AccessDenied" in output and "elasticbeanstalk:CreateApplicationVersion" in output, output
        assert "Traceback" not in output
        assert [d.split(" on ")[0] for d in standin.denied()] == ["elasticbeanstalk:CreateApplicationVersion"]
        assert eb.describe_environments(EnvironmentNames=[ENV_NAME])["Environments"][0]["VersionLabel"] == label
    finally:
        standin.stop()
