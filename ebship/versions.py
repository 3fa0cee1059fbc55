"""eb.version: the Dockerrun bundle for this commit's pushed image, uploaded and registered as an application version.

A label is never reused for other bits: an existing label is accepted only when its bundle is byte-identical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ebship import dockerrun, ecr
from ebship.actions import Actions
from ebship.cloud import Cloud, MissingBucket
from ebship.errors import PipelineError, UsageError
from ebship.job import Job
from ebship.plan import Plan, Step, executor

TEMPLATE = "Dockerrun.aws.json.template"
BUNDLE_NAME = "Dockerrun.aws.json"

MAX_DESCRIPTION = 200  # CreateApplicationVersion's Description: at most 200 characters (botocore model)
RECORDED_DIGEST = re.compile(r"\(image (sha256:[0-9a-f]{64})\)$")


def with_digest(description: str, digest: str) -> str:
    """The version's description with the image's digest recorded at its end, within the 200 characters AWS allows."""
    suffix = f" (image {digest})"
    return f"{description[: MAX_DESCRIPTION - len(suffix)]}{suffix}"


def recorded_digest(description: str) -> str:
    """The digest ``with_digest`` recorded, or "" when there is none."""
    found = RECORDED_DIGEST.search(description)
    return found.group(1) if found else ""


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
    # An image on ECR is pulled with the instance profile: its Dockerrun names no auth file.
    bundle = dockerrun.render(
        template_path.read_text(),
        {"BUCKET": settings.eb_bucket, "AUTH_KEY": settings.auth_key, "IMAGE": job.release_ref, "PORT": settings.container_port},
        authentication=not ecr.is_ecr(settings.image_repository),
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


def plan_version(spec: VersionSpec, cloud: Cloud) -> Plan:
    """The plan; empty with a note when the version exists with this exact bundle (then waiting for its processing
    is the only step, unless it is processed already)."""
    title = f"eb.version {spec.label} of {spec.application}"
    region = cloud.s3.region
    if not cloud.eb.application_exists(spec.application):
        raise UsageError(
            f"No Elastic Beanstalk application named {spec.application!r} in {region} (EB_APPLICATION). "
            "Create it, or fix the name or the region."
        )
    try:
        cloud.s3.require_bucket_in(spec.bucket, region)
    except MissingBucket:
        raise UsageError(f"The bucket {spec.bucket} (EB_BUCKET) does not exist.") from None
    wait = Step(
        "eb.wait_processed",
        {"ApplicationName": spec.application, "VersionLabel": spec.label, "S3Bucket": spec.bucket, "S3Key": spec.key},
        f"wait until Elastic Beanstalk has processed {spec.label} (PROCESSED)",
    )
    existing = cloud.eb.version(spec.application, spec.label)
    if existing is not None:
        current = _read(cloud, existing.bucket, existing.key)
        if current == spec.bundle:
            if existing.status == "FAILED":
                raise PipelineError(
                    f"Version {spec.label} exists but Elastic Beanstalk failed to process its bundle. "
                    f"Delete it (inv eb.prune, or the console) and run eb.version again."
                )
            note = f"version {spec.label} already exists with this exact bundle; reusing it"
            if existing.status == "PROCESSED":
                return Plan(title, notes=(note,))
            note += f" once Elastic Beanstalk has processed it (now {existing.status or 'without a status'})"
            return Plan(title, (wait,), (note,))
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
                {"Bucket": spec.bucket, "Key": spec.key, "Body": spec.bundle, "ContentType": "application/json"},
                f"upload the bundle (image {spec.image}) to s3://{spec.bucket}/{spec.key}, encrypted",
            ),
            Step(
                "eb.create_application_version",
                {
                    "ApplicationName": spec.application,
                    "VersionLabel": spec.label,
                    "Description": spec.description,
                    "S3Bucket": spec.bucket,
                    "S3Key": spec.key,
                },
                f"create application version {spec.label}: {spec.description}",
            ),
            wait,
        ),
    )


def register(
    job: Job, label: str = "", dry_run: bool = False, verify_image: bool = True, actions: Actions | None = None
) -> VersionSpec:
    """eb.version: renders, checks, uploads and registers; returns what was registered."""
    spec = spec_for(job, label)
    actions = actions or Actions(job)
    if verify_image and not dry_run:
        digest = actions.pushed_digest(spec.image)
        if not digest:
            raise UsageError(f"{spec.image} is not in the registry: run `inv docker.push` for this commit first.")
        job.console.print(f"Image {spec.image} is in the registry ({digest}).")
        spec = replace(spec, description=with_digest(spec.description, digest))  # what eb.promote checks
    elif verify_image:
        # A dry run plans the same description when the registry can already tell the digest (read-only).
        digest = _digest_if_known(actions, spec.image)
        spec = replace(spec, description=with_digest(spec.description, digest)) if digest else spec
    executor(actions, job.console, dry_run).run(plan_version(spec, actions.cloud))
    return spec


def _digest_if_known(actions: Actions, image: str) -> str:
    """The registry's digest of the image, or "" when there is no engine, no login or no such image yet (a dry run of
    inv ci plans eb.version before the push)."""
    try:
        return actions.pushed_digest(image)
    except PipelineError:
        return ""


def _read(cloud: Cloud, bucket: str, key: str) -> bytes | None:
    """The object's bytes; None when it is missing, or S3 denies reading it (as it does for a missing key when the
    caller lacks s3:ListBucket), or its bucket is gone."""
    try:
        return cloud.s3.read(bucket, key).body
    except MissingBucket:
        return None
