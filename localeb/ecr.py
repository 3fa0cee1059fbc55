"""The stand-in's ECR: moto's ECR API, with tokens that the stand-in's real registry accepts, image listings read from
that registry, and the platform pulling ECR images with the instance profile (no auth file).

Real ECR hosts (``<account>.dkr.ecr.<region>.amazonaws.com``) do not resolve here. The stand-in serves every ECR
registry from its one local registry: GetAuthorizationToken's ``proxyEndpoint`` is that registry's address (where a
client pushes, as it does to ``proxyEndpoint`` on AWS), repository ``<name>`` there is ECR repository ``<name>``, and a
Dockerrun naming ``<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>`` is pulled from it.

The server learns the registry from its environment (never its command line): ``LOCALEB_ECR_REGISTRY`` (host:port)
and ``LOCALEB_ECR_PASSWORD`` (the password of the registry's user ``AWS``; ``localeb.cluster.up`` adds that user).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.ecr.exceptions import ImageAlreadyExistsException
from moto.ecr.responses import ECRResponse

from localeb.dockerrun import Dockerrun
from localeb.platform import DeployError
from localeb.registry import ECR_USERNAME as USERNAME

REGISTRY_VARIABLE = "LOCALEB_ECR_REGISTRY"
PASSWORD_VARIABLE = "LOCALEB_ECR_PASSWORD"
# botocore's model, AuthorizationData expiresAt: "Authorization tokens are valid for 12 hours."
TOKEN_LIFETIME = timedelta(hours=12)
# ECR user guide, "Private registry concepts": "https://aws_account_id.dkr.ecr.region.amazonaws.com" (.amazonaws.com.cn
# in the China regions).
ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


@dataclass(frozen=True)
class EcrRegistry:
    address: str  # host:port of the local registry; empty: none, and ECR images cannot be pulled here
    password: str = field(repr=False)

    @classmethod
    def from_environment(cls) -> EcrRegistry:
        return cls(os.environ.get(REGISTRY_VARIABLE, ""), os.environ.get(PASSWORD_VARIABLE) or secrets.token_urlsafe(24))

    def proxy_endpoint(self, account: str, region: str) -> str:
        return f"http://{self.address}" if self.address else f"https://{account}.dkr.ecr.{region}.amazonaws.com"

    def credentials(self) -> dict[str, str]:
        return {"username": USERNAME, "password": self.password}

    def _get(self, path: str, accept: str = "") -> tuple[bytes, Any]:
        basic = base64.b64encode(f"{USERNAME}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", **({"Accept": accept} if accept else {})}
        request = urllib.request.Request(f"http://{self.address}/v2/{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read(), response.headers

    def tags(self, name: str) -> list[str]:
        """The tags the registry holds for repository `name` (none when nothing was pushed)."""
        if not self.address:
            return []
        try:
            body, _ = self._get(f"{name}/tags/list")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise
        return list(json.loads(body).get("tags") or [])

    def manifest(self, name: str, tag: str) -> tuple[str, str, str]:
        """(manifest text, media type, digest) of `name:tag` as the registry holds it."""
        body, headers = self._get(f"{name}/manifests/{tag}", accept=MANIFEST_TYPES)
        text = body.decode()
        media_type = headers.get("Content-Type") or json.loads(text).get("mediaType", "")
        return text, media_type, headers.get("Docker-Content-Digest", "")


_registry = EcrRegistry("", secrets.token_urlsafe(24))


def registry() -> EcrRegistry:
    return _registry


class LocalECRResponse(ECRResponse):
    """moto's ECR with a token the local registry accepts and images read from that registry."""

    def get_authorization_token(self) -> ActionResult:
        registry_ids = self._get_param("registryIds") or [self.current_account]
        token = base64.b64encode(f"{USERNAME}:{_registry.password}".encode()).decode()
        expires = datetime.now(UTC) + TOKEN_LIFETIME
        return ActionResult(
            {
                "authorizationData": [
                    {
                        "authorizationToken": token,
                        "expiresAt": expires,
                        "proxyEndpoint": _registry.proxy_endpoint(rid, self.region),
                    }
                    for rid in registry_ids
                ]
            }
        )

    def describe_images(self) -> ActionResult:
        sync_images(self.ecr_backend, self._get_param("repositoryName"))
        return super().describe_images()

    def list_images(self) -> ActionResult:
        sync_images(self.ecr_backend, self._get_param("repositoryName"))
        return super().list_images()

    def batch_get_image(self) -> ActionResult:
        sync_images(self.ecr_backend, self._get_param("repositoryName"))
        return super().batch_get_image()


def sync_images(backend: Any, name: str) -> None:
    """Records in moto's ECR what was pushed to the registry for repository `name`, so that DescribeImages answers
    what ECR would after a docker push. A repository that does not exist is left to moto's own answer."""
    repository = backend.repositories.get(name)
    if repository is None:
        return
    for tag in _registry.tags(name):
        manifest, media_type, digest = _registry.manifest(name, tag)
        if any(tag in image.image_tags and image.get_image_digest() == digest for image in repository.images):
            continue
        try:
            backend.put_image(name, manifest, tag, media_type or None, digest or None)
        except ImageAlreadyExistsException:
            pass


def install(ecr: EcrRegistry | None = None) -> None:
    """Routes moto's ECR URL to `LocalECRResponse`; call before the first ECR request."""
    global _registry
    from moto.ecr import urls

    _registry = ecr or EcrRegistry.from_environment()
    urls.url_paths = {"{0}/$": LocalECRResponse.dispatch}


def instance_profile_pull(
    account: str, region: str, spec: Dockerrun, credentials: dict[str, str] | None
) -> tuple[Dockerrun, dict[str, str] | None]:
    """What the instance pulls for `spec`: an ECR image of this account comes from the local registry with
    the instance profile's token (developer guide, "Using images from an Amazon ECR repository": "Elastic Beanstalk
    automatically authenticates to the Amazon ECR registry with your environment's instance profile"); any other image
    as the Dockerrun says, with the auth file's credentials. Raises DeployError for an ECR repository that does not
    exist, with ECR's words."""
    match = ECR_HOST.match(spec.registry)
    if match is None or match["account"] != account or not _registry.address:
        return spec, credentials
    name = spec.image[len(spec.registry) + 1 :]
    repository = name.split("@", 1)[0].rsplit(":", 1)[0] if "@" in name or ":" in name.rsplit("/", 1)[-1] else name
    from moto.ecr.models import ecr_backends

    if repository not in ecr_backends[account][match["region"]].repositories:
        raise DeployError(
            f"Instance deployment failed to download the Docker image {spec.image}: name unknown: The repository with "
            f"name '{repository}' does not exist in the registry with id '{account}'. The deployment failed."
        )
    return replace(spec, image=f"{_registry.address}/{name}"), _registry.credentials()
