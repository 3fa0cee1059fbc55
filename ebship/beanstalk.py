"""One facade over the Elastic Beanstalk client: typed answers, modelled errors, the RequestId of each update."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ebship.aws import describe_error, error_code
from ebship.errors import PipelineError

# Still failing after botocore's own retries: the poller backs off and asks again rather than failing the deploy.
TRANSIENT = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "500",
        "502",
        "503",
        "504",
    }
)


@dataclass(frozen=True)
class EnvState:
    name: str
    status: str
    health: str
    version_label: str
    cname: str
    platform: str
    environment_id: str = ""

    def describe(self) -> str:
        return f"{self.name}: {self.status}, health {self.health}, running {self.version_label or '(no version)'}"


@dataclass(frozen=True)
class Event:
    time: datetime
    severity: str
    message: str
    request_id: str = ""

    @property
    def key(self) -> tuple[datetime, str, str]:
        return (self.time, self.severity, self.message)

    def line(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.severity:<5} {self.message}"


@dataclass(frozen=True)
class LogEntry:
    """One instance's compiled logs: where RetrieveEnvironmentInfo says they can be read (a pre-signed S3 URL)."""

    instance_id: str
    sampled: datetime
    url: str


@dataclass(frozen=True)
class Version:
    label: str
    status: str  # upper-cased: AWS sends it in upper case on the wire, the model in mixed case
    bucket: str
    key: str


class Beanstalk:
    def __init__(self, client: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.sleep = sleep

    def environment(self, name: str, application: str = "") -> EnvState | None:
        params: dict[str, Any] = {"EnvironmentNames": [name], "IncludeDeleted": False}
        if application:
            params["ApplicationName"] = application
        found = [
            env
            for env in self.call("describe_environments", **params)["Environments"]
            if env.get("Status") not in ("Terminated",)
        ]
        if not found:
            return None
        env = found[0]
        return EnvState(
            name=env["EnvironmentName"],
            status=env.get("Status", ""),
            health=env.get("Health", ""),
            version_label=env.get("VersionLabel", ""),
            cname=env.get("CNAME", "") or env.get("EndpointURL", ""),
            platform=env.get("SolutionStackName", "") or env.get("PlatformArn", ""),
            environment_id=env.get("EnvironmentId", ""),
        )

    def application_exists(self, application: str) -> bool:
        return bool(self.call("describe_applications", ApplicationNames=[application])["Applications"])

    def version(self, application: str, label: str) -> Version | None:
        found = self.call("describe_application_versions", ApplicationName=application, VersionLabels=[label])
        for item in found["ApplicationVersions"]:
            bundle = item.get("SourceBundle", {})
            return Version(label, str(item.get("Status", "")).upper(), bundle.get("S3Bucket", ""), bundle.get("S3Key", ""))
        return None

    def versions(self, application: str) -> list[dict[str, Any]]:
        versions: list[dict[str, Any]] = []
        params: dict[str, Any] = {"ApplicationName": application, "MaxRecords": 1000}
        while True:
            page = self.call("describe_application_versions", **params)
            versions += page["ApplicationVersions"]
            if not page.get("NextToken"):
                return versions
            params["NextToken"] = page["NextToken"]

    def events(self, environment: str, request_id: str, since: datetime | None) -> list[Event]:
        """Events of one request, oldest first (the API answers newest first)."""
        params: dict[str, Any] = {"EnvironmentName": environment, "RequestId": request_id, "MaxRecords": 1000}
        if since is not None:
            params["StartTime"] = since
        found: list[Event] = []
        for _ in range(20):  # a bound on paging: 20,000 events of a single request would be a runaway
            page = self.call("describe_events", **params)
            found += [
                Event(e["EventDate"], e.get("Severity", "INFO"), e.get("Message", ""), e.get("RequestId", ""))
                for e in page.get("Events", [])
            ]
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        return sorted(found, key=lambda event: event.time)

    def recent_events(self, environment: str, max_records: int = 20) -> list[Event]:
        page = self.call("describe_events", EnvironmentName=environment, MaxRecords=max_records)
        events = [
            Event(e["EventDate"], e.get("Severity", "INFO"), e.get("Message", ""), e.get("RequestId", ""))
            for e in page.get("Events", [])
        ]
        return sorted(events, key=lambda event: event.time)

    def health_causes(self, environment: str) -> list[str]:
        """Enhanced health's causes for the environment's health; [] under basic health, which answers
        InvalidRequestException (botocore model: DescribeEnvironmentHealth is for enhanced health only)."""
        try:
            found = self.call("describe_environment_health", EnvironmentName=environment, AttributeNames=["Causes"])
        except BeanstalkError as error:
            if error.code in ("InvalidRequestException", "InvalidRequest"):
                return []
            raise
        return [str(cause) for cause in found.get("Causes", [])]

    def request_tail_logs(self, environment: str) -> datetime | None:
        """Asks the instances to compile their tail logs; returns the service's time of the request (its HTTP Date),
        so that the logs compiled for it can be told from older ones, or None when the answer carries no date."""
        response = self.call("request_environment_info", EnvironmentName=environment, InfoType="tail")
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date", "")
        try:
            return parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            return None

    def tail_logs(self, environment: str) -> list[LogEntry]:
        """The tail logs compiled lately, one entry per instance and request (botocore model: kept 15 minutes)."""
        found = self.call("retrieve_environment_info", EnvironmentName=environment, InfoType="tail")
        return [
            LogEntry(str(item.get("Ec2InstanceId", "")), item["SampleTimestamp"], str(item.get("Message", "")))
            for item in found.get("EnvironmentInfo", [])
            if item.get("SampleTimestamp") is not None
        ]

    def update(self, **params: Any) -> str:
        """Starts an environment update; returns its RequestId, which every event of the update carries."""
        response = self.call("update_environment", **params)
        return str(response["ResponseMetadata"]["RequestId"])

    def call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except Exception as error:
            if not error_code(error):
                raise
            raise BeanstalkError(operation, error) from None


PRUNE_HINT = "Delete old versions with `inv eb.prune --keep N` (or set a version lifecycle policy)."
PRIVILEGE_HINT = "The AWS identity in use lacks a permission for this call: check its IAM policy."
HINTS = {
    "TooManyApplicationVersionsException": PRUNE_HINT,
    "TooManyApplicationVersions": PRUNE_HINT,
    "InsufficientPrivilegesException": PRIVILEGE_HINT,
    "InsufficientPrivileges": PRIVILEGE_HINT,
    "OperationInProgressFailure": "Another operation is running on this resource: try again once it has finished.",
    "S3LocationNotInServiceRegionException": "Use a bucket in the environment's region (EB_BUCKET).",
}


class BeanstalkError(PipelineError):
    def __init__(self, operation: str, error: Exception) -> None:
        self.operation = operation
        self.code = error_code(error)
        self.message = str((getattr(error, "response", None) or {}).get("Error", {}).get("Message", ""))
        hint = HINTS.get(self.code, "")
        super().__init__(f"Elastic Beanstalk refused {operation}: {describe_error(error)}" + (f"\n  {hint}" if hint else ""))

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT
