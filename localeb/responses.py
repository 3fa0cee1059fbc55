"""moto's EB responses, extended with the operations moto lacks and served from `localeb.backend`."""

from __future__ import annotations

import re
import uuid
from typing import Any
from xml.sax.saxutils import escape

from moto.core.responses import ActionResult, EmptyResult
from moto.elasticbeanstalk.responses import EBResponse

from localeb import platforms
from localeb.backend import LocalEB, RegionState

_backend: LocalEB | None = None
# Only the response's own RequestId: events carry RequestIds of their own.
_METADATA_ID = re.compile(r"(<ResponseMetadata>\s*<RequestId>|</Error>\s*<RequestId>)[^<]*(</RequestId>)")


def install(backend: LocalEB) -> None:
    """Routes moto's EB URL to `LocalEBResponse`; call before the first EB request."""
    global _backend
    from moto.elasticbeanstalk import urls

    _backend = backend
    urls.url_paths = {"{0}/$": LocalEBResponse.dispatch}


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in raw or []}


class WithTiers(ActionResult):
    """DescribeConfigurationSettings with each entry's Tier, which botocore's model leaves out of
    ConfigurationSettingsDescription but AWS sends: the EB CLI's own copy of the service model
    (ebcli/lib/botocoredata/elasticbeanstalk/2010-12-01/service-2.json) has the member, and `eb health` reads it."""

    def __init__(self, result: dict[str, Any], tiers: list[dict[str, str]]) -> None:
        super().__init__(result)
        self.tiers = tiers

    def execute_result(self, context: Any) -> Any:
        status, headers, body = super().execute_result(context)
        tiers = iter(self.tiers)

        def with_tier(match: re.Match[str]) -> str:
            tier = next(tiers, None)
            if tier is None:
                return match.group(0)
            fields = "".join(f"<{key}>{escape(str(tier[key]))}</{key}>" for key in ("Name", "Type", "Version") if key in tier)
            return f"{match.group(0)}<Tier>{fields}</Tier>"

        text = body.decode() if isinstance(body, bytes) else str(body)
        text = re.sub(r"<member>\s*(?=<SolutionStackName>)", with_tier, text)  # not the options' members
        return status, headers, text


class LocalEBResponse(EBResponse):
    request_id: str = ""

    @property
    def eb(self) -> LocalEB:
        assert _backend is not None, "localeb.responses.install() was not called"
        return _backend

    @property
    def state(self) -> RegionState:
        return self.eb.state(self.current_account, self.region)

    def call_action(self) -> Any:
        self.request_id = str(uuid.uuid4())
        return super().call_action()

    def _enrich_response(self, headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:  # type: ignore[override]
        if "status" in headers:
            headers["status"] = str(headers["status"])
        headers["x-amzn-requestid"] = self.request_id
        if isinstance(body, str):
            body = _METADATA_ID.sub(lambda m: m.group(1) + self.request_id + m.group(2), body)
        return headers, body

    def p(self, name: str, default: Any = None) -> Any:
        return self._get_param(name, default)

    # -- applications ---------------------------------------------------------------------------------

    def create_application(self) -> ActionResult:
        app = self.eb.create_application(
            self.state,
            self.p("ApplicationName"),
            self.p("Description"),
            self.p("ResourceLifecycleConfig"),
            _tags(self.p("Tags")),
        )
        return ActionResult({"Application": app})

    def describe_applications(self) -> ActionResult:
        return ActionResult({"Applications": self.eb.describe_applications(self.state, self.p("ApplicationNames"))})

    def update_application_resource_lifecycle(self) -> ActionResult:
        return ActionResult(
            self.eb.update_lifecycle(self.state, self.p("ApplicationName"), self.p("ResourceLifecycleConfig") or {})
        )

    def delete_application(self) -> ActionResult:
        self.eb.delete_application(self.state, self.p("ApplicationName"), bool(self.p("TerminateEnvByForce")))
        return EmptyResult()

    # -- application versions ---------------------------------------------------------------------------

    def create_application_version(self) -> ActionResult:
        version = self.eb.create_application_version(
            self.state,
            self.p("ApplicationName"),
            self.p("VersionLabel"),
            self.p("Description"),
            self.p("SourceBundle"),
            bool(self.p("AutoCreateApplication")),
            bool(self.p("Process")),
        )
        return ActionResult({"ApplicationVersion": version})

    def describe_application_versions(self) -> ActionResult:
        versions, token = self.eb.describe_application_versions(
            self.state,
            self.p("ApplicationName"),
            self.p("VersionLabels"),
            self.p("MaxRecords"),
            self.p("NextToken"),
        )
        return ActionResult({"ApplicationVersions": versions, "NextToken": token})

    def delete_application_version(self) -> ActionResult:
        self.eb.delete_application_version(
            self.state,
            self.p("ApplicationName"),
            self.p("VersionLabel"),
            bool(self.p("DeleteSourceBundle")),
        )
        return EmptyResult()

    # -- environments ---------------------------------------------------------------------------------------

    def create_environment(self) -> ActionResult:
        env = self.eb.create_environment(
            self.state,
            self.p("ApplicationName"),
            self.p("EnvironmentName"),
            self.p("VersionLabel"),
            self.p("SolutionStackName"),
            self.p("PlatformArn"),
            self.p("Tier"),
            self.p("Description"),
            self.p("OptionSettings"),
            _tags(self.p("Tags")),
            self.request_id,
        )
        return ActionResult(env)

    def describe_environments(self) -> ActionResult:
        envs, token = self.eb.describe_environments(
            self.state,
            self.p("ApplicationName"),
            self.p("VersionLabel"),
            self.p("EnvironmentIds"),
            self.p("EnvironmentNames"),
            self.p("IncludeDeleted"),
            self.p("IncludedDeletedBackTo"),
            self.p("MaxRecords"),
            self.p("NextToken"),
        )
        return ActionResult({"Environments": envs, "NextToken": token})

    def update_environment(self) -> ActionResult:
        env = self.eb.update_environment(
            self.state,
            self.p("ApplicationName"),
            self.p("EnvironmentId"),
            self.p("EnvironmentName"),
            self.p("VersionLabel"),
            self.p("Description"),
            self.p("OptionSettings"),
            self.p("OptionsToRemove"),
            self.request_id,
        )
        return ActionResult(env)

    def terminate_environment(self) -> ActionResult:
        return ActionResult(
            self.eb.terminate_environment(
                self.state,
                self.p("EnvironmentId"),
                self.p("EnvironmentName"),
                self.request_id,
            )
        )

    def swap_environment_cnames(self) -> ActionResult:
        self.eb.swap_cnames(
            self.state,
            self.p("SourceEnvironmentId"),
            self.p("SourceEnvironmentName"),
            self.p("DestinationEnvironmentId"),
            self.p("DestinationEnvironmentName"),
            self.request_id,
        )
        return EmptyResult()

    def describe_configuration_settings(self) -> ActionResult:
        settings = self.eb.describe_configuration_settings(
            self.state,
            self.p("ApplicationName"),
            self.p("TemplateName"),
            self.p("EnvironmentName"),
        )
        tiers = [self.eb.find_environment(self.state, None, entry["EnvironmentName"]).tier for entry in settings]
        return WithTiers({"ConfigurationSettings": settings}, tiers)

    def describe_environment_health(self) -> ActionResult:
        return ActionResult(
            self.eb.describe_environment_health(
                self.state,
                self.p("EnvironmentId"),
                self.p("EnvironmentName"),
                self.p("AttributeNames"),
            )
        )

    def describe_instances_health(self) -> ActionResult:
        return ActionResult(
            self.eb.describe_instances_health(
                self.state,
                self.p("EnvironmentId"),
                self.p("EnvironmentName"),
                self.p("AttributeNames"),
                self.p("NextToken"),
            )
        )

    def describe_environment_resources(self) -> ActionResult:
        return ActionResult(
            {
                "EnvironmentResources": self.eb.describe_environment_resources(
                    self.state,
                    self.p("EnvironmentId"),
                    self.p("EnvironmentName"),
                )
            }
        )

    def request_environment_info(self) -> ActionResult:
        self.eb.request_environment_info(
            self.state, self.p("EnvironmentId"), self.p("EnvironmentName"), self.p("InfoType"), self.request_id
        )
        return EmptyResult()

    def retrieve_environment_info(self) -> ActionResult:
        endpoint = f"http://{self.headers.get('Host', '127.0.0.1')}"
        return ActionResult(
            {
                "EnvironmentInfo": self.eb.retrieve_environment_info(
                    self.state, self.p("EnvironmentId"), self.p("EnvironmentName"), self.p("InfoType"), endpoint
                )
            }
        )

    # -- platforms ------------------------------------------------------------------------------------------

    def describe_platform_version(self) -> ActionResult:
        return ActionResult({"PlatformDescription": platforms.describe_platform_version(self.region, self.p("PlatformArn"))})

    def list_platform_versions(self) -> ActionResult:
        return ActionResult({"PlatformSummaryList": platforms.list_platform_versions(self.region, self.p("Filters"))})

    def list_platform_branches(self) -> ActionResult:
        return ActionResult({"PlatformBranchSummaryList": platforms.list_platform_branches(self.region, self.p("Filters"))})

    def describe_events(self) -> ActionResult:
        params = {
            name: self.p(name)
            for name in (
                "ApplicationName",
                "VersionLabel",
                "EnvironmentId",
                "EnvironmentName",
                "RequestId",
                "Severity",
                "StartTime",
                "EndTime",
                "MaxRecords",
                "NextToken",
            )
        }
        events, token = self.eb.describe_events(self.state, params)
        return ActionResult({"Events": events, "NextToken": token})

    # -- tags -----------------------------------------------------------------------------------------------

    def list_tags_for_resource(self) -> ActionResult:
        resource = self.p("ResourceArn")
        tags = self.eb.list_tags(self.state, resource)
        return ActionResult({"ResourceArn": resource, "ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})

    def update_tags_for_resource(self) -> ActionResult:
        self.eb.update_tags(self.state, self.p("ResourceArn"), _tags(self.p("TagsToAdd")), self.p("TagsToRemove") or [])
        return EmptyResult()

    swap_environment_cnam_es = swap_environment_cnames  # moto's name for SwapEnvironmentCNAMEs
