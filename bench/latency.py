"""Figure 1: from the moment the stand-in's state first satisfies a tool's own rule to its verdict, on the stand-in's
`realistic` preset (every time variant but health-hidden: localeb/README.md, "Time variants"), for ebship and the EB
CLI's poller following the same deploys.

Each deploy is started by ``ebship.deploy.Deployer`` in this process (what `inv eb.deploy` runs), to a single-instance
environment with enhanced health, so that ebship's instance-health rule applies. The moment its UpdateEnvironment
returns, the baseline pollers start following the same update, each with its own boto3 client, on the schedule and with
the calls of the tool it stands for:

- EB CLI (`eb deploy`, ebcli.operations.commonops.wait_for_success_events): DescribeEvents of the request every 5 s;
  done at "Environment update completed successfully.", failed at an ERROR event.
- beanstalk-deploy (einaregilsson/beanstalk-deploy, waitForDeployment): DescribeEvents and DescribeEnvironments at once,
  then every 10 s (20 s after 5 minutes, 30 s after 10); done when the environment is Ready on the new label, Green.
- aws-elasticbeanstalk-deploy (aws-actions/aws-elasticbeanstalk-deploy, waitForDeploymentCompletion then
  waitForHealthRecovery): DescribeEnvironments, and DescribeEvents while not Ready, every 10 s; at Ready one last
  DescribeEvents and a DescribeEnvironments for health; done when Green.

Figure 1 runs the EB CLI's poller only (``FIGURE_BASELINES``): under the preset's account-wide throttle every extra
poller takes from the same budget. The pace (seconds per deploy phase) is drawn per deploy from a range around the
preset's own 20 s, so that updates last one to two minutes, as public transcripts show.

Latency (bench/truth.py): ebship's verdict minus the moment the stand-in's state first satisfied ebship's rule (the
closing event visible, Ready, and the first health report after the closing in which the instance runs the label,
Deployed, Ok/Info); the EB CLI's verdict minus the closing's EventDate (its rule is the closing alone). Calls are
counted per client, at the HTTP request (throttled answers and botocore's retries included).
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

from bench.services import APPLICATION, BUCKET, ENVIRONMENT, STACK_NAME, Stack

SUCCESS = "Environment update completed successfully."
FAILURE = "Failed to deploy application."
TOOL = "ebship (eb.deploy)"
BASELINES = ("EB CLI (5 s)", "beanstalk-deploy (10/20/30 s)", "aws-elasticbeanstalk-deploy (10 s)")


class Counted:
    """A boto3 client that counts the HTTP requests it sends."""

    def __init__(self, stack: Stack, service: str, config: Any = None) -> None:
        self.client = stack.client(service, config)
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
    environment: str = ENVIRONMENT
    request_id: str = ""
    at: float = 0.0
    calls: int = 0  # the tool's calls up to and including UpdateEnvironment
    eb_calls: int = 0  # of them, Elastic Beanstalk's
    ready: threading.Event = field(default_factory=threading.Event)


def _wait(until: float) -> None:
    time.sleep(max(0.0, until - time.time()))


EB_CLI_ATTEMPTS = 11  # a throttled call is made again until its 11th attempt fails (ebcli/lib/aws.py, make_api_call)


def eb_cli_call(operation: Callable[..., Any], **params: Any) -> Any:
    """One call as the EB CLI makes it: on top of botocore's own retries, a throttled call is asked again after a random
    pause of up to 2**attempt times 50 ms, until the 11th attempt (ebcli/lib/aws.py: make_api_call, _get_delay)."""
    from botocore.exceptions import ClientError

    for attempt in range(1, EB_CLI_ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(random.randrange(0, 2**attempt) * 0.05)
        try:
            return operation(**params)
        except ClientError as error:
            if not str(error.response.get("Error", {}).get("Code", "")).startswith("Throttling") or attempt == EB_CLI_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def eb_cli(stack: Stack, start: Start, label: str, deadline: float) -> Follow:
    counted = Counted(stack, "elasticbeanstalk")
    eb, interval = counted.client, 5.0

    def new_events(since: datetime | None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "ApplicationName": APPLICATION,
            "EnvironmentName": start.environment,
            "RequestId": start.request_id,
        }
        if since is not None:
            params["StartTime"] = since
        return [e for e in eb_cli_call(eb.describe_events, **params)["Events"] if since is None or e["EventDate"] > since]

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
        events = eb.describe_events(ApplicationName=APPLICATION, EnvironmentName=start.environment, StartTime=since)["Events"]
        if any(FAILURE in e["Message"] for e in events):
            failed = True
        if events:
            since = datetime.fromtimestamp(max(e["EventDate"] for e in events).timestamp() + 1, UTC)
        env = eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[start.environment])["Environments"][0]
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
        events = eb.describe_events(ApplicationName=APPLICATION, EnvironmentName=start.environment, MaxRecords=10)["Events"]
        return any(e["Severity"] in ("ERROR", "FATAL") for e in events if e["EventDate"] > started)

    while time.time() < deadline:
        env = eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[start.environment])["Environments"][0]
        if env["Status"] == "Ready":
            errors()  # the final events, printed
            health = eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[start.environment])["Environments"][
                0
            ]
            verdict = "deployed" if health.get("Health") in ("Green", "Yellow") else "failed"
            return Follow(verdict, time.time(), counted.calls)
        if errors():
            return Follow("failed", time.time(), counted.calls)
        time.sleep(10.0)
    return Follow("timeout", time.time(), counted.calls)


POLLERS: dict[str, Callable[[Stack, Start, str, float], Follow]] = dict(
    zip(BASELINES, (eb_cli, beanstalk_deploy, aws_action), strict=True)
)


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
            self.start.eb_calls = self.counters[0].calls  # UpdateEnvironment included
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
    try:
        results[name] = poller(stack, start, label, deadline)
    except Exception as error:  # a poller that gives up (throttled past botocore's retries) gives no verdict
        results[name] = Follow(f"error: {type(error).__name__}: {error}"[:200], time.time(), 0)


FIGURE_BASELINES = (BASELINES[0],)
TRUTH_ENVIRONMENT = "bench-truth"
ENHANCED = {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}
DEFAULT_PACE = (15.0, 30.0)  # seconds per phase, around the realistic preset's 20 s: updates of one to two minutes


@dataclass
class Sample:
    deploy: int
    pace: float
    duration: float  # UpdateEnvironment to the closing's EventDate
    latency: dict[str, float]  # ebship: from its rule's moment; the baselines: from the closing's EventDate
    calls: dict[str, int]
    rate: dict[str, float]  # calls per second, from UpdateEnvironment to the verdict
    verdicts: dict[str, str]
    settling: float  # the closing's EventDate to the first settled health report
    visible: float  # the closing's EventDate to DescribeEvents showing it
    ready: float  # the closing's EventDate to Ready
    events: list[tuple[float, str]]  # the update's events: seconds before the closing's EventDate, message
    throttled: int  # answers the stand-in throttled during the deploy (every caller)
    succeeded: bool  # the update closed with success and its instance reported it deployed and green


def admin_client(stack: Stack) -> Any:
    """The bench's own client: patient with throttling (the preset's bucket is shared with the tools measured)."""
    from botocore.config import Config

    return stack.client("elasticbeanstalk", Config(retries={"mode": "standard", "max_attempts": 20}))


def tool_config() -> Any:
    """The botocore configuration ebship's own clients have (ebship.aws): its retries."""
    from botocore.config import Config

    from ebship.aws import RETRIES

    return Config(retries=RETRIES)


def wait_quietly(stack: Stack, environment: str, timeout: float = 900) -> dict[str, Any]:
    """Waits until the stand-in says the environment is Ready, from its status endpoint (no Elastic Beanstalk call, so
    nothing taken from the throttle's bucket)."""
    deadline = time.monotonic() + timeout
    while True:
        entry = next(e for e in stack.server.status()["environments"] if e["name"] == environment)
        if entry["status"] == "Ready":
            return dict(entry)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{environment} was not Ready within {timeout:.0f} s")
        time.sleep(0.5)


def create_enhanced(stack: Stack, environment: str, label: str) -> None:
    """A single-instance environment with enhanced health, launched at a quick pace before the variants are on."""
    eb = admin_client(stack)
    settings = stack.server.settings()
    stack.server.update_settings(phase_seconds=0.05)
    eb.create_environment(
        ApplicationName=APPLICATION, EnvironmentName=environment, SolutionStackName=STACK_NAME, OptionSettings=[ENHANCED]
    )
    wait_quietly(stack, environment)
    if label:
        eb.update_environment(EnvironmentName=environment, VersionLabel=label)
        time.sleep(0.5)
        wait_quietly(stack, environment)
    stack.server.update_settings(phase_seconds=settings["phase_seconds"])


def run(
    stack: Stack,
    deploys: int,
    pace: tuple[float, float],
    bundle: dict[str, str] | None,
    log: Callable[[str], None],
    time_scale: float = 1.0,
    seed: int = 7,
) -> list[Sample]:
    from bench.truth import truth
    from ebship.cloud import Storage
    from ebship.deploy import Deployer
    from ebship.job import Target
    from ebship.lastgood import S3LastGood
    from ebship.output import Console

    Recording = _recording_class()
    rng = random.Random(seed)
    eb_admin = admin_client(stack)
    before = stack.server.settings()
    create_enhanced(stack, TRUTH_ENVIRONMENT, "")
    stack.server.update_settings(variants="realistic", time_scale=time_scale)
    samples: list[Sample] = []
    try:
        for index in range(deploys):
            label = f"bench-{stack.run_id}-{index:03d}"
            params: dict[str, Any] = {"ApplicationName": APPLICATION, "VersionLabel": label}
            if bundle:
                params["SourceBundle"] = bundle
            eb_admin.create_application_version(**params)
            wait_quietly(stack, TRUTH_ENVIRONMENT)
            phase = rng.uniform(*pace)
            stack.server.update_settings(phase_seconds=phase)
            throttled_before = sum(stack.server.throttled().values())
            start = Start(environment=TRUTH_ENVIRONMENT)
            tool_eb, tool_s3 = Counted(stack, "elasticbeanstalk", tool_config()), Counted(stack, "s3", tool_config())
            deployer = Deployer(
                Recording(tool_eb.client, start, (tool_eb, tool_s3)),
                Console(io.StringIO(), io.StringIO()),
                timeout=900,
                last_good=S3LastGood(Storage(tool_s3.client), BUCKET, "bench"),
            )
            results: dict[str, Follow] = {}
            deadline = time.time() + 900
            threads = [
                threading.Thread(target=_follow, args=(name, POLLERS[name], stack, start, label, deadline, results), daemon=True)
                for name in FIGURE_BASELINES
            ]
            for thread in threads:
                thread.start()
            report = deployer.run(Target(name="bench", environment=TRUTH_ENVIRONMENT, application=APPLICATION), label)
            results[TOOL] = Follow(report.outcome.result, time.time(), tool_eb.calls - start.eb_calls)
            for thread in threads:
                thread.join(960)
            throttled = sum(stack.server.throttled().values()) - throttled_before
            found = truth(stack.server, TRUTH_ENVIRONMENT, start.request_id, label)
            if found is None:
                raise RuntimeError(f"the stand-in recorded no closing for {start.request_id}")
            closed, settled = found.closed.timestamp(), found.settled
            events = eb_admin.describe_events(EnvironmentName=TRUTH_ENVIRONMENT, RequestId=start.request_id)["Events"]
            names = (TOOL, *FIGURE_BASELINES)
            origin = {name: closed for name in names}
            origin[TOOL] = settled.timestamp() if settled is not None else closed
            sample = Sample(
                index,
                phase,
                closed - start.at,
                {name: results[name].at - origin[name] for name in names},
                {name: results[name].calls for name in names},
                {name: results[name].calls / max(1e-6, results[name].at - start.at) for name in names},
                {name: results[name].verdict for name in names},
                found.settling if found.settling is not None else float("nan"),
                (found.visible - found.closed).total_seconds(),
                (found.ready - found.closed).total_seconds(),
                sorted(((closed - e["EventDate"].timestamp(), e["Message"]) for e in events), reverse=True),
                throttled,
                found.succeeded and settled is not None,
            )
            samples.append(sample)
            log(
                f"deploy {index + 1}/{deploys}: phase {phase:.1f} s, update {sample.duration:.1f} s, settling "
                f"{sample.settling:.1f} s; latency "
                + ", ".join(f"{name.split(' (')[0]} {sample.latency[name]:.2f} s ({sample.calls[name]} calls)" for name in names)
                + f"; {throttled} throttled"
            )
    finally:
        stack.server.update_settings(
            variants=before["variants"], time_scale=before["time_scale"], phase_seconds=before["phase_seconds"]
        )
    return samples


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summary(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = []
    for name in samples[0].latency:
        answered = [s for s in samples if not s.verdicts[name].startswith("error")]
        latencies = [s.latency[name] for s in answered] or [float("nan")]
        rows.append(
            {
                "poller": name,
                "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95),
                "max": max(latencies),
                "calls": statistics.mean(s.calls[name] for s in samples),
                "rate": statistics.mean(s.rate[name] for s in samples),
                "wrong": sum(1 for s in samples if (s.verdicts[name] == "deployed") != s.succeeded),
                "gave_up": len(samples) - len(answered),  # stopped with an error (still throttled after every retry)
            }
        )
    return rows
