"""Figure 1: from the stand-in's final event of a deploy to the verdict, for ebship's watcher and three baselines.

Each deploy is started by ``ebship.deploy.Deployer`` in this process (what `inv eb.deploy` runs). The moment its
UpdateEnvironment returns, three baseline pollers start following the same update, each with its own boto3 client,
on the schedule and with the calls of the tool it stands for:

- EB CLI (`eb deploy`, ebcli.operations.commonops.wait_for_success_events): DescribeEvents of the request every 5 s;
  done at "Environment update completed successfully.", failed at an ERROR event.
- beanstalk-deploy (einaregilsson/beanstalk-deploy, waitForDeployment): DescribeEvents and DescribeEnvironments at once,
  then every 10 s (20 s after 5 minutes, 30 s after 10); done when the environment is Ready on the new label, Green.
- aws-elasticbeanstalk-deploy (aws-actions/aws-elasticbeanstalk-deploy, waitForDeploymentCompletion then
  waitForHealthRecovery): DescribeEnvironments, and DescribeEvents while not Ready, every 10 s; at Ready one last
  DescribeEvents and a DescribeEnvironments for health; done when Green.

The stand-in's pace is drawn per deploy from a range, so the deploy's length varies as a real one does and a fixed
interval poller lands at every phase of its interval. Latency = the poller's verdict (wall clock) minus the EventDate
of the update's last event (millisecond precision, same machine). Calls are counted per client, at the HTTP request.
"""

from __future__ import annotations

import io
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.services import APPLICATION, BUCKET, ENVIRONMENT, Stack

SUCCESS = "Environment update completed successfully."
FAILURE = "Failed to deploy application."
TOOL = "ebship (eb.deploy)"
BASELINES = ("EB CLI (5 s)", "beanstalk-deploy (10/20/30 s)", "aws-elasticbeanstalk-deploy (10 s)")


class Counted:
    """A boto3 client that counts the HTTP requests it sends."""

    def __init__(self, stack: Stack, service: str) -> None:
        self.client = stack.client(service)
        self.calls = 0
        self.client.meta.events.register("before-send", self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


@dataclass
class Follow:
    verdict: str = ""
    at: float = 0.0  # wall clock (time.time()) of the verdict
    calls: int = 0


@dataclass
class Start:
    request_id: str = ""
    at: float = 0.0
    calls: int = 0  # the tool's calls up to and including UpdateEnvironment
    ready: threading.Event = field(default_factory=threading.Event)


def _wait(until: float) -> None:
    time.sleep(max(0.0, until - time.time()))


def eb_cli(stack: Stack, start: Start, label: str, deadline: float) -> Follow:
    counted = Counted(stack, "elasticbeanstalk")
    eb, interval = counted.client, 5.0

    def new_events(since: datetime | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"ApplicationName": APPLICATION, "EnvironmentName": ENVIRONMENT, "RequestId": start.request_id}
        if since is not None:
            params["StartTime"] = since
        return [e for e in eb.describe_events(**params)["Events"] if since is None or e["EventDate"] > since]

    def judge(events: list[dict[str, Any]]) -> str:
        for event in events:
            if event["Severity"] in ("ERROR", "FATAL"):
                return "failed"
            if event["Message"] == SUCCESS:
                return "deployed"
        return ""

    events: list[dict[str, Any]] = []
    while not events and time.time() < deadline:  # the first loop: until the update has an event, 5 s apart
        events = new_events(None)
        if not events:
            time.sleep(interval)
    last = events[0]["EventDate"] if events else None  # newest first: it streams only the latest one
    verdict = judge(events[:1])
    while not verdict and time.time() < deadline:
        time.sleep(interval)
        events = new_events(last)
        if events:
            last = events[0]["EventDate"]
        verdict = judge(list(reversed(events)))
    return Follow(verdict or "timeout", time.time(), counted.calls)


def beanstalk_deploy(stack: Stack, start: Start, label: str, deadline: float) -> Follow:
    counted = Counted(stack, "elasticbeanstalk")
    eb = counted.client
    since = datetime.fromtimestamp(start.at, UTC)
    failed = False
    began = time.time()
    while time.time() < deadline:
        elapsed = time.time() - began
        period = 30.0 if elapsed > 600 else 20.0 if elapsed > 300 else 10.0
        events = eb.describe_events(ApplicationName=APPLICATION, EnvironmentName=ENVIRONMENT, StartTime=since)["Events"]
        if any(FAILURE in e["Message"] for e in events):
            failed = True
        if events:
            since = datetime.fromtimestamp(max(e["EventDate"] for e in events).timestamp() + 1, UTC)
        env = eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[ENVIRONMENT])["Environments"][0]
        if env.get("VersionLabel") == label and env["Status"] == "Ready":
            return Follow("deployed" if env.get("Health") == "Green" else "failed", time.time(), counted.calls)
        if failed:
            return Follow("failed", time.time(), counted.calls)
        time.sleep(period)
    return Follow("timeout", time.time(), counted.calls)


def aws_action(stack: Stack, start: Start, label: str, deadline: float) -> Follow:
    counted = Counted(stack, "elasticbeanstalk")
    eb = counted.client
    started = datetime.fromtimestamp(start.at, UTC)

    def errors() -> bool:
        events = eb.describe_events(ApplicationName=APPLICATION, EnvironmentName=ENVIRONMENT, MaxRecords=10)["Events"]
        return any(e["Severity"] in ("ERROR", "FATAL") for e in events if e["EventDate"] > started)

    while time.time() < deadline:
        env = eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[ENVIRONMENT])["Environments"][0]
        if env["Status"] == "Ready":
            errors()  # the final events, printed
            health = eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[ENVIRONMENT])["Environments"][0]
            verdict = "deployed" if health.get("Health") in ("Green", "Yellow") else "failed"
            return Follow(verdict, time.time(), counted.calls)
        if errors():
            return Follow("failed", time.time(), counted.calls)
        time.sleep(10.0)
    return Follow("timeout", time.time(), counted.calls)


POLLERS: dict[str, Callable[[Stack, Start, str, float], Follow]] = dict(
    zip(BASELINES, (eb_cli, beanstalk_deploy, aws_action), strict=True)
)


@dataclass
class Sample:
    deploy: int
    pace: float
    duration: float  # UpdateEnvironment to the final event
    latency: dict[str, float]
    calls: dict[str, int]
    rate: dict[str, float]  # calls per second, from UpdateEnvironment to the verdict
    verdicts: dict[str, str]


def bundles(stack: Stack, label: str) -> dict[str, str] | None:
    """The source bundle of the version `inv ci` registered (the real app image); None: deploy without a bundle."""
    if not label:
        return None
    versions = stack.client("elasticbeanstalk").describe_application_versions(ApplicationName=APPLICATION, VersionLabels=[label])[
        "ApplicationVersions"
    ]
    return dict(versions[0]["SourceBundle"]) if versions else None


def _recording_class() -> type:
    from ebship.beanstalk import Beanstalk

    class Recording(Beanstalk):
        """ebship's facade, noting when UpdateEnvironment returned and how many calls the tool had made by then."""

        def __init__(self, client: Any, start: Start, counters: tuple[Counted, ...]) -> None:
            super().__init__(client)
            self.start, self.counters = start, counters

        def update(
            self,
            application: str,
            environment: str,
            version_label: str = "",
            option_settings: list[dict[str, str]] | None = None,
            options_to_remove: list[dict[str, str]] | None = None,
        ) -> str:
            request_id = super().update(application, environment, version_label, option_settings, options_to_remove)
            self.start.request_id, self.start.at = request_id, time.time()
            self.start.calls = sum(counter.calls for counter in self.counters)
            self.start.ready.set()
            return request_id

    return Recording


def _follow(
    name: str,
    poller: Callable[[Stack, Start, str, float], Follow],
    stack: Stack,
    start: Start,
    label: str,
    deadline: float,
    results: dict[str, Follow],
) -> None:
    start.ready.wait(120)
    results[name] = poller(stack, start, label, deadline)


def run(
    stack: Stack,
    deploys: int,
    pace: tuple[float, float],
    bundle: dict[str, str] | None,
    log: Callable[[str], None],
    seed: int = 7,
) -> list[Sample]:
    from ebship.cloud import Storage
    from ebship.deploy import Deployer
    from ebship.job import Target
    from ebship.lastgood import S3LastGood
    from ebship.output import Console

    Recording = _recording_class()
    rng = random.Random(seed)
    eb_admin = stack.client("elasticbeanstalk")
    samples: list[Sample] = []
    for index in range(deploys):
        label = f"bench-{stack.run_id}-{index:03d}"
        params: dict[str, Any] = {"ApplicationName": APPLICATION, "VersionLabel": label}
        if bundle:
            params["SourceBundle"] = bundle
        eb_admin.create_application_version(**params)
        stack.wait_ready()
        phase = rng.uniform(*pace)
        stack.server.update_settings(phase_seconds=phase)
        start = Start()
        tool_eb, tool_s3 = Counted(stack, "elasticbeanstalk"), Counted(stack, "s3")
        deployer = Deployer(
            Recording(tool_eb.client, start, (tool_eb, tool_s3)),
            Console(io.StringIO(), io.StringIO()),
            timeout=600,
            last_good=S3LastGood(Storage(tool_s3.client), BUCKET, "bench"),
        )
        results: dict[str, Follow] = {}
        deadline = time.time() + 600

        threads = [
            threading.Thread(target=_follow, args=(name, poller, stack, start, label, deadline, results), daemon=True)
            for name, poller in POLLERS.items()
        ]
        for thread in threads:
            thread.start()
        report = deployer.run(Target(name="bench", environment=ENVIRONMENT, application=APPLICATION), label)
        results[TOOL] = Follow(report.outcome.result, time.time(), tool_eb.calls + tool_s3.calls - start.calls)
        for thread in threads:
            thread.join(660)
        events = eb_admin.describe_events(EnvironmentName=ENVIRONMENT, RequestId=start.request_id)["Events"]
        final = max(event["EventDate"] for event in events).timestamp()
        names = (TOOL, *BASELINES)
        sample = Sample(
            index,
            phase,
            final - start.at,
            {name: results[name].at - final for name in names},
            {name: results[name].calls for name in names},
            {name: results[name].calls / max(1e-6, results[name].at - start.at) for name in names},
            {name: results[name].verdict for name in names},
        )
        samples.append(sample)
        log(
            f"deploy {index + 1}/{deploys}: phase {phase:.1f} s, update {sample.duration:.1f} s; latency "
            + ", ".join(f"{name.split(' (')[0]} {sample.latency[name]:.2f} s" for name in names)
        )
    stack.server.update_settings(phase_seconds=stack.pace)
    return samples


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = []
    for name in (TOOL, *BASELINES):
        latencies = [s.latency[name] for s in samples]
        rows.append(
            {
                "poller": name,
                "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95),
                "max": max(latencies),
                "calls": statistics.mean(s.calls[name] for s in samples),
                "rate": statistics.mean(s.rate[name] for s in samples),
                "wrong": sum(1 for s in samples if s.verdicts[name] != "deployed"),
            }
        )
    return rows
