"""The Docker half of the pipeline: build the release image, test inside it, push it, put the registry auth file in S3.

Each step plans (a ``Plan``: data) and hands the plan to an executor: ``ebship.actions.Actions`` runs it, a dry run's
display executor only prints it. The task modules are thin wrappers, and ``ci`` composes these functions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ebship import ecr, images, registry_auth
from ebship.actions import Actions
from ebship.cloud import Storage
from ebship.errors import UsageError
from ebship.job import Job
from ebship.plan import Plan, Step, executor

RELEASE_DOCKERFILE = "Dockerfile"
TEST_DOCKERFILE = "Dockerfile.test"
RECORDS = Path(".local") / "pushed"


# --- docker.build -------------------------------------------------------------------------------------------------


# What a release image records of its inputs, besides the commit (org.opencontainers.image.revision): the base image's
# name (the OCI annotation) and the local id it had, so that an image built from the same inputs is known for what it is.
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_ID_LABEL = "io.eb-ship.base-image-id"


def final_base(dockerfile: str, build_args: dict[str, str]) -> str:
    """The image the final stage of a Dockerfile is built FROM, its ARGs resolved as the build will resolve them (a
    build argument, else the ARG's default); a stage named earlier stands for that stage's own base. "" when no FROM
    can be read. An app's Dockerfile may ignore BASE_IMAGE: what the image records must be what it was built on."""
    defaults: dict[str, str] = {}
    stages: dict[str, str] = {}
    base = ""
    text = re.sub(r"\\\n", " ", dockerfile)  # continuation lines joined
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() == "ARG" and not base:
            name, _, default = rest.strip().partition("=")
            defaults[name.strip()] = build_args.get(name.strip(), default.strip().strip("\"'"))
        elif word.upper() == "FROM":
            tokens = [token for token in rest.split() if not token.startswith("--")]
            if not tokens:
                continue
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda found: defaults.get(found[1] or found[2], ""), tokens[0])
            base = stages.get(image.lower(), image)
            if len(tokens) >= 3 and tokens[1].upper() == "AS":
                stages[tokens[2].lower()] = base
    return base


def release_base(job: Job) -> str:
    """The base image of the release image: the Dockerfile's final FROM, else the BASE_IMAGE setting."""
    try:
        dockerfile = (job.root / RELEASE_DOCKERFILE).read_text(encoding="utf-8")
    except OSError:
        return job.settings.base_image
    return final_base(dockerfile, {"BASE_IMAGE": job.settings.base_image}) or job.settings.base_image


def base_image_id(engine: Any | None, base: str) -> str:
    """The local id of the base image, or "" when the engine does not have it (the build will pull it)."""
    if engine is None:
        return ""
    from docker.errors import ImageNotFound

    try:
        return str(engine.api.inspect_image(base)["Id"])
    except ImageNotFound:
        return ""


def built_already(job: Job, engine: Any | None) -> str:
    """The id of the release image when the engine has it built from exactly these inputs: the same commit or work tree
    (its tag says so), the same base image (name and id) and so the same build arguments; else "". Building again could
    only give the same image from the layer cache."""
    from docker.errors import ImageNotFound

    name = release_base(job)
    base = base_image_id(engine, name)
    if engine is None or not base:
        return ""
    try:
        found = engine.api.inspect_image(job.release_ref)
    except ImageNotFound:
        return ""
    labels = (found.get("Config") or {}).get("Labels") or {}
    wanted = {
        "org.opencontainers.image.revision": job.source.sha,
        BASE_NAME_LABEL: name,
        BASE_ID_LABEL: base,
    }
    return str(found["Id"]) if all(labels.get(key) == value for key, value in wanted.items()) else ""


def plan_build(job: Job, engine: Any | None, built: str = "") -> Plan:
    """``engine`` None (a dry run without a Docker engine) plans as a fresh runner: pull the cache source first.
    ``built``: the id of an image built from the same inputs (``built_already``): nothing to build."""
    job.settings.require("IMAGE_REPOSITORY")
    notes = []
    if job.source.dirty_tree:
        notes.append(f"the work tree differs from commit {job.source.sha[:12]}: tagging {job.source.tag}")
    if built:
        notes.append(
            f"{job.release_ref} is built already from this {'work tree' if job.source.dirty_tree else 'commit'} on "
            f"{job.settings.base_image} ({built[:19]}): nothing to build"
        )
        return Plan(f"docker.build {job.release_ref}", notes=tuple(notes))
    steps = []
    # The low-level listing: docker-py's images.list() inspects each image, which fails if a concurrent run removes one.
    listed = engine.api.images(name=job.settings.image_repository) if engine is not None else []
    cache_from = [job.cache_ref]
    if not any(image.get("RepoTags") for image in listed):
        steps.append(
            Step(
                "docker.pull_cache",
                {"reference": job.cache_ref},
                f"pull {job.cache_ref} as a cache source, if the registry has it",
            )
        )
    elif not images.image_exists(engine, job.cache_ref):
        cache_from = []
    steps.append(
        Step(
            "docker.build",
            {
                "dockerfile": RELEASE_DOCKERFILE,
                "tag": job.release_ref,
                "buildargs": {"BASE_IMAGE": job.settings.base_image, "APP_VERSION": job.source.tag},
                "labels": {
                    "org.opencontainers.image.revision": job.source.sha,
                    BASE_NAME_LABEL: release_base(job),
                    BASE_ID_LABEL: base_image_id(engine, release_base(job)),
                },
                "network_mode": job.settings.docker_build_network,
                "cache_from": cache_from,
            },
            f"build {RELEASE_DOCKERFILE} as {job.release_ref} on {release_base(job)}"
            + (f", with {job.cache_ref} as a cache source when present" if cache_from else ""),
        )
    )
    return Plan(f"docker.build {job.release_ref}", tuple(steps), tuple(notes))


def build(job: Job, dry_run: bool = False, actions: Actions | None = None) -> str:
    """Builds the release image; returns its image id (empty on a dry run)."""
    job.settings.require("IMAGE_REPOSITORY")  # before the engine is asked about an image with no name
    images.refuse_secrets_in_context(job.root)
    actions = actions or Actions(job)
    engine = actions.engine if not dry_run else _engine_if_up()
    built = built_already(job, engine)
    results = executor(actions, job.console, dry_run).run(plan_build(job, engine, built))
    if dry_run:
        return ""
    image_id = str(results[-1]) if results else built
    if results:
        job.console.print(f"Built {job.release_ref} ({image_id[:19]}).")
    return image_id


# --- docker.test --------------------------------------------------------------------------------------------------


def plan_test(job: Job) -> Plan:
    job.settings.require("IMAGE_REPOSITORY")
    images.refuse_secrets_in_context(job.root)
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
                    "cache_from": [],
                },
                f"build {TEST_DOCKERFILE} on {job.release_ref}",
            ),
            Step("docker.run_tests", {"image": job.test_ref}, f"run the tests in {job.test_ref}, then remove the container"),
        ),
    )


def test(job: Job, dry_run: bool = False, actions: Actions | None = None) -> int:
    """Builds the test image on the release image and runs the app's tests in it; returns their exit status."""
    plan = plan_test(job)
    actions = actions or Actions(job)
    if not dry_run and not images.image_exists(actions.engine, job.release_ref):
        raise UsageError(f"The release image {job.release_ref} is not here: run `inv docker.build` first.")
    results = executor(actions, job.console, dry_run).run(plan)
    if dry_run:
        return 0
    status = int(results[-1])
    job.console.print(f"Tests {'passed' if status == 0 else f'failed (exit status {status})'} in {job.test_ref}.")
    return status


# --- docker.push --------------------------------------------------------------------------------------------------


def plan_push(job: Job) -> Plan:
    repository = job.settings.image_repository
    if ecr.is_ecr(repository):
        login = Step(
            "docker.login",
            {"registry": ecr.require(repository).host},
            f"log in to {ecr.require(repository).host} with a token from ECR (GetAuthorizationToken, valid 12 hours)",
        )
    else:
        credentials = job.credentials()
        login = Step(
            "docker.login", {"registry": credentials.registry}, f"log in to {credentials.registry} as {credentials.username}"
        )
    return Plan(
        f"docker.push {job.release_ref}",
        (
            Step(
                "docker.tag",
                {"source": job.release_ref, "repository": repository, "tag": "latest"},
                f"tag {job.release_ref} as {job.cache_ref}",
            ),
            login,
            Step("docker.push", {"repository": repository, "tag": job.source.tag}, f"push {job.release_ref}"),
            Step(
                "docker.push",
                {"repository": repository, "tag": "latest"},
                f"push {job.cache_ref} (the next fresh runner's cache source)",
            ),
        ),
    )


def push(job: Job, dry_run: bool = False, actions: Actions | None = None) -> str:
    """Pushes the release image; returns the digest the registry recorded (empty on a dry run)."""
    plan = plan_push(job)
    actions = actions or Actions(job)
    if not dry_run and not images.image_exists(actions.engine, job.release_ref):
        raise UsageError(f"The release image {job.release_ref} is not here: run `inv docker.build` first.")
    results = executor(actions, job.console, dry_run).run(plan)
    if dry_run:
        return ""
    digest = str(results[2])
    record_push(job, digest)
    job.console.print(f"Pushed {job.release_ref}\n  digest {job.settings.image_repository}@{digest}")
    return digest


def record_push(job: Job, digest: str) -> None:
    records = job.root / RECORDS
    records.mkdir(parents=True, exist_ok=True)
    record = {"repository": job.settings.image_repository, "tag": job.source.tag, "digest": digest, "sha": job.source.sha}
    (records / f"{job.source.tag}.json").write_text(json.dumps(record, indent=2) + "\n")


# --- s3.auth ------------------------------------------------------------------------------------------------------


def plan_auth(job: Job, storage: Storage) -> Plan:
    job.settings.require("IMAGE_REPOSITORY")
    if ecr.is_ecr(job.settings.image_repository):
        return Plan(
            "s3.auth",
            notes=(
                "not needed for ECR: Elastic Beanstalk's instances pull with their instance profile "
                "(the managed policy AmazonEC2ContainerRegistryReadOnly; docs/iam.md), so no auth file is written",
            ),
        )
    job.settings.require("IMAGE_REPOSITORY", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "EB_BUCKET")
    credentials = job.credentials()
    content = registry_auth.auth_file(credentials, job.settings.auth_format)
    bucket, key = job.settings.eb_bucket, job.settings.auth_key
    location = f"s3://{bucket}/{key}"
    current = storage.read(bucket, key)
    # Checked on every run, an unchanged file too: credentials that no longer log in fail only at EB's next pull.
    verify = Step(
        "registry.verify_login",
        {"registry": credentials.registry, "username": credentials.username},
        f"check that {credentials.registry} accepts the login of {credentials.username}, as Elastic Beanstalk will use it",
    )
    notes: tuple[str, ...] = ()
    if current.denied:
        why = "create or replace"
        notes = (
            f"S3 denied reading {location} (AccessDenied): it is missing, and the credentials lack s3:ListBucket on "
            f"{bucket}, or they lack s3:GetObject on it; uploading it",
        )
    elif current.body == content and current.encryption:
        return Plan(
            f"s3.auth {location}", (verify,), (f"{location} already holds these credentials, encrypted ({current.encryption})",)
        )
    else:
        why = "create" if current.body is None else "replace" if current.body != content else "encrypt"
    return Plan(
        f"s3.auth {location}",
        (
            verify,
            Step(
                "s3.put_object",
                {"Bucket": bucket, "Key": key, "Body": content, "ContentType": "application/json"},
                f"{why} {location}: {job.settings.auth_format} auth for {credentials.registry}, encrypted (AES256)",
            ),
        ),
        notes,
    )


def upload_auth(job: Job, dry_run: bool = False, actions: Actions | None = None) -> str:
    """Checks that the registry accepts the credentials, then writes the registry auth file to S3 unless it already
    holds the same content; returns its S3 URL. A dry run sends the password nowhere: it only prints the check."""
    actions = actions or Actions(job)
    plan = plan_auth(job, actions.cloud.s3)
    executor(actions, job.console, dry_run).run(plan)
    return "" if ecr.is_ecr(job.settings.image_repository) else f"s3://{job.settings.eb_bucket}/{job.settings.auth_key}"


def _engine_if_up() -> Any | None:
    try:
        return images.engine()
    except UsageError:
        return None
