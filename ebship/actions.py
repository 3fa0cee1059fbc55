"""What each plan action does: one method per action, which ``ebship.plan.Executor`` dispatches to by name
("docker.build" runs ``docker_build``). The steps' modules only plan; nothing here decides what to do.

Elastic Beanstalk's environment updates (waiting for Ready, deploying and following an update, rolling back) are the
actions of ``ebship.deploy.Deployer``, which keeps the outcome each one reached.
"""

from __future__ import annotations

import functools
from typing import Any

from ebship import ecr, images, registry_auth
from ebship.aws import CloudError
from ebship.clock import Deadline
from ebship.cloud import DENIED, Cloud
from ebship.errors import DeployTimeout, PipelineError
from ebship.job import Job


class Actions:
    def __init__(self, job: Job, cloud: Cloud | None = None) -> None:
        self.job = job
        self.console = job.console
        self._cloud = cloud

    @functools.cached_property
    def cloud(self) -> Cloud:
        return self._cloud or Cloud(self.job.settings)

    @functools.cached_property
    def engine(self) -> Any:
        return images.engine()

    # -- the Docker engine and the registry ---------------------------------------------------------------------------

    @functools.cached_property
    def registry_login(self) -> images.Credentials:
        """The registry's login: REGISTRY_USERNAME/PASSWORD, or for ECR a token from GetAuthorizationToken (12 hours,
        asked for at each run, never stored)."""
        repository = self.job.settings.image_repository
        if ecr.is_ecr(repository):
            return ecr.credentials(self.cloud.ecr(ecr.region_of(repository)), repository, self.console)
        return self.job.credentials()

    def pushed_as(self, repository: str) -> str:
        """Where ``repository`` is pushed to and pulled from: itself, or for ECR the repository at the registry the token
        is for (the same on AWS; the local stand-in serves ECR from its own registry and says so in the token)."""
        return ecr.push_repository(repository, self.registry_login) if ecr.is_ecr(repository) else repository

    def docker_pull_cache(self, reference: str) -> str:
        """Pulls the image a fresh runner builds on; "" when the registry does not have it (the build goes on without)."""
        repository, _, tag = reference.rpartition(":")
        if ecr.is_ecr(repository):
            source = f"{self.pushed_as(repository)}:{tag}"
            pulled = images.pull_quietly(self.engine, source, self.registry_login)
            if pulled and source != reference:
                self.engine.images.get(source).tag(repository, tag)
        else:
            pulled = images.pull_quietly(self.engine, reference, self.job.credentials_if_set())
        if pulled:
            self.console.print(f"Using {reference} as a cache source.")
            return reference
        self.console.print(f"No cache image {reference} could be pulled; building without one.")
        return ""

    def docker_build(
        self,
        dockerfile: str,
        tag: str,
        buildargs: dict[str, str],
        labels: dict[str, str],
        network_mode: str,
        cache_from: list[str],
    ) -> str:
        # A cache source the plan named but no pull could get is left out: the engine would fail on it.
        present = [reference for reference in cache_from if images.image_exists(self.engine, reference)]
        result = images.build(
            self.engine,
            context=self.job.root,
            console=self.console,
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs,
            labels=labels,
            network_mode=network_mode,
            cache_from=present,
        )
        return result.image_id

    def docker_run_tests(self, image: str) -> int:
        return images.run_to_completion(self.engine, image, self.console, timeout=float(self.job.settings.test_timeout))

    def docker_tag(self, source: str, repository: str, tag: str) -> None:
        self.engine.images.get(source).tag(repository, tag)

    def docker_login(self, registry: str) -> None:
        images.login(self.engine, self.registry_login)

    def docker_push(self, repository: str, tag: str) -> str:
        target = self.pushed_as(repository)
        if target != repository:
            self.engine.images.get(f"{repository}:{tag}").tag(target, tag)
        return images.push(self.engine, target, tag, self.registry_login, self.console)

    def registry_verify_login(self, registry: str, username: str) -> None:
        registry_auth.verify_login(self.job.credentials(), self.job.settings.image_repository)

    def pushed_digest(self, reference: str) -> str:
        """The digest the registry holds for ``reference`` ("" when it has none): asked of the registry, so it works on
        any runner."""
        repository, _, tag = reference.rpartition(":")
        return images.registry_digest(self.engine, f"{self.pushed_as(repository)}:{tag}", self.registry_login)

    # -- S3 ------------------------------------------------------------------------------------------------------------

    def s3_put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803 (AWS's names)
        try:
            self.cloud.s3.put(Bucket, Key, Body, ContentType)
        except CloudError as error:
            if error.code in DENIED:
                raise PipelineError(
                    f"S3 denied the upload to s3://{Bucket}/{Key} ({error.code}: {error.message}): the credentials need "
                    f"s3:PutObject on arn:aws:s3:::{Bucket}/{Key} (and s3:GetObject on it, with s3:ListBucket on "
                    f"arn:aws:s3:::{Bucket}, to skip uploads that change nothing)."
                ) from None
            raise

    # -- Elastic Beanstalk's application versions ----------------------------------------------------------------------

    def eb_create_application_version(
        self,
        ApplicationName: str,
        VersionLabel: str,
        Description: str,
        S3Bucket: str,
        S3Key: str,  # noqa: N803
    ) -> None:
        self.cloud.eb.create_version(ApplicationName, VersionLabel, Description, S3Bucket, S3Key)

    def eb_wait_processed(self, ApplicationName: str, VersionLabel: str, S3Bucket: str, S3Key: str) -> None:  # noqa: N803
        """Waits until Elastic Beanstalk has processed the version, as the EB CLI does: only PROCESSED is ready; UNPROCESSED,
        PROCESSING and BUILDING are not ends (ebcli/operations/commonops.py waits for PROCESSED or FAILED). Statuses are
        compared in upper case: AWS sends them so, the botocore model spells them in title case."""
        timeout = float(self.job.settings.deploy_timeout)
        deadline = Deadline(self.cloud.clock, timeout)
        interval = 1.0  # the EB API limit is shared by the account: no faster than once a second, then less often
        while True:
            version = self.cloud.eb.version(ApplicationName, VersionLabel)
            status = version.status if version else ""
            if status == "PROCESSED":
                self.console.print(f"Version {VersionLabel} registered (processed).")
                return
            if status == "FAILED":
                raise PipelineError(
                    f"Elastic Beanstalk could not process the bundle of {VersionLabel} (status FAILED). "
                    f"Check s3://{S3Bucket}/{S3Key}, delete the version (inv eb.prune, or the console) and run "
                    "eb.version again."
                )
            if deadline.left < interval:
                raise DeployTimeout(
                    f"Version {VersionLabel} was still {status or 'missing'} after {timeout:.0f} s (DEPLOY_TIMEOUT), not "
                    "PROCESSED: Elastic Beanstalk has not validated it yet. Run eb.version again to wait longer."
                )
            deadline.sleep(interval)
            interval = min(interval * 1.5, 5.0)

    def eb_delete_application_version(self, ApplicationName: str, VersionLabel: str, DeleteSourceBundle: bool) -> None:  # noqa: N803
        self.cloud.eb.delete_version(ApplicationName, VersionLabel, DeleteSourceBundle)
