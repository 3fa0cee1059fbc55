"""The one platform version the stand-in runs, described as DescribePlatformVersion, ListPlatformVersions and
ListPlatformBranches answer for an AWS-owned platform (botocore model: PlatformDescription, PlatformSummary,
PlatformBranchSummary). Clients such as the EB CLI read it to name an environment's platform and its lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from localeb.errors import InvalidParameterValue
from localeb.models import DEFAULT_PLATFORM, DEFAULT_STACK

BRANCH = "Docker running on 64bit Amazon Linux 2023"
VERSION = "4.6.0"
RELEASED = datetime(2025, 1, 1, tzinfo=UTC)
# Developer guide, "Elastic Beanstalk platform glossary": an AWS platform's owner is AWSElasticBeanstalk; a branch's
# lifecycle is Supported, Beta, Deprecated or Retired; the newest version of a branch is Recommended.
OWNER = "AWSElasticBeanstalk"


def platform_arn(region: str) -> str:
    return f"arn:aws:elasticbeanstalk:{region}::{DEFAULT_PLATFORM}"


def _summary(region: str) -> dict[str, Any]:
    return {
        "PlatformArn": platform_arn(region),
        "PlatformOwner": OWNER,
        "PlatformStatus": "Ready",
        "PlatformCategory": "Docker",
        "OperatingSystemName": "Amazon Linux",
        "OperatingSystemVersion": "2023",
        "SupportedTierList": ["WebServer/Standard", "Worker/SQS/HTTP"],
        "SupportedAddonList": ["Log/S3", "Monitoring/Healthd", "WorkerDaemon/SQSD"],
        "PlatformLifecycleState": "Recommended",
        "PlatformVersion": VERSION,
        "PlatformBranchName": BRANCH,
        "PlatformBranchLifecycleState": "Supported",
    }


def describe_platform_version(region: str, arn: str | None) -> dict[str, Any]:
    if arn != platform_arn(region):
        raise InvalidParameterValue(f"No Platform named '{arn}' found.")
    summary = _summary(region)
    return {
        **{key: summary[key] for key in ("PlatformArn", "PlatformOwner")},
        "PlatformName": BRANCH,
        "PlatformVersion": VERSION,
        "SolutionStackName": DEFAULT_STACK,
        "PlatformStatus": "Ready",
        "DateCreated": RELEASED,
        "DateUpdated": RELEASED,
        "PlatformCategory": "Docker",
        "OperatingSystemName": "Amazon Linux",
        "OperatingSystemVersion": "2023",
        "ProgrammingLanguages": [],
        "Frameworks": [],
        "SupportedTierList": summary["SupportedTierList"],
        "SupportedAddonList": summary["SupportedAddonList"],
        "PlatformLifecycleState": "Recommended",
        "PlatformBranchName": BRANCH,
        "PlatformBranchLifecycleState": "Supported",
    }


def _matches(value: str, operator: str, wanted: list[str]) -> bool:
    # Operators of PlatformFilter and SearchFilter in the botocore model.
    if operator in ("=", "in"):
        return value in wanted
    if operator in ("!=", "not_in"):
        return value not in wanted
    if operator == "begins_with":
        return any(value.startswith(w) for w in wanted)
    if operator == "contains":
        return any(w in value for w in wanted)
    raise InvalidParameterValue(f"Invalid filter operator: {operator}")


def _filtered(item: dict[str, Any], filters: list[dict[str, Any]] | None, names: dict[str, str]) -> bool:
    for rule in filters or []:
        attribute = str(rule.get("Type") or rule.get("Attribute") or "")
        value = item.get(names.get(attribute, attribute))
        if value is None:
            return False
        if not _matches(str(value), str(rule.get("Operator", "=")), [str(v) for v in rule.get("Values") or []]):
            return False
    return True


def list_platform_versions(region: str, filters: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    summary = _summary(region)
    searchable = {**summary, "PlatformName": BRANCH}
    return [summary] if _filtered(searchable, filters, {}) else []


def list_platform_branches(region: str, filters: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    branch = {
        "PlatformName": "Docker",
        "BranchName": BRANCH,
        "LifecycleState": "Supported",
        "BranchOrder": 1,
        "SupportedTierList": ["WebServer/Standard", "Worker/SQS/HTTP"],
    }
    searchable = {**branch, "TierType": "WebServer"}
    return [branch] if _filtered(searchable, filters, {}) else []
