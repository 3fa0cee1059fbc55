"""Figure 8: ten deploys at once under Elastic Beanstalk's account-wide throttling, with the new watcher and the previous.

One stand-in on the `realistic` preset (localeb/README.md, "Time variants"), its `throttle` variant's token bucket set to
a rate at which ten EB CLI-style pollers (DescribeEvents every 5 s each: 2 calls/s) are throttled, which a first phase
shows (``calibrate``). Then ten single-instance environments with enhanced health (no bundle: no container, so the
Docker engine has nothing to do) each get a deploy, all started at once by ``ebship.deploy.Deployer`` in threads of this
process: first with today's watcher and facade, then with the previous watcher (ebship/watch.py at ``PREVIOUS``, read
from git history at run time) behind a facade without the throttling retry (``patience=0``), as that version had.

Each deploy's verdict is checked against the stand-in's own record (bench/truth.py): deployed is right when the update
closed with success and its instance reported the label deployed and green; any other verdict is right when it did not.
A deploy fails because of throttling when its verdict is not deployed and the cause (or the exception) is throttling.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.latency import Counted, admin_client, create_enhanced, eb_cli_call, tool_config, wait_quietly
from bench.services import APPLICATION, ROOT, Stack
from ebship.beanstalk import Beanstalk
from ebship.deploy import Deployer

PREVIOUS = "90399e2"  # the last commit before the watcher that waits for the truth (dbcb1c3)
WATCHERS = ("new", "previous")
THROTTLING = ("Throttling", "Rate exceeded", "ThrottlingException", "TooManyRequests")
EB_CLI_INTERVAL = 5.0


@dataclass(frozen=True)
class Plan:
    deploys: int = 10
    rate: float = 1.5
    burst: int = 10
    pace: float = 20.0
    time_scale: float = 1.0
    calibrate: float = 60.0


@dataclass
class Deploy:
    environment: str
    label: str
    verdict: str = ""
    cause: str = ""
    calls: int = 0  # HTTP requests of its Elastic Beanstalk client, throttled answers and botocore's retries included
    seconds: float = 0.0  # from the start to the verdict
    truly_deployed: bool = False
    latency: float | None = None  # the verdict minus the moment the stand-in's state satisfied ebship's rule

    @property
    def right(self) -> bool:
        return (self.verdict == "deployed") == self.truly_deployed

    @property
    def throttled_out(self) -> bool:
        return self.verdict != "deployed" and any(word in self.cause for word in THROTTLING)


@dataclass
class Round:
    watcher: str
    deploys: list[Deploy] = field(default_factory=list)
    throttled: int = 0  # answers the stand-in throttled during the round (every caller)
    calls: int = 0  # Elastic Beanstalk calls the stand-in answered or throttled during the round
    seconds: float = 0.0


@dataclass
class Calibration:
    pollers: int = 0
    seconds: float = 0.0
    calls: int = 0  # HTTP requests, botocore's retries included
    throttled: int = 0  # of them, answered Throttling
    gave_up: int = 0  # polls still throttled after every retry (botocore's and the EB CLI's own): the EB CLI stops


@dataclass
class Result:
    plan: Plan
    calibration: Calibration
    rounds: list[Round]


def previous_watch_module(commit: str = PREVIOUS) -> types.ModuleType:
    """ebship/watch.py as it was at ``commit``, loaded from git history into a module of its own."""
    shown = subprocess.run(["git", "show", f"{commit}:ebship/watch.py"], cwd=ROOT, capture_output=True, text=True)
    if shown.returncode != 0:
        raise SystemExit(f"figure 8 needs the previous watcher from git history ({commit}): {shown.stderr.strip()}")
    name = f"ebship_watch_{commit}"
    module = types.ModuleType(name)
    module.__file__ = f"{commit}:ebship/watch.py"
    sys.modules[name] = module  # dataclasses look their module up while the classes are made
    exec(compile(shown.stdout, module.__file__, "exec"), module.__dict__)
    return module


@dataclass(frozen=True)
class InstanceVersion:
    """What the previous facade's ``instance_versions`` gave: an instance's most recent deployment."""

    instance_id: str
    version_label: str
    status: str


def _previous_deployer(module: types.ModuleType) -> tuple[type[Beanstalk], type[Deployer]]:
    class PreviousFacade(Beanstalk):
        """Today's facade with the previous one's ``instance_versions`` (which ``instances_health`` replaced)."""

        def instance_versions(self, environment: str) -> list[InstanceVersion] | None:
            report = self.instances_health(environment)
            if report is None:
                return None
            return [InstanceVersion(i.instance_id, i.version_label, i.status) for i in report.instances]

    class PreviousDeployer(Deployer):
        def _watcher(self, deadline: Any) -> Any:
            return module.Watcher(
                self.eb, deadline, self._print_event, lambda note: self.console.print(f"  ({note})"), module.DEFAULT_SCHEDULE
            )

    return PreviousFacade, PreviousDeployer


def environment_name(index: int) -> str:
    return f"bench-t{index:02d}"


def calibrate(stack: Stack, plan: Plan, log: Callable[[str], None]) -> Calibration:
    """Ten EB CLI-style pollers, each asking for its environment's events every 5 s, for ``plan.calibrate`` seconds."""
    from botocore.exceptions import ClientError

    found = Calibration(pollers=plan.deploys, seconds=plan.calibrate)
    counters = [Counted(stack, "elasticbeanstalk") for _ in range(plan.deploys)]
    gave_up = [0] * plan.deploys
    throttled_before = sum(stack.server.throttled().values())
    ends = time.monotonic() + plan.calibrate

    def poll(index: int) -> None:
        time.sleep(index * EB_CLI_INTERVAL / plan.deploys)  # spread evenly: the kindest case for the bucket
        while time.monotonic() < ends:
            asked = time.monotonic()
            try:
                eb_cli_call(counters[index].client.describe_events, EnvironmentName=environment_name(index), MaxRecords=10)
            except ClientError:
                gave_up[index] += 1
            time.sleep(max(0.0, asked + EB_CLI_INTERVAL - time.monotonic()))

    threads = [threading.Thread(target=poll, args=(index,), daemon=True) for index in range(plan.deploys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(plan.calibrate + 120)
    found.calls = sum(counter.calls for counter in counters)
    found.throttled = sum(stack.server.throttled().values()) - throttled_before
    found.gave_up = sum(gave_up)
    log(
        f"figure 8: {plan.deploys} EB CLI-style pollers for {plan.calibrate:.0f} s: {found.calls} calls, "
        f"{found.throttled} throttled, {found.gave_up} still throttled after every retry"
    )
    return found


def deploy_round(stack: Stack, plan: Plan, watcher: str, log: Callable[[str], None]) -> Round:
    from bench.truth import truth
    from ebship.clock import SystemClock
    from ebship.job import Target
    from ebship.output import Console

    facade_class: type[Beanstalk] = Beanstalk
    deployer_class: type[Deployer] = Deployer
    patience: dict[str, float] = {}
    if watcher == "previous":
        facade_class, deployer_class = _previous_deployer(previous_watch_module())
        patience = {"patience": 0}
    found = Round(watcher)
    found.deploys = [Deploy(environment_name(i), f"t-{stack.run_id}-{watcher}-{i:02d}") for i in range(plan.deploys)]
    request_ids: dict[str, str] = {}
    verdict_at: dict[str, float] = {}

    class Noting(facade_class):  # type: ignore[misc,valid-type]
        def update(self, application: str, environment: str, *args: Any, **kwargs: Any) -> str:
            request_id = str(super().update(application, environment, *args, **kwargs))
            request_ids[environment] = request_id
            return request_id

    def one(deploy: Deploy) -> None:
        counted = Counted(stack, "elasticbeanstalk", tool_config())
        facade = Noting(counted.client, SystemClock(), **patience)
        deployer = deployer_class(facade, Console(io.StringIO(), io.StringIO()), timeout=900)
        began = time.monotonic()
        try:
            report = deployer.run(
                Target(name=deploy.environment, environment=deploy.environment, application=APPLICATION), deploy.label
            )
            deploy.verdict, deploy.cause = report.outcome.result, report.outcome.cause
        except Exception as error:  # the previous facade lets a throttled preflight or UpdateEnvironment through
            deploy.verdict, deploy.cause = "error", f"{type(error).__name__}: {error}"
        verdict_at[deploy.environment] = time.time()
        deploy.seconds = time.monotonic() - began
        deploy.calls = counted.calls

    calls_before = sum(stack.server.calls().values())
    throttled_before = sum(stack.server.throttled().values())
    began = time.monotonic()
    threads = [threading.Thread(target=one, args=(deploy,), daemon=True) for deploy in found.deploys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(1000)
    found.seconds = time.monotonic() - began
    found.throttled = sum(stack.server.throttled().values()) - throttled_before
    eb_calls = {k: v for k, v in stack.server.calls().items() if ":" not in k}
    found.calls = sum(eb_calls.values()) - calls_before  # an upper bound: calls() also counts S3, none made here
    for deploy in found.deploys:
        wait_quietly(stack, deploy.environment)  # an update a failed verdict left running ends before the truth is read
        request_id = request_ids.get(deploy.environment, "")
        settled = truth(stack.server, deploy.environment, request_id, deploy.label) if request_id else None
        deploy.truly_deployed = settled is not None and settled.succeeded and settled.settled is not None
        if settled is not None and settled.settled is not None and deploy.verdict == "deployed":
            deploy.latency = verdict_at[deploy.environment] - settled.settled.timestamp()
    deployed = sum(1 for d in found.deploys if d.verdict == "deployed")
    log(
        f"figure 8, {watcher} watcher: {deployed}/{plan.deploys} deployed, "
        f"{sum(1 for d in found.deploys if not d.right)} wrong verdicts, "
        f"{sum(1 for d in found.deploys if d.throttled_out)} failed from throttling; {found.calls} calls, "
        f"{found.throttled} throttled, {found.seconds:.0f} s"
    )
    return found


def run(stack: Stack, plan: Plan, log: Callable[[str], None]) -> Result:
    previous_watch_module()  # fail before anything starts when the history is missing
    eb = admin_client(stack)
    before = stack.server.settings()
    for index in range(plan.deploys):
        create_enhanced(stack, environment_name(index), "")
    for watcher in WATCHERS:
        for index in range(plan.deploys):
            eb.create_application_version(ApplicationName=APPLICATION, VersionLabel=f"t-{stack.run_id}-{watcher}-{index:02d}")
    try:
        stack.server.update_settings(
            variants="realistic",
            time_scale=plan.time_scale,
            throttle_rate=plan.rate,
            throttle_burst=plan.burst,
            phase_seconds=plan.pace,
        )
        calibration = calibrate(stack, plan, log)
        time.sleep(plan.burst / plan.rate)  # the bucket fills again before the deploys start
        rounds = []
        for watcher in WATCHERS:
            rounds.append(deploy_round(stack, plan, watcher, log))
            time.sleep(plan.burst / plan.rate)
    finally:
        stack.server.update_settings(
            **{k: before[k] for k in ("variants", "time_scale", "throttle_rate", "throttle_burst", "phase_seconds")}
        )
    return Result(plan, calibration, rounds)


def summary(result: Result) -> list[dict[str, Any]]:
    rows = []
    for found in result.rounds:
        deploys = found.deploys
        latencies = [d.latency for d in deploys if d.latency is not None]
        rows.append(
            {
                "watcher": found.watcher,
                "deploys": len(deploys),
                "deployed": sum(1 for d in deploys if d.verdict == "deployed"),
                "wrong": sum(1 for d in deploys if not d.right),
                "throttled_out": sum(1 for d in deploys if d.throttled_out),
                "calls": statistics.mean(d.calls for d in deploys),
                "throttled": found.throttled,
                "round_calls": found.calls,
                "seconds": statistics.median(d.seconds for d in deploys),
                "latency": statistics.median(latencies) if latencies else None,
                "latency_max": max(latencies) if latencies else None,
                "causes": sorted({d.cause.splitlines()[0][:160] for d in deploys if d.verdict != "deployed" and d.cause}),
            }
        )
    return rows
