"""The Elastic Beanstalk operations: state per account and region, validation, and errors as EB sends them."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from localeb import s3store
from localeb.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    InvalidRequestException,
    MissingParameter,
    OperationInProgressFailure,
    ResourceNotFound,
    S3LocationNotInServiceRegion,
    SourceBundleDeletionFailure,
    TooManyApplicationVersions,
)
from localeb.hold import Holds
from localeb.models import (
    DEFAULT_PLATFORM,
    DEFAULT_STACK,
    SEVERITIES,
    Application,
    ApplicationVersion,
    Environment,
    Event,
    Instance,
    arn,
    new_instance,
    now,
    random_id,
    start_deployment,
)
from localeb.options import (
    DEFAULTS,
    OptionKey,
    as_option_list,
    check_environment_properties,
    check_fleet_options,
    fleet_size,
    merged,
    parse_removals,
    parse_settings,
)
from localeb.platform import DockerPlatform
from localeb.proxy import Proxy
from localeb.settings import Settings
from localeb.variants import Variants

ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
EVENT_RETENTION = timedelta(weeks=6)


@dataclass
class RegionState:
    account: str
    region: str
    applications: dict[str, Application] = field(default_factory=dict)
    versions: dict[tuple[str, str], ApplicationVersion] = field(default_factory=dict)
    environments: list[Environment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass
class DraftConfiguration:
    """The configuration an update deploys: `pending` while it runs, `failed` after it failed, gone after a success.

    botocore's model (DescribeConfigurationSettings; ConfigurationSettingsDescription.DeploymentStatus;
    DeleteEnvironmentConfiguration): "Updating a running environment with any configuration changes creates a draft
    configuration set", returned beside the deployed one "while the update is in progress or if the update fails".
    """

    options: dict[OptionKey, str]
    deployed_options: dict[OptionKey, str]  # what the environment runs while the draft is pending
    request_id: str
    created: datetime
    status: str = "pending"


# botocore model, EnvironmentInfoDescription.Message: "The files are deleted after 15 minutes."
INFO_LIFETIME = timedelta(minutes=15)


@dataclass
class EnvironmentInfo:
    """Logs compiled by RequestEnvironmentInfo for one instance, kept in the stand-in's S3 like EB's storage bucket."""

    info_type: str
    instance_id: str
    sampled: datetime
    bucket: str
    key: str
    lifetime: timedelta = INFO_LIFETIME


# The container's output, in the directory the developer guide names for the Docker platform on AL2 and later
# ("Viewing logs from Amazon EC2 instances": /var/log/eb-docker/containers/eb-current-app/); the file name is the
# stand-in's. The platform engine's own log, where EB's failure events point ("For details, see 'eb-engine.log'.").
CONTAINER_LOG = "/var/log/eb-docker/containers/eb-current-app/eb-{container}-stdouterr.log"
ENGINE_LOG = "/var/log/eb-engine.log"
# DescribeInstancesHealth's page: the model has a NextToken but no page size; a small one makes clients page.
INSTANCES_PAGE = 2


def _presigned(endpoint: str, region: str, info: EnvironmentInfo) -> str:
    """A pre-signed GET of the logs in the stand-in's S3, valid until they are deleted (model, EnvironmentInfoDescription:
    "a presigned Amazon S3 URL"), signed with Elastic Beanstalk's own key, not the caller's."""
    import boto3
    from botocore.config import Config

    from localeb.access import SERVICE_KEY

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=SERVICE_KEY,
        aws_secret_access_key=SERVICE_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    remaining = info.lifetime - (now() - info.sampled)
    return str(
        s3.generate_presigned_url(
            "get_object", Params={"Bucket": info.bucket, "Key": info.key}, ExpiresIn=max(1, int(remaining.total_seconds()))
        )
    )


def _log_section(path: str, text: str) -> str:
    rule = "-" * 40
    return f"{rule}\n{path}\n{rule}\n{text.rstrip()}\n"


def _token(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode()


def _untoken(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise InvalidParameterValue("Invalid NextToken.") from None


def _page_size(value: Any, default: int = 1000) -> int:
    if value is None:
        return default
    size = int(value)
    if not 1 <= size <= 1000:
        raise InvalidParameterValue("MaxRecords must be between 1 and 1000.")
    return size


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _length(name: str, value: str | None, low: int, high: int) -> None:
    if value is None or not low <= len(value) <= high:
        raise InvalidParameterValue(f"{name} must be between {low} and {high} characters long.")


# Enhanced health's statuses (botocore model, InstanceHealthSummary) and their colours (developer guide,
# health-enhanced-status.md: Ok and Info green, Warning yellow, Degraded and Severe red, the rest grey).
INSTANCE_STATUSES = ("NoData", "Unknown", "Pending", "Ok", "Info", "Warning", "Degraded", "Severe")
STATUS_COLOURS = {
    "NoData": "Grey",
    "Unknown": "Grey",
    "Pending": "Grey",
    "Ok": "Green",
    "Info": "Green",
    "Warning": "Yellow",
    "Degraded": "Red",
    "Severe": "Red",
    "Suspended": "Grey",
}


def _instance_status(env: Environment, instance: Instance) -> str:
    """A one-instance environment's instance has the environment's status. In a fleet each instance has its own: a fault
    injection's, Severe after its deployment failed, else the environment's (Ok, Warning) or Info while it updates."""
    if env.is_fleet and env.status == "Ready":
        if instance.health_override:
            return instance.health_override
        if instance.deployment_status == "Failed":
            return "Severe"
        return "Warning" if env.health == "Yellow" else "Ok"
    return env.health_status if env.health_status in INSTANCE_STATUSES else "NoData"


def _mixed_versions(env: Environment) -> str:
    """Enhanced health's cause for instances that do not run the environment's version (wording as EB's console shows
    it: "Incorrect application version found on 1 out of 4 instances. Expected version ..."; not in a stored source)."""
    wrong = [i for i in env.instances if i.container and i.label != env.version_label]
    if not env.is_fleet or env.status != "Ready" or not wrong or not env.version_label:
        return ""
    where = "all instances" if len(wrong) == len(env.instances) else f"{len(wrong)} out of {len(env.instances)} instances"
    return (
        f'Incorrect application version found on {where}. Expected version "{env.version_label}" '
        f"(deployment {env.deployment_id})."
    )


def _causes(env: Environment, instance: Instance | None = None) -> list[str]:
    if instance is not None and env.is_fleet:
        status = _instance_status(env, instance)
        if status in ("Degraded", "Severe") and instance.deployment_status == "Failed":
            return [
                f"Application deployment failed at {instance.deployment_time:%Y-%m-%dT%H:%M:%SZ}."
                if instance.deployment_time
                else "Application deployment failed."
            ]
        return [env.health_cause] if env.health_cause and status != "Ok" else []
    causes = [env.health_cause] if env.health_cause else []
    mixed = _mixed_versions(env)
    if mixed:
        causes.append(mixed)
    if not causes and env.health == "Red":
        causes.append("The most recent deployment failed.")
    return causes


def _picked(values: dict[str, Any], attributes: list[str] | None) -> dict[str, Any]:
    """The elements AttributeNames asks for ("All": every one; none: none)."""
    wanted = set(attributes or ())
    return {key: value for key, value in values.items() if "All" in wanted or key in wanted}


def _instance_health(env: Environment, instance: Instance, attributes: list[str] | None) -> dict[str, Any]:
    status = _instance_status(env, instance)
    deployment = None
    if instance.deployment_status is not None:
        deployment = {
            key: value
            for key, value in {
                "VersionLabel": instance.deployment_label,
                "DeploymentId": instance.deployment_id,
                "Status": instance.deployment_status,
                "DeploymentTime": instance.deployment_time,
            }.items()
            if value is not None
        }
    details = {
        "HealthStatus": status,
        "Color": STATUS_COLOURS[status],
        "Causes": _causes(env, instance),
        "LaunchedAt": instance.launched_at,
        "Deployment": deployment,
    }
    found = {"InstanceId": instance.id, **_picked(details, attributes)}
    return {key: value for key, value in found.items() if value is not None}


def _environment_health(env: Environment) -> dict[str, Any]:
    """DescribeEnvironmentHealth's elements, every one, as the environment is now."""
    counts = {status: 0 for status in INSTANCE_STATUSES}
    for instance in env.instances:
        counts[_instance_status(env, instance)] += 1
    return {
        "HealthStatus": env.health_status,
        "Status": env.status,
        "Color": env.health,
        "Causes": _causes(env),
        "InstancesHealth": counts,
        "RefreshedAt": now(),
    }


class LocalEB:
    """All state of the stand-in's Elastic Beanstalk; every method takes the lock it needs."""

    def __init__(self, settings: Settings, platform: DockerPlatform) -> None:
        self.settings = settings
        self.platform = platform
        self.lock = threading.RLock()
        self._regions: dict[tuple[str, str], RegionState] = {}
        self._event_seq = 0
        self._last_event_date = datetime.fromtimestamp(0, UTC)
        self._closed = False
        self._drafts: dict[str, DraftConfiguration] = {}  # by environment id
        self._open_updates: dict[str, str] = {}  # environment id -> RequestId of its update not yet settled
        self._infos: dict[str, list[EnvironmentInfo]] = {}  # by environment id, oldest first
        self.variants = Variants(self)
        self.holds = Holds()  # a test's control (localeb.hold): background work waits at an armed phase

    # -- state -------------------------------------------------------------------------------------

    def state(self, account: str, region: str) -> RegionState:
        with self.lock:
            key = (account, region)
            if key not in self._regions:
                self._regions[key] = RegionState(account, region)
            return self._regions[key]

    def environment_named(self, env_id: str | None, name: str | None) -> tuple[str, str] | None:
        """(application, name) of the live environment with this ID or name, in any region and account."""
        with self.lock:
            for env in self.all_environments():
                if not env.terminated and ((env_id and env.id == env_id) or (not env_id and env.name == name)):
                    return env.application, env.name
        return None

    def all_environments(self) -> list[Environment]:
        with self.lock:
            return [env for state in self._regions.values() for env in state.environments]

    def emit(
        self,
        state: RegionState,
        message: str,
        severity: str = "INFO",
        env: Environment | None = None,
        application: str | None = None,
        version_label: str | None = None,
        request_id: str | None = None,
    ) -> Event:
        with self.lock:
            self._event_seq += 1
            moment = now()
            date = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            if date <= self._last_event_date:
                date = self._last_event_date + timedelta(milliseconds=1)
            self._last_event_date = date
            event = Event(
                seq=self._event_seq,
                date=date,
                message=message,
                severity=severity,
                application=application or (env.application if env else None),
                environment=env.name if env else None,
                environment_id=env.id if env else None,
                version_label=version_label,
                request_id=request_id,
            )
            if self.settings.variants:
                self.variants.emitted(env, event)
            state.events.append(event)
            return event

    # -- applications --------------------------------------------------------------------------------

    def application(self, state: RegionState, name: str | None) -> Application:
        if not name or name not in state.applications:
            raise InvalidParameterValue(f"No Application named '{name}' found.")
        return state.applications[name]

    def create_application(
        self,
        state: RegionState,
        name: str,
        description: str | None,
        lifecycle: dict[str, Any] | None,
        tags: dict[str, str],
    ) -> dict[str, Any]:
        _length("ApplicationName", name, 1, 100)
        if description is not None and len(description) > 200:
            raise InvalidParameterValue("Description must be at most 200 characters long.")
        with self.lock:
            if name in state.applications:
                raise InvalidParameterValue(f"Application {name} already exists.")
            app = Application(
                name, arn(state.region, state.account, "application", name), description, now(), lifecycle, tags=tags
            )
            state.applications[name] = app
            return app.describe([])

    def describe_applications(self, state: RegionState, names: list[str] | None) -> list[dict[str, Any]]:
        with self.lock:
            apps = [app for app in state.applications.values() if not names or app.name in names]
            return [app.describe(self._labels(state, app.name)) for app in apps]

    def _labels(self, state: RegionState, application: str) -> list[str]:
        return [v.label for (app, _), v in state.versions.items() if app == application]

    def update_lifecycle(self, state: RegionState, name: str, lifecycle: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            app = self.application(state, name)
            app.lifecycle = lifecycle
            app.updated = now()
            return {"ApplicationName": name, "ResourceLifecycleConfig": lifecycle}

    def delete_application(self, state: RegionState, name: str, force: bool) -> None:
        with self.lock:
            self.application(state, name)
            running = [e for e in state.environments if e.application == name and not e.terminated]
            if running and not force:
                raise OperationInProgressFailure(
                    f"Unable to delete application {name} because it has running environments: "
                    + ", ".join(e.name for e in running)
                    + "."
                )
            for env in running:
                self._retire(env)
            del state.applications[name]
            for key in [k for k in state.versions if k[0] == name]:
                del state.versions[key]

    # -- application versions ----------------------------------------------------------------------

    def create_application_version(
        self,
        state: RegionState,
        application: str,
        label: str,
        description: str | None,
        bundle: dict[str, Any] | None,
        auto_create: bool,
        process: bool,
    ) -> dict[str, Any]:
        _length("VersionLabel", label, 1, 100)
        _length("ApplicationName", application, 1, 100)
        if description is not None and len(description) > 200:
            raise InvalidParameterValue("Description must be at most 200 characters long.")
        bucket = key = None
        if bundle:
            bucket, key = bundle.get("S3Bucket"), bundle.get("S3Key")
            if not bucket or not key:
                raise MissingParameter("SourceBundle needs both S3Bucket and S3Key.")
            if len(key) > 1024:
                raise InvalidParameterValue("S3Key must be at most 1024 characters long.")
        with self.lock:
            if application not in state.applications:
                if not auto_create:
                    raise InvalidParameterValue(f"No Application named '{application}' found.")
                self.create_application(state, application, None, None, {})
            if (application, label) in state.versions:
                raise InvalidParameterValue(f"Application Version {label} already exists.")
            if len(state.versions) >= self.settings.version_limit:
                raise TooManyApplicationVersions(
                    f"You cannot have more than {self.settings.version_limit} Application Versions. "
                    "Either remove some Application Versions or request a limit increase."
                )
            if bucket and key:
                self._check_bundle_location(state, bucket, key)
            version = ApplicationVersion(
                application,
                label,
                arn(state.region, state.account, "applicationversion", f"{application}/{label}"),
                description,
                bucket,
                key,
                now(),
                status="Processing" if process and not self.settings.unprocessed_seconds else "Unprocessed",
            )
            state.versions[(application, label)] = version
            if process:
                threading.Thread(target=self._process, args=(state, version), daemon=True).start()
            self._apply_lifecycle(state, application)
            return self._describe_version(version)

    def _check_bundle_location(self, state: RegionState, bucket: str, key: str) -> None:
        try:
            region = s3store.bucket_region(state.account, state.region, bucket)
        except s3store.S3Missing as missing:
            raise InvalidParameterCombination(
                f"Unable to download from S3 location (Bucket: {bucket} Key: {key}). Reason: {missing}"
            ) from None
        if region != state.region:
            raise S3LocationNotInServiceRegion(
                f"The specified S3 bucket ({bucket}) does not belong to the S3 region ({state.region}) in which the "
                f"service is running; it is in {region}."
            )
        if not s3store.object_exists(state.account, state.region, bucket, key):
            raise InvalidParameterCombination(
                f"Unable to download from S3 location (Bucket: {bucket} Key: {key}). Reason: Not Found"
            )

    def _process(self, state: RegionState, version: ApplicationVersion) -> None:
        from localeb.dockerrun import BundleError, dockerrun_text, parse_dockerrun

        if self.settings.unprocessed_seconds:
            import time

            time.sleep(self.settings.unprocessed_seconds)
            with self.lock:
                if version.status != "Unprocessed":
                    return
                version.status = "Processing"
                version.updated = now()
        self.sleep_phase()
        problem = None
        try:
            if version.bucket and version.key:
                bundle = s3store.get_object(state.account, state.region, version.bucket, version.key)
                parse_dockerrun(dockerrun_text(bundle), allow_digest=self.settings.image_digest == "accept")
        except (BundleError, s3store.S3Missing) as error:
            problem = str(error)
        with self.lock:
            if (version.application, version.label) not in state.versions:
                return
            version.status = "Failed" if problem else "Processed"
            version.updated = now()
            if problem:
                self.emit(
                    state,
                    f"Failed to process application version '{version.label}': {problem}",
                    "ERROR",
                    application=version.application,
                    version_label=version.label,
                )

    def _describe_version(self, version: ApplicationVersion) -> dict[str, Any]:
        return version.describe(self.settings.version_status(version.status))

    def describe_application_versions(
        self,
        state: RegionState,
        application: str | None,
        labels: list[str] | None,
        max_records: Any,
        next_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        size = _page_size(max_records)
        start = _untoken(next_token)
        with self.lock:
            matching = [
                v
                for v in state.versions.values()
                if (not application or v.application == application) and (not labels or v.label in labels)
            ]
            page = matching[start : start + size]
            more = _token(start + size) if start + size < len(matching) else None
            return [self._describe_version(v) for v in page], more

    def delete_application_version(
        self,
        state: RegionState,
        application: str,
        label: str,
        delete_bundle: bool,
    ) -> None:
        with self.lock:
            self.application(state, application)
            version = state.versions.get((application, label))
            if version is None:
                raise InvalidParameterValue(f"No Application Version named '{label}' found.")
            busy = [
                e
                for e in state.environments
                if not e.terminated and e.application == application and e.operation_label == label and e.status != "Ready"
            ]
            if busy or version.status == "Processing":
                raise OperationInProgressFailure(
                    f"Unable to delete application version {label} because an operation on it is in progress."
                )
            deployed = [
                e.name
                for e in state.environments
                if not e.terminated and e.application == application and label in (e.deployed_label, e.version_label)
            ]
            if deployed:
                raise InvalidParameterValue(
                    f"Unable to delete application version {label} because it is deployed to running "
                    f"environment(s): {', '.join(deployed)}."
                )
            del state.versions[(application, label)]
        if delete_bundle and version.bucket and version.key:
            try:
                s3store.delete_object(state.account, state.region, version.bucket, version.key)
            except Exception as error:
                raise SourceBundleDeletionFailure(
                    f"Unable to delete the source bundle s3://{version.bucket}/{version.key}: {error}. "
                    "The application version was deleted successfully."
                ) from None

    def _apply_lifecycle(self, state: RegionState, application: str) -> None:
        config = (state.applications[application].lifecycle or {}).get("VersionLifecycleConfig") or {}
        in_use = {
            label
            for e in state.environments
            if not e.terminated and e.application == application
            for label in (e.deployed_label, e.version_label, e.operation_label)
            if label
        }
        candidates = [v for v in state.versions.values() if v.application == application and v.label not in in_use]
        doomed: list[tuple[ApplicationVersion, bool]] = []
        count_rule = config.get("MaxCountRule") or {}
        if str(count_rule.get("Enabled")).lower() == "true":
            total = len([v for v in state.versions.values() if v.application == application])
            excess = total - int(count_rule.get("MaxCount", 200))
            for version in candidates[: max(excess, 0)]:
                doomed.append((version, str(count_rule.get("DeleteSourceFromS3")).lower() == "true"))
        age_rule = config.get("MaxAgeRule") or {}
        if str(age_rule.get("Enabled")).lower() == "true":
            cutoff = now() - timedelta(days=int(age_rule.get("MaxAgeInDays", 180)))
            for version in candidates:
                if version.created < cutoff and all(version is not d for d, _ in doomed):
                    doomed.append((version, str(age_rule.get("DeleteSourceFromS3")).lower() == "true"))
        for version, delete_source in doomed[:100]:
            del state.versions[(version.application, version.label)]
            if delete_source and version.bucket and version.key:
                s3store.delete_object(state.account, state.region, version.bucket, version.key)
            self.emit(
                state,
                f"Application version {version.label} was deleted by the lifecycle policy.",
                "INFO",
                application=application,
                version_label=version.label,
            )

    # -- environments -----------------------------------------------------------------------------------

    def find_environment(
        self, state: RegionState, env_id: str | None, name: str | None, include_terminated: bool = False
    ) -> Environment:
        if not env_id and not name:
            raise MissingParameter("Either EnvironmentId or EnvironmentName must be specified.")
        with self.lock:
            matches = [e for e in state.environments if (env_id and e.id == env_id) or (not env_id and e.name == name)]
            live = [e for e in matches if not e.terminated]
            if live:
                return live[0]
            if matches and include_terminated:
                return matches[-1]
        if matches:
            raise InvalidParameterValue(
                f"Environment named {matches[-1].name} is in an invalid state for this operation. Must be Ready."
            )
        if env_id:
            raise InvalidParameterValue(f"No Environment found for EnvironmentId = '{env_id}'.")
        raise InvalidParameterValue(f"No Environment found for EnvironmentName = '{name}'.")

    def create_environment(
        self,
        state: RegionState,
        application: str,
        name: str,
        version_label: str | None,
        stack: str | None,
        platform_arn: str | None,
        tier: dict[str, str] | None,
        description: str | None,
        option_settings: list[dict[str, Any]] | None,
        tags: dict[str, str],
        request_id: str,
    ) -> dict[str, Any]:
        _length("EnvironmentName", name, 4, 40)
        if not ENVIRONMENT_NAME.fullmatch(name):
            raise InvalidParameterValue(
                f"Value {name} at 'EnvironmentName' failed to satisfy constraint: it can contain only letters, "
                "digits and hyphens, and cannot start or end with a hyphen."
            )
        options = merged(DEFAULTS, parse_settings(option_settings), [])
        if self.settings.env_limits != "off":
            check_environment_properties(options, self.settings.env_limits)
        check_fleet_options(options)
        with self.lock:
            self.application(state, application)
            if any(e.name == name and not e.terminated for e in state.environments):
                raise InvalidParameterValue(f"Environment {name} already exists.")
            if version_label and (application, version_label) not in state.versions:
                raise InvalidParameterValue(f"No Application Version named '{version_label}' found.")
            env = Environment(
                id=random_id("e-", 10),
                name=name,
                application=application,
                account=state.account,
                region=state.region,
                solution_stack=stack or DEFAULT_STACK,
                platform_arn=platform_arn or f"arn:aws:elasticbeanstalk:{state.region}::{DEFAULT_PLATFORM}",
                tier=tier or {"Name": "WebServer", "Type": "Standard", "Version": "1.0"},
                description=description,
                options=options,
                proxy=Proxy(),
                instances=[new_instance() for _ in range(1)],
                version_label=version_label,
                tags=tags,
                operation_label=version_label,
            )
            if env.is_fleet:
                env.instances += [new_instance() for _ in range(fleet_size(options) - 1)]
            state.environments.append(env)
            if version_label:
                self._start_deployment(env, version_label)
            self.emit(state, "createEnvironment is starting.", env=env, request_id=request_id)
            description_now = env.describe()
        from localeb.deploy import launch

        threading.Thread(
            target=self._run_update, args=(state, env, launch, (self, state, env, request_id), request_id), daemon=True
        ).start()
        return description_now

    def describe_environments(
        self,
        state: RegionState,
        application: str | None,
        version_label: str | None,
        ids: list[str] | None,
        names: list[str] | None,
        include_deleted: bool | None,
        deleted_back_to: datetime | None,
        max_records: Any,
        next_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        size = _page_size(max_records)
        start = _untoken(next_token)
        back_to = _utc(deleted_back_to) or now() - timedelta(hours=1)
        with self.lock:
            matching = [
                e
                for e in state.environments
                if (not application or e.application == application)
                and (not version_label or e.version_label == version_label)
                and (not ids or e.id in ids)
                and (not names or e.name in names)
                and (not e.terminated or (include_deleted is not False and e.terminated >= back_to))
            ]
            page = matching[start : start + size]
            more = _token(start + size) if start + size < len(matching) else None
            if self.settings.variants:
                return [self.variants.environment(e, e.describe()) for e in page], more
            return [e.describe() for e in page], more

    def update_environment(
        self,
        state: RegionState,
        application: str | None,
        env_id: str | None,
        name: str | None,
        version_label: str | None,
        description: str | None,
        option_settings: list[dict[str, Any]] | None,
        options_to_remove: list[dict[str, Any]] | None,
        request_id: str,
    ) -> dict[str, Any]:
        from localeb.deploy import configure, deploy_version

        updates = parse_settings(option_settings)
        removals = parse_removals(options_to_remove)
        with self.lock:
            env = self.find_environment(state, env_id, name)
            if application and env.application != application:
                raise InvalidParameterValue(f"No Environment found for EnvironmentName = '{name or env_id}'.")
            if version_label and (updates or removals) and self.settings.combined_update == "reject":
                raise InvalidParameterCombination(
                    "You cannot update the application version and the configuration settings of an environment "
                    "in the same request."
                )
            if env.status != "Ready":
                raise InvalidParameterValue(
                    f"Environment named {env.name} is in an invalid state for this operation. Must be Ready."
                )
            if version_label and (env.application, version_label) not in state.versions:
                raise InvalidParameterValue(f"No Application Version named '{version_label}' found.")
            new_options = merged(env.options, updates, removals)
            if (updates or removals) and self.settings.env_limits != "off":
                check_environment_properties(new_options, self.settings.env_limits)
            check_fleet_options(new_options)
            if description is not None:
                env.description = description
            env.updated = now()
            if not version_label and not (updates or removals):
                return env.describe()
            self._settle_draft(state, env)  # the previous update's, should its thread not have ended yet
            previous_options = env.options
            env.options = new_options
            if updates or removals:
                self._drafts[env.id] = DraftConfiguration(new_options, previous_options, request_id, now())
            self._open_updates[env.id] = request_id
            self._start_deployment(env, version_label or env.deployed_label)
            env.status = "Updating"
            env.health = "Grey"
            self.emit(state, "Environment update is starting.", env=env, version_label=version_label, request_id=request_id)
            if version_label:
                env.version_label = version_label
                env.operation_label = version_label
                worker: Callable[..., None] = deploy_version
                args: tuple[Any, ...] = (self, state, env, version_label, previous_options, request_id)
            else:
                worker = configure
                args = (self, state, env, previous_options, request_id)
            description_now = env.describe()
        threading.Thread(target=self._run_update, args=(state, env, worker, args, request_id), daemon=True).start()
        return description_now

    def _run_update(
        self, state: RegionState, env: Environment, worker: Callable[..., None], args: tuple[Any, ...], request_id: str
    ) -> None:
        deployment = env.deployment_id
        try:
            worker(*args)
        finally:
            with self.lock:
                for instance in env.instances:
                    if instance.deployment_id == deployment and instance.deployment_status == "In Progress":
                        failed = self._update_failed(state, request_id)
                        instance.deployment_status = "Failed" if failed else "Deployed"
                        instance.deployment_time = now()
                if self._open_updates.get(env.id) == request_id:
                    self._settle_draft(state, env)

    @staticmethod
    def _start_deployment(env: Environment, label: str | None) -> None:
        """A new deployment; a one-instance environment's instance takes it at once, a fleet's instances as their batch
        comes (localeb.fleet)."""
        env.deployment_id += 1
        if not env.is_fleet:
            start_deployment(env, env.instances[0], label)

    @staticmethod
    def _update_failed(state: RegionState, request_id: str) -> bool:
        return any(
            event.request_id == request_id
            and (event.severity in ("ERROR", "FATAL") or "operation is complete, but with" in event.message)
            for event in state.events
        )

    def _settle_draft(self, state: RegionState, env: Environment) -> None:
        """Ends the environment's open update (under the lock, once Ready): its draft turns `failed` if it failed, and
        any draft goes on a success."""
        request_id = self._open_updates.pop(env.id, None)
        if request_id is None:
            return
        draft = self._drafts.get(env.id)
        if not self._update_failed(state, request_id):
            self._drafts.pop(env.id, None)
        elif draft is not None and draft.request_id == request_id:
            draft.status = "failed"

    def _draft_now(self, state: RegionState, env: Environment) -> DraftConfiguration | None:
        """The draft as DescribeConfigurationSettings shows it: an update back to Ready whose thread has not ended yet
        (a closing can come after Ready) is judged by its events so far, so a client that sees Ready never sees
        `pending`."""
        draft = self._drafts.get(env.id)
        if draft is None or draft.status != "pending" or env.status != "Ready":
            return draft
        return replace(draft, status="failed") if self._update_failed(state, draft.request_id) else None

    def terminate_environment(self, state: RegionState, env_id: str | None, name: str | None, request_id: str) -> dict[str, Any]:
        from localeb.deploy import terminate

        with self.lock:
            env = self.find_environment(state, env_id, name)
            if env.status != "Ready":
                raise InvalidParameterValue(
                    f"Environment named {env.name} is in an invalid state for this operation. Must be Ready."
                )
            env.status = "Terminating"
            env.updated = now()
            self.emit(state, "terminateEnvironment is starting.", env=env, request_id=request_id)
            description_now = env.describe()
        threading.Thread(target=terminate, args=(self, state, env, request_id), daemon=True).start()
        return description_now

    def _retire(self, env: Environment) -> None:
        for instance in env.instances:
            self.platform.remove(instance.container.id if instance.container else None)
            instance.container = None
        env.proxy.close()
        env.status = "Terminated"
        env.health = "Grey"
        env.terminated = now()
        env.updated = env.terminated

    def swap_cnames(
        self,
        state: RegionState,
        source_id: str | None,
        source_name: str | None,
        destination_id: str | None,
        destination_name: str | None,
        request_id: str,
    ) -> None:
        from localeb.deploy import swap

        with self.lock:
            source = self.find_environment(state, source_id, source_name)
            destination = self.find_environment(state, destination_id, destination_name)
            if source is destination:
                raise InvalidParameterValue("The source and destination environments must be different.")
            for env in (source, destination):
                if env.status != "Ready":
                    raise InvalidParameterValue(
                        f"Environment named {env.name} is in an invalid state for this operation. Must be Ready."
                    )
            for env in (source, destination):
                env.status = "Updating"
                env.updated = now()
                self.emit(state, "swapEnvironmentCNAMEs is starting.", env=env, request_id=request_id)
        threading.Thread(target=swap, args=(self, state, source, destination, request_id), daemon=True).start()

    def describe_configuration_settings(
        self,
        state: RegionState,
        application: str,
        template: str | None,
        env_name: str | None,
    ) -> list[dict[str, Any]]:
        with self.lock:
            self.application(state, application)
            if template:
                raise InvalidParameterValue(f"No Configuration Template named '{application}/{template}' found.")
            env = self.find_environment(state, None, env_name)
            if env.application != application:
                raise InvalidParameterValue(f"No Environment found for EnvironmentName = '{env_name}'.")
            draft = self._draft_now(state, env)
            pending = draft is not None and draft.status == "pending"
            deployed_options = draft.deployed_options if draft is not None and pending else env.options
            configurations = [self._configuration(env, deployed_options, "deployed", env.created, env.updated)]
            if draft is not None:
                draft_entry = self._configuration(env, draft.options, draft.status, draft.created, draft.created)
                # Whether the draft comes before or after the deployed one is not documented: a choice.
                configurations.insert(0 if self.settings.draft_position == "first" else 1, draft_entry)
            return configurations

    @staticmethod
    def _configuration(
        env: Environment, options: dict[OptionKey, str], deployment_status: str, created: datetime, updated: datetime
    ) -> dict[str, Any]:
        return {
            "SolutionStackName": env.solution_stack,
            "PlatformArn": env.platform_arn,
            "ApplicationName": env.application,
            "EnvironmentName": env.name,
            "Description": env.description,
            "DeploymentStatus": deployment_status,
            "DateCreated": created,
            "DateUpdated": updated,
            "OptionSettings": as_option_list(options),
        }

    def describe_environment_health(
        self,
        state: RegionState,
        env_id: str | None,
        name: str | None,
        attributes: list[str] | None,
    ) -> dict[str, Any]:
        """botocore model, DescribeEnvironmentHealth: enhanced health only; AttributeNames picks the elements ("All"
        for every one; none: the environment's name only); Status is the environment's operational status."""
        with self.lock:
            env = self.find_environment(state, env_id, name)
            if not env.enhanced_health:
                raise InvalidRequestException("DescribeEnvironmentHealth is not supported.")
            answer = _environment_health(env)
            if self.settings.variants:
                answer = self.variants.environment_health(env, answer)
            return {"EnvironmentName": env.name, **_picked(answer, attributes)}

    def describe_instances_health(
        self,
        state: RegionState,
        env_id: str | None,
        name: str | None,
        attributes: list[str] | None,
        next_token: str | None,
    ) -> dict[str, Any]:
        """botocore model, DescribeInstancesHealth: enhanced health only; per instance its health, causes, launch
        time and most recent deployment; no AttributeNames: the instance IDs only; NextToken pages."""
        with self.lock:
            env = self.find_environment(state, env_id, name)
            if not env.enhanced_health:
                raise InvalidRequestException("DescribeInstancesHealth is not supported.")
            start = _untoken(next_token)
            listed = self.variants.instances(env) if self.settings.variants else env.instances
            page = listed[start : start + INSTANCES_PAGE]
            refreshed = now()
            if self.settings.variants:
                entries = []
                for instance in page:
                    entry, dated = self.variants.instance_entry(env, instance)
                    entries.append({"InstanceId": instance.id, **_picked(entry, attributes)})
                    refreshed = min(refreshed, dated)  # the answer is as old as its oldest report
            else:
                entries = [_instance_health(env, i, attributes) for i in page]
            answer: dict[str, Any] = {"InstanceHealthList": entries}
            if start + INSTANCES_PAGE < len(listed):
                answer["NextToken"] = _token(start + INSTANCES_PAGE)
            if attributes and ("All" in attributes or "RefreshedAt" in attributes):
                answer["RefreshedAt"] = refreshed
            return answer

    def describe_environment_resources(self, state: RegionState, env_id: str | None, name: str | None) -> dict[str, Any]:
        """botocore model, EnvironmentResourceDescription: the one instance; no load balancer (a single-instance
        environment has none); the Auto Scaling group and launch template the stand-in does not model are left out."""
        with self.lock:
            env = self.find_environment(state, env_id, name)
            listed = self.variants.instances(env) if self.settings.variants else env.instances
            return {
                "EnvironmentName": env.name,
                "AutoScalingGroups": [],
                "Instances": [{"Id": instance.id} for instance in listed],
                "LaunchConfigurations": [],
                "LaunchTemplates": [],
                "LoadBalancers": [],
                "Triggers": [],
                "Queues": [],
            }

    # -- logs ---------------------------------------------------------------------------------------------

    def request_environment_info(
        self, state: RegionState, env_id: str | None, name: str | None, info_type: str | None, request_id: str
    ) -> None:
        """Compiles the instance's logs (`tail`: the last lines as text; `bundle`: a zip) into S3, with the events EB
        emits for it (the EB CLI waits for `Pulled logs for environment instances.`)."""
        if info_type not in ("tail", "bundle"):
            raise NotImplementedError(f"InfoType {info_type} is not served by the stand-in")
        with self.lock:
            env = self.find_environment(state, env_id, name)
            self.emit(state, "requestEnvironmentInfo is starting.", env=env, request_id=request_id)
        compile_logs = self.variants.compile_slowly if "slow-logs" in self.settings.variants else self._compile_logs
        threading.Thread(target=compile_logs, args=(state, env, info_type, request_id), daemon=True).start()

    def _compile_logs(self, state: RegionState, env: Environment, info_type: str, request_id: str) -> None:
        self.sleep_phase()
        sampled = now()
        compiled = [self.compile_instance_log(env, instance, info_type, sampled) for instance in list(env.instances)]
        with self.lock:
            self._infos.setdefault(env.id, []).extend(compiled)
            self.emit(state, "Pulled logs for environment instances.", env=env, request_id=request_id)

    def compile_instance_log(
        self, env: Environment, instance: Instance, info_type: str, sampled: datetime, container: bool = True
    ) -> EnvironmentInfo:
        """One instance's logs into S3; `container` False: the instance's container is gone (a terminated instance)."""
        import io
        import zipfile

        stamp = int(sampled.timestamp() * 1000)
        bucket = f"elasticbeanstalk-{env.region}-{env.account}"
        files = [(ENGINE_LOG, "\n".join(instance.engine_log))] if instance.engine_log else []
        running = instance.container if container else None
        if running:
            files.append((CONTAINER_LOG.format(container=running.id[:12]), self.platform.output(running.id)))
        if instance.failed_output:  # the log of the container a failed deploy removed stays on the instance
            failed, output = instance.failed_output
            files.append((CONTAINER_LOG.format(container=failed[:12]), output))
        if info_type == "tail":
            body = "".join(_log_section(path, output) for path, output in files).encode()
            key_name = f"TailLogs-{stamp}.out"
        else:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as bundle:
                for path, output in files:
                    bundle.writestr(path.lstrip("/"), output)
            body, key_name = buffer.getvalue(), f"BundleLogs-{stamp}.zip"
        key = f"resources/environments/logs/{info_type}/{env.id}/{instance.id}/{key_name}"
        s3store.put_object(env.account, env.region, bucket, key, body)
        return EnvironmentInfo(info_type, instance.id, sampled, bucket, key)

    def retrieve_environment_info(
        self, state: RegionState, env_id: str | None, name: str | None, info_type: str | None, endpoint: str
    ) -> list[dict[str, Any]]:
        """The compiled logs of the last 15 minutes, oldest first, each as a URL of the stand-in's S3."""
        with self.lock:
            env = self.find_environment(state, env_id, name)
            if self.settings.variants:
                self.variants.observe(env)  # a terminated instance's bundle logs are uploaded as it goes
            fresh = [
                info
                for info in self._infos.get(env.id, [])
                if info.info_type == info_type and info.sampled > now() - info.lifetime
            ]
        return [
            {
                "InfoType": info.info_type,
                "Ec2InstanceId": info.instance_id,
                "SampleTimestamp": info.sampled,
                "Message": _presigned(endpoint, env.region, info),
            }
            for info in fresh
        ]

    # -- events -------------------------------------------------------------------------------------------

    def describe_events(self, state: RegionState, params: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        size = _page_size(params.get("MaxRecords"))
        severity = params.get("Severity")
        if severity and severity not in SEVERITIES:
            raise InvalidParameterValue(f"Severity must be one of {', '.join(SEVERITIES)}.")
        minimum = SEVERITIES.index(severity) if severity else 0
        start, end = _utc(params.get("StartTime")), _utc(params.get("EndTime"))
        oldest = now() - EVENT_RETENTION
        cursor = _untoken(params.get("NextToken")) if params.get("NextToken") else None
        filters = {
            "application": params.get("ApplicationName"),
            "version_label": params.get("VersionLabel"),
            "environment": params.get("EnvironmentName"),
            "environment_id": params.get("EnvironmentId"),
            "request_id": params.get("RequestId"),
        }
        with self.lock:
            platforms = {e.name: e.platform_arn for e in state.environments}
            matching = [
                e
                for e in reversed(state.events)
                if all(not wanted or getattr(e, attr) == wanted for attr, wanted in filters.items())
                and SEVERITIES.index(e.severity) >= minimum
                and (start is None or e.date >= start)
                and (end is None or e.date < end)
                and e.date >= oldest
                and (cursor is None or e.seq <= cursor)
                and (not e.visible_at or self.variants.visible(e))
            ]
            page = matching[:size]
            more = _token(matching[size].seq) if len(matching) > size else None
            return [e.describe(platforms.get(e.environment or "")) for e in page], more

    # -- tags -----------------------------------------------------------------------------------------------

    def _tagged(self, state: RegionState, resource_arn: str) -> Application | Environment:
        with self.lock:
            for app in state.applications.values():
                if app.arn == resource_arn:
                    return app
            for env in state.environments:
                if env.arn == resource_arn and not env.terminated:
                    return env
        raise ResourceNotFound(f"Resource not found for ARN '{resource_arn}'.")

    def list_tags(self, state: RegionState, resource_arn: str) -> dict[str, str]:
        return dict(self._tagged(state, resource_arn).tags)

    def update_tags(self, state: RegionState, resource_arn: str, add: dict[str, str], remove: list[str]) -> None:
        resource = self._tagged(state, resource_arn)
        with self.lock:
            for key in remove:
                resource.tags.pop(key, None)
            resource.tags.update(add)

    # -- pace -------------------------------------------------------------------------------------------------

    def sleep_phase(self, phases: float = 1.0) -> None:
        import time

        time.sleep(self.settings.phase_seconds * phases)

    def watch_health(self, interval: float = 1.0) -> None:
        """Basic health: an environment whose container stops after a deploy turns Red, as its instance would."""

        def watch() -> None:
            import time

            while not self._closed:
                time.sleep(interval)
                with self.lock:
                    watched = [
                        (env, instance, instance.container.id)
                        for env in self.all_environments()
                        for instance in env.instances
                        if instance.container and env.status == "Ready" and env.health != "Red"
                    ]
                for env, instance, container_id in watched:
                    if self.platform.is_running(container_id):
                        continue
                    with self.lock:
                        if instance.container and instance.container.id == container_id and env.status == "Ready":
                            state = self.state(env.account, env.region)
                            self.variants.health_failing(env)
                            env.health = env.settled_health = "Red"
                            instance.health_override = "Severe" if env.is_fleet else None
                            message = (
                                "Environment health has transitioned from Ok to Severe. The application is not "
                                "running on all instances."
                                if env.enhanced_health
                                else "Environment health has been set to RED"
                            )
                            self.emit(state, message, "WARN", env=env)

        threading.Thread(target=watch, name="health", daemon=True).start()
        self.variants.start()

    def close(self) -> int:
        self._closed = True
        with self.lock:
            for env in self.all_environments():
                env.proxy.close()
        return self.platform.close()
