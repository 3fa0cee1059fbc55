"""The registry authentication file Elastic Beanstalk reads from S3 to pull a private image.

Amazon Linux 2 and later read Docker's current ``config.json`` format; the legacy Amazon Linux AMI read ``.dockercfg``.
"""

from __future__ import annotations

import base64
import json

from ebship.images import Credentials

DOCKER_HUB_KEY = "https://index.docker.io/v1/"


def registry_key(registry: str) -> str:
    return DOCKER_HUB_KEY if registry in ("docker.io", "index.docker.io", "registry-1.docker.io") else registry


def auth_file(credentials: Credentials, file_format: str) -> bytes:
    """The file's bytes; deterministic, so an unchanged file is recognised and not uploaded again."""
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    key = registry_key(credentials.registry)
    if file_format == "dockercfg":
        document: dict[str, object] = {key: {"auth": token, "email": ""}}
    elif file_format == "config.json":
        document = {"auths": {key: {"auth": token}}}
    else:
        raise ValueError(f"unknown auth file format {file_format!r}")
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def credentials_from_file(content: bytes, registry: str) -> tuple[str, str]:
    """Reads back (username, password) for ``registry`` from either format, as Elastic Beanstalk would."""
    document = json.loads(content)
    entries = document.get("auths", document)
    entry = entries[registry_key(registry)]
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return username, password
