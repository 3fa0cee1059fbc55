"""Amazon ECR: recognising an ECR repository, logging in with a token from GetAuthorizationToken, and the doctor's
questions (does the repository exist, is the tag there).

An image on ECR needs no registry credentials in settings and no auth file: the token comes from the caller's AWS
credentials, and Elastic Beanstalk's instances pull with their instance profile (developer guide, "Using images from
an Amazon ECR repository": "Elastic Beanstalk automatically authenticates to the Amazon ECR registry with your
environment's instance profile"). A token lasts 12 hours (botocore's model, AuthorizationData: "Authorization tokens
are valid for 12 hours"), so it is asked for at each push and never stored.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ebship.aws import CloudError, call
from ebship.errors import PipelineError, UsageError
from ebship.images import Credentials
from ebship.output import Console

# The registry host of a private ECR registry (ECR user guide, "Private registry concepts":
# "https://aws_account_id.dkr.ecr.region.amazonaws.com"; in China "...amazonaws.com.cn", AWS in China, "Amazon ECR").
# FIPS and dual-stack hosts as the general reference's "Amazon ECR endpoints and quotas" lists them
# (dkr.ecr-fips.REGION.amazonaws.com, dkr-ecr.REGION.on.aws, dkr-ecr-fips.REGION.on.aws).
HOST = re.compile(
    r"^(?P<account>\d{12})\.(?:dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)"
    r"|dkr-ecr(?:-fips)?\.(?P<dual_region>[a-z0-9-]+)\.on\.aws)$"
)


@cache
def _partitions() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(DNS suffix, region pattern) of every AWS partition, from botocore's partitions.json: amazonaws.com for aws and
    aws-us-gov (GovCloud), amazonaws.com.cn for aws-cn, and the isolated partitions' own."""
    import botocore

    data = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    return tuple((p["outputs"]["dnsSuffix"], re.compile(p["regionRegex"])) for p in data["partitions"])


@dataclass(frozen=True)
class EcrRepository:
    host: str
    account: str
    region: str
    name: str  # the repository's name in ECR: the path after the host


def parse(repository: str) -> EcrRepository | None:
    """The ECR repository `repository` (host/name, no tag) names, or None when its host is not an ECR registry."""
    host, _, name = repository.partition("/")
    match = HOST.match(host.lower())
    if match is None or not name:
        return None
    region = match["region"] or match["dual_region"]
    suffix = match["suffix"]
    if suffix is not None and not any(suffix == dns and pattern.match(region) for dns, pattern in _partitions()):
        return None
    if suffix is None and not any(pattern.match(region) for _, pattern in _partitions()):
        return None
    return EcrRepository(host, match["account"], region, name)


def is_ecr(repository: str) -> bool:
    return parse(repository) is not None


def require(repository: str) -> EcrRepository:
    found = parse(repository)
    if found is None:
        raise UsageError(
            f"{repository} is not an ECR repository: IMAGE_REPOSITORY must be <account>.dkr.ecr.<region>.amazonaws.com/<name>."
        )
    return found


def region_of(repository: str) -> str:
    return require(repository).region


def client_for(session: Any, repository: str, endpoint_url: str = "") -> Any:
    """An ECR client in the repository's region (which may differ from the environment's)."""
    return session.client("ecr", region_name=region_of(repository), endpoint_url=endpoint_url or None)


TOKEN_ORIGIN = "the AWS credentials: the login is an ECR token from GetAuthorizationToken, asked for at each push"


class EcrError(PipelineError):
    pass


def _message(error: CloudError) -> str:
    return " ".join(str(error.message or error).split())


def failure(error: CloudError, ecr: EcrRepository, action: str) -> PipelineError:
    """ECR's refusal of `action` on the repository as one line that says what to do; bad input is a UsageError."""
    code = error.code
    where = f"{ecr.name} in registry {ecr.account} ({ecr.region})"
    if code == "RepositoryNotFoundException":
        return UsageError(
            f"The ECR repository {where} does not exist: create it (aws ecr create-repository --repository-name "
            f"{ecr.name} --region {ecr.region}) or correct IMAGE_REPOSITORY."
        )
    if code in ("AccessDeniedException", "AccessDenied"):
        return EcrError(f"ECR denied ecr:{action} on {where}: {_message(error)} Grant it to these AWS credentials (docs/iam.md).")
    if code == "InvalidParameterException":
        return UsageError(f"ECR refused the repository {where}: {_message(error)}")
    return EcrError(f"ECR {action} on {where} failed: {code}: {_message(error)}")


def credentials(client: Any, repository: str, console: Console) -> Credentials:
    """A docker login for the repository's registry from GetAuthorizationToken (user AWS, the token's password, the
    registry its proxyEndpoint names). The password, and the token carrying it, are masked from here on."""
    ecr = require(repository)
    try:
        answer = call("ecr", client, "get_authorization_token", registryIds=[ecr.account])
    except CloudError as error:
        raise failure(error, ecr, "GetAuthorizationToken") from None
    data = (answer.get("authorizationData") or [None])[0]
    if not data or not data.get("authorizationToken"):
        raise EcrError(f"ECR answered GetAuthorizationToken for registry {ecr.account} without a token.")
    token = str(data["authorizationToken"])
    try:
        username, separator, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        separator, username, password = "", "", ""
    if not separator or not password:
        raise EcrError(f"ECR's token for registry {ecr.account} is not base64 of user:password.")
    console.add_credentials(username, password)  # the password and base64 of user:password, which is the token
    endpoint = str(data.get("proxyEndpoint") or f"https://{ecr.host}")
    return Credentials(endpoint.split("://", 1)[-1].rstrip("/"), username, password, origin=TOKEN_ORIGIN)


def push_repository(repository: str, login: Credentials) -> str:
    """Where to push: the repository at the registry the token is for. On AWS that is the repository itself; the
    local stand-in serves ECR from its own registry and says so in proxyEndpoint."""
    return f"{login.registry}/{require(repository).name}"


def repository_exists(client: Any, repository: str) -> bool:
    ecr = require(repository)
    try:
        call("ecr", client, "describe_repositories", registryId=ecr.account, repositoryNames=[ecr.name])
    except CloudError as error:
        if error.code == "RepositoryNotFoundException":
            return False
        raise failure(error, ecr, "DescribeRepositories") from None
    return True


def image_tag_exists(client: Any, repository: str, tag: str) -> bool:
    """Whether ECR holds `repository:tag` (DescribeImages); a missing repository is the UsageError of `failure`."""
    ecr = require(repository)
    try:
        found = call(
            "ecr", client, "describe_images", registryId=ecr.account, repositoryName=ecr.name, imageIds=[{"imageTag": tag}]
        )
    except CloudError as error:
        if error.code == "ImageNotFoundException":
            return False
        raise failure(error, ecr, "DescribeImages") from None
    return any(tag in (detail.get("imageTags") or []) for detail in found.get("imageDetails", []))
