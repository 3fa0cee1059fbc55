"""docker.*: build the release image, test inside it, push it to the private registry."""

from __future__ import annotations

from invoke import Collection, Exit

from ebship.errors import EXIT_FAILED
from tasks._flags import task
from tasks._support import job_for, reported

DRY_RUN = "Print what would be done, secrets masked, and change nothing."
ENV = "Optional: take the registry settings of this environment (needed for local only)."


@task(
    help={
        "env": ENV,
        "repository": "Image repository with its registry host (IMAGE_REPOSITORY), e.g. quay.io/acme/web.",
        "base_image": "Base image for the Dockerfile's BASE_IMAGE build argument (BASE_IMAGE).",
        "network": "Network mode for the build's RUN steps, e.g. host (DOCKER_BUILD_NETWORK).",
        "dry_run": DRY_RUN,
    }
)
@reported
def build(c, env=None, repository=None, base_image=None, network=None, dry_run=False):
    """Build the release image from Dockerfile, tagged <repository>:<commit sha>."""
    from ebship import release

    release.build(
        job_for(env, {"IMAGE_REPOSITORY": repository, "BASE_IMAGE": base_image, "DOCKER_BUILD_NETWORK": network}),
        dry_run=dry_run,
    )


@task(
    help={
        "env": ENV,
        "repository": "Image repository of the release image (IMAGE_REPOSITORY).",
        "network": "Network mode for the test build's RUN steps (DOCKER_BUILD_NETWORK).",
        "dry_run": DRY_RUN,
    }
)
@reported
def test(c, env=None, repository=None, network=None, dry_run=False):
    """Build Dockerfile.test on the release image and run the app's tests in it; exits 1 when they fail."""
    from ebship import release

    status = release.test(job_for(env, {"IMAGE_REPOSITORY": repository, "DOCKER_BUILD_NETWORK": network}), dry_run=dry_run)
    if status:
        # The runner's own status is only printed: passed through, pytest's 2 (usage error) or 3 would read as our
        # "bad input, nothing changed" or "deadline passed".
        raise Exit(f"The app's tests failed: the test runner exited with status {status}.", code=EXIT_FAILED)


@task(
    help={
        "env": ENV,
        "repository": "Image repository to push to (IMAGE_REPOSITORY).",
        "dry_run": DRY_RUN,
    }
)
@reported
def push(c, env=None, repository=None, dry_run=False):
    """Log in with REGISTRY_USERNAME/REGISTRY_PASSWORD and push the release image; prints its digest."""
    from ebship import release

    release.push(job_for(env, {"IMAGE_REPOSITORY": repository}), dry_run=dry_run)


ns = Collection(build, test, push)
