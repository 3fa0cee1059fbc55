"""Operator helpers: an environment's status, its events, and pruning old application versions."""

from __future__ import annotations

from datetime import UTC, datetime

from ebship.actions import Actions
from ebship.beanstalk import Event, Version
from ebship.cloud import Cloud
from ebship.errors import UsageError
from ebship.job import Job, Target
from ebship.plan import Plan, Step, executor
from ebship.verdict import url_of

MAX_EVENTS = 1000  # DescribeEvents' MaxRecords: 1 to 1000 (botocore model)
MIN_DATE = datetime.min.replace(tzinfo=UTC)


def whole_number(flag: str, text: object, low: int, high: int | None = None) -> int:
    """A task flag's whole number, or a ``UsageError`` naming the flag and the range it takes."""
    allowed = f"from {low} to {high}" if high is not None else f"{low} or more"
    try:
        number = int(str(text).strip())
    except ValueError:
        raise UsageError(f"{flag} takes a whole number {allowed}, not {str(text)!r}.") from None
    if number < low or (high is not None and number > high):
        raise UsageError(f"{flag} takes a whole number {allowed}, not {number}.")
    return number


def status(job: Job, target: Target, cloud: Cloud | None = None) -> None:
    state = (cloud or Cloud(job.settings)).eb.environment(target.environment, target.application)
    if state is None:
        raise UsageError(f"No environment named {target.environment!r} in application {target.application!r}.")
    rows = [
        ("environment", f"{state.name} ({target.name})"),
        ("status", state.status),
        ("health", state.health),
        ("version", state.version_label or "(none)"),
        ("url", url_of(state) or "(none)"),
        ("platform", state.platform or "(unknown)"),
    ]
    for key, value in rows:
        job.console.print(f"{key:<12} {value}")


def events(job: Job, target: Target, count: int, follow: bool, poll: float = 2.0, cloud: Cloud | None = None) -> None:
    """Prints the recent events; with ``follow``, goes on printing new ones every ``poll`` seconds until interrupted."""
    cloud = cloud or Cloud(job.settings)
    seen: set[tuple[object, ...]] = set()
    newest: list[datetime] = []  # the time of the newest event printed: older ones are history, not news

    def show(batch: list[Event]) -> None:
        for event in batch:
            if event.key not in seen and (not newest or event.time >= newest[0]):
                seen.add(event.key)
                newest[:] = [event.time]
                job.console.print(event.line())

    show(cloud.eb.recent_events(target.environment, count))
    while follow:
        cloud.clock.sleep(poll)
        show(cloud.eb.recent_events(target.environment, 100))


def plan_prune(application: str, versions: list[Version], in_use: set[str], keep: int) -> Plan:
    """Versions beyond the newest ``keep``, minus those an environment runs; newest first as the API lists them."""
    ordered = sorted(versions, key=lambda v: v.created or MIN_DATE, reverse=True)
    doomed = [v for v in ordered[keep:] if v.label not in in_use]
    notes = tuple(f"keeping {v.label}: an environment runs it" for v in ordered[keep:] if v.label in in_use)
    # A bundle shared with a version that stays is left in S3, or the survivor could not be deployed again.
    kept_bundles = {(v.bucket, v.key) for v in ordered if v not in doomed}
    steps = tuple(
        Step(
            "eb.delete_application_version",
            {
                "ApplicationName": application,
                "VersionLabel": v.label,
                "DeleteSourceBundle": (v.bucket, v.key) not in kept_bundles,
            },
            f"delete version {v.label}"
            + (" and its bundle" if (v.bucket, v.key) not in kept_bundles else " (its bundle is shared: kept)"),
        )
        for v in doomed
    )
    return Plan(f"eb.prune {application}: keep the newest {keep}", steps, notes)


def prune(job: Job, keep: int, dry_run: bool, cloud: Cloud | None = None) -> None:
    keep = whole_number("--keep", keep, 1)
    job.settings.require("EB_APPLICATION")
    actions = Actions(job, cloud)
    application = job.settings.eb_application
    in_use = {state.version_label for state in actions.cloud.eb.environments(application)}
    plan = plan_prune(application, actions.cloud.eb.versions(application), in_use, keep)
    executor(actions, job.console, dry_run).run(plan)
