"""What IAM is asked for each call the stand-in serves: the action, the resource ARNs and the condition keys.

Elastic Beanstalk (developer guide, "Resources and conditions for Elastic Beanstalk actions"): a call acts on the
application, application version or environment it names, with `elasticbeanstalk:InApplication` set to the ARN of the
application that holds it; an environment named without its application is looked up. S3 (S3 API reference,
"Permissions" of each operation): object calls act on `arn:aws:s3:::bucket/key`, bucket calls on `arn:aws:s3:::bucket`;
HeadObject needs s3:GetObject, listing and HeadBucket s3:ListBucket.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from localeb.iam import Request

# S3 operation -> the IAM action that authorises it, where the two names differ or the operation is common.
S3_ACTIONS = {
    "HeadObject": "GetObject",
    "CopyObject": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "DeleteObjects": "DeleteObject",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListBuckets": "ListAllMyBuckets",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "ListParts": "ListMultipartUploadParts",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
}
BUCKET_OPERATIONS = {
    "ListObjects",
    "ListObjectsV2",
    "HeadBucket",
    "GetBucketLocation",
    "CreateBucket",
    "DeleteBucket",
    "ListObjectVersions",
    "ListMultipartUploads",
    "DeleteObjects",
    "GetBucketEncryption",
    "PutBucketEncryption",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "GetBucketPolicy",
    "PutBucketPolicy",
    "GetBucketTagging",
    "PutBucketTagging",
    "PutBucketLifecycleConfiguration",
}
# STS API reference, GetCallerIdentity: "No permissions are required to perform this operation."
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Actions the developer guide's table ("Resources and conditions for Elastic Beanstalk actions") lists with no condition
# key ("N/A"): a request for them carries no elasticbeanstalk:InApplication, so a grant under that condition does not
# cover them.
NO_CONDITION_KEYS = {"DescribeInstancesHealth", "DescribeEnvironmentHealth"}
# The key Elastic Beanstalk's own pre-signed URLs (RetrieveEnvironmentInfo) are signed with: the service's, not a caller's.
SERVICE_KEY = "localeb-service"

# (EnvironmentId, EnvironmentName) -> (its application, its name), None when there is no such environment
FindEnvironment = Callable[[str | None, str | None], tuple[str, str] | None]


def caller_key(authorization: str, query: dict[str, list[str]]) -> str | None:
    """The access key ID a call is signed with (SigV4 header or presigned query); None when unsigned."""
    credential = ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential" in query:
        credential = query["X-Amz-Credential"][0]
    elif authorization.startswith("AWS ") and ":" in authorization:  # SigV2, as old S3 clients sign
        return authorization[4:].split(":", 1)[0]
    return credential.split("/", 1)[0] or None


def _members(params: dict[str, list[str]], name: str) -> list[str]:
    """A Query-protocol list (`Name.member.1`, `Name.member.2`, ...) in order."""
    prefix = f"{name}.member."
    numbered = sorted(
        (int(key[len(prefix) :]), values[0])
        for key, values in params.items()
        if key.startswith(prefix) and key[len(prefix) :].isdigit()
    )
    return [value for _, value in numbered]


def eb_request(
    action: str, params: dict[str, list[str]], region: str, account: str, find_environment: FindEnvironment
) -> Request:
    def one(name: str) -> str | None:
        return params.get(name, [None])[0]

    def arn(kind: str, path: str) -> str:
        return f"arn:aws:elasticbeanstalk:{region}:{account}:{kind}/{path}"

    application = one("ApplicationName")
    env_id, env_name = one("EnvironmentId"), one("EnvironmentName")
    names = _members(params, "EnvironmentNames") or ([env_name] if env_name else [])
    if env_id and not names:
        found = find_environment(env_id, None)
        names = [found[1]] if found else []
        application = application or (found[0] if found else None)
    if not application and names:
        found = find_environment(None, names[0])
        application = found[0] if found else None
    context = {"elasticbeanstalk:InApplication": arn("application", application)} if application else {}
    resources: list[str] = []
    label = one("VersionLabel")
    labels = _members(params, "VersionLabels") or ([label] if label else [])
    if action in ("ListTagsForResource", "UpdateTagsForResource") and one("ResourceArn"):
        resources = [str(one("ResourceArn"))]
    elif action == "DescribePlatformVersion" and one("PlatformArn"):
        resources = [str(one("PlatformArn"))]
    elif application and names and action != "DescribeApplicationVersions":
        resources = [arn("environment", f"{application}/{name}") for name in names]
    elif application and labels and "Version" in action:
        resources = [arn("applicationversion", f"{application}/{label}") for label in labels]
    elif application:
        resources = [arn("application", application)]
    elif action == "DescribeApplications" and _members(params, "ApplicationNames"):
        resources = [arn("application", name) for name in _members(params, "ApplicationNames")]
        if len(resources) == 1:
            context = {"elasticbeanstalk:InApplication": resources[0]}
    if action in NO_CONDITION_KEYS:
        context = {}
    return Request(f"elasticbeanstalk:{action}", tuple(resources) or ("*",), context)


def s3_request(operation: str, path: str) -> Request:
    parts = path.lstrip("/").split("/", 1)
    bucket = unquote(parts[0])
    action = "s3:" + S3_ACTIONS.get(operation, operation)
    if not bucket:
        return Request(action)
    if operation in BUCKET_OPERATIONS or len(parts) == 1 or not parts[1]:
        return Request(action, (f"arn:aws:s3:::{bucket}",))
    return Request(action, (f"arn:aws:s3:::{bucket}/{unquote(parts[1])}",))
