"""inv doctor: a read-only preflight of everything a first deploy trips on, as a pass/fail table.

Each check is a small function over ``Checkup`` (the job, the destination, the AWS facade) that returns what it found or
raises ``Failed`` with what to fix. The table is always printed whole: a check that meets an error fails with it in one
line, and the checks that need AWS are skipped, with the reason, once AWS cannot be used (no region, credentials missing
or refused, no connection).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

from ebship import ecr, envvars, registry_auth
from ebship.aws import CloudError
from ebship.cloud import Cloud, MissingBucket
from ebship.errors import PipelineError
from ebship.job import Destination, Job
from ebship.settings import read_dotenv

REQUIRED = ("IMAGE_REPOSITORY", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "EB_APPLICATION", "EB_BUCKET")
ECR_NEEDS_NOT = ("REGISTRY_USERNAME", "REGISTRY_PASSWORD")  # the login is a token from the AWS credentials


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False

    @property
    def verdict(self) -> str:
        return "SKIP" if self.skipped else "PASS" if self.ok else "FAIL"


class Failed(Exception):
    def __init__(self, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


@dataclass
class Checkup:
    job: Job
    destination: Destination
    cloud: Cloud

    @functools.cached_property
    def region(self) -> str:
        return self.cloud.region


def on_ecr(checkup: Checkup) -> bool:
    return ecr.is_ecr(checkup.job.settings.image_repository)


def settings_set(checkup: Checkup) -> str:
    required = [name for name in REQUIRED if not (on_ecr(checkup) and name in ECR_NEEDS_NOT)]
    missing = [name for name in required if not checkup.job.settings.value(name)]
    if missing:
        raise Failed(f"missing: {', '.join(missing)}", "set them in .env, or export the registry credentials")
    return "all set"


def region(checkup: Checkup) -> str:
    return checkup.region


def credentials(checkup: Checkup) -> str:
    return checkup.cloud.caller()


def bucket(checkup: Checkup) -> str:
    name, where = checkup.job.settings.eb_bucket, checkup.region
    if not name:
        raise Failed("EB_BUCKET is not set", "set EB_BUCKET to a bucket in the environment's region")
    try:
        location = checkup.cloud.s3.bucket_region(name)
    except MissingBucket:
        raise Failed(f"bucket {name} does not exist", f"create it in {where} or fix EB_BUCKET") from None
    except CloudError as error:
        raise Failed(f"{error.code}: {error.message}", "check the bucket's name and your S3 permissions") from None
    if location != where:
        raise Failed(
            f"bucket {name} is in {location}, the environment in {where}",
            f"use a bucket in {where}: Elastic Beanstalk reads only from its own region",
        )
    return f"{name} in {location}"


def application(checkup: Checkup) -> str:
    name = checkup.destination.target.application
    if not checkup.cloud.eb.application_exists(name):
        raise Failed(f"no application {name}", "create it, or fix EB_APPLICATION / the region")
    return name


def environment(checkup: Checkup) -> str:
    target = checkup.destination.target
    state = checkup.cloud.eb.environment(target.environment, target.application)
    if state is None:
        raise Failed(
            f"no environment {target.environment} in {target.application}",
            "create it, or fix eb_environment in environments.toml",
        )
    platform = state.platform.lower()
    if "docker" not in platform or "multi-container" in platform or "ecs" in platform:
        raise Failed(
            f"{target.environment} runs {state.platform or 'an unknown platform'}",
            "use a single-container Docker platform (Dockerrun version 1)",
        )
    return f"{target.environment}: {state.status}, {state.health}, {state.platform}"


def ecr_repository(checkup: Checkup) -> str:
    """ECR: the repository exists, and holds this commit's tag once it is pushed."""
    repository = checkup.job.settings.image_repository
    found = ecr.require(repository)
    client = checkup.cloud.ecr(found.region)
    if not ecr.repository_exists(client, repository):
        raise Failed(
            f"no ECR repository {found.name} in registry {found.account} ({found.region})",
            f"create it: aws ecr create-repository --repository-name {found.name} --region {found.region}",
        )
    tag = checkup.job.source.tag
    if not ecr.image_tag_exists(client, repository, tag):
        raise Failed(f"{found.name} has no image tagged {tag} (this commit)", "run `inv docker.push`")
    return f"{found.name} holds {tag}"


def registry(checkup: Checkup) -> str:
    if on_ecr(checkup):
        return ecr_repository(checkup)
    settings = checkup.job.settings
    login = checkup.job.credentials_if_set()
    if login is None or not settings.image_repository:
        raise Failed("registry credentials or IMAGE_REPOSITORY not set", "export REGISTRY_USERNAME and REGISTRY_PASSWORD")
    try:
        ok, detail = registry_auth.registry_login_works(login, settings.image_repository)
    except OSError as error:
        reason = getattr(error, "reason", None) or error
        raise Failed(
            f"the registry at {registry_auth.registry_url(settings.registry)} was not reached ({reason})",
            "check the host in IMAGE_REPOSITORY and that the registry is up",
        ) from None
    if not ok:
        raise Failed(
            f"{settings.registry} refused {settings.registry_username} ({detail})",
            "check REGISTRY_USERNAME and REGISTRY_PASSWORD (a robot account with push rights)",
        )
    return f"{settings.registry} accepts {settings.registry_username}"


def auth_object(checkup: Checkup) -> str:
    if on_ecr(checkup):
        return "not needed: the instances pull from ECR with their instance profile"
    settings = checkup.job.settings
    upload = f"run `inv s3.auth --env {checkup.destination.target.name}`"
    location = f"s3://{settings.eb_bucket}/{settings.auth_key}"
    try:
        found = checkup.cloud.s3.read(settings.eb_bucket, settings.auth_key)
    except MissingBucket:
        raise Failed(f"{location} is missing (NoSuchBucket)", upload) from None
    if found.denied:
        # Without s3:ListBucket, S3 answers a missing key with 403 (S3 API reference, GetObject, "Permissions").
        raise Failed(
            f"{location} is missing or not readable (AccessDenied; S3 does not say which without s3:ListBucket)",
            f"{upload}; if it exists, grant s3:GetObject on it",
        )
    if found.body is None:
        raise Failed(f"{location} is missing (NoSuchKey)", upload)
    login = checkup.job.credentials_if_set()
    try:
        stored = registry_auth.credentials_from_file(found.body, settings.registry)
    except (KeyError, ValueError):
        raise Failed(f"{location} has no entry for {settings.registry}", upload) from None
    if login is None or stored != (login.username, login.password):
        raise Failed(f"{location} holds other credentials than REGISTRY_USERNAME/PASSWORD", upload)
    if not found.encryption:
        raise Failed(f"{location} is not encrypted", f"{upload} (it uploads with AES256)")
    return f"{location}, encrypted"


def variables(checkup: Checkup) -> str:
    declared = checkup.destination.declared
    values = envvars.resolve_references(
        declared.variables if declared else {}, {**read_dotenv(checkup.job.root / ".env"), **os.environ}
    )
    checkup.job.console.add_secrets(values.secret_values)
    envvars.validate(values.values)
    return f"{len(values.values)} declared, all resolved"


# (name, check, whether it calls AWS), in the table's order.
CHECKS: tuple[tuple[str, Callable[[Checkup], str], bool], ...] = (
    ("settings", settings_set, False),
    ("region", region, False),
    ("aws credentials", credentials, True),
    ("bucket", bucket, True),
    ("application", application, True),
    ("environment", environment, True),
    ("registry login", registry, False),
    ("auth object", auth_object, True),
    ("variables", variables, False),
)
# Once one of these fails, the checks that call AWS cannot tell anything: they are skipped with this reason.
AWS_GATES = {
    "region": "AWS needs a region (see the region check)",
    "aws credentials": "AWS cannot be used (see the aws credentials check)",
}


def checked(name: str, body: Callable[[Checkup], str], checkup: Checkup) -> Check:
    try:
        return Check(name, True, body(checkup))
    except Failed as failure:
        return Check(name, False, failure.detail, failure.fix)
    except CloudError as error:
        return Check(name, False, f"{error.code}: {error.message}".rstrip(": "), PERMISSION_FIX)
    except PipelineError as error:  # credentials refused, AWS not reached, a value EB would reject: the line says what
        return Check(name, False, "; ".join(line.strip() for line in str(error).splitlines() if line.strip()))


PERMISSION_FIX = "check the name, the region and the IAM permissions of the identity in use"


def run(job: Job, destination: Destination, out: Callable[[str], None] | None = None, cloud: Cloud | None = None) -> bool:
    print_line = out or job.console.print
    checkup = Checkup(job, destination, cloud or Cloud(job.settings))
    checks: list[Check] = []
    aws_unusable = ""
    for name, body, needs_aws in CHECKS:
        if needs_aws and aws_unusable:
            checks.append(Check(name, False, f"not checked: {aws_unusable}", skipped=True))
            continue
        checks.append(checked(name, body, checkup))
        if not checks[-1].ok and name in AWS_GATES:
            aws_unusable = aws_unusable or AWS_GATES[name]
    width = max(len(c.name) for c in checks)
    target = destination.target
    print_line(f"doctor: {target.name} ({target.environment})")
    for item in checks:
        print_line(f"  {item.verdict}  {item.name:<{width}}  {item.detail}")
        if not item.ok and item.fix:
            print_line(f"        {'':<{width}}  fix: {item.fix}")
    passed = [c for c in checks if c.ok]
    skipped = [c for c in checks if c.skipped]
    print_line(f"doctor: {len(passed)} of {len(checks)} checks pass" + (f" ({len(skipped)} not run)" if skipped else ""))
    return len(passed) == len(checks)
