"""Operator helpers: an environment's status, its events, and pruning old application versions."""

from __future__ import annotations

import time
from typing import Any

from ebship.aws import client
from ebship.beanstalk import Beanstalk, Event
from ebship.deploy import url_of
from ebship.errors import UsageError
from ebship.job import Job, Target
from ebship.plan import Plan, Step, execute, print_plan

MAX_EVENTS = 1000  # DescribeEvents' MaxRecords: 1 to 1000 (botocore model)


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


def _eb(job: Job) -> Beanstalk:
    return Beanstalk(client(job.settings, "elasticbeanstalk"))


def status(job: Job, target: Target) -> None:
    state = _eb(job).environment(target.environment, target.application)
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


def events(job: Job, target: Target, count: int, follow: bool, poll: float = 2.0) -> None:
    eb = _eb(job)
    seen: set[tuple[Any, ...]] = set()

    def show(batch: list[Event]) -> None:
        for event in batch:
            if event.key not in seen:
                seen.add(event.key)
                job.console.print(event.line())

    show(eb.recent_events(target.environment, count))
    while follow:
        time.sleep(poll)
        show(eb.recent_events(target.environment, 100))


def plan_prune(application: str, versions: list[dict[str, Any]], in_use: set[str], keep: int) -> Plan:
    """Versions beyond the newest ``keep``, minus those an environment runs; newest first as the API lists them."""
    ordered = sorted(versions, key=lambda v: v["DateCreated"], reverse=True)
    doomed = [v for v in ordered[keep:] if v["VersionLabel"] not in in_use]
    kept_in_use = [v["VersionLabel"] for v in ordered[keep:] if v["VersionLabel"] in in_use]
    notes = tuple(f"keeping {label}: an environment runs it" for label in kept_in_use)

    def bundle(version: dict[str, Any]) -> tuple[str, str]:
        source = version.get("SourceBundle") or {}
        return (source.get("S3Bucket", ""), source.get("S3Key", ""))

    # A bundle shared with a version that stays is left in S3, or the survivor could not be deployed again.
    kept_bundles = {bundle(v) for v in ordered if v not in doomed}
    steps = tuple(
        Step(
            "eb.delete_application_version",
            {
                "ApplicationName": application,
                "VersionLabel": v["VersionLabel"],
                "DeleteSourceBundle": bundle(v) not in kept_bundles,
            },
            f"delete version {v['VersionLabel']}"
            + (" and its bundle" if bundle(v) not in kept_bundles else " (its bundle is shared: kept)"),
        )
        for v in doomed
    )
    return Plan(f"eb.prune {application}: keep the newest {keep}", steps, notes)


def prune(job: Job, keep: int, dry_run: bool) -> None:
    keep = whole_number("--keep", keep, 1)
    job.settings.require("EB_APPLICATION")
    eb = _eb(job)
    application = job.settings.eb_application
    environments = eb.call("describe_environments", ApplicationName=application, IncludeDeleted=False)["Environments"]
    in_use = {env.get("VersionLabel", "") for env in environments if env.get("Status") != "Terminated"}
    plan = plan_prune(application, eb.versions(application), in_use, keep)
    print_plan(plan, job.console, dry_run)
    if not dry_run:
        execute(plan, {"eb.delete_application_version": lambda **params: eb.call("delete_application_version", **params)})
