"""How the stand-in behaves where it has a choice: pace, limits, and the points AWS leaves unconfirmed."""

from __future__ import annotations

import argparse
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

PACES = {"fast": 0.15, "realistic": 8.0}
# A phase longer than this would keep an environment's launch past any wait for it: a mistake, not a pace.
LONGEST_PACE = 300.0
CHOICES = {
    "failed_version_label": ("revert", "keep"),
    "combined_update": ("reject", "allow"),
    "env_limits": ("enforce", "documented", "off"),
    "legacy_dockercfg": ("accept", "reject"),
    "image_digest": ("accept", "reject"),
    "version_status_case": ("upper", "title"),
    "update_closing": ("normal", "late-errors", "late-errors-green", "command-timeouts", "unsettled-yellow"),
    "s3_list_bucket": ("granted", "denied"),
    "draft_position": ("last", "first"),
    "iam_denial": ("access-denied", "access-denied-exception"),
    "partial_closing": ("failed", "success"),
    "health_after_deploy": ("Ok", "Degraded", "Severe"),
    "replace_instance": ("none", "previous", "deployed"),
}


def parse_pace(value: str) -> float:
    if value in PACES:
        return PACES[value]
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"pace must be one of {', '.join(PACES)} or seconds, not {value!r}") from None
    if not math.isfinite(seconds) or not 0 <= seconds <= LONGEST_PACE:
        raise argparse.ArgumentTypeError(f"pace must be seconds between 0 and {LONGEST_PACE:g}, not {value!r}")
    return seconds


@dataclass
class Settings:
    server_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    phase_seconds: float = PACES["fast"]
    version_limit: int = 1000
    # What the environment reports as VersionLabel after a failed deploy (UNCONFIRMED on AWS).
    failed_version_label: str = "revert"
    # A version and option settings in one UpdateEnvironment (the model says no; the official action does it).
    combined_update: str = "reject"
    # Which environment property limits are enforced: the lengths, total and commas (enforce), also the documented
    # character set (documented: UNCONFIRMED, AWS's own examples step outside it), or none (off).
    env_limits: str = "enforce"
    # Whether the pre-AL2 .dockercfg auth format is read (AL2 reads only {"auths": ...}).
    legacy_dockercfg: str = "accept"
    # Whether Image.Name may be a digest reference (name@sha256:...) (UNCONFIRMED).
    image_digest: str = "accept"
    # Case of ApplicationVersion Status on the wire: AWS sends upper case, the model documents title case.
    version_status_case: str = "upper"
    # Whether S3 callers hold s3:ListBucket; without it a missing key answers 403 AccessDenied (S3 GetObject docs).
    s3_list_bucket: str = "granted"
    # Seconds a version created with Process=true stays UNPROCESSED before PROCESSING (UNCONFIRMED; the EB CLI waits).
    unprocessed_seconds: float = 0.0
    # Where a draft configuration comes in DescribeConfigurationSettings, after or before the deployed one (undocumented).
    draft_position: str = "last"
    # How updates end: as documented, or one of the endings a client must not misread (see README, "Update closings").
    update_closing: str = "normal"
    health_timeout: float = 20.0
    health_interval: float = 0.25
    # An identity policy the stand-in enforces (README, "IAM"); None: every call is allowed.
    iam_policy: dict[str, Any] | None = None
    # The access key ID the policy is attached to; None: every signed caller.
    iam_access_key: str | None = None
    # The code of a denied Elastic Beanstalk call: AccessDenied (HTTP 403, as public transcripts show) or
    # AccessDeniedException (HTTP 400, as the API reference's "Common Errors" lists it).
    iam_denial: str = "access-denied"
    iam_principal: str = "arn:aws:iam::123456789012:user/localeb-caller"
    fault_seed: int | None = None
    # Fleets' fault injections (README, "Fleets"): the app dies on the first instance of this batch (0: none); how
    # an update whose instance failed closes; the instances' health after an update whose events said success; an
    # instance of the first batch replaced once that batch is done, running the previous or the deployed version.
    fail_batch: int = 0
    partial_closing: str = "failed"
    health_after_deploy: str = "Ok"
    replace_instance: str = "none"
    # A traffic-splitting deployment's evaluation, whatever EvaluationTime (minutes) says: short for tests.
    evaluation_seconds: float = 2.0
    # Elastic Beanstalk's time (localeb.variants; README, "Time variants"): the variants switched on, the factor on
    # every duration they use, and the account-wide rate limit of `throttle` (calls per second, burst).
    variants: list[str] = field(default_factory=list)
    time_scale: float = 1.0
    throttle_rate: float = 2.0
    throttle_burst: int = 10

    def version_status(self, status: str) -> str:
        return status.upper() if self.version_status_case == "upper" else status


def _policy_file(path: str) -> dict[str, Any] | None:
    from localeb.iam import parse_policy

    try:
        return parse_policy(path)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server-id", help="label value put on every container this server starts")
    parser.add_argument(
        "--pace",
        type=parse_pace,
        default=None,
        help="seconds per deploy phase, or 'fast' (tests) / 'realistic' (benchmarks); default fast, or with "
        "--variants realistic the preset's pace",
    )
    parser.add_argument(
        "--version-limit",
        type=int,
        default=1000,
        help="application versions allowed per region before TooManyApplicationVersionsException",
    )
    parser.add_argument(
        "--failed-version-label",
        choices=CHOICES["failed_version_label"],
        default="revert",
        help="after a failed deploy, report the previous VersionLabel (revert) or the failed one (keep)",
    )
    parser.add_argument(
        "--combined-update",
        choices=CHOICES["combined_update"],
        default="reject",
        help="VersionLabel together with OptionSettings in one UpdateEnvironment",
    )
    parser.add_argument(
        "--env-limits",
        choices=CHOICES["env_limits"],
        default="enforce",
        help="environment property limits: enforce (lengths, total, no comma), documented (also "
        "the documented character set), off",
    )
    parser.add_argument(
        "--legacy-dockercfg",
        choices=CHOICES["legacy_dockercfg"],
        default="accept",
        help='read the legacy .dockercfg auth format besides {"auths": ...}',
    )
    parser.add_argument(
        "--image-digest",
        choices=CHOICES["image_digest"],
        default="accept",
        help="allow Image.Name given by digest (name@sha256:...)",
    )
    parser.add_argument(
        "--version-status-case",
        choices=CHOICES["version_status_case"],
        default="upper",
        help="ApplicationVersion Status as AWS sends it (upper) or as the model spells it (title)",
    )
    parser.add_argument(
        "--s3-list-bucket",
        choices=CHOICES["s3_list_bucket"],
        default="granted",
        help="denied: callers lack s3:ListBucket, so GetObject/HeadObject of a missing key answer 403",
    )
    parser.add_argument(
        "--unprocessed-seconds",
        type=float,
        default=0.0,
        help="seconds a version created with Process=true shows UNPROCESSED before PROCESSING",
    )
    parser.add_argument(
        "--draft-position",
        choices=CHOICES["draft_position"],
        default="last",
        help="a draft configuration after (last) or before (first) the deployed one",
    )
    parser.add_argument(
        "--update-closing",
        choices=CHOICES["update_closing"],
        default="normal",
        help="how updates end: normal, or a closing a client must not misread (README: Update closings)",
    )
    parser.add_argument("--health-timeout", type=float, default=20.0, help="seconds a new container has to pass its health check")
    parser.add_argument(
        "--iam-policy", metavar="FILE", type=_policy_file, help="enforce this IAM identity policy (JSON) on callers (README: IAM)"
    )
    parser.add_argument("--iam-access-key", help="the access key ID the policy is attached to (default: every caller)")
    parser.add_argument(
        "--iam-denial",
        choices=CHOICES["iam_denial"],
        default="access-denied",
        help="a denied EB call answers AccessDenied (403) or AccessDeniedException (400)",
    )
    parser.add_argument("--iam-principal", default=Settings.iam_principal, help="the caller's ARN that denial messages name")
    parser.add_argument("--fault-seed", type=int, help="seed for the random choice of calls that get a fault")
    parser.add_argument("--fail-batch", type=int, default=0, help="fleets: the app dies on an instance of batch N")
    parser.add_argument(
        "--partial-closing",
        choices=CHOICES["partial_closing"],
        default="failed",
        help="fleets: an update with a failed instance closes failed, or as a success (README: Fleets)",
    )
    parser.add_argument(
        "--health-after-deploy",
        choices=CHOICES["health_after_deploy"],
        default="Ok",
        help="fleets: the instances' health after an update whose events said success",
    )
    parser.add_argument(
        "--replace-instance",
        choices=CHOICES["replace_instance"],
        default="none",
        help="fleets: replace an instance of batch 1 mid-deploy, running the previous or deployed version",
    )
    parser.add_argument(
        "--evaluation-seconds", type=float, default=2.0, help="fleets: a traffic-splitting deployment's evaluation time"
    )
    parser.add_argument(
        "--variants",
        type=_variants,
        default=[],
        metavar="NAME[,NAME...]",
        help="Elastic Beanstalk's time (README: Time variants): health-refresh, retiring-instances, health-downgrade, "
        "ready-first, closing-first, event-delay, health-hidden, slow-logs, throttle, or realistic (all)",
    )
    parser.add_argument("--time-scale", type=_positive(float), default=1.0, help="factor on every variant's durations")
    parser.add_argument(
        "--throttle-rate", type=_positive(float), default=2.0, help="throttle: Elastic Beanstalk calls per second"
    )
    parser.add_argument("--throttle-burst", type=_positive(int), default=10, help="throttle: calls allowed at once")


def _variants(text: str) -> list[str]:
    from localeb.variants import parse_variants

    try:
        return parse_variants(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(kind: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError("must be greater than 0")
        return value

    return convert


def pace_for(args: argparse.Namespace) -> float:
    """--pace as given; else the realistic preset's pace when its variants are on (--variants realistic), else fast."""
    from localeb.variants import REALISTIC_PHASE_SECONDS, REALISTIC_VARIANTS

    if args.pace is not None:
        return float(args.pace)
    return REALISTIC_PHASE_SECONDS if set(REALISTIC_VARIANTS) <= set(args.variants) else PACES["fast"]


def from_arguments(args: argparse.Namespace) -> Settings:
    settings = Settings(
        phase_seconds=pace_for(args),
        version_limit=args.version_limit,
        failed_version_label=args.failed_version_label,
        combined_update=args.combined_update,
        env_limits=args.env_limits,
        legacy_dockercfg=args.legacy_dockercfg,
        image_digest=args.image_digest,
        version_status_case=args.version_status_case,
        s3_list_bucket=args.s3_list_bucket,
        unprocessed_seconds=args.unprocessed_seconds,
        draft_position=args.draft_position,
        update_closing=args.update_closing,
        health_timeout=args.health_timeout,
        fault_seed=args.fault_seed,
        iam_policy=args.iam_policy,
        iam_access_key=args.iam_access_key,
        iam_denial=args.iam_denial,
        iam_principal=args.iam_principal,
        fail_batch=args.fail_batch,
        partial_closing=args.partial_closing,
        health_after_deploy=args.health_after_deploy,
        replace_instance=args.replace_instance,
        evaluation_seconds=args.evaluation_seconds,
        variants=args.variants,
        time_scale=args.time_scale,
        throttle_rate=args.throttle_rate,
        throttle_burst=args.throttle_burst,
    )
    if args.server_id:
        settings.server_id = args.server_id
    return settings
