"""Dockerrun.aws.json version 1 and the registry auth file, as EB's Docker platform reads them."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from docker.utils import parse_repository_tag

DOCKERRUN = "Dockerrun.aws.json"


class BundleError(ValueError):
    """The source bundle or its Dockerrun file cannot be deployed; the message says why."""


@dataclass
class Dockerrun:
    image: str
    update: bool = True
    container_port: int = 80
    auth_bucket: str | None = None
    auth_key: str | None = None
    volumes: list[tuple[str, str]] = field(default_factory=list)
    logging: str | None = None
    entrypoint: str | None = None
    command: str | None = None

    @property
    def repository_and_tag(self) -> tuple[str, str]:
        repository, tag = parse_repository_tag(self.image)
        return repository, tag or "latest"

    @property
    def registry(self) -> str:
        first = self.image.split("/", 1)[0]
        if "/" in self.image and ("." in first or ":" in first or first == "localhost"):
            return first
        return "docker.io"


def dockerrun_text(bundle: bytes) -> str:
    """The Dockerrun file of a source bundle: the bundle itself, or the file at the root of a zip."""
    if zipfile.is_zipfile(io.BytesIO(bundle)):
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            names = archive.namelist()
            if DOCKERRUN not in names:
                nested = [name for name in names if name.endswith("/" + DOCKERRUN)]
                where = f" (found {nested[0]}; it must be at the root)" if nested else ""
                raise BundleError(f"The source bundle has no {DOCKERRUN} at its root{where}.")
            return archive.read(DOCKERRUN).decode("utf-8", errors="replace")
    try:
        return bundle.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"The source bundle is neither a zip archive nor a {DOCKERRUN} file.") from None


def _port(value: Any, what: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BundleError(f"{DOCKERRUN}: {what} must be a port number, not {value!r}.") from None
    if not 0 < port < 65536:
        raise BundleError(f"{DOCKERRUN}: {what} {port} is out of range.")
    return port


def parse_dockerrun(text: str, allow_digest: bool = True) -> Dockerrun:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BundleError(f"{DOCKERRUN} is not valid JSON: {error}.") from None
    if not isinstance(data, dict):
        raise BundleError(f"{DOCKERRUN} must be a JSON object.")
    version = data.get("AWSEBDockerrunVersion")
    if version is None:
        raise BundleError(f"{DOCKERRUN}: AWSEBDockerrunVersion is missing.")
    if str(version) != "1":
        raise BundleError(
            f"{DOCKERRUN}: AWSEBDockerrunVersion {version} is not supported on this platform; "
            "the Docker platform for a single container expects version 1."
        )
    image = data.get("Image")
    if not isinstance(image, dict) or not isinstance(image.get("Name"), str) or not image["Name"].strip():
        raise BundleError(f"{DOCKERRUN}: Image.Name is missing (this platform does not build a Dockerfile).")
    name = image["Name"].strip()
    if "@" in name and not allow_digest:
        raise BundleError(f"{DOCKERRUN}: Image.Name '{name}' refers to a digest, which this platform does not accept.")
    update = image.get("Update", True)
    update = str(update).lower() != "false"
    ports = data.get("Ports")
    if not isinstance(ports, list) or not ports or not isinstance(ports[0], dict):
        raise BundleError(f'{DOCKERRUN}: Ports is required when Image is given, e.g. [{{"ContainerPort": 80}}].')
    if "ContainerPort" not in ports[0]:
        raise BundleError(f"{DOCKERRUN}: Ports[0].ContainerPort is missing.")
    container_port = _port(ports[0]["ContainerPort"], "ContainerPort")
    if "HostPort" in ports[0]:
        _port(ports[0]["HostPort"], "HostPort")
    auth = data.get("Authentication")
    bucket = key = None
    if auth is not None:
        if not isinstance(auth, dict) or not auth.get("Bucket") or not auth.get("Key"):
            raise BundleError(f"{DOCKERRUN}: Authentication needs both Bucket and Key (capitalised in version 1).")
        bucket, key = str(auth["Bucket"]), str(auth["Key"])
    volumes = []
    for volume in data.get("Volumes") or []:
        if not isinstance(volume, dict) or not volume.get("HostDirectory") or not volume.get("ContainerDirectory"):
            raise BundleError(f"{DOCKERRUN}: every Volumes entry needs HostDirectory and ContainerDirectory.")
        volumes.append((str(volume["HostDirectory"]), str(volume["ContainerDirectory"])))
    for key_name in ("Entrypoint", "Command", "Logging"):
        if key_name in data and not isinstance(data[key_name], str):
            raise BundleError(f"{DOCKERRUN}: {key_name} must be a string.")
    return Dockerrun(
        image=name,
        update=update,
        container_port=container_port,
        auth_bucket=bucket,
        auth_key=key,
        volumes=volumes,
        logging=data.get("Logging"),
        entrypoint=data.get("Entrypoint"),
        command=data.get("Command"),
    )


def _host(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _credentials(entry: Any) -> dict[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("username") is not None and entry.get("password") is not None:
        return {"username": str(entry["username"]), "password": str(entry["password"])}
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise BundleError("The registry auth file has an 'auth' value that is not base64 of user:password.") from None
        return {"username": user, "password": password}
    return None


def registry_credentials(auth_file: bytes, registry: str, accept_legacy: bool = True) -> dict[str, str] | None:
    """The credentials for `registry` in a Docker config.json (or legacy .dockercfg), or None if it names none."""
    try:
        data = json.loads(auth_file)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError("The registry auth file is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BundleError("The registry auth file must be a JSON object.")
    if "auths" in data:
        entries = data["auths"]
    elif accept_legacy:
        entries = data
    else:
        raise BundleError("The registry auth file has no 'auths' key; this platform reads the Docker config.json format.")
    if not isinstance(entries, dict):
        raise BundleError("The registry auth file's 'auths' must be a JSON object.")
    for key, entry in entries.items():
        if _host(key) == registry:
            return _credentials(entry)
    return None
