"""The stand-in's Elastic Beanstalk resources, described in the shapes of the botocore model."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localeb.dockerrun import Dockerrun
from localeb.options import ENVIRONMENT_NAMESPACE, HEALTH_NAMESPACE, OptionKey
from localeb.platform import RunningContainer
from localeb.proxy import Proxy

DEFAULT_STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
DEFAULT_PLATFORM = "platform/Docker running on 64bit Amazon Linux 2023/4.6.0"
SEVERITIES = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


def now() -> datetime:
    return datetime.now(UTC)


def arn(region: str, account: str, kind: str, path: str) -> str:
    return f"arn:aws:elasticbeanstalk:{region}:{account}:{kind}/{path}"


def random_id(prefix: str, length: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return prefix + "".join(random.choice(alphabet) for _ in range(length))


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class Application:
    name: str
    arn: str
    description: str | None
    created: datetime
    lifecycle: dict[str, Any] | None = None
    updated: datetime = field(default_factory=now)
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self, version_labels: list[str]) -> dict[str, Any]:
        return _compact(
            {
                "ApplicationArn": self.arn,
                "ApplicationName": self.name,
                "Description": self.description,
                "DateCreated": self.created,
                "DateUpdated": self.updated,
                "Versions": version_labels,
                "ConfigurationTemplates": [],
                "ResourceLifecycleConfig": self.lifecycle
                or {
                    "VersionLifecycleConfig": {
                        "MaxCountRule": {"Enabled": False, "MaxCount": 200, "DeleteSourceFromS3": False},
                        "MaxAgeRule": {"Enabled": False, "MaxAgeInDays": 180, "DeleteSourceFromS3": False},
                    }
                },
            }
        )


@dataclass
class ApplicationVersion:
    application: str
    label: str
    arn: str
    description: str | None
    bucket: str | None
    key: str | None
    created: datetime
    status: str = "Unprocessed"
    updated: datetime = field(default_factory=now)

    def describe(self, wire_status: str) -> dict[str, Any]:
        return _compact(
            {
                "ApplicationVersionArn": self.arn,
                "ApplicationName": self.application,
                "Description": self.description,
                "VersionLabel": self.label,
                "SourceBundle": {"S3Bucket": self.bucket, "S3Key": self.key} if self.bucket else None,
                "DateCreated": self.created,
                "DateUpdated": self.updated,
                "Status": wire_status,
            }
        )


@dataclass
class Event:
    seq: int
    date: datetime
    message: str
    severity: str
    application: str | None
    environment: str | None
    environment_id: str | None
    version_label: str | None
    request_id: str | None
    visible_at: float = 0.0  # monotonic time it reaches DescribeEvents (localeb.variants); 0: at once

    def describe(self, platform_arn: str | None) -> dict[str, Any]:
        return _compact(
            {
                "EventDate": self.date,
                "Message": self.message,
                "ApplicationName": self.application,
                "VersionLabel": self.version_label,
                "EnvironmentName": self.environment,
                "PlatformArn": platform_arn if self.environment else None,
                "RequestId": self.request_id,
                "Severity": self.severity,
            }
        )


@dataclass
class Instance:
    """One EC2 instance of an environment: a container on the local engine, its engine log and its last deployment."""

    id: str
    launched_at: datetime = field(default_factory=now)
    container: RunningContainer | None = None
    label: str | None = None  # the version its container runs
    # The output of the last container a deploy removed because it failed: on the instance its log file stays in the
    # container log directory, so tail logs still show it.
    failed_output: tuple[str, str] | None = None  # (container id, output)
    # eb-engine.log's lines, as the platform engine writes them ("2026/11/27 15:58:05.303030 [ERROR] ...").
    engine_log: list[str] = field(default_factory=list)
    # Its most recent deployment, as DescribeInstancesHealth's Deployment shows it (botocore model, Deployment: the ID
    # "increases by one each time that you deploy source code or change instance configuration settings"; Status
    # "In Progress", "Deployed" or "Failed"; the time it started while in progress, else ended).
    deployment_id: int = 0
    deployment_label: str | None = None
    deployment_status: str | None = None
    deployment_time: datetime | None = None
    health_override: str | None = None  # an enhanced health status a fault injection gave it (Degraded, Severe)

    def log_engine(self, level: str, message: str) -> None:
        moment = now()
        self.engine_log.append(f"{moment:%Y/%m/%d %H:%M:%S}.{moment.microsecond:06d} [{level}] {message}")
        del self.engine_log[:-200]


def new_instance() -> Instance:
    return Instance(random_id("i-", 17, "0123456789abcdef"))


@dataclass
class Environment:
    id: str
    name: str
    application: str
    account: str
    region: str
    solution_stack: str
    platform_arn: str
    tier: dict[str, str]
    description: str | None
    options: dict[OptionKey, str]
    proxy: Proxy
    instances: list[Instance]
    created: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    status: str = "Launching"
    health: str = "Grey"
    settled_health: str = "Grey"
    health_cause: str = ""  # enhanced health's cause for a Yellow environment
    version_label: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deployed_spec: Dockerrun | None = None
    deployed_label: str | None = None
    deployed_variables: dict[str, str] = field(default_factory=dict)
    terminated: datetime | None = None
    operation_label: str | None = None
    deployment_id: int = 0  # the environment's last deployment (botocore model, Deployment.DeploymentId)

    @property
    def instance_id(self) -> str:
        return self.instances[0].id

    @property
    def container(self) -> RunningContainer | None:
        """The first instance's container (a one-instance environment's only one)."""
        return self.instances[0].container if self.instances else None

    @property
    def is_fleet(self) -> bool:
        """A load-balanced environment: its instances and its deployment policy (localeb.fleet) decide how it deploys;
        a single-instance one deploys as one container (localeb.deploy)."""
        return self.options.get((ENVIRONMENT_NAMESPACE, "EnvironmentType"), "SingleInstance") == "LoadBalanced"

    @property
    def arn(self) -> str:
        return arn(self.region, self.account, "environment", f"{self.application}/{self.name}")

    @property
    def enhanced_health(self) -> bool:
        return self.options.get((HEALTH_NAMESPACE, "SystemType"), "basic").lower() == "enhanced"

    @property
    def health_status(self) -> str:
        if self.status in ("Launching", "Updating"):
            return "Info" if self.status == "Updating" else "Pending"
        return {"Green": "Ok", "Yellow": "Warning", "Red": "Severe"}.get(self.health, "NoData")

    def describe(self) -> dict[str, Any]:
        address = None if self.terminated else self.proxy.address
        return _compact(
            {
                "EnvironmentName": self.name,
                "EnvironmentId": self.id,
                "ApplicationName": self.application,
                "VersionLabel": self.version_label,
                "SolutionStackName": self.solution_stack,
                "PlatformArn": self.platform_arn,
                "Description": self.description,
                "EndpointURL": address,
                "CNAME": address,
                "DateCreated": self.created,
                "DateUpdated": self.updated,
                "Status": self.status,
                "AbortableOperationInProgress": self.status == "Updating",
                "Health": self.health,
                "HealthStatus": self.health_status if self.enhanced_health else None,
                "Tier": self.tier,
                "EnvironmentArn": self.arn,
            }
        )


def start_deployment(env: Environment, instance: Instance, label: str | None) -> None:
    """The environment's current deployment begins on this instance."""
    instance.deployment_id = env.deployment_id
    instance.deployment_label = label
    instance.health_override = None
    instance.deployment_status = "In Progress"
    instance.deployment_time = now()


def end_deployment(instance: Instance, failed: bool) -> None:
    instance.deployment_status = "Failed" if failed else "Deployed"
    instance.deployment_time = now()
