"""A WSGI middleware in front of moto: counts every call per operation, injects faults, and serves `/_localeb/`.

Operations are named by their EB Action (`UpdateEnvironment`), by `s3:<Operation>` for S3 (`s3:PutObject`),
and `<service>:<Action>` for any other service. A fault rule matches an operation by that name, by
`s3:<HTTP method>` for S3 (`s3:PUT`), or by `*`.

Control endpoints (JSON):
  GET /_localeb/calls            counts per operation        DELETE /_localeb/calls   resets them
  GET /_localeb/faults           rules and injection counts  PUT|POST /_localeb/faults  replaces the rules
                                                             DELETE /_localeb/faults  removes them
  GET /_localeb/settings         the server's behaviour      POST /_localeb/settings  changes some of it
  GET /_localeb/status           server id, environments and their containers
  GET /_localeb/denied           calls the IAM policy denied DELETE /_localeb/denied  forgets them
  GET /_localeb/throttled        EB calls `throttle` refused DELETE /_localeb/throttled  forgets them
  GET /_localeb/hold             the armed hold, and the work waiting at it
                                 PUT|POST /_localeb/hold {"phase", "seconds"} arms one  DELETE /_localeb/hold  releases it
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as xml_escape

from localeb.access import NEEDS_NO_PERMISSION, SERVICE_KEY, FindEnvironment, caller_key, eb_request, s3_request
from localeb.hold import DEFAULT_SECONDS, Holds
from localeb.iam import Decision, Request, decide, denial_message, parse_policy
from localeb.settings import CHOICES, Settings
from localeb.variants import (
    HEALTH_HIDDEN,
    HEALTH_OPERATIONS,
    THROTTLE,
    TokenBucket,
    empty_health_answer,
    parse_variants,
    positive,
)

KINDS = ("throttle", "error", "slow")
MUTABLE_SETTINGS: dict[str, Callable[[Any], Any]] = {
    "phase_seconds": float,
    "version_limit": int,
    "failed_version_label": str,
    "combined_update": str,
    "env_limits": str,
    "legacy_dockercfg": str,
    "image_digest": str,
    "version_status_case": str,
    "health_timeout": float,
    "update_closing": str,
    "s3_list_bucket": str,
    "unprocessed_seconds": float,
    "draft_position": str,
    "iam_policy": parse_policy,
    "iam_access_key": lambda value: None if value in (None, "") else str(value),
    "iam_denial": str,
    "iam_principal": str,
    "fail_batch": int,
    "partial_closing": str,
    "health_after_deploy": str,
    "replace_instance": str,
    "evaluation_seconds": float,
    "variants": parse_variants,
    "time_scale": positive(float),
    "throttle_rate": positive(float),
    "throttle_burst": positive(int),
}
DEFAULT_ACCOUNT = "123456789012"  # moto's account for any access key

StartResponse = Callable[..., Any]

# Unsigned, so no credential scope names their service: "Calling AssumeRoleWithWebIdentity does not require the use of
# AWS security credentials" (STS API reference, AssumeRoleWithWebIdentity; the same for AssumeRoleWithSAML).
UNSIGNED_ACTIONS = {"AssumeRoleWithWebIdentity": "sts", "AssumeRoleWithSAML": "sts"}


@dataclass
class FaultRule:
    operation: str
    kind: str
    rate: float = 1.0
    count: int | None = None
    status: int = 500
    seconds: float = 1.0
    injected: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if not data.get("operation"):
            raise ValueError("a fault rule needs an operation (an EB Action, s3:<Operation>, s3:<METHOD> or *)")
        rate = float(data.get("rate", 1.0))
        if not 0 <= rate <= 1:
            raise ValueError("rate is a share of calls, between 0 and 1")
        status = int(data.get("status", 500))
        if kind == "error" and not 500 <= status <= 599:
            raise ValueError("an error fault answers with a 5xx status")
        count = data.get("count")
        return cls(
            str(data["operation"]), kind, rate, None if count is None else int(count), status, float(data.get("seconds", 1.0))
        )

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """KIND,OPERATION[,RATE[,ARG]]: ARG is the status for `error`, the seconds for `slow`, e.g.
        `throttle,DescribeEvents,0.5` or `slow,s3:GetObject,1,2.5` or `error,UpdateEnvironment,1,503`."""
        parts = [part.strip() for part in text.split(",")]
        if len(parts) < 2:
            raise ValueError(f"expected KIND,OPERATION[,RATE[,ARG]], got {text!r}")
        data: dict[str, Any] = {"kind": parts[0], "operation": parts[1]}
        if len(parts) > 2 and parts[2]:
            data["rate"] = parts[2]
        if len(parts) > 3 and parts[3]:
            data["status" if parts[0] == "error" else "seconds"] = parts[3]
        return cls.from_dict(data)

    def public(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _s3_operation(method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> str:
    parts = [p for p in path.split("/") if p]
    has_key = len(parts) > 1
    if not parts:
        return "ListBuckets"
    if method == "GET":
        if has_key:
            return "ListParts" if "uploadId" in query else "GetObject"
        if "list-type" in query:
            return "ListObjectsV2"
        for sub, name in (
            ("location", "GetBucketLocation"),
            ("encryption", "GetBucketEncryption"),
            ("versioning", "GetBucketVersioning"),
            ("policy", "GetBucketPolicy"),
            ("tagging", "GetBucketTagging"),
            ("versions", "ListObjectVersions"),
            ("uploads", "ListMultipartUploads"),
        ):
            if sub in query:
                return name
        return "ListObjects"
    if method == "PUT":
        if has_key:
            if "partNumber" in query:
                return "UploadPart"
            if "tagging" in query:
                return "PutObjectTagging"
            return "CopyObject" if "HTTP_X_AMZ_COPY_SOURCE" in headers else "PutObject"
        for sub, name in (
            ("encryption", "PutBucketEncryption"),
            ("versioning", "PutBucketVersioning"),
            ("policy", "PutBucketPolicy"),
            ("tagging", "PutBucketTagging"),
            ("lifecycle", "PutBucketLifecycleConfiguration"),
        ):
            if sub in query:
                return name
        return "CreateBucket"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "DELETE":
        if has_key:
            return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
        return "DeleteBucket"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        return "PostObject"
    return method


def _credential_scope(environ: dict[str, Any], query: dict[str, list[str]]) -> list[str] | None:
    """The SigV4 credential scope: access key, date, region, service, "aws4_request"."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    credential = ""
    if "Credential=" in auth:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential" in query:
        credential = query["X-Amz-Credential"][0]
    scope = credential.split("/")
    return scope if len(scope) >= 5 else None


def _service(environ: dict[str, Any], query: dict[str, list[str]]) -> str | None:
    scope = _credential_scope(environ, query)
    return scope[3].lower() if scope else None


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class Control:
    def __init__(
        self, app: Any, settings: Settings, status: Callable[[], dict[str, Any]], faults: Iterable[FaultRule] = ()
    ) -> None:
        self.app = app
        self.settings = settings
        self.status = status
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.denied: list[str] = []  # "<action> on <resource>" of each call the IAM policy denied
        self.rules: list[FaultRule] = list(faults)
        self.random = random.Random(settings.fault_seed)
        self.holds = Holds()  # the backend's, once build_app joins them
        # (EnvironmentId, EnvironmentName) -> (application, name): how IAM requests find an environment's application.
        self.find_environment: FindEnvironment = lambda env_id, name: None
        self.buckets: dict[str, TokenBucket] = {}  # the `throttle` variant's rate limit, per region
        self.throttled: Counter[str] = Counter()

    def operation(self, environ: dict[str, Any]) -> tuple[str, str | None]:
        """The operation's name, and for S3 its HTTP method (faults can match on it)."""
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        service = _service(environ, query)
        method = environ.get("REQUEST_METHOD", "GET")
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return f"{service or 'unknown'}:{target.rsplit('.', 1)[-1]}", None
        action = query.get("Action", [None])[0]
        if action is None and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(_read_body(environ).decode("utf-8", errors="replace"))
            action = form.get("Action", [None])[0]
        if service is None and action in UNSIGNED_ACTIONS:
            service = UNSIGNED_ACTIONS[action]
        if service in (None, "s3") and action is None:
            return "s3:" + _s3_operation(method, environ.get("PATH_INFO", "/"), query, environ), method
        if service == "elasticbeanstalk":
            return str(action), None
        return f"{service or 'unknown'}:{action}", None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_localeb/"):
            return self._control(environ, start_response)
        if path.startswith("/moto-api") or path == "/favicon.ico":
            return cast(Iterable[bytes], self.app(environ, start_response))
        name, method = self.operation(environ)
        with self.lock:
            self.calls[name] += 1
        if self.settings.variants and method is None and ":" not in name:
            answer = self._variant_answer(environ, name, start_response)
            if answer is not None:
                return answer
        if self.settings.iam_policy is not None:
            denied = self._denied(environ, name, method)
            if denied is not None and name in HEALTH_OPERATIONS:
                # API reference, DescribeInstancesHealth and DescribeEnvironmentHealth: they "only return information
                # about environments that the calling principal has IAM permissions to access ... an empty result is
                # returned", not an error.
                return empty_health_answer(name, start_response)
            if denied is not None:
                return self._access_denied(denied, method, start_response)
        with self.lock:
            keys = {name, "*"} | ({f"s3:{method}", "s3:*"} if method else set())
            fired = [rule for rule in self.rules if rule.operation in keys and self._fires(rule)]
        for rule in fired:
            if rule.kind == "slow":
                time.sleep(rule.seconds)
        for rule in fired:
            if rule.kind != "slow":
                return self._fault(rule, name, method, start_response)
        return cast(Iterable[bytes], self.app(environ, start_response))

    def _variant_answer(self, environ: dict[str, Any], name: str, start_response: StartResponse) -> Iterable[bytes] | None:
        """An Elastic Beanstalk call the time variants answer themselves: throttled, or health the caller may not see."""
        variants = self.settings.variants
        if THROTTLE in variants:
            region = (_credential_scope(environ, parse_qs(environ.get("QUERY_STRING", ""))) or ["", "", ""])[2]
            with self.lock:
                allowed = self.buckets.setdefault(region, TokenBucket()).take(
                    self.settings.throttle_rate, self.settings.throttle_burst
                )
                if not allowed:
                    self.throttled[name] += 1
            if not allowed:
                return self._fault(FaultRule(name, "throttle"), name, None, start_response)
        if HEALTH_HIDDEN in variants and name in HEALTH_OPERATIONS and not self._may_see_health(environ, name):
            return empty_health_answer(name, start_response)
        return None

    def _may_see_health(self, environ: dict[str, Any], name: str) -> bool:
        """health-hidden: without a policy no caller sees health; with one, the callers it allows the action for with
        no condition key (developer guide's action table: "N/A" for these two, no elasticbeanstalk:InApplication)."""
        policy, attached_to = self.settings.iam_policy, self.settings.iam_access_key
        if policy is None:
            return False
        key, request = self.iam_request(environ, name, None)
        if request is None or (attached_to is not None and key != attached_to):
            return True
        return decide(policy, dataclasses.replace(request, context={})).allowed

    def iam_request(self, environ: dict[str, Any], name: str, method: str | None) -> tuple[str | None, Request | None]:
        """The caller's access key and what IAM is asked for the call (None: nothing, an unsigned or a free call)."""
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        key = caller_key(environ.get("HTTP_AUTHORIZATION", ""), query)
        if key is None or key == SERVICE_KEY or name in NEEDS_NO_PERMISSION:
            return key, None
        if method is not None:
            return key, s3_request(name.removeprefix("s3:"), environ.get("PATH_INFO", "/"))
        if ":" in name:
            return key, Request(name)
        params = dict(query)
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qs(_read_body(environ).decode("utf-8", errors="replace"), keep_blank_values=True))
        region = (_credential_scope(environ, query) or ["", "", "us-east-1"])[2]
        return key, eb_request(name, params, region, DEFAULT_ACCOUNT, self.find_environment)

    def _denied(self, environ: dict[str, Any], name: str, method: str | None) -> tuple[Request, Decision] | None:
        policy, attached_to = self.settings.iam_policy, self.settings.iam_access_key
        key, request = self.iam_request(environ, name, method)
        if policy is None or request is None or (attached_to is not None and key != attached_to):
            return None
        decision = decide(policy, request)
        if decision.allowed:
            return None
        with self.lock:
            self.denied.append(f"{request.action} on {decision.resource}")
        return request, decision

    def denies(self, environ: dict[str, Any], action: str, resource: str) -> bool:
        """Whether the policy denies the caller of this request `action` on `resource` (for S3's answers that
        depend on a permission the call itself does not use, such as s3:ListBucket)."""
        policy, attached_to = self.settings.iam_policy, self.settings.iam_access_key
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        key = caller_key(environ.get("HTTP_AUTHORIZATION", ""), query)
        if policy is None or key in (None, SERVICE_KEY) or (attached_to is not None and key != attached_to):
            return False
        return not decide(policy, Request(action, (resource,))).allowed

    def _access_denied(self, denied: tuple[Request, Decision], method: str | None, start_response: StartResponse) -> list[bytes]:
        request, decision = denied
        request_id = str(uuid.uuid4())
        if method is not None:
            # S3 (S3 API reference, "Error responses"): 403 AccessDenied, "Access Denied"; a HEAD answer has no body.
            body = (
                ""
                if method == "HEAD"
                else (
                    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied'
                    f"</Message><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
                )
            )
            status = "403 Forbidden"
        else:
            message = denial_message(self.settings.iam_principal, request, decision)
            code, status = (
                ("AccessDeniedException", "400 Bad Request")
                if self.settings.iam_denial == "access-denied-exception"
                else ("AccessDenied", "403 Forbidden")
            )
            body = (
                '<ErrorResponse xmlns="http://elasticbeanstalk.amazonaws.com/docs/2010-12-01/">'
                f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{xml_escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        data = body.encode()
        start_response(
            status,
            [
                ("Content-Type", "text/xml"),
                ("Content-Length", str(len(data))),
                ("x-amzn-RequestId", request_id),
                ("x-amz-request-id", request_id),
            ],
        )
        return [data]

    def _fires(self, rule: FaultRule) -> bool:
        if rule.count is not None and rule.injected >= rule.count:
            return False
        if rule.rate < 1 and self.random.random() >= rule.rate:
            return False
        rule.injected += 1
        return True

    def _fault(self, rule: FaultRule, name: str, method: str | None, start_response: StartResponse) -> list[bytes]:
        request_id = str(uuid.uuid4())
        if method is not None:
            if rule.kind == "throttle":
                status, code, message = 503, "SlowDown", "Please reduce your request rate."
            elif rule.status == 503:
                status, code, message = 503, "ServiceUnavailable", "Service is unable to handle request."
            else:
                status, code, message = rule.status, "InternalError", "We encountered an internal error. Please try again."
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
            )
        else:
            if rule.kind == "throttle":
                status, kind, code, message = 400, "Sender", "Throttling", "Rate exceeded"
            elif rule.status == 503:
                status, kind, code, message = 503, "Receiver", "ServiceUnavailable", "Service is unavailable."
            else:
                status, kind, code, message = rule.status, "Receiver", "InternalFailure", "An internal error occurred."
            body = (
                '<ErrorResponse xmlns="http://elasticbeanstalk.amazonaws.com/docs/2010-12-01/">'
                f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        data = body.encode()
        start_response(
            f"{status} {'Bad Request' if status == 400 else 'Service Error'}",
            [
                ("Content-Type", "text/xml"),
                ("Content-Length", str(len(data))),
                ("x-amzn-RequestId", request_id),
                ("x-amz-request-id", request_id),
            ],
        )
        return [data]

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").rstrip("/")
        try:
            body = _read_body(environ)
            payload = json.loads(body) if body.strip() else None
            result = self._handle(method, path, payload)
            status = "200 OK"
        except LookupError as error:
            result, status = {"error": str(error)}, "404 Not Found"
        except (ValueError, TypeError) as error:
            result, status = {"error": str(error)}, "400 Bad Request"
        data = json.dumps(result, default=str, sort_keys=True).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def _handle(self, method: str, path: str, payload: Any) -> Any:
        with self.lock:
            if path == "/_localeb/calls":
                if method == "DELETE":
                    self.calls.clear()
                elif method != "GET":
                    raise ValueError("use GET or DELETE")
                return dict(self.calls)
            if path == "/_localeb/throttled":
                if method == "DELETE":
                    self.throttled.clear()
                elif method != "GET":
                    raise ValueError("use GET or DELETE")
                return dict(self.throttled)
            if path == "/_localeb/denied":
                if method == "DELETE":
                    self.denied.clear()
                elif method != "GET":
                    raise ValueError("use GET or DELETE")
                return list(self.denied)
            if path == "/_localeb/faults":
                if method in ("PUT", "POST"):
                    rules = payload.get("rules", []) if isinstance(payload, dict) else payload or []
                    self.rules = [FaultRule.from_dict(rule) for rule in rules]
                elif method == "DELETE":
                    self.rules = []
                return {"rules": [rule.public() for rule in self.rules]}
            if path == "/_localeb/settings":
                if method == "POST":
                    self._update_settings(payload or {})
                return dataclasses.asdict(self.settings)
        if path == "/_localeb/status":
            return self.status()
        if path == "/_localeb/hold":
            return self._hold(method, payload)
        raise LookupError(f"no such control endpoint: {method} {path}")

    def _hold(self, method: str, payload: Any) -> dict[str, Any]:
        if method in ("PUT", "POST"):
            if not isinstance(payload, dict) or not isinstance(payload.get("phase"), str):
                raise ValueError('arm a hold with {"phase": NAME, "seconds": DEADLINE}')
            return self.holds.arm(payload["phase"], float(payload.get("seconds", DEFAULT_SECONDS)))
        if method == "DELETE":
            return self.holds.release()
        if method != "GET":
            raise ValueError("use GET, PUT or DELETE")
        return self.holds.describe()

    def _update_settings(self, changes: dict[str, Any]) -> None:
        probe = dataclasses.replace(self.settings)
        for name, value in changes.items():
            if name not in MUTABLE_SETTINGS:
                raise ValueError(f"setting {name!r} cannot be changed; these can: {', '.join(sorted(MUTABLE_SETTINGS))}")
            converted = MUTABLE_SETTINGS[name](value)
            if name in CHOICES and converted not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])}, not {converted!r}")
            if isinstance(converted, (int, float)) and not isinstance(converted, bool) and converted < 0:
                raise ValueError(f"{name} cannot be negative")
            setattr(probe, name, converted)
        for name in changes:
            setattr(self.settings, name, getattr(probe, name))
