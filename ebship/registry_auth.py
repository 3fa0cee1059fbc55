"""The registry authentication file Elastic Beanstalk reads from S3 to pull a private image, and the check that its
credentials log in at all.

Amazon Linux 2 and later read Docker's current ``config.json`` format; the legacy Amazon Linux AMI read ``.dockercfg``.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message

from ebship.errors import PipelineError
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


def registry_url(registry: str) -> str:
    """The base URL of a registry's v2 API (plain HTTP only for a registry on this machine, as Docker allows)."""
    host = registry if registry != "docker.io" else "registry-1.docker.io"
    scheme = "http" if host.startswith(("127.", "localhost")) else "https"
    return f"{scheme}://{host}/v2/"


def registry_login_works(credentials: Credentials, repository: str, timeout: float = 10) -> tuple[bool, str]:
    """Asks the registry's v2 API directly (no Docker engine needed): basic auth, or a bearer token for the repository.

    Returns whether the login works and the registry's answer; raises OSError when the registry cannot be reached."""
    base = registry_url(credentials.registry)
    basic = "Basic " + base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()

    def get(url: str, auth: str = "") -> tuple[int, Message, str]:
        request = urllib.request.Request(url, headers={"Authorization": auth} if auth else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, ""
        except urllib.error.HTTPError as error:
            return error.code, error.headers, answer_of(error)

    status, headers, _ = get(base)
    challenge = headers.get("WWW-Authenticate", "")
    if status == 200:
        return True, "the registry needs no login"
    if challenge.lower().startswith("bearer"):
        fields = dict(part.split("=", 1) for part in challenge[7:].replace('"', "").split(",") if "=" in part)
        prefix = f"{credentials.registry}/"
        path = repository[len(prefix) :] if repository.startswith(prefix) else repository
        query = urllib.parse.urlencode({"service": fields.get("service", ""), "scope": f"repository:{path}:pull,push"})
        status, _, answer = get(f"{fields['realm']}?{query}", basic)
    else:
        status, _, answer = get(base, basic)
    return status == 200, f"HTTP {status}" + (f": {answer}" if answer else "")


def answer_of(error: urllib.error.HTTPError) -> str:
    """The registry's own words for a refusal: the messages of its JSON errors, else its reason phrase."""
    try:
        document = json.loads(error.read(4096) or b"{}")
        errors = document.get("errors", []) if isinstance(document, dict) else []
        said = "; ".join(
            " ".join(filter(None, (str(e.get("code", "")), str(e.get("message", ""))))) for e in errors if isinstance(e, dict)
        )
    except (OSError, ValueError):
        said = ""
    return " ".join((said or str(error.reason or "")).split())[:200]


def verify_login(credentials: Credentials, repository: str) -> None:
    """Raises PipelineError unless the registry accepts the credentials: an auth file holding credentials that do not
    log in would only fail later, on Elastic Beanstalk's instances, at the next deploy."""
    try:
        ok, answer = registry_login_works(credentials, repository)
    except OSError as error:
        reason = getattr(error, "reason", None) or error
        raise PipelineError(
            f"The registry at {registry_url(credentials.registry)} was not reached ({reason}), so the credentials could "
            "not be checked and the auth file was not uploaded: check the host in IMAGE_REPOSITORY and that the "
            "registry is up."
        ) from None
    if not ok:
        raise PipelineError(
            f"{credentials.registry} refused the login of {credentials.username} ({answer}); the auth file was not "
            "uploaded, since Elastic Beanstalk could not pull with it. Check REGISTRY_USERNAME and REGISTRY_PASSWORD."
        )
