"""inv doctor: a read-only preflight of everything a first deploy trips on, as a pass/fail table.

The table is always printed whole: a check that meets any error fails with it in one line, and the checks that need AWS
are skipped, with the reason, once AWS cannot be used (no region, credentials missing or refused, no connection).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ebship import envvars, registry_auth
from ebship.aws import bucket_region, client, describe_error, error_code, known_failure, session
from ebship.images import Credentials
from ebship.job import Destination, Job
from ebship.release import DENIED
from ebship.settings import read_dotenv

REQUIRED = ("IMAGE_REPOSITORY", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "EB_APPLICATION", "EB_BUCKET")


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
    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


def run(job: Job, resolved: Destination, out: Callable[[str], None] | None = None) -> bool:
    print_line = out or job.console.print
    settings = job.settings
    target = resolved.target
    checks: list[Check] = []
    aws_unusable: list[str] = []  # why the checks that call AWS cannot run, once that is known

    def check(name: str, body: Callable[[], str], needs_aws: bool = False) -> bool:
        if needs_aws and aws_unusable:
            checks.append(Check(name, False, f"not checked: {aws_unusable[0]}", skipped=True))
            return False
        try:
            checks.append(Check(name, True, body()))
            return True
        except Failed as failure:
            checks.append(Check(name, False, failure.detail, failure.fix))
        except Exception as error:
            checks.append(Check(name, False, *explain(error)))
        return False

    missing = [name for name in REQUIRED if not settings.value(name)]
    checks.append(
        Check(
            "settings",
            not missing,
            "all set" if not missing else f"missing: {', '.join(missing)}",
            "set them in .env, or export the registry credentials" if missing else "",
        )
    )
    state: dict[str, Any] = {}

    def region() -> str:
        state["region"] = session(settings).region_name
        return str(state["region"])

    def credentials() -> str:
        identity = client(settings, "sts").get_caller_identity()
        return f"{identity['Arn']}"

    def bucket() -> str:
        if not settings.eb_bucket:
            raise Failed("EB_BUCKET is not set", "set EB_BUCKET to a bucket in the environment's region")
        s3 = client(settings, "s3")
        try:
            location = bucket_region(s3.get_bucket_location(Bucket=settings.eb_bucket).get("LocationConstraint"))
        except Exception as error:
            if error_code(error) in ("NoSuchBucket", "404"):
                raise Failed(
                    f"bucket {settings.eb_bucket} does not exist", f"create it in {state.get('region')} or fix EB_BUCKET"
                ) from None
            if not error_code(error):
                raise
            raise Failed(describe_error(error), "check the bucket's name and your S3 permissions") from None
        if location != state.get("region"):
            raise Failed(
                f"bucket {settings.eb_bucket} is in {location}, the environment in {state.get('region')}",
                f"use a bucket in {state.get('region')}: Elastic Beanstalk reads only from its own region",
            )
        return f"{settings.eb_bucket} in {location}"

    def application() -> str:
        eb = client(settings, "elasticbeanstalk")
        if not eb.describe_applications(ApplicationNames=[target.application])["Applications"]:
            raise Failed(f"no application {target.application}", "create it, or fix EB_APPLICATION / the region")
        return target.application

    def environment() -> str:
        eb = client(settings, "elasticbeanstalk")
        found = [
            e
            for e in eb.describe_environments(ApplicationName=target.application, EnvironmentNames=[target.environment])[
                "Environments"
            ]
            if e.get("Status") != "Terminated"
        ]
        if not found:
            raise Failed(
                f"no environment {target.environment} in {target.application}",
                "create it, or fix eb_environment in environments.toml",
            )
        platform = found[0].get("SolutionStackName", "") or found[0].get("PlatformArn", "")
        if "docker" not in platform.lower() or "multi-container" in platform.lower() or "ecs" in platform.lower():
            raise Failed(
                f"{target.environment} runs {platform or 'an unknown platform'}",
                "use a single-container Docker platform (Dockerrun version 1)",
            )
        return f"{target.environment}: {found[0].get('Status')}, {found[0].get('Health')}, {platform}"

    def registry() -> str:
        if not (settings.registry_username and settings.registry_password and settings.image_repository):
            raise Failed("registry credentials or IMAGE_REPOSITORY not set", "export REGISTRY_USERNAME and REGISTRY_PASSWORD")
        credentials = Credentials(settings.registry, settings.registry_username, settings.registry_password)
        try:
            ok, detail = registry_auth.registry_login_works(credentials, settings.image_repository)
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

    upload = f"run `inv s3.auth --env {target.name}`"

    def auth_object() -> str:
        s3 = client(settings, "s3")
        location = f"s3://{settings.eb_bucket}/{settings.auth_key}"
        try:
            found = s3.get_object(Bucket=settings.eb_bucket, Key=settings.auth_key)
        except Exception as error:
            code = error_code(error)
            if code in DENIED:
                # Without s3:ListBucket, S3 answers a missing key with 403 (S3 API reference, GetObject, "Permissions").
                raise Failed(
                    f"{location} is missing or not readable ({code}; S3 does not say which without s3:ListBucket)",
                    f"{upload}; if it exists, grant s3:GetObject on it",
                ) from None
            if code:
                raise Failed(f"{location} is missing ({code})", upload) from None
            raise
        credentials = Credentials(settings.registry, settings.registry_username, settings.registry_password)
        try:
            stored = registry_auth.credentials_from_file(found["Body"].read(), settings.registry)
        except (KeyError, ValueError):
            raise Failed(f"{location} has no entry for {settings.registry}", upload) from None
        if stored != (credentials.username, credentials.password):
            raise Failed(f"{location} holds other credentials than REGISTRY_USERNAME/PASSWORD", upload)
        if not found.get("ServerSideEncryption"):
            raise Failed(f"{location} is not encrypted", f"{upload} (it uploads with AES256)")
        return f"{location}, encrypted"

    def variables() -> str:
        declared = resolved.declared.variables if resolved.declared else {}
        values = envvars.resolve(declared, {**read_dotenv(job.root / ".env"), **os.environ})
        job.console.add_secrets(values.secret_values)
        envvars.validate(values.values)
        return f"{len(values.values)} declared, all resolved"

    if not check("region", region):
        aws_unusable.append("AWS needs a region (see the region check)")
    if not check("aws credentials", credentials, needs_aws=True) and not aws_unusable:
        aws_unusable.append("AWS cannot be used (see the aws credentials check)")
    check("bucket", bucket, needs_aws=True)
    check("application", application, needs_aws=True)
    check("environment", environment, needs_aws=True)
    check("registry login", registry)
    check("auth object", auth_object, needs_aws=True)
    check("variables", variables)
    width = max(len(c.name) for c in checks)
    print_line(f"doctor: {target.name} ({target.environment})")
    for item in checks:
        print_line(f"  {item.verdict}  {item.name:<{width}}  {item.detail}")
        if not item.ok and item.fix:
            print_line(f"        {'':<{width}}  fix: {item.fix}")
    passed = [c for c in checks if c.ok]
    skipped = [c for c in checks if c.skipped]
    print_line(f"doctor: {len(passed)} of {len(checks)} checks pass" + (f" ({len(skipped)} not run)" if skipped else ""))
    return len(passed) == len(checks)


def explain(error: Exception) -> tuple[str, str]:
    """A check's failure in one line, and what to do about it: whatever the error, the table goes on."""
    known = known_failure(error)
    if known is not None:
        return "; ".join(line.strip() for line in str(known).splitlines() if line.strip()), ""
    if error_code(error):
        return describe_error(error), "check the name, the region and the IAM permissions of the identity in use"
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return f"unexpected error ({type(error).__name__}: {text})", "report it with the output of `inv doctor`"
