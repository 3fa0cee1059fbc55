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
ENVIRONMENT_NAMESPACE = "aws:elasticbeanstalk:environment"

OptionKey = tuple[str, str]

DEFAULTS: dict[OptionKey, str] = {
    (APP_NAMESPACE, "Application Healthcheck URL"): "",
    (ENVIRONMENT_NAMESPACE, "EnvironmentType"): "SingleInstance",
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
                ENV_NAMESPACE,
                key,
                "Environment property names can contain only letters, digits and the characters _ . : / + \\ - @",
            )
        if len(value) > MAX_VALUE:
            raise _option_error(ENV_NAMESPACE, key, f"Environment property values can be at most {MAX_VALUE} characters long.")
        if UNSENDABLE_IN_VALUE.search(value) or (mode == "documented" and not VALUE_PATTERN.fullmatch(value)):
            bad = sorted({c for c in value if UNSENDABLE_IN_VALUE.match(c) or not VALUE_PATTERN.fullmatch(c)})
            if mode != "documented":
                bad = [c for c in bad if UNSENDABLE_IN_VALUE.match(c)]
            raise _option_error(
                ENV_NAMESPACE,
                key,
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
    return [{"Namespace": namespace, "OptionName": name, "Value": value} for (namespace, name), value in sorted(settings.items())]


# Fleets (developer guide, using-features.rolling-version-deploy.md and command-options-general.md).
ASG_NAMESPACE = "aws:autoscaling:asg"
COMMAND_NAMESPACE = "aws:elasticbeanstalk:command"
SPLIT_NAMESPACE = "aws:elasticbeanstalk:trafficsplitting"
POLICIES = ("AllAtOnce", "Rolling", "RollingWithAdditionalBatch", "Immutable", "TrafficSplitting")
# The stand-in's bound on a fleet: each instance is a container on one shared machine (AWS allows far more).
MAX_FLEET = 6


def _invalid(namespace: str, name: str, value: str, reason: str) -> Exception:
    from localeb.errors import ConfigurationValidation

    return ConfigurationValidation(
        f"Configuration validation exception: Invalid option value: '{value}' (Namespace: '{namespace}', "
        f"OptionName: '{name}'): {reason}"
    )


def _whole(settings: dict[OptionKey, str], key: OptionKey, default: int, low: int, high: int) -> int:
    raw = settings.get(key, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(*key, raw, "Value is not an integer.") from None
    if value < low:
        raise _invalid(*key, raw, f"Value is less than minimum allowed value: {low}")
    if value > high:
        raise _invalid(*key, raw, f"Value is greater than maximum allowed value: {high}")
    return value


def fleet_size(settings: dict[OptionKey, str]) -> int:
    """The instances of a load-balanced environment: the Auto Scaling group's MinSize (default 1, as EB's)."""
    return _whole(settings, (ASG_NAMESPACE, "MinSize"), 1, 1, MAX_FLEET)


def deployment_policy(settings: dict[OptionKey, str]) -> str:
    policy = settings.get((COMMAND_NAMESPACE, "DeploymentPolicy"), "AllAtOnce")
    if policy not in POLICIES:
        raise _invalid(
            COMMAND_NAMESPACE, "DeploymentPolicy", policy, f"Value is not one of the allowed values: [{', '.join(POLICIES)}]"
        )
    return policy


def batch_size(settings: dict[OptionKey, str], instances: int) -> int:
    """Instances per batch: BatchSizeType Percentage (default, BatchSize 100) of the fleet rounded up, or Fixed."""
    kind = settings.get((COMMAND_NAMESPACE, "BatchSizeType"), "Percentage")
    if kind not in ("Percentage", "Fixed"):
        raise _invalid(COMMAND_NAMESPACE, "BatchSizeType", kind, "Value is not one of the allowed values: [Fixed, Percentage]")
    if kind == "Fixed":
        return min(_whole(settings, (COMMAND_NAMESPACE, "BatchSize"), 1, 1, 10000), instances)
    percent = _whole(settings, (COMMAND_NAMESPACE, "BatchSize"), 100, 1, 100)
    return max(1, min(instances, -(-instances * percent // 100)))


def traffic_split(settings: dict[OptionKey, str]) -> int:
    """NewVersionPercent of aws:elasticbeanstalk:trafficsplitting (default 10)."""
    return _whole(settings, (SPLIT_NAMESPACE, "NewVersionPercent"), 10, 0, 100)


def check_fleet_options(settings: dict[OptionKey, str]) -> None:
    """Refuses fleet options out of range before anything changes."""
    fleet_size(settings)
    deployment_policy(settings)
    batch_size(settings, MAX_FLEET)
    traffic_split(settings)
