"""One facade over the boto3 clients: region, endpoint and retry mode in one place.

Credentials go through boto3's normal chain (environment, profile, role, session token). ``AWS_ENDPOINT_URL`` (read by
boto3 itself) points every client at the local stand-in. Credentials AWS cannot use, and endpoints it cannot be reached
at, become one line saying what to fix (``known_failure``), whichever call meets them first.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ebship.errors import EXIT_FAILED, EXIT_USAGE, PipelineError, UsageError
from ebship.settings import Settings

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")

# Throttling ("Rate exceeded") and 5xx answers are retried with backoff by botocore's standard mode.
RETRIES = {"mode": "standard", "max_attempts": 8}


LOOPBACK = ("http://127.", "http://localhost", "http://[::1]")


_models: Any = None  # botocore's loader, shared by every session of the process


def _botocore_session() -> Any:
    """A fresh botocore session (its own credential and region resolution) that shares one loader with the others, so
    each service's model is read and parsed once per process: about 0.1 to 0.25 s saved per client after the first."""
    import botocore.session

    global _models
    fresh = botocore.session.get_session()
    if _models is None:
        _models = fresh.get_component("data_loader")
    else:
        fresh.register_component("data_loader", _models)
    return fresh


def _stand_in_web_identity(settings: Settings) -> boto3.session.Session | None:
    """CircleCI's OIDC path rehearsed on the stand-in: a session whose credentials come from a web-identity role that
    the stand-in's own STS issued. Any other credentials of the chain could be real ones, which it must never see."""
    import boto3

    sts = os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL", "")
    if not (os.environ.get("AWS_ROLE_ARN") and os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")):
        return None  # also spares the chain's walk to the instance metadata endpoint
    if sts != settings.aws_endpoint_url:
        return None
    chain = boto3.session.Session(region_name=settings.aws_region or "us-east-1", botocore_session=_botocore_session())
    credentials = chain.get_credentials()  # the web-identity provider defers its STS call until first use
    return chain if credentials is not None and credentials.method == "assume-role-with-web-identity" else None


def translated(make: Callable[..., T]) -> Callable[..., T]:
    """Botocore's own failures while a session or client is made (a profile that does not exist, SSO expired, ...)
    become the one line ``known_failure`` gives, as a call's would."""

    @functools.wraps(make)
    def making(*args: Any, **kwargs: Any) -> T:
        from botocore.exceptions import BotoCoreError

        try:
            return make(*args, **kwargs)
        except BotoCoreError as error:
            known = known_failure(error)
            if known is None:
                raise
            raise known from None

    return making


@translated
def session(settings: Settings) -> boto3.session.Session:
    import boto3

    if settings.aws_endpoint_url.startswith(LOOPBACK):
        issued = _stand_in_web_identity(settings)
        if issued is not None:
            return issued
        # The local stand-in: no real credentials are needed, and real ones must never be sent to it.
        return boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",
            region_name=settings.aws_region or "us-east-1",
            botocore_session=_botocore_session(),
        )
    current = boto3.session.Session(region_name=settings.aws_region or None, botocore_session=_botocore_session())
    if not current.region_name:
        raise UsageError(
            "No AWS region: set AWS_REGION in .env or the environment (or AWS_DEFAULT_REGION, or a profile's region)."
        )
    return current


@translated
def client(settings: Settings, service: str, region: str = "") -> Any:
    """A client of ``service`` in the settings' region, or in ``region`` (an ECR registry's may differ)."""
    from botocore.config import Config

    made = session(settings).client(
        service,
        region_name=region or None,
        endpoint_url=settings.aws_endpoint_url or None,
        config=Config(retries=RETRIES, connect_timeout=10, read_timeout=60),
    )
    made.meta.events.register("after-call", _after_call)
    return made


# Operations that change nothing; anything else that succeeded counts as a change (see ``changes``).
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "Head", "Check", "Validate")

changes: list[str] = []  # the changing operations this process made, in order


def _after_call(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """Sees every answer (after botocore's retries): records changes, and turns credentials AWS refused into the one
    clear failure here, before any caller wraps the error in its own message."""
    from botocore.exceptions import ClientError

    if http_response.status_code < 300:
        if not model.name.startswith(READ_ONLY_PREFIXES):
            changes.append(model.name)
        return
    refused = credentials_failure(ClientError(parsed, model.name))
    if refused is not None:
        raise refused


class CredentialsError(PipelineError):
    """AWS credentials missing or refused: exit 2 while nothing was changed, 1 once something was."""

    def __init__(self, message: str) -> None:
        self.exit_code = EXIT_USAGE if not changes else EXIT_FAILED
        if changes:
            message += f" (this run had already made {', '.join(dict.fromkeys(changes))})"
        super().__init__(message)


NO_CREDENTIALS = (
    "No AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "ones), or AWS_PROFILE naming a profile of ~/.aws/credentials (`aws configure`), or a role to assume "
    "(AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE)."
)
# Error codes of AWS's answers to credentials it cannot use. Sources: the common errors of AWS's Query and JSON APIs
# (ExpiredTokenException, InvalidClientTokenId, RequestExpired, SignatureDoesNotMatch, UnrecognizedClientException;
# https://docs.aws.amazon.com/elasticbeanstalk/latest/api/CommonErrors.html) and S3's error codes (ExpiredToken,
# InvalidAccessKeyId, InvalidToken, RequestTimeTooSkewed; https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
EXPIRED_CODES = ("ExpiredToken", "ExpiredTokenException")
UNKNOWN_KEY_CODES = ("InvalidClientTokenId", "UnrecognizedClientException", "InvalidAccessKeyId", "InvalidToken")
SIGNATURE_CODES = ("SignatureDoesNotMatch", "IncompleteSignature")
CLOCK_CODES = ("RequestExpired", "RequestTimeTooSkewed")
# STS's answers to AssumeRoleWithWebIdentity, which boto3's chain calls for AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE
# (STS API reference, AssumeRoleWithWebIdentity, Errors).
WEB_IDENTITY_CODES = ("InvalidIdentityToken", "IDPRejectedClaim", "IDPCommunicationError")


def credentials_failure(error: BaseException) -> CredentialsError | None:
    """What is wrong with the AWS credentials and how to fix it, in one line; None when the error is about something
    else. Never shows a credential: only names of variables, profiles and providers."""
    from botocore import exceptions as boto

    if isinstance(error, boto.NoCredentialsError):
        return CredentialsError(NO_CREDENTIALS)
    if isinstance(error, boto.ProfileNotFound):
        profile = error.kwargs.get("profile", "")
        return CredentialsError(
            f"The AWS profile {profile!r} (AWS_PROFILE) is in neither ~/.aws/config nor ~/.aws/credentials: create it "
            f"(`aws configure --profile {profile}`), or set AWS_PROFILE to a profile that exists, or unset it."
        )
    if isinstance(error, boto.PartialCredentialsError):
        provider, missing = error.kwargs.get("provider", ""), error.kwargs.get("cred_var", "")
        where = "the environment" if provider == "env" else f"the {provider}"
        return CredentialsError(
            f"Incomplete AWS credentials in {where}: {missing} is missing. Set it too, or remove the others to use "
            "a profile or a role."
        )
    if isinstance(error, boto.UnauthorizedSSOTokenError | boto.SSOTokenLoadError | boto.TokenRetrievalError):
        return CredentialsError(
            "The AWS SSO session has expired or was never started: run `aws sso login` (with the same AWS_PROFILE), "
            "then run this again."
        )
    if isinstance(error, boto.CredentialRetrievalError):
        provider = error.kwargs.get("provider", "the configured source")
        reason = (str(error.kwargs.get("error_msg", "")).strip().splitlines() or ["no reason given"])[0]
        return CredentialsError(
            f"AWS credentials could not be obtained from {provider}: {reason}. Check the profile or role settings in "
            "use (AWS_PROFILE, AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE)."
        )
    code = error_code(error) if isinstance(error, Exception) else ""
    if code in EXPIRED_CODES:
        return CredentialsError(
            f"The AWS credentials have expired ({code}): get fresh ones (a new session token, `aws sso login`, "
            "or assume the role again), then run this again."
        )
    if code in UNKNOWN_KEY_CODES:
        return CredentialsError(
            f"AWS does not recognise the access key or session token in use ({code}): check AWS_ACCESS_KEY_ID and "
            "AWS_SESSION_TOKEN, or the profile in use (AWS_PROFILE); the key may have been deleted or deactivated."
        )
    if code in SIGNATURE_CODES:
        return CredentialsError(
            f"AWS rejected the request's signature ({code}): the secret access key does not belong to the access key "
            "ID. Check AWS_SECRET_ACCESS_KEY, or the profile in use (AWS_PROFILE)."
        )
    if code in WEB_IDENTITY_CODES:
        return CredentialsError(
            f"STS refused the web identity token for AWS_ROLE_ARN ({code}): check the role's trust policy (the OIDC "
            "provider, audience and subject it accepts) and that AWS_WEB_IDENTITY_TOKEN_FILE holds a current token."
        )
    if code in CLOCK_CODES:
        return CredentialsError(
            f"AWS refused the request as expired ({code}): this machine's clock is off, or the temporary credentials "
            "ran out. Set the clock right (NTP) and use fresh credentials."
        )
    return None


def known_failure(error: BaseException) -> PipelineError | None:
    """An error of AWS access that the user can act on, as a one-line PipelineError; None for anything else (a bug)."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    if isinstance(error, PipelineError):
        return error
    refused = credentials_failure(error)
    if refused is not None:
        return refused
    # botocore's connection failures and timeouts (after its retries), which are not ClientErrors
    if isinstance(error, ConnectionError | HTTPClientError):
        return PipelineError(f"AWS could not be reached: {error}. Check AWS_ENDPOINT_URL, AWS_REGION and the network.")
    return None


def bucket_region(location_constraint: str | None) -> str:
    """The region of a bucket from GetBucketLocation's LocationConstraint. S3 answers null for us-east-1 and the legacy
    "EU" for eu-west-1 (botocore's S3 model, GetBucketLocationOutput; API_GetBucketLocation in the S3 API reference)."""
    if not location_constraint:
        return "us-east-1"
    return "eu-west-1" if location_constraint == "EU" else location_constraint


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def describe_error(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    detail = response.get("Error", {})
    if detail:
        return f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}".rstrip(": ")
    return str(error)


# Still failing after botocore's own retries: a poller backs off and asks again rather than failing the deploy.
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
SERVICE_NAMES = {"elasticbeanstalk": "Elastic Beanstalk", "s3": "S3", "sts": "STS", "ecr": "ECR"}


class CloudError(PipelineError):
    """An AWS call refused, in the project's terms: the operation, AWS's error code and message, and a hint when one
    helps. Every call of the facade (``call``) raises this and nothing else for an error AWS answered."""

    def __init__(self, service: str, operation: str, error: Exception) -> None:
        self.service = service
        self.operation = operation
        self.code = error_code(error)
        self.message = str((getattr(error, "response", None) or {}).get("Error", {}).get("Message", ""))
        hint = HINTS.get(self.code, "")
        who = SERVICE_NAMES.get(service, service)
        super().__init__(f"{who} refused {operation}: {describe_error(error)}" + (f"\n  {hint}" if hint else ""))

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT


def call(service: str, client: Any, operation: str, **params: Any) -> Any:
    """Makes one call; AWS's refusals become ``CloudError``, and credentials or connections AWS cannot use become the one
    line ``known_failure`` gives. This is the one place the project catches botocore's errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(client, operation)(**params)
    except ClientError as error:
        refused = credentials_failure(error)
        if refused is not None:
            raise refused from None
        raise CloudError(service, operation, error) from None
    except BotoCoreError as error:
        known = known_failure(error)
        if known is None:
            raise
        raise known from None


@functools.cache
def partitions() -> tuple[tuple[str, str], ...]:
    """Each AWS partition and the pattern of its region names, from botocore's endpoints data (aws, aws-cn, aws-us-gov,
    aws-eusc, ...): a region botocore knows the shape of, not a list written here that ages."""
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")  # no session: a profile that is missing is not this check's to judge
    return tuple((str(p["partition"]), str(p.get("regionRegex", ""))) for p in data.get("partitions", []))


def partition_of(region: str) -> str:
    """The partition of a region name ("aws", "aws-cn", "aws-us-gov", ...), or "" when none of botocore's matches it."""
    return next((name for name, pattern in partitions() if pattern and re.match(pattern, region)), "")
