"""docs/iam.md against what the code really calls: the whole pipeline and every operator task run against the stand-in,
and each operation its counters saw must be granted by the documented policy (a call the policy lacks fails here)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import boto3
import pytest
from tests_support import REGION, Project, copy_project, standin_env

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "iam.md"
APP, ENV_NAME, BUCKET = "iamapp", "iamapp-e2e", "iam-deploys"
PLACEHOLDERS = {"PARTITION": "aws", "REGION": REGION, "ACCOUNT_ID": "123456789012", "EB_APPLICATION": APP, "EB_BUCKET": BUCKET}

# S3 API operation -> the IAM actions it is authorised by (S3 API reference, "Permissions" of each operation:
# HeadObject and HeadBucket need the read permission of GetObject and ListBucket).
S3_ACTIONS = {
    "GetObject": ("s3:GetObject",),
    "HeadObject": ("s3:GetObject",),
    "PutObject": ("s3:PutObject",),
    "CopyObject": ("s3:GetObject", "s3:PutObject"),
    "CreateMultipartUpload": ("s3:PutObject",),
    "UploadPart": ("s3:PutObject",),
    "CompleteMultipartUpload": ("s3:PutObject",),
    "DeleteObject": ("s3:DeleteObject",),
    "ListObjects": ("s3:ListBucket",),
    "ListObjectsV2": ("s3:ListBucket",),
    "HeadBucket": ("s3:ListBucket",),
    "GetBucketLocation": ("s3:GetBucketLocation",),
}
# Operations no identity policy governs.
NEEDS_NO_GRANT = {
    "sts:GetCallerIdentity",  # STS API reference: "No permissions are required to perform this operation."
    "sts:AssumeRoleWithWebIdentity",  # unsigned; the role's trust policy decides (the ci-trust-policy block)
}
# What Elastic Beanstalk does with the caller's permissions inside the operations the tool calls (the tool's S3 part;
# the rest is the managed policy's): Process=true reads the bundle, DeleteSourceBundle deletes it.
IMPLIED = {"CreateApplicationVersion": ("s3:GetObject",), "DeleteApplicationVersion": ("s3:DeleteObject",)}


# The condition keys each Elastic Beanstalk action the CI policy grants may be put under: the developer guide's table
# "Policy information for Elastic Beanstalk actions" (AWSHowTo.iam.policies.actions.md, "Resources and conditions for
# Elastic Beanstalk actions"), column Conditions; () is its "N/A", and "(Optional)" keys are listed. A request for an
# action carries only these keys, so a statement that requires another one does not grant the action.
CONDITION_KEYS: dict[str, tuple[str, ...]] = {
    "CreateApplicationVersion": ("InApplication",),
    "DeleteApplicationVersion": ("InApplication",),
    "DescribeApplications": (),
    "DescribeApplicationVersions": ("InApplication",),
    "DescribeConfigurationSettings": ("InApplication",),
    "DescribeEnvironmentHealth": (),
    "DescribeEnvironmentResources": ("InApplication",),
    "DescribeEnvironments": ("InApplication",),
    "DescribeEvents": ("InApplication",),
    "DescribeInstancesHealth": (),
    "RequestEnvironmentInfo": ("InApplication",),
    "RetrieveEnvironmentInfo": ("InApplication",),
    "UpdateEnvironment": ("InApplication", "FromApplicationVersion", "FromConfigurationTemplate"),
}


def documented(name: str) -> object:
    """The JSON block that follows `<!-- iam:NAME -->` in docs/iam.md, placeholders filled in."""
    match = re.search(rf"<!-- iam:{re.escape(name)} -->\s*```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, f"docs/iam.md has no JSON block marked iam:{name}"
    text = match.group(1)
    for placeholder, value in PLACEHOLDERS.items():
        text = re.sub(rf"\b{placeholder}\b", value, text)
    return json.loads(text)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def grants(policy: dict, action: str, resource: str | None = None) -> bool:
    """Whether an Allow statement covers the action (IAM wildcards; actions are case-insensitive) and, when given, the
    resource. Conditions are not evaluated: the stand-in cannot tell the application an ARN belongs to."""
    for statement in policy["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement["Action"])):
            continue
        if resource is None or any(fnmatch.fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"])):
            return True
    return False


def iam_actions(operation: str) -> tuple[str, ...] | None:
    """The IAM actions an operation of the stand-in's counters needs; None when no mapping is known."""
    if operation in NEEDS_NO_GRANT:
        return ()
    service, _, name = operation.rpartition(":")
    if not service:  # the counters name Elastic Beanstalk operations by their Action, which is also the IAM action
        return (f"elasticbeanstalk:{name}", *IMPLIED.get(name, ()))
    if service == "s3":
        return S3_ACTIONS.get(name)
    return None if service == "unknown" else (operation,)


def ungranted(calls: dict[str, int], policy: dict) -> list[str]:
    missing = []
    for operation in sorted(calls):
        actions = iam_actions(operation)
        if actions is None:
            missing.append(f"{operation}: no known IAM action (map it in tests/test_iam.py)")
        missing += [f"{operation} needs {action}" for action in actions or () if not grants(policy, action)]
    return missing


def conditions_outside_the_table(policy: dict) -> list[str]:
    """Each Elastic Beanstalk action an Allow statement puts under a condition key the table does not list for it (global
    `aws:` keys aside), and each action the table above does not encode."""
    found = []
    for statement in policy["Statement"]:
        keys = [key for keys in (statement.get("Condition") or {}).values() for key in keys]
        for action in as_list(statement["Action"]):
            service, _, name = action.partition(":")
            if service != "elasticbeanstalk":
                continue
            if name not in CONDITION_KEYS:
                found.append(f"{action}: not in CONDITION_KEYS (encode its row of the table)")
                continue
            for key in keys:
                prefix, _, bare = key.partition(":")
                if prefix == "elasticbeanstalk" and bare not in CONDITION_KEYS[name]:
                    found.append(f"{action} under {key}, which the table does not list for it")
    return found


def test_no_action_is_put_under_a_condition_key_the_table_does_not_list_for_it():
    policy = documented("ci-policy")
    assert isinstance(policy, dict)
    assert conditions_outside_the_table(policy) == []
    # The health reads are granted (on the application's environments), not only under a condition they never carry.
    for action in ("elasticbeanstalk:DescribeInstancesHealth", "elasticbeanstalk:DescribeEnvironmentHealth"):
        unconditioned = [s for s in policy["Statement"] if not s.get("Condition") and grants({"Statement": [s]}, action)]
        assert unconditioned, action
        environment = f"arn:aws:elasticbeanstalk:{REGION}:123456789012:environment/{APP}/{ENV_NAME}"
        assert grants({"Statement": unconditioned}, action, environment), action


def test_the_condition_checker_names_what_the_table_does_not_allow():
    in_application = {"StringEquals": {"elasticbeanstalk:InApplication": "arn:aws:elasticbeanstalk:r:1:application/a"}}
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["elasticbeanstalk:DescribeInstancesHealth", "elasticbeanstalk:DescribeEvents", "s3:GetObject"],
                "Resource": "*",
                "Condition": in_application,
            },
            {"Effect": "Allow", "Action": "elasticbeanstalk:SwapEnvironmentCNAMEs", "Resource": "*"},
        ]
    }
    assert conditions_outside_the_table(policy) == [
        "elasticbeanstalk:DescribeInstancesHealth under elasticbeanstalk:InApplication, which the table does not list for it",
        "elasticbeanstalk:SwapEnvironmentCNAMEs: not in CONDITION_KEYS (encode its row of the table)",
    ]


# --- the checker itself ---------------------------------------------------------------------------------------------


def test_the_checker_names_each_operation_the_policy_does_not_grant():
    policy = documented("ci-policy")
    assert isinstance(policy, dict)
    narrowed = json.loads(json.dumps(policy))
    for statement in narrowed["Statement"]:
        statement["Action"] = [a for a in as_list(statement["Action"]) if a not in ("s3:ListBucket", "s3:DeleteObject")]
    calls = {"s3:ListObjectsV2": 1, "DeleteApplicationVersion": 1, "DescribeEvents": 3, "s3:SelectObjectContent": 1}
    assert ungranted(calls, narrowed) == [
        "DeleteApplicationVersion needs s3:DeleteObject",
        "s3:ListObjectsV2 needs s3:ListBucket",
        "s3:SelectObjectContent: no known IAM action (map it in tests/test_iam.py)",
    ]
    assert ungranted({"s3:SelectObjectContent": 1}, policy) == [
        "s3:SelectObjectContent: no known IAM action (map it in tests/test_iam.py)"
    ]
    assert ungranted({"s3:ListObjectsV2": 1, "DeleteApplicationVersion": 1, "sts:GetCallerIdentity": 1}, policy) == []


def test_no_arn_in_the_doc_names_one_partition_china_and_govcloud_have_their_own():
    docs = Path(__file__).resolve().parents[1] / "docs"
    assert [path.name for path in docs.glob("*.md") if "arn:aws:" in path.read_text()] == []
    assert (docs / "iam.md").read_text().count("arn:PARTITION:") >= 10


def test_the_documented_policies_are_what_the_text_says():
    managed = documented("ci-managed-policies")
    assert managed == ["arn:aws:iam::aws:policy/AdministratorAccess-AWSElasticBeanstalk"]
    trust = documented("ci-trust-policy")
    assert isinstance(trust, dict)
    assert [s["Action"] for s in trust["Statement"]] == ["sts:AssumeRoleWithWebIdentity"]
    instance = documented("instance-profile-policy")
    assert isinstance(instance, dict)
    assert {a for s in instance["Statement"] for a in as_list(s["Action"])} == {"s3:GetObject"}, "read only"


# --- the whole pipeline and the operator tasks, counted by the stand-in ---------------------------------------------


@pytest.fixture(scope="module")
def exercised(registry, base_image, tmp_path_factory):
    """Runs `inv ci` on a release branch, then eb.env, eb.status, eb.events, eb.prune and doctor; returns the stand-in's
    counters of all of them, the bucket's keys, and the deployed bundle."""
    from localeb.server import start_server

    standin = start_server(tmp_path_factory.mktemp("iam-standin") / "server.log", extra_args=["--health-timeout", "8"])
    try:
        kwargs = {
            "endpoint_url": standin.endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        eb, s3 = boto3.client("elasticbeanstalk", **kwargs), boto3.client("s3", **kwargs)
        s3.create_bucket(Bucket=BUCKET)
        eb.create_application(ApplicationName=APP)
        eb.create_environment(
            ApplicationName=APP,
            EnvironmentName=ENV_NAME,
            SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker",
        )
        # An old version for eb.prune to delete, with a bundle of its own (DeleteSourceBundle).
        s3.put_object(Bucket=BUCKET, Key="deploy/old-version/Dockerrun.aws.json", Body=b'{"AWSEBDockerrunVersion": "1"}')
        eb.create_application_version(
            ApplicationName=APP,
            VersionLabel="old-version",
            SourceBundle={"S3Bucket": BUCKET, "S3Key": "deploy/old-version/Dockerrun.aws.json"},
        )
        root = copy_project(tmp_path_factory.mktemp("iam-project"))
        (root / "environments.toml").write_text(
            f'[e2e]\neb_environment = "{ENV_NAME}"\nbranch = "release/e2e"\n\n[e2e.variables]\nGREETING = "hello"\n'
        )
        project = Project(
            root,
            standin_env(standin.endpoint_url, registry, base_image, "acme/iam", BUCKET, APP, DEPLOY_TIMEOUT="120", CI="true"),
        )
        project.commit("Declare the e2e environment")
        project.git("checkout", "-q", "-B", "release/e2e")
        standin.reset_calls()
        for args in (
            ("ci",),
            ("eb.env", "--env", "e2e"),
            ("eb.status", "--env", "e2e"),
            ("eb.events", "--env", "e2e"),
            ("eb.prune", "--keep", "1"),
            ("doctor", "--env", "e2e"),
        ):
            result = project.inv(*args)
            assert result.returncode == 0, f"inv {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        calls = standin.calls()  # before this fixture's own reads below
        label = project.git("rev-parse", "HEAD")
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        bundle = json.loads(s3.get_object(Bucket=BUCKET, Key=f"deploy/{label}/Dockerrun.aws.json")["Body"].read())
        versions = [v["VersionLabel"] for v in eb.describe_application_versions(ApplicationName=APP)["ApplicationVersions"]]
        return {"calls": calls, "keys": keys, "bundle": bundle, "versions": versions}
    finally:
        standin.stop()


@pytest.mark.slow
def test_every_operation_of_the_pipeline_and_the_operator_tasks_is_granted(exercised):
    calls = exercised["calls"]
    # The run did exercise what the policy is about (else this test would pass on nothing).
    for operation in (
        "CreateApplicationVersion",
        "UpdateEnvironment",
        "DescribeConfigurationSettings",
        "DeleteApplicationVersion",
        "DescribeEvents",
        "s3:PutObject",
        "s3:GetBucketLocation",
    ):
        assert calls.get(operation), (operation, calls)
    assert "old-version" not in exercised["versions"], "eb.prune deleted the old version"
    policy = documented("ci-policy")
    assert isinstance(policy, dict)
    assert ungranted(calls, policy) == [], f"docs/iam.md does not grant what the code calls; counters: {calls}"


@pytest.mark.slow
def test_every_object_the_tools_write_or_delete_is_inside_the_policys_resources(exercised):
    policy = documented("ci-policy")
    assert isinstance(policy, dict)
    assert exercised["keys"], "the run wrote objects"
    for key in exercised["keys"]:
        for action in ("s3:GetObject", "s3:PutObject"):
            assert grants(policy, action, f"arn:aws:s3:::{BUCKET}/{key}"), (action, key)
    assert grants(policy, "s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/deploy/old-version/Dockerrun.aws.json")
    for action in ("s3:ListBucket", "s3:GetBucketLocation"):
        assert grants(policy, action, f"arn:aws:s3:::{BUCKET}"), action


@pytest.mark.slow
def test_the_instance_profile_may_read_the_auth_file_the_deployed_bundle_names(exercised):
    auth = exercised["bundle"]["Authentication"]
    instance = documented("instance-profile-policy")
    assert isinstance(instance, dict)
    assert auth["Bucket"] == BUCKET
    assert grants(instance, "s3:GetObject", f"arn:aws:s3:::{auth['Bucket']}/{auth['Key']}"), auth


def test_the_caller_may_let_elastic_beanstalk_clean_up_the_logs_it_asked_for():
    """Elastic Beanstalk deletes tail logs after 15 minutes with the asking identity's permissions (developer guide,
    "Managing Elastic Beanstalk user policies"): without s3:DeleteObject they, and the secrets an app printed, stay."""
    policy = documented("ci-policy")
    assert isinstance(policy, dict)
    bucket = "elasticbeanstalk-us-east-1-123456789012"
    tail = f"arn:aws:s3:::{bucket}/resources/environments/logs/tail/e-abc/i-0a/TailLogs-1.out"
    assert grants(policy, "s3:DeleteObject", tail)
    assert not grants(policy, "s3:DeleteObject", f"arn:aws:s3:::{bucket}/resources/environments/e-abc/_runtime/x")


def test_the_doc_says_what_the_instance_profile_and_the_ci_token_need_and_which_branches_change_prod():
    import yaml

    doc = DOC.read_text()
    profile = doc[doc.index("## The instance profile") :]
    assert profile.count("AWSElasticBeanstalkWebTier") >= 2, "kept beside the auth-file policy and beside ECR's"
    assert "no tail logs ever arrive" in profile
    assert "The token lives one hour" in doc and "cannot be renewed past the job's first hour" in doc
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / ".circleci" / "config.yml").read_text())
    jobs = config["workflows"]["pipeline"]["jobs"]

    def branches(name: str) -> list[str]:
        job = next(entry[name] for entry in jobs if isinstance(entry, dict) and name in entry)
        return list(job["filters"]["branches"]["only"])

    changing_prod = {"release/prod"} & set(branches("ci")) | set(branches("promote-prod"))
    assert changing_prod == {"release/prod", "release/stg"}
    for branch in changing_prod:
        assert f"vcs-ref/refs/heads/{branch}" in doc or f"`refs/heads/{branch}`" in doc, branch
