"""The Docker half of the pipeline: build the release image, test inside it, push it, put the registry auth file in S3.

Each step is a plain function over a ``Job`` (the resolved settings, the commit, the console); the task modules are thin
wrappers, and ``ci`` composes these functions. Each step plans first, then acts (or prints the plan on a dry run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ebship import images, registry_auth
from ebship.aws import client as aws_client
from ebship.aws import describe_error, error_code
from ebship.errors import PipelineError, UsageError
from ebship.job import Job
from ebship.plan import Plan, Step, execute, print_plan

RELEASE_DOCKERFILE = "Dockerfile"
TEST_DOCKERFILE = "Dockerfile.test"
RECORDS = Path(".local") / "pushed"


# --- docker.build -------------------------------------------------------------------------------------------------


def plan_build(job: Job, client: Any | None) -> Plan:
    job.settings.require("IMAGE_REPOSITORY")
    notes = []
    if job.source.dirty_tree:
        notes.append(f"the work tree differs from commit {job.source.sha[:12]}: tagging {job.source.tag}")
    steps = []
    # The low-level listing: docker-py's images.list() inspects each image, which fails if a concurrent run removes one.
    listed = client.api.images(name=job.settings.image_repository) if client is not None else []
    have_local = any(image.get("RepoTags") for image in listed)
    if not have_local:
        steps.append(
            Step(
                "docker.pull_cache",
                {"reference": job.cache_ref},
                f"pull {job.cache_ref} as a cache source, if the registry has it",
            )
        )
    steps.append(
        Step(
            "docker.build",
            {
                "dockerfile": RELEASE_DOCKERFILE,
                "tag": job.release_ref,
                "buildargs": {"BASE_IMAGE": job.settings.base_image, "APP_VERSION": job.source.tag},
                "labels": {"org.opencontainers.image.revision": job.source.sha},
                "network_mode": job.settings.docker_build_network,
            },
            f"build {RELEASE_DOCKERFILE} as {job.release_ref} on {job.settings.base_image}",
        )
    )
    return Plan(f"docker.build {job.release_ref}", tuple(steps), tuple(notes))


def build(job: Job, dry_run: bool = False) -> str:
    """Builds the release image; returns its image id (empty on a dry run)."""
    client = images.engine() if not dry_run else _engine_if_up()
    plan = plan_build(job, client)
    print_plan(plan, job.console, dry_run)
    if dry_run:
        return ""
    assert client is not None
    cache_from: list[str] = []

    def pull_cache(reference: str) -> None:
        credentials = job.credentials_if_set()
        if images.pull_quietly(client, reference, credentials):
            job.console.print(f"Using {reference} as a cache source.")
            cache_from.append(reference)
        else:
            job.console.print(f"No cache image {reference} could be pulled; building without one.")

    def docker_build(**params: Any) -> str:
        if not cache_from and images.image_exists(client, job.cache_ref):
            cache_from.append(job.cache_ref)
        result = images.build(client, context=job.root, console=job.console, cache_from=cache_from, **params)
        return result.image_id

    results = execute(plan, {"docker.pull_cache": pull_cache, "docker.build": docker_build})
    image_id = str(results[-1])
    job.console.print(f"Built {job.release_ref} ({image_id[:19]}).")
    return image_id


# --- docker.test --------------------------------------------------------------------------------------------------


def plan_test(job: Job) -> Plan:
    job.settings.require("IMAGE_REPOSITORY")
    return Plan(
        f"docker.test {job.release_ref}",
        (
            Step(
                "docker.build",
                {
                    "dockerfile": TEST_DOCKERFILE,
                    "tag": job.test_ref,
                    "buildargs": {"RELEASE_IMAGE": job.release_ref},
                    "labels": {"org.opencontainers.image.revision": job.source.sha},
                    "network_mode": job.settings.docker_build_network,
                },
                f"build {TEST_DOCKERFILE} on {job.release_ref}",
            ),
            Step("docker.run_tests", {"image": job.test_ref}, f"run the tests in {job.test_ref}, then remove the container"),
        ),
    )


def test(job: Job, dry_run: bool = False) -> int:
    """Builds the test image on the release image and runs the app's tests in it; returns their exit status."""
    plan = plan_test(job)
    print_plan(plan, job.console, dry_run)
    if dry_run:
        return 0
    client = images.engine()
    if not images.image_exists(client, job.release_ref):
        raise UsageError(f"The release image {job.release_ref} is not here: run `inv docker.build` first.")

    def docker_build(**params: Any) -> str:
        return images.build(client, context=job.root, console=job.console, **params).image_id

    def run_tests(image: str) -> int:
        return images.run_to_completion(client, image, job.console)

    status = int(execute(plan, {"docker.build": docker_build, "docker.run_tests": run_tests})[-1])
    job.console.print(f"Tests {'passed' if status == 0 else f'failed (exit status {status})'} in {job.test_ref}.")
    return status


# --- docker.push --------------------------------------------------------------------------------------------------


def plan_push(job: Job) -> Plan:
    credentials = job.credentials()
    return Plan(
        f"docker.push {job.release_ref}",
        (
            Step(
                "docker.login", {"registry": credentials.registry}, f"log in to {credentials.registry} as {credentials.username}"
            ),
            Step("docker.push", {"tag": job.source.tag}, f"push {job.release_ref}"),
            Step("docker.push", {"tag": "latest"}, f"push {job.cache_ref} (the next fresh runner's cache source)"),
        ),
    )


def push(job: Job, dry_run: bool = False) -> str:
    """Pushes the release image; returns the digest the registry recorded (empty on a dry run)."""
    plan = plan_push(job)
    print_plan(plan, job.console, dry_run)
    if dry_run:
        return ""
    credentials = job.credentials()
    client = images.engine()
    if not images.image_exists(client, job.release_ref):
        raise UsageError(f"The release image {job.release_ref} is not here: run `inv docker.build` first.")
    repository = job.settings.image_repository
    client.images.get(job.release_ref).tag(repository, "latest")
    digests: dict[str, str] = {}

    def docker_push(tag: str) -> str:
        digests[tag] = images.push(client, repository, tag, credentials, job.console)
        return digests[tag]

    execute(plan, {"docker.login": lambda registry: images.login(client, credentials), "docker.push": docker_push})
    digest = digests[job.source.tag]
    record_push(job, digest)
    job.console.print(f"Pushed {job.release_ref}\n  digest {repository}@{digest}")
    return digest


def record_push(job: Job, digest: str) -> None:
    records = job.root / RECORDS
    records.mkdir(parents=True, exist_ok=True)
    record = {"repository": job.settings.image_repository, "tag": job.source.tag, "digest": digest, "sha": job.source.sha}
    (records / f"{job.source.tag}.json").write_text(json.dumps(record, indent=2) + "\n")


def pushed_digest(job: Job) -> str:
    """The digest of this commit's image as the registry holds it; asks the registry, so it works on any runner."""
    credentials = job.credentials()
    return images.registry_digest(images.engine(), job.release_ref, credentials)


# --- s3.auth ------------------------------------------------------------------------------------------------------

# S3 answers a missing key with 403 AccessDenied, not 404 NoSuchKey, to a caller without s3:ListBucket on the bucket
# (S3 API reference, GetObject, "Permissions"); HeadObject's 403 has no body, so botocore names it "403".
DENIED = ("AccessDenied", "403")
UNREADABLE = object()  # the auth file is missing or the caller may not read it: S3 does not say which


def plan_auth(job: Job, s3: Any) -> Plan:
    job.settings.require("IMAGE_REPOSITORY", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "EB_BUCKET")
    credentials = job.credentials()
    content = registry_auth.auth_file(credentials, job.settings.auth_format)
    bucket, key = job.settings.eb_bucket, job.settings.auth_key
    location = f"s3://{bucket}/{key}"
    current, encryption = _read_object(s3, bucket, key)
    # Checked on every run, an unchanged file too: credentials that no longer log in fail only at EB's next pull.
    verify = Step(
        "registry.verify_login",
        {"registry": credentials.registry, "username": credentials.username},
        f"check that {credentials.registry} accepts the login of {credentials.username}, as Elastic Beanstalk will use it",
    )
    notes: tuple[str, ...] = ()
    if current is UNREADABLE:
        why = "create or replace"
        notes = (
            f"S3 denied reading {location} (AccessDenied): it is missing, and the credentials lack s3:ListBucket on "
            f"{bucket}, or they lack s3:GetObject on it; uploading it",
        )
    elif current == content and encryption:
        return Plan(f"s3.auth {location}", (verify,), (f"{location} already holds these credentials, encrypted ({encryption})",))
    else:
        why = "create" if current is None else "replace" if current != content else "encrypt"
    return Plan(
        f"s3.auth {location}",
        (
            verify,
            Step(
                "s3.put_object",
                {
                    "Bucket": bucket,
                    "Key": key,
                    "Body": content,
                    "ServerSideEncryption": "AES256",
                    "ContentType": "application/json",
                },
                f"{why} {location}: {job.settings.auth_format} auth for {credentials.registry}, encrypted (AES256)",
            ),
        ),
        notes,
    )


def upload_auth(job: Job, dry_run: bool = False, s3: Any | None = None) -> str:
    """Checks that the registry accepts the credentials, then writes the registry auth file to S3 unless it already
    holds the same content; returns its S3 URL. A dry run sends the password nowhere: it only prints the check."""
    s3 = s3 or aws_client(job.settings, "s3")
    plan = plan_auth(job, s3)
    print_plan(plan, job.console, dry_run)
    if not dry_run:
        credentials, repository = job.credentials(), job.settings.image_repository
        handlers = {
            "registry.verify_login": lambda **_: registry_auth.verify_login(credentials, repository),
            "s3.put_object": s3.put_object,
        }
        try:
            execute(plan, handlers)
        except Exception as error:
            if not error_code(error):
                raise
            if error_code(error) in DENIED:
                bucket, key = job.settings.eb_bucket, job.settings.auth_key
                raise PipelineError(
                    f"S3 denied the upload of the auth file to s3://{bucket}/{key} ({describe_error(error)}): the "
                    f"credentials need s3:PutObject on arn:aws:s3:::{bucket}/{key} (and s3:GetObject on it, with "
                    f"s3:ListBucket on arn:aws:s3:::{bucket}, to skip uploads that change nothing)."
                ) from None
            raise PipelineError(f"S3 refused the upload of the auth file: {describe_error(error)}") from None
    return f"s3://{job.settings.eb_bucket}/{job.settings.auth_key}"


def _read_object(s3: Any, bucket: str, key: str) -> tuple[bytes | None | object, str]:
    """The object's bytes and its encryption; None when it is missing, UNREADABLE when S3 denies reading it."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as error:
        code = error_code(error)
        if code in ("NoSuchKey", "404"):
            return None, ""
        if code in DENIED:
            return UNREADABLE, ""
        if code == "NoSuchBucket":
            raise UsageError(
                f"The bucket {bucket} does not exist (EB_BUCKET). Create it in the environment's region, "
                "or set EB_BUCKET to Elastic Beanstalk's bucket (elasticbeanstalk-<region>-<account>)."
            ) from None
        if code:
            raise PipelineError(f"Could not read s3://{bucket}/{key}: {describe_error(error)}") from None
        raise
    return response["Body"].read(), str(response.get("ServerSideEncryption", ""))


def _engine_if_up() -> Any | None:
    try:
        return images.engine()
    except UsageError:
        return None
