"""eb.version: the Dockerrun bundle for this commit's pushed image, uploaded and registered as an application version.

A label is never reused for other bits: an existing label is accepted only when its bundle is byte-identical.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ebship import dockerrun
from ebship.aws import bucket_region, describe_error, error_code
from ebship.beanstalk import Beanstalk
from ebship.errors import DeployTimeout, PipelineError, UsageError
from ebship.job import Job
from ebship.plan import Plan, Step, execute, print_plan
from ebship.release import pushed_digest

TEMPLATE = "Dockerrun.aws.json.template"
BUNDLE_NAME = "Dockerrun.aws.json"
# S3 answers a missing key with 403 AccessDenied to a caller without s3:ListBucket (S3 API reference, GetObject).
MISSING_OR_DENIED = ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403")


@dataclass(frozen=True)
class VersionSpec:
    application: str
    label: str
    image: str
    bucket: str
    key: str
    bundle: bytes
    description: str


class LabelConflict(UsageError):
    """A label that exists with another bundle; ``fact`` without the advice, for a caller (inv ci) that has no --label."""

    def __init__(self, fact: str, advice: str) -> None:
        super().__init__(f"{fact} {advice}")
        self.fact = fact


def bundle_key(prefix: str, label: str) -> str:
    return f"{prefix.strip('/')}/{label}/{BUNDLE_NAME}" if prefix.strip("/") else f"{label}/{BUNDLE_NAME}"


def spec_for(job: Job, label: str = "") -> VersionSpec:
    """Renders and validates the bundle; nothing is asked of AWS or the registry yet."""
    settings = job.settings
    settings.require("EB_APPLICATION", "EB_BUCKET", "IMAGE_REPOSITORY")
    label = label or job.source.tag
    if not 1 <= len(label) <= 100 or "/" in label:
        raise UsageError(f"The version label {label!r} must be 1-100 characters without '/'.")
    template_path = job.root / TEMPLATE
    if not template_path.is_file():
        raise UsageError(f"{TEMPLATE} is missing from {job.root}.")
    bundle = dockerrun.render(
        template_path.read_text(),
        {"BUCKET": settings.eb_bucket, "AUTH_KEY": settings.auth_key, "IMAGE": job.release_ref, "PORT": settings.container_port},
    )
    description = (job.source.subject or f"commit {job.source.sha}")[:200]
    return VersionSpec(
        settings.eb_application,
        label,
        job.release_ref,
        settings.eb_bucket,
        bundle_key(settings.bundle_prefix, label),
        bundle,
        description,
    )


def check_bucket_region(s3: Any, bucket: str, region: str) -> None:
    try:
        location = bucket_region(s3.get_bucket_location(Bucket=bucket).get("LocationConstraint"))
    except Exception as error:
        if error_code(error) in ("NoSuchBucket", "404"):
            raise UsageError(f"The bucket {bucket} (EB_BUCKET) does not exist.") from None
        if error_code(error):
            raise PipelineError(f"Could not read the region of bucket {bucket}: {describe_error(error)}") from None
        raise
    if location != region:
        raise UsageError(
            f"The bucket {bucket} is in {location}, but the environment is in {region}: Elastic Beanstalk reads bundles "
            f"and the auth file only from a bucket in its own region. Use a bucket in {region} (EB_BUCKET)."
        )


def plan_version(job: Job, spec: VersionSpec, eb: Beanstalk, s3: Any, region: str) -> tuple[Plan, bool]:
    """The plan, and whether the version exists already processed (nothing to wait for)."""
    title = f"eb.version {spec.label} of {spec.application}"
    if not eb.application_exists(spec.application):
        raise UsageError(
            f"No Elastic Beanstalk application named {spec.application!r} in {region} (EB_APPLICATION). "
            "Create it, or fix the name or the region."
        )
    check_bucket_region(s3, spec.bucket, region)
    existing = eb.version(spec.application, spec.label)
    if existing is not None:
        current = _read(s3, existing.bucket, existing.key)
        if current == spec.bundle:
            if existing.status == "FAILED":
                raise PipelineError(
                    f"Version {spec.label} exists but Elastic Beanstalk failed to process its bundle. "
                    f"Delete it (inv eb.prune, or the console) and run eb.version again."
                )
            note = f"version {spec.label} already exists with this exact bundle; reusing it"
            if existing.status != "PROCESSED":
                note += f" once Elastic Beanstalk has processed it (now {existing.status or 'without a status'})"
            return Plan(title, notes=(note,)), existing.status == "PROCESSED"
        where = f"s3://{existing.bucket}/{existing.key}"
        raise LabelConflict(
            f"Version {spec.label} already exists in {spec.application} with a different bundle ({where}"
            f"{' is missing or not readable' if current is None else ''}). A label is never reused for other bits:",
            "use another label (--label) or delete the old version first.",
        )
    return Plan(
        title,
        (
            Step(
                "s3.put_object",
                {
                    "Bucket": spec.bucket,
                    "Key": spec.key,
                    "Body": spec.bundle,
                    "ServerSideEncryption": "AES256",
                    "ContentType": "application/json",
                },
                f"upload the bundle (image {spec.image}) to s3://{spec.bucket}/{spec.key}, encrypted",
            ),
            Step(
                "eb.create_application_version",
                {
                    "ApplicationName": spec.application,
                    "VersionLabel": spec.label,
                    "Description": spec.description,
                    "SourceBundle": {"S3Bucket": spec.bucket, "S3Key": spec.key},
                    "Process": True,
                },
                f"create application version {spec.label}: {spec.description}",
            ),
        ),
    ), False


def register(job: Job, label: str = "", dry_run: bool = False, verify_image: bool = True) -> VersionSpec:
    """eb.version: renders, checks, uploads and registers; returns what was registered."""
    from ebship.aws import client

    spec = spec_for(job, label)
    if verify_image and not dry_run:
        digest = pushed_digest(job)
        if not digest:
            raise UsageError(f"{spec.image} is not in the registry: run `inv docker.push` for this commit first.")
        job.console.print(f"Image {spec.image} is in the registry ({digest}).")
    eb = Beanstalk(client(job.settings, "elasticbeanstalk"))
    s3 = client(job.settings, "s3")
    region = s3.meta.region_name
    plan, processed = plan_version(job, spec, eb, s3, region)
    print_plan(plan, job.console, dry_run)
    if dry_run or processed:
        return spec
    if not plan.empty:
        execute(
            plan,
            {
                "s3.put_object": s3.put_object,
                "eb.create_application_version": lambda **p: eb.call("create_application_version", **p),
            },
        )
    wait_processed(eb, spec, job, float(job.settings.deploy_timeout))
    return spec


def wait_processed(eb: Beanstalk, spec: VersionSpec, job: Job, timeout: float, clock: Any = time, interval: float = 0.2) -> None:
    """Waits until Elastic Beanstalk has processed the version (Process=True), as the EB CLI does: only PROCESSED is
    ready; UNPROCESSED, PROCESSING and BUILDING are not ends (ebcli/operations/commonops.py waits for PROCESSED or
    FAILED). Statuses are compared in upper case: AWS sends them so, the botocore model spells them in title case."""
    deadline = clock.monotonic() + timeout
    while True:
        version = eb.version(spec.application, spec.label)
        status = version.status.upper() if version else ""
        if status == "PROCESSED":
            job.console.print(f"Version {spec.label} registered (processed).")
            return
        if status == "FAILED":
            raise PipelineError(
                f"Elastic Beanstalk could not process the bundle of {spec.label} (status FAILED). "
                f"Check s3://{spec.bucket}/{spec.key}, delete the version (inv eb.prune, or the console) and run "
                "eb.version again."
            )
        if clock.monotonic() + interval > deadline:
            raise DeployTimeout(
                f"Version {spec.label} was still {status or 'missing'} after {timeout:.0f} s (DEPLOY_TIMEOUT), not "
                "PROCESSED: Elastic Beanstalk has not validated it yet. Run eb.version again to wait longer."
            )
        clock.sleep(interval)
        interval = min(interval * 1.5, 3.0)


def _read(s3: Any, bucket: str, key: str) -> bytes | None:
    """The object's bytes; None when it is missing, or S3 denies reading it (as it does for a missing key when the
    caller lacks s3:ListBucket)."""
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as error:
        if error_code(error) in MISSING_OR_DENIED:
            return None
        raise
