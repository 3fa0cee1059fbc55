"""eb.promote: deploy to one environment (prod) the very version another (stg) runs healthy, with no rebuild.

Both environments must be in one application: Elastic Beanstalk's application versions belong to an application
(CreateApplicationVersion and UpdateEnvironment take its ApplicationName), and registering the bundle again in another
would make a new version, not the one that was tested.

The image: a version's bundle (Dockerrun.aws.json) names image:tag, and Elastic Beanstalk pulls that tag when it
deploys, so a tag pushed again after stg's deploy would give prod other bits under the same label. eb.version records
in the version's description the digest the registry held for the tag when the version was registered
("... (image sha256:...)"); promotion asks the registry for the tag's digest again and refuses unless it is the
recorded one. A version registered without a recorded digest cannot be promoted: register the image under a new label.

Everything here is read-only until the deploy, which is eb.deploy's own (plan, dry run, --rollback, verdict).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

from ebship.actions import Actions
from ebship.cloud import Cloud
from ebship.deploy import run_deploy
from ebship.errors import UsageError
from ebship.job import Destination, Job, Target, accepted_health
from ebship.plan import Plan
from ebship.verdict import Report, judge
from ebship.versions import recorded_digest
from ebship.watch import STATUS_COLOURS


def bundle_image(bundle: bytes | None) -> str:
    """The image a Dockerrun.aws.json (version 1) names, or "" when it names none."""
    try:
        document = json.loads(bundle or b"")
    except ValueError:
        return ""
    image = document.get("Image") if isinstance(document, dict) else None
    return str(image.get("Name", "")) if isinstance(image, dict) else ""


@dataclass(frozen=True)
class Promotion:
    source: Target
    target: Target
    label: str
    image: str
    digest: str


def check_pair(source: Target, target: Target) -> None:
    if source.environment == target.environment:
        raise UsageError(f"--from {source.name} and --to {target.name} are the same environment ({source.environment}).")
    if source.application != target.application:
        raise UsageError(
            f"{source.name} is in application {source.application} and {target.name} in {target.application}: "
            "a version belongs to one application, so only environments of the same application can promote to each "
            "other. Deploy to one application, or build and register for the other."
        )


def check_instances(cloud: Cloud, source: Target, running: str, healthy: tuple[str, ...]) -> None:
    """Under enhanced health, every instance of the source must run ``running``, deployed and green: after a partly
    failed rolling deploy the environment's VersionLabel and colour can say one thing while some instances run another
    version (developer guide, rolling deployments: "the completed batches run the new version of your application while
    any pending batches continue to run the old version"). Basic health has no per-instance report: nothing to check."""
    report = cloud.eb.instances_health(source.environment)
    if report is None:
        return
    where = f"{source.name} ({source.environment})"
    if not report.instances:
        raise UsageError(
            f"Cannot tell what {where}'s instances run: DescribeInstancesHealth listed none (a caller whose IAM policy "
            "does not let it see the environment's health gets an empty list: see docs/iam.md). Nothing was changed."
        )
    others = [
        f"{i.instance_id} ({i.version_label or 'no version'}, {i.status or 'no deployment'}, {i.health or 'no health'})"
        for i in report.instances
        if i.version_label != running or i.status != "Deployed" or STATUS_COLOURS.get(i.health, "Grey") not in healthy
    ]
    if others:
        raise UsageError(
            f"{where} says it runs {running}, but not every instance does, deployed and green: {', '.join(others)}. "
            "Only a version every instance runs healthy is promoted. Nothing was changed."
        )


def prepare(job: Job, source: Target, target: Target, label: str, cloud: Cloud, actions: Actions) -> Promotion:
    """Every check of a promotion, all read-only: the source runs the label, Ready and healthy, and the registry still
    holds, for the image the label's bundle names, the digest recorded when the label was registered."""
    check_pair(source, target)
    state = cloud.eb.environment(source.environment, source.application)
    if state is None:
        raise UsageError(f"No environment named {source.environment!r} in application {source.application!r} (--from).")
    running = state.version_label
    if label and running != label:
        raise UsageError(f"{source.name} ({source.environment}) runs {running or 'no version'}, not {label}: nothing to promote.")
    if not running:
        raise UsageError(f"{source.name} ({source.environment}) runs no version: nothing to promote.")
    healthy = accepted_health(source, job.settings.accepted_health)
    if state.status != "Ready" or state.health not in healthy:
        raise UsageError(
            f"{source.name} ({source.environment}) is {state.status} with health {state.health or 'unknown'}, "
            f"not Ready with health {'/'.join(healthy)}: only a version running healthy is promoted."
        )
    check_instances(cloud, source, running, healthy)
    version = cloud.eb.version(source.application, running)
    if version is None:
        raise UsageError(f"{source.name} runs {running}, but {source.application} has no such version any more.")
    image = bundle_image(cloud.s3.read(version.bucket, version.key).body)
    if not image:
        raise UsageError(f"The bundle of {running} (s3://{version.bucket}/{version.key}) names no image, or cannot be read.")
    recorded = recorded_digest(version.description)
    if not recorded:
        raise UsageError(
            f"Version {running} records no image digest (it was registered without one), so what {target.name} would "
            f"pull cannot be shown to be what {source.name} runs. Register the image again under a new label "
            "(inv eb.version --label NEW), deploy it to the source, then promote."
        )
    now = actions.pushed_digest(image)
    if now != recorded:
        raise UsageError(
            f"{image} is {now or 'gone from the registry'} now, but {running} was registered with {recorded}: the tag "
            f"was pushed again, and {target.name} would pull other bits than {source.name} runs. Nothing was changed."
        )
    job.console.print(
        f"{source.name} ({source.environment}) runs {running}, {state.status} and {state.health}; "
        f"its image {image} is still {recorded}."
    )
    return Promotion(source, target, running, image, recorded)


def promote(
    job: Job,
    source: Destination,
    destination: Destination,
    label: str,
    rollback: bool,
    dry_run: bool,
    confirm: Callable[[Plan], None] | None = None,
    cloud: Cloud | None = None,
) -> Report:
    """eb.promote as the task runs it: the checks, then eb.deploy's plan for the target (raises unless healthy)."""
    job.settings.require("EB_APPLICATION")
    cloud = cloud or Cloud(job.settings)
    promotion = prepare(job, source.target, destination.target, label, cloud, Actions(job, cloud))
    target = replace(destination.target, health=accepted_health(destination.target, job.settings.accepted_health))
    report = run_deploy(job, target, promotion.label, rollback, dry_run, cloud=cloud, confirm=confirm)
    judge(report, job.console)
    if not dry_run and not report.no_op:
        job.console.print(f"Promoted {promotion.label} ({promotion.digest}) from {source.target.name} to {target.name}.")
    return report
