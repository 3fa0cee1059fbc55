"""The Elastic Beanstalk part of the facade over AWS: typed methods and answers, errors translated by ``ebship.aws.call``,
the RequestId of each update."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ebship.aws import CloudError, call
from ebship.clock import Clock, Deadline, SystemClock

# Elastic Beanstalk's API rate limit "is shared between all resources per account and per AWS Region" (AWS knowledge
# center, Elastic Beanstalk throttling errors): ten pipelines of one account share it. botocore's standard mode retries
# a throttled call a few times (ebship.aws.RETRIES); a call still throttled after that is asked again after longer and
# longer pauses (with jitter, so that pipelines started together do not ask in step), up to this many seconds in all,
# and never past the run's deadline. Throttling slows a run down; it never decides one.
THROTTLE_PATIENCE = 120.0
THROTTLE_FIRST_PAUSE = 2.0
THROTTLE_LONGEST_PAUSE = 20.0


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
class InstanceHealth:
    """One instance as its health agent last reported it (DescribeInstancesHealth): its most recent deployment's version
    and Status ("In Progress", "Deployed" or "Failed"; both "" for an instance that reports none yet, as one Auto Scaling
    just launched), and its enhanced health status (Ok, Info, Warning, Degraded, Severe, Pending, Unknown, NoData)."""

    instance_id: str
    version_label: str
    status: str
    health: str = ""


@dataclass(frozen=True)
class HealthReport:
    """Every instance's health, as of ``refreshed_at`` (None when the answer carries no time): "Health status and cause
    messages for individual instances are updated every 10 seconds" (developer guide, health-enhanced-status.md), so
    a report can be older than the event it is meant to confirm."""

    refreshed_at: datetime | None
    instances: list[InstanceHealth]
    answered_at: datetime | None = None  # the service's time of the answer (its HTTP Date), to tell a report's age


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
    created: datetime | None = None
    description: str = ""


def _version(item: dict[str, Any]) -> Version:
    bundle = item.get("SourceBundle") or {}
    return Version(
        str(item.get("VersionLabel", "")),
        str(item.get("Status", "")).upper(),
        str(bundle.get("S3Bucket", "")),
        str(bundle.get("S3Key", "")),
        item.get("DateCreated"),
        str(item.get("Description", "")),
    )


def _state(env: dict[str, Any]) -> EnvState:
    return EnvState(
        name=env["EnvironmentName"],
        status=env.get("Status", ""),
        health=env.get("Health", ""),
        version_label=env.get("VersionLabel", ""),
        cname=env.get("CNAME", "") or env.get("EndpointURL", ""),
        platform=env.get("SolutionStackName", "") or env.get("PlatformArn", ""),
        environment_id=env.get("EnvironmentId", ""),
    )


def _answer_date(response: dict[str, Any]) -> datetime | None:
    """The service's time of an answer (its HTTP Date header), or None when it carries none."""
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date", "")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def _event(item: dict[str, Any]) -> Event:
    return Event(item["EventDate"], item.get("Severity", "INFO"), item.get("Message", ""), item.get("RequestId", ""))


class Beanstalk:
    def __init__(self, client: Any, clock: Clock | None = None, patience: float = THROTTLE_PATIENCE) -> None:
        self.client = client
        self.clock = clock or SystemClock()
        self.patience = patience
        self.budget: Deadline | None = None  # the run's deadline: no pause after throttling goes past it
        self.on_throttled: Callable[[str], None] | None = None  # told once, the first time a call is still throttled
        self.throttled = 0  # answers still throttled (or 5xx) after botocore's own retries
        self._jitter = random.Random()

    def environment(self, name: str, application: str = "") -> EnvState | None:
        found = self.environments(application, [name])
        return found[0] if found else None

    def environments(self, application: str = "", names: list[str] | None = None) -> list[EnvState]:
        """The environments that exist (a terminated one lingers in the answers for about an hour, and is left out)."""
        params: dict[str, Any] = {"IncludeDeleted": False}
        if names is not None:
            params["EnvironmentNames"] = names
        if application:
            params["ApplicationName"] = application
        found = self._call("describe_environments", **params)["Environments"]
        return [_state(env) for env in found if env.get("Status") != "Terminated"]

    def application_exists(self, application: str) -> bool:
        return bool(self._call("describe_applications", ApplicationNames=[application])["Applications"])

    def version(self, application: str, label: str) -> Version | None:
        found = self._call("describe_application_versions", ApplicationName=application, VersionLabels=[label])
        return next((_version(item) for item in found["ApplicationVersions"]), None)

    def versions(self, application: str) -> list[Version]:
        versions: list[Version] = []
        params: dict[str, Any] = {"ApplicationName": application, "MaxRecords": 1000}
        while True:
            page = self._call("describe_application_versions", **params)
            versions += [_version(item) for item in page["ApplicationVersions"]]
            if not page.get("NextToken"):
                return versions
            params["NextToken"] = page["NextToken"]

    def create_version(self, application: str, label: str, description: str, bucket: str, key: str) -> None:
        """Registers a version and asks Elastic Beanstalk to validate its bundle (Process=True)."""
        self._call(
            "create_application_version",
            ApplicationName=application,
            VersionLabel=label,
            Description=description,
            SourceBundle={"S3Bucket": bucket, "S3Key": key},
            Process=True,
        )

    def delete_version(self, application: str, label: str, delete_bundle: bool) -> None:
        self._call(
            "delete_application_version", ApplicationName=application, VersionLabel=label, DeleteSourceBundle=delete_bundle
        )

    def configuration(self, application: str, environment: str) -> dict[str, Any]:
        """DescribeConfigurationSettings' answer: the deployed settings, and a pending draft's when one is deploying."""
        return dict(self._call("describe_configuration_settings", ApplicationName=application, EnvironmentName=environment))

    def events(self, environment: str, request_id: str, since: datetime | None) -> list[Event]:
        """Events of one request, oldest first (the API answers newest first)."""
        params: dict[str, Any] = {"EnvironmentName": environment, "RequestId": request_id, "MaxRecords": 1000}
        if since is not None:
            params["StartTime"] = since
        found: list[Event] = []
        for _ in range(20):  # a bound on paging: 20,000 events of a single request would be a runaway
            page = self._call("describe_events", **params)
            found += [_event(item) for item in page.get("Events", [])]
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        return sorted(found, key=lambda event: event.time)

    def recent_events(self, environment: str, max_records: int = 20) -> list[Event]:
        page = self._call("describe_events", EnvironmentName=environment, MaxRecords=max_records)
        return sorted((_event(item) for item in page.get("Events", [])), key=lambda event: event.time)

    def health_causes(self, environment: str) -> list[str]:
        """Enhanced health's causes for the environment's health; [] under basic health, which answers
        InvalidRequestException (botocore model: DescribeEnvironmentHealth is for enhanced health only)."""
        try:
            found = self._call("describe_environment_health", EnvironmentName=environment, AttributeNames=["Causes"])
        except CloudError as error:
            if error.code in ("InvalidRequestException", "InvalidRequest"):
                return []
            raise
        return [str(cause) for cause in found.get("Causes", [])]

    def instances_health(self, environment: str) -> HealthReport | None:
        """Every instance's deployed version and health status, page after page, with the report's time; None under
        basic health, which answers InvalidRequestException (botocore model: DescribeInstancesHealth is for enhanced
        health only). An empty list is what a caller who may not see the environment's health gets ("If the user
        doesn't have access ... an empty result is returned", API reference): it says nothing about the instances."""
        params: dict[str, Any] = {
            "EnvironmentName": environment,
            "AttributeNames": ["HealthStatus", "Deployment", "RefreshedAt"],
        }
        found: list[InstanceHealth] = []
        refreshed: datetime | None = None
        answered: datetime | None = None
        for _ in range(100):  # a bound on paging: the pages hold the instances of one environment
            try:
                page = self._call("describe_instances_health", **params)
            except CloudError as error:
                if error.code in ("InvalidRequestException", "InvalidRequest"):
                    return None
                raise
            answered = answered or _answer_date(page)
            if isinstance(page.get("RefreshedAt"), datetime):
                # The oldest page decides: the whole report is no newer than its oldest part.
                refreshed = page["RefreshedAt"] if refreshed is None else min(refreshed, page["RefreshedAt"])
            for item in page.get("InstanceHealthList", []):
                deployment = item.get("Deployment") or {}
                found.append(
                    InstanceHealth(
                        str(item.get("InstanceId", "")),
                        str(deployment.get("VersionLabel", "")),
                        str(deployment.get("Status", "")),
                        str(item.get("HealthStatus", "")),
                    )
                )
            if not page.get("NextToken"):
                break
            params["NextToken"] = page["NextToken"]
        return HealthReport(refreshed, found, answered)

    def request_tail_logs(self, environment: str) -> datetime | None:
        """Asks the instances to compile their tail logs; returns the service's time of the request (its HTTP Date),
        so that the logs compiled for it can be told from older ones, or None when the answer carries no date."""
        return _answer_date(self._call("request_environment_info", EnvironmentName=environment, InfoType="tail"))

    def instance_ids(self, environment: str) -> list[str]:
        """The environment's running instances (DescribeEnvironmentResources): one call, no paging, under basic health
        as under enhanced (DescribeInstancesHealth answers only under enhanced health, two or more pages for a fleet)."""
        found = self._call("describe_environment_resources", EnvironmentName=environment)
        return [str(item.get("Id", "")) for item in found.get("EnvironmentResources", {}).get("Instances", [])]

    def logs_location(self, environment: str) -> tuple[str, str] | None:
        """Where Elastic Beanstalk keeps the environment's logs: its own bucket ``elasticbeanstalk-REGION-ACCOUNT_ID`` and
        the environment's id (developer guide, using-features.logging, "Log location in Amazon S3"), from the
        environment's ARN; None when the environment is gone or its answer carries no ARN."""
        found = self._call("describe_environments", EnvironmentNames=[environment], IncludeDeleted=False)["Environments"]
        for env in found:
            arn, environment_id = str(env.get("EnvironmentArn", "")), str(env.get("EnvironmentId", ""))
            parts = arn.split(":")
            if len(parts) >= 6 and parts[3] and parts[4] and environment_id:
                return f"elasticbeanstalk-{parts[3]}-{parts[4]}", environment_id
        return None

    def tail_logs(self, environment: str) -> list[LogEntry]:
        """The tail logs compiled lately, one entry per instance and request (botocore model: kept 15 minutes)."""
        found = self._call("retrieve_environment_info", EnvironmentName=environment, InfoType="tail")
        return [
            LogEntry(str(item.get("Ec2InstanceId", "")), item["SampleTimestamp"], str(item.get("Message", "")))
            for item in found.get("EnvironmentInfo", [])
            if item.get("SampleTimestamp") is not None
        ]

    def update(
        self,
        application: str,
        environment: str,
        version_label: str = "",
        option_settings: list[dict[str, str]] | None = None,
        options_to_remove: list[dict[str, str]] | None = None,
    ) -> str:
        """Starts an environment update (a version, settings, or both); returns its RequestId, which every event of the
        update carries."""
        params: dict[str, Any] = {"ApplicationName": application, "EnvironmentName": environment}
        if version_label:
            params["VersionLabel"] = version_label
        if option_settings:
            params["OptionSettings"] = option_settings
        if options_to_remove:
            params["OptionsToRemove"] = options_to_remove
        response = self._call("update_environment", **params)
        return str(response["ResponseMetadata"]["RequestId"])

    def _call(self, operation: str, **params: Any) -> Any:
        waited, pause = 0.0, THROTTLE_FIRST_PAUSE
        while True:
            try:
                return call("elasticbeanstalk", self.client, operation, **params)
            except CloudError as error:
                if not error.transient:
                    raise
                self.throttled += 1
                wait = pause * self._jitter.uniform(0.5, 1.0)
                left = self.patience - waited
                if self.budget is not None:
                    left = min(left, self.budget.left)
                if wait > left:
                    raise
                if self.throttled == 1 and self.on_throttled is not None:
                    self.on_throttled(
                        f"Elastic Beanstalk answered {error.code} (its rate limit is shared by the whole account): "
                        "asking again more slowly, within the deadline"
                    )
                self.clock.sleep(wait)
                waited, pause = waited + wait, min(pause * 2, THROTTLE_LONGEST_PAUSE)
