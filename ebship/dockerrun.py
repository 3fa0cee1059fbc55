"""Dockerrun.aws.json (version 1): the template filled in, checked, and only then uploaded.

Placeholders are ``{{NAME}}`` inside JSON strings. Values are JSON-escaped when filled, every placeholder must get a
non-empty value, and the result must parse and validate as version 1 (a hand-made sed pipeline does none of this).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ebship.errors import UsageError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}")


def placeholders(template: str) -> list[str]:
    return sorted(set(PLACEHOLDER.findall(template)))


def without_authentication(template: str, source: str = "Dockerrun.aws.json.template") -> str:
    """The template without its ``Authentication`` block, for an image that Elastic Beanstalk's instance profile pulls
    (ECR; developer guide, "Using images from an Amazon ECR repository"): the block's placeholders are then not needed.
    The template stays one file, valid for both kinds of registry."""
    try:
        document = json.loads(template)
    except json.JSONDecodeError as error:
        raise UsageError(f"{source} is not valid JSON: {error.msg} at line {error.lineno}.") from None
    if isinstance(document, dict):
        document.pop("Authentication", None)
    return json.dumps(document, indent=2)


def render(
    template: str, values: Mapping[str, str], source: str = "Dockerrun.aws.json.template", authentication: bool = True
) -> bytes:
    """Fills the template and returns the validated document's bytes; without `authentication` the document has no
    ``Authentication`` block, whatever the template holds."""
    if not authentication:
        template = without_authentication(template, source)
    needed = placeholders(template)
    missing = [name for name in needed if not values.get(name)]
    if missing:
        raise UsageError(f"{source}: no value for placeholder(s) {', '.join('{{' + n + '}}' for n in missing)}.")
    if "IMAGE" not in needed:
        raise UsageError(f"{source} has no {{{{IMAGE}}}} placeholder: every version would run the same image.")

    def fill(match: re.Match[str]) -> str:
        return json.dumps(str(values[match[1]]))[1:-1]

    text = PLACEHOLDER.sub(fill, template)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{source} is not valid JSON once filled in: {error.msg} at line {error.lineno}.") from None
    problems = validate(document)
    if problems:
        raise UsageError(f"{source} is not a valid Dockerrun.aws.json version 1:\n" + "\n".join(f"  {p}" for p in problems))
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def _port(value: Any) -> bool:
    return str(value).isdigit() and 1 <= int(str(value)) <= 65535


def validate(document: Any) -> list[str]:
    """Problems with a Dockerrun v1 document, as Elastic Beanstalk's single-container Docker platform reads it."""
    if not isinstance(document, dict):
        return ["the document must be a JSON object"]
    problems = []
    if str(document.get("AWSEBDockerrunVersion")) != "1":
        problems.append('AWSEBDockerrunVersion must be "1" (version 2 is for multi-container environments)')
    image = document.get("Image")
    if not isinstance(image, dict) or not isinstance(image.get("Name"), str) or not image["Name"].strip():
        problems.append("Image.Name must name the image to run")
    elif image.get("Update") not in (None, "true", "false", True, False):
        problems.append('Image.Update must be "true" or "false"')
    ports = document.get("Ports")
    if not isinstance(ports, list) or not ports:
        problems.append("Ports must list at least one {ContainerPort} (only the first is wired to the proxy)")
    else:
        for index, port in enumerate(ports):
            if not isinstance(port, dict) or not _port(port.get("ContainerPort")):
                problems.append(f"Ports[{index}].ContainerPort must be a port number")
            elif "HostPort" in port and not _port(port["HostPort"]):
                problems.append(f"Ports[{index}].HostPort must be a port number")
    auth = document.get("Authentication")
    if auth is not None and (
        not isinstance(auth, dict) or not all(isinstance(auth.get(k), str) and auth[k] for k in ("Bucket", "Key"))
    ):
        problems.append("Authentication needs Bucket and Key (capitalised in version 1)")
    volumes = document.get("Volumes", [])
    if not isinstance(volumes, list) or not all(
        isinstance(v, dict) and {"HostDirectory", "ContainerDirectory"} <= v.keys() for v in volumes
    ):
        problems.append("Volumes must be a list of {HostDirectory, ContainerDirectory}")
    for key in ("Logging", "Entrypoint", "Command"):
        if key in document and not isinstance(document[key], str):
            problems.append(f"{key} must be a string")
    return problems
