"""Environment option settings: defaults, merging, and the environment property limits."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from localeb.errors import InvalidParameterValue

ENV_NAMESPACE = "aws:elasticbeanstalk:application:environment"
APP_NAMESPACE = "aws:elasticbeanstalk:application"
PROCESS_NAMESPACE = "aws:elasticbeanstalk:environment:process:default"
HEALTH_NAMESPACE = "aws:elasticbeanstalk:healthreporting:system"

OptionKey = tuple[str, str]

DEFAULTS: dict[OptionKey, str] = {
    (APP_NAMESPACE, "Application Healthcheck URL"): "",
    ("aws:elasticbeanstalk:environment", "EnvironmentType"): "SingleInstance",
    ("aws:elasticbeanstalk:command", "DeploymentPolicy"): "AllAtOnce",
    (HEALTH_NAMESPACE, "SystemType"): "basic",
    (PROCESS_NAMESPACE, "Port"): "80",
    (PROCESS_NAMESPACE, "MatcherHTTPCode"): "200",
}

KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:/+\\\-@]+")
VALUE_PATTERN = re.compile(r"[A-Za-z0-9\s_.:/=+\\\-@'\"]*")
UNSENDABLE_IN_KEY = re.compile(r"[,=\x00]")
UNSENDABLE_IN_VALUE = re.compile(r"[,\x00]")
MAX_KEY = 128
MAX_VALUE = 256
MAX_TOTAL_BYTES = 4096


def _option_error(namespace: str, name: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid option specification (Namespace: '{namespace}', OptionName: '{name}'): {reason}")


def parse_settings(raw: Iterable[dict[str, Any]] | None) -> dict[OptionKey, str]:
    settings: dict[OptionKey, str] = {}
    for item in raw or []:
        namespace = item.get("Namespace") or ""
        name = item.get("OptionName") or ""
        if not namespace or not name:
            raise InvalidParameterValue("Option settings need both a Namespace and an OptionName.")
        settings[(namespace, name)] = "" if item.get("Value") is None else str(item["Value"])
    return settings


def parse_removals(raw: Iterable[dict[str, Any]] | None) -> list[OptionKey]:
    removals = []
    for item in raw or []:
        namespace = item.get("Namespace") or ""
        name = item.get("OptionName") or ""
        if not namespace or not name:
            raise InvalidParameterValue("Options to remove need both a Namespace and an OptionName.")
        removals.append((namespace, name))
    return removals


def merged(current: dict[OptionKey, str], updates: dict[OptionKey, str], removals: list[OptionKey]) -> dict[OptionKey, str]:
    result = dict(current)
    for key in removals:
        result.pop(key, None)
    result.update(updates)
    return result


def environment_properties(settings: dict[OptionKey, str]) -> dict[str, str]:
    return {name: value for (namespace, name), value in settings.items() if namespace == ENV_NAMESPACE}


def check_environment_properties(settings: dict[OptionKey, str], mode: str = "enforce") -> None:
    """The environment property limits, by the stand-in's ``env_limits`` setting (the client's rule, ebship.envvars):

    - ``enforce``: the lengths and the total the developer guide documents (environments-cfg-softwaresettings.md), and
      what cannot travel: a comma (Elastic Beanstalk passes the properties to CloudFormation as one comma-joined
      EnvironmentVariables parameter, hashicorp/terraform-provider-aws#14180), '=' in a name, NUL;
    - ``documented``: also the documented character set, which AWS's own example value steps outside
      (``?``, ``&``: create_deploy_Java.managing.md), so whether the API enforces it is UNCONFIRMED.
    """
    properties = environment_properties(settings)
    for key, value in properties.items():
        if len(key) > MAX_KEY:
            raise _option_error(ENV_NAMESPACE, key, f"Environment property names can be at most {MAX_KEY} characters long.")
        if UNSENDABLE_IN_KEY.search(key) or (mode == "documented" and not KEY_PATTERN.fullmatch(key)):
            raise _option_error(
                ENV_NAMESPACE, key,
                "Environment property names can contain only letters, digits and the characters _ . : / + \\ - @",
            )
        if len(value) > MAX_VALUE:
            raise _option_error(ENV_NAMESPACE, key, f"Environment property values can be at most {MAX_VALUE} characters long.")
        if UNSENDABLE_IN_VALUE.search(value) or (mode == "documented" and not VALUE_PATTERN.fullmatch(value)):
            bad = sorted({c for c in value if UNSENDABLE_IN_VALUE.match(c) or not VALUE_PATTERN.fullmatch(c)})
            if mode != "documented":
                bad = [c for c in bad if UNSENDABLE_IN_VALUE.match(c)]
            raise _option_error(
                ENV_NAMESPACE, key,
                "Environment property values can contain only letters, digits, white space and the characters "
                f"_ . : / = + \\ - @ ' \" (found: {' '.join(bad)})",
            )
    total = sum(len(f"{key}={value}".encode()) for key, value in properties.items())
    if total > MAX_TOTAL_BYTES:
        raise InvalidParameterValue(
            f"Environment properties are {total} bytes long in total; the limit is {MAX_TOTAL_BYTES} bytes "
            "for all key=value strings together."
        )


def health_check_path(settings: dict[OptionKey, str]) -> str:
    path = settings.get((APP_NAMESPACE, "Application Healthcheck URL")) or settings.get((APP_NAMESPACE, "HealthCheckURL"))
    path = path or settings.get((PROCESS_NAMESPACE, "HealthCheckPath")) or "/"
    if path.upper().startswith("HTTP:"):
        path = path.split("/", 1)[1] if "/" in path else ""
        path = "/" + path
    return path if path.startswith("/") else "/" + path


def healthy_codes(settings: dict[OptionKey, str]) -> set[int]:
    spec = settings.get((PROCESS_NAMESPACE, "MatcherHTTPCode")) or "200"
    codes: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            low, high = part.split("-", 1)
            codes.update(range(int(low), int(high) + 1))
        elif part:
            codes.add(int(part))
    return codes or {200}


def as_option_list(settings: dict[OptionKey, str]) -> list[dict[str, str]]:
    return [
        {"Namespace": namespace, "OptionName": name, "Value": value}
        for (namespace, name), value in sorted(settings.items())
    ]
