"""Figure 7: API calls per second of ebship's deploy to a 1-instance and to a 4-instance rolling environment.

Two load-balanced environments of the stand-in (localeb/README.md, "Fleets"), one with 1 instance and one with 4
(`aws:autoscaling:asg` MinSize), both `DeploymentPolicy` Rolling with `BatchSizeType` Fixed and `BatchSize` 1 and enhanced
health, so the 4-instance deploy runs four batches and emits four times the batch events, and ebship's final check
reads every instance's deployed version (DescribeInstancesHealth, two instances per page). Each round registers one
version and deploys it to both environments, one after the other (the order alternates between rounds), at a pace drawn
per round and shared by both. ``ebship.deploy.Deployer`` runs in this process with its own counted clients; the rate is
its HTTP requests from UpdateEnvironment to the verdict, divided by that time (as in figure 1).
"""

from __future__ import annotations

import io
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.latency import Counted, Start, _recording_class
from bench.services import APPLICATION, BUCKET, STACK_NAME, Stack

SIZES = (1, 4)
BATCH_SIZE = 1
POLICY = {
    ("aws:elasticbeanstalk:environment", "EnvironmentType"): "LoadBalanced",
    ("aws:elasticbeanstalk:command", "DeploymentPolicy"): "Rolling",
    ("aws:elasticbeanstalk:command", "BatchSizeType"): "Fixed",
    ("aws:elasticbeanstalk:command", "BatchSize"): str(BATCH_SIZE),
    ("aws:elasticbeanstalk:healthreporting:system", "SystemType"): "enhanced",
}


def environment_name(size: int) -> str:
    return f"bench-fleet-{size}"


@dataclass
class FleetSample:
    deploy: int
    instances: int
    pace: float
    update: float  # UpdateEnvironment to the update's last event
    seconds: float  # UpdateEnvironment to the verdict
    calls: int  # the tool's HTTP requests from UpdateEnvironment to the verdict
    calls_before: int  # its requests before (preflight, wait for Ready, UpdateEnvironment itself)
    operations: dict[str, int]  # every call of the deploy, by operation
    verdict: str

    @property
    def rate(self) -> float:
        return self.calls / max(1e-6, self.seconds)


def create_environments(stack: Stack, sizes: tuple[int, ...]) -> None:
    eb = stack.client("elasticbeanstalk")
    stack.server.update_settings(phase_seconds=0.05)  # a quick launch; the deploys get the measured pace
    for size in sizes:
        settings = {**POLICY, ("aws:autoscaling:asg", "MinSize"): str(size)}
        eb.create_environment(
            ApplicationName=APPLICATION,
            EnvironmentName=environment_name(size),
            SolutionStackName=STACK_NAME,
            OptionSettings=[{"Namespace": ns, "OptionName": name, "Value": value} for (ns, name), value in settings.items()],
        )
    for size in sizes:
        stack.wait_ready(environment=environment_name(size))
    stack.server.update_settings(phase_seconds=stack.pace)


def _operations(counted: Counted, service: str, found: Counter[str]) -> None:
    def note(model: Any, **_: Any) -> None:
        found[model.name if service == "elasticbeanstalk" else f"s3:{model.name}"] += 1

    counted.client.meta.events.register("before-call", note)


def deploy_once(stack: Stack, size: int, label: str, index: int, pace: float) -> FleetSample:
    from ebship.cloud import Storage
    from ebship.deploy import Deployer
    from ebship.job import Target
    from ebship.lastgood import S3LastGood
    from ebship.output import Console

    name = environment_name(size)
    stack.wait_ready(environment=name)
    start = Start()
    tool_eb, tool_s3 = Counted(stack, "elasticbeanstalk"), Counted(stack, "s3")
    operations: Counter[str] = Counter()
    _operations(tool_eb, "elasticbeanstalk", operations)
    _operations(tool_s3, "s3", operations)
    deployer = Deployer(
        _recording_class()(tool_eb.client, start, (tool_eb, tool_s3)),
        Console(io.StringIO(), io.StringIO()),
        timeout=600,
        last_good=S3LastGood(Storage(tool_s3.client), BUCKET, "bench-fleet"),
    )
    report = deployer.run(Target(name="bench", environment=name, application=APPLICATION), label)
    verdict_at = time.time()
    events = stack.client("elasticbeanstalk").describe_events(EnvironmentName=name, RequestId=start.request_id)["Events"]
    final = max(event["EventDate"] for event in events).timestamp() if events else verdict_at
    return FleetSample(
        deploy=index,
        instances=size,
        pace=pace,
        update=final - start.at,
        seconds=verdict_at - start.at,
        calls=tool_eb.calls + tool_s3.calls - start.calls,
        calls_before=start.calls,
        operations=dict(operations),
        verdict=report.outcome.result,
    )


def run(
    stack: Stack,
    deploys: int,
    pace: tuple[float, float],
    bundle: dict[str, str] | None,
    log: Callable[[str], None],
    sizes: tuple[int, ...] = SIZES,
    seed: int = 11,
) -> list[FleetSample]:
    create_environments(stack, sizes)
    rng = random.Random(seed)
    eb_admin = stack.client("elasticbeanstalk")
    samples: list[FleetSample] = []
    for index in range(deploys):
        label = f"fleet-{stack.run_id}-{index:03d}"
        params: dict[str, Any] = {"ApplicationName": APPLICATION, "VersionLabel": label}
        if bundle:
            params["SourceBundle"] = bundle
        eb_admin.create_application_version(**params)
        phase = rng.uniform(*pace)
        stack.server.update_settings(phase_seconds=phase)
        for size in sizes if index % 2 == 0 else tuple(reversed(sizes)):
            sample = deploy_once(stack, size, label, index, phase)
            samples.append(sample)
            log(
                f"fleet deploy {index + 1}/{deploys}, {size} instance(s): phase {phase:.1f} s, {sample.verdict} after "
                f"{sample.seconds:.1f} s, {sample.calls} calls, {sample.rate:.2f}/s"
            )
    stack.server.update_settings(phase_seconds=stack.pace)
    return samples


def summary(samples: list[FleetSample]) -> list[dict[str, Any]]:
    rows = []
    for size in sorted({s.instances for s in samples}):
        mine = [s for s in samples if s.instances == size]
        operations: Counter[str] = Counter()
        for sample in mine:
            operations.update(sample.operations)
        rows.append(
            {
                "instances": size,
                "deploys": len(mine),
                "seconds": statistics.mean(s.seconds for s in mine),
                "update": statistics.mean(s.update for s in mine),
                "calls": statistics.mean(s.calls for s in mine),
                "calls_before": statistics.mean(s.calls_before for s in mine),
                "rate": statistics.mean(s.rate for s in mine),
                "max_rate": max(s.rate for s in mine),
                "operations": {op: n / len(mine) for op, n in operations.most_common()},
                "wrong": sum(1 for s in mine if s.verdict != "deployed"),
            }
        )
    return rows
