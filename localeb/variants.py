"""Elastic Beanstalk's time, as named variants of the stand-in (localeb/README.md, "Time variants", cites each rule).

Without a variant everything happens at once, as the rest of the stand-in is written: health, events and the
environment's status change in the same instant. Each variant below makes the wire answers follow one documented (or,
where AWS is silent, the stand-in's own reading of a) delay. They only change what callers see, never the work the
deploy threads do, so they combine freely. Durations are multiplied by `Settings.time_scale`; randomness is seeded by
`Settings.fault_seed`.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from localeb.models import Environment, Event, Instance, now

if TYPE_CHECKING:
    from localeb.backend import LocalEB, RegionState

HEALTH_REFRESH = "health-refresh"
RETIRING_INSTANCES = "retiring-instances"
HEALTH_DOWNGRADE = "health-downgrade"
READY_FIRST = "ready-first"
CLOSING_FIRST = "closing-first"
EVENT_DELAY = "event-delay"
HEALTH_HIDDEN = "health-hidden"
SLOW_LOGS = "slow-logs"
THROTTLE = "throttle"
VARIANTS = (
    HEALTH_REFRESH,
    RETIRING_INSTANCES,
    HEALTH_DOWNGRADE,
    READY_FIRST,
    CLOSING_FIRST,
    EVENT_DELAY,
    HEALTH_HIDDEN,
    SLOW_LOGS,
    THROTTLE,
)
REALISTIC = "realistic"
# What `realistic` stands for: every variant but health-hidden, which without an IAM policy hides health from every
# caller. That is a stress of its own: a rightly permissioned pipeline sees its environment's health on AWS.
REALISTIC_VARIANTS = tuple(name for name in VARIANTS if name != HEALTH_HIDDEN)

# Developer guide, health-enhanced-status.md: "Health status and cause messages for individual instances are updated
# every 10 seconds".
REPORT_SECONDS = 10.0
# Stand-in's reading: AWS documents that the old instances are terminated, not when the health list drops them.
RETIRING_REPORTS = 2
# Same page: "When an instance fails health checks at least three times in any one-minute period, Elastic Beanstalk
# may downgrade" the environment's health; with a check every 10 seconds the third failure comes about 30 s in.
FAILED_CHECKS = 3
# Stand-in's reading: how far Ready and the closing event drift apart (AWS does not say they come together).
CLOSING_LAG_SECONDS = 3.0
# Stand-in's reading: how late an event reaches DescribeEvents.
EVENT_DELAY_SECONDS = (2.0, 5.0)
# Tail logs travel through the instance's command channel; the EB CLI waits up to 2 minutes for them
# (ebcli/operations/logsops.py). Stand-in's reading: each instance answers between 10 s and those 2 minutes.
LOG_DELAY_SECONDS = (10.0, 120.0)
# Developer guide, immutable updates: after a failure the new instances "upload bundle logs to Amazon S3", kept "for one
# hour".
FAILED_BUNDLE_LIFETIME = timedelta(hours=1)
# The realistic preset's pace: seconds per deploy phase, so that a one-instance update (about four phases and the
# container's start) takes one to two minutes, the range public deploy transcripts show for small environments.
REALISTIC_PHASE_SECONDS = 20.0
# Stand-in's reading of "limited to a few calls per second" (AWS knowledge center, Elastic Beanstalk throttling).
DEFAULT_THROTTLE_RATE = 2.0
DEFAULT_THROTTLE_BURST = 10

HEALTH_OPERATIONS = ("DescribeInstancesHealth", "DescribeEnvironmentHealth")
# Closings of an operation (localeb.deploy, localeb.fleet); the environment turns Ready under the same lock.
CLOSINGS = (
    "Environment update completed successfully.",
    "Failed to deploy application.",
    "Failed to deploy configuration.",
    "Update environment operation is complete, but with command timeouts. Try increasing the timeout period.",
    "Successfully launched environment: ",
    "Create environment operation is complete, but with errors.",
)
# Health transitions that start a failure health checks find (localeb.fleet's health_after_deploy fault).
FAILING_TEXTS = ("of the requests are failing with HTTP 5xx.",)
IMMUTABLE_POLICIES = ("Immutable", "TrafficSplitting")


def parse_variants(value: Any) -> list[str]:
    """A comma-separated text or a list of names; `realistic` stands for every variant but health-hidden."""
    if value is None or value == "":
        return []
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n).strip() for n in value]
    chosen: list[str] = []
    for name in filter(None, names):
        if name == REALISTIC:
            chosen += list(REALISTIC_VARIANTS)
        elif name in VARIANTS:
            chosen.append(name)
        else:
            raise ValueError(f"unknown variant {name!r}; variants are {', '.join((*VARIANTS, REALISTIC))}")
    return sorted(set(chosen), key=VARIANTS.index)


def positive(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        converted = kind(value)
        if converted <= 0:
            raise ValueError("must be greater than 0")
        return converted

    return convert


@dataclass
class Report:
    """What an instance's health agent last told: its entry in DescribeInstancesHealth (every element) and when."""

    at: datetime
    entry: dict[str, Any]


@dataclass
class Closing:
    """When an update's closing event happened (its EventDate), reached DescribeEvents, and Ready showed."""

    request_id: str | None
    message: str
    date: datetime
    visible: datetime
    ready: datetime


# How much of each environment's past the timeline keeps (a read-only record for benchmarks, GET /_localeb/status).
TIMELINE_REPORTS = 200
TIMELINE_CLOSINGS = 50


def wall(moment: float) -> datetime:
    """The wall-clock time of a monotonic moment."""
    return now() + timedelta(seconds=moment - time.monotonic())


@dataclass
class Retiring:
    instance: Instance
    entry: dict[str, Any]
    until: float | None = None  # monotonic time it leaves the lists; None until the update's closing


@dataclass
class EnvironmentTimes:
    known: dict[str, Instance] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # instance id -> monotonic time of its first report
    reports: dict[str, Report] = field(default_factory=dict)
    retiring: list[Retiring] = field(default_factory=list)
    ready_hidden_until: float = 0.0  # closing-first: Ready shows only from then
    failing_since: float | None = None  # health-downgrade: when checks began to fail
    health_report: Report | None = None
    departed: list[Instance] = field(default_factory=list)  # new instances terminated during the running update
    # The record behind `timeline`: every report taken (health-refresh) and every closing, oldest first.
    history: deque[Report] = field(default_factory=lambda: deque(maxlen=TIMELINE_REPORTS))
    closings: deque[Closing] = field(default_factory=lambda: deque(maxlen=TIMELINE_CLOSINGS))


class TokenBucket:
    """Calls per second with a burst, shared by every caller (AWS knowledge center on EB throttling: the limit is
    "shared between all resources per account and per AWS Region")."""

    def __init__(self) -> None:
        self.tokens: float | None = None
        self.stamp = time.monotonic()

    def take(self, rate: float, burst: int) -> bool:
        moment = time.monotonic()
        tokens = float(burst) if self.tokens is None else min(float(burst), self.tokens + (moment - self.stamp) * rate)
        self.stamp = moment
        if tokens < 1:
            self.tokens = tokens
            return False
        self.tokens = tokens - 1
        return True


class Variants:
    """The time variants of one LocalEB; every method runs under `eb.lock` unless it says otherwise."""

    def __init__(self, eb: LocalEB) -> None:
        self.eb = eb
        self.random = random.Random(eb.settings.fault_seed)
        self.times: dict[str, EnvironmentTimes] = {}
        self._last_visible = 0.0

    def on(self, name: str) -> bool:
        return name in self.eb.settings.variants

    def seconds(self, value: float) -> float:
        return value * self.eb.settings.time_scale

    def _times(self, env: Environment) -> EnvironmentTimes:
        return self.times.setdefault(env.id, EnvironmentTimes())

    # -- events ----------------------------------------------------------------------------------------------

    def emitted(self, env: Environment | None, event: Event) -> None:
        """Decides when an event reaches DescribeEvents; events stay in order (each no earlier than the one before)."""
        moment = time.monotonic()
        visible = moment
        ready: float | None = None  # a closing: when Ready shows
        if self.on(EVENT_DELAY):
            visible += self.seconds(self.random.uniform(*EVENT_DELAY_SECONDS))
        if env is not None:
            times = self._times(env)
            if env.status in ("Updating", "Launching") and event.message.startswith(CLOSINGS):
                self.observe(env)  # the instances that left during the update retire from now on
                self._closing(env, times, moment, failed=event.severity == "ERROR")
                order = self._closing_order()
                ready = moment
                if order == READY_FIRST:
                    visible = max(visible, moment + self.seconds(CLOSING_LAG_SECONDS))
                elif order == CLOSING_FIRST:
                    times.ready_hidden_until = ready = moment + self.seconds(CLOSING_LAG_SECONDS)
            if self.on(HEALTH_DOWNGRADE) and any(text in event.message for text in FAILING_TEXTS):
                times.failing_since = moment
            if self.on(HEALTH_DOWNGRADE) and self._announces_failure(times, event):
                visible = max(visible, self._downgraded_at(times))
        if visible > moment:
            visible = max(visible, self._last_visible)
            self._last_visible = visible
        event.visible_at = visible if visible > moment else 0.0
        if env is not None and ready is not None:
            closing = Closing(event.request_id, event.message, event.date, wall(visible), wall(ready))
            self._times(env).closings.append(closing)

    def _closing_order(self) -> str | None:
        ready_first, closing_first = self.on(READY_FIRST), self.on(CLOSING_FIRST)
        if ready_first and closing_first:  # both on: each closing picks one order (seeded)
            return self.random.choice((READY_FIRST, CLOSING_FIRST))
        return READY_FIRST if ready_first else CLOSING_FIRST if closing_first else None

    def _closing(self, env: Environment, times: EnvironmentTimes, moment: float, failed: bool) -> None:
        times.failing_since = None
        if failed and self.on(SLOW_LOGS):
            for instance in times.departed:
                self._upload_bundle(env, instance)
        times.departed = []
        keep = self.seconds(REPORT_SECONDS) * RETIRING_REPORTS
        for retiring in times.retiring:
            if retiring.until is None:
                retiring.until = moment + keep

    @staticmethod
    def _announces_failure(times: EnvironmentTimes, event: Event) -> bool:
        return times.failing_since is not None and event.severity == "WARN" and "health" in event.message

    def visible(self, event: Event) -> bool:
        return event.visible_at <= time.monotonic()

    # -- health-downgrade --------------------------------------------------------------------------------------

    def health_failing(self, env: Environment) -> None:
        """The health watcher found the app down: checks fail from now on."""
        if self.on(HEALTH_DOWNGRADE):
            self._times(env).failing_since = time.monotonic()

    def _downgraded_at(self, times: EnvironmentTimes) -> float:
        return (times.failing_since or 0.0) + self.seconds(REPORT_SECONDS) * FAILED_CHECKS

    def _not_yet_downgraded(self, env: Environment) -> bool:
        times = self.times.get(env.id)
        if not self.on(HEALTH_DOWNGRADE) or times is None or times.failing_since is None:
            return False
        return env.health == "Red" and time.monotonic() < self._downgraded_at(times)

    def _in_operation(self, env: Environment) -> bool:
        times = self.times.get(env.id)
        hidden = times is not None and env.status == "Ready" and time.monotonic() < times.ready_hidden_until
        return env.status == "Updating" or hidden

    # -- environments -------------------------------------------------------------------------------------------

    def environment(self, env: Environment, described: dict[str, Any]) -> dict[str, Any]:
        """DescribeEnvironments' entry as callers see it."""
        if self._in_operation(env) and env.status == "Ready":
            described = {**described, "Status": "Updating", "AbortableOperationInProgress": True}
            if "HealthStatus" in described:
                described["HealthStatus"] = "Info"
        if self.on(HEALTH_DOWNGRADE) and self._in_operation(env):
            described = {**described, "Health": "Green"}
        elif self._not_yet_downgraded(env):
            described = {**described, "Health": "Green"}
            if "HealthStatus" in described:
                described["HealthStatus"] = "Ok"
        return described

    def environment_health(self, env: Environment, answer: dict[str, Any]) -> dict[str, Any]:
        """DescribeEnvironmentHealth's elements (every one) as callers see them: the last report under health-refresh."""
        if not self.on(HEALTH_REFRESH):
            return self._environment_view(env, answer)
        times = self._times(env)
        if times.health_report is None:
            times.health_report = Report(now(), self._environment_view(env, answer))
        return {**times.health_report.entry, "RefreshedAt": times.health_report.at}

    def _environment_view(self, env: Environment, answer: dict[str, Any]) -> dict[str, Any]:
        if self._in_operation(env) and env.status == "Ready":
            answer = {**answer, "Status": "Updating", "HealthStatus": "Info"}
        if self.on(HEALTH_DOWNGRADE) and self._in_operation(env):
            answer = {**answer, "Color": "Green"}
        elif self._not_yet_downgraded(env):
            counts = dict.fromkeys(answer["InstancesHealth"], 0)
            counts["Ok"] = sum(answer["InstancesHealth"].values())
            answer = {**answer, "HealthStatus": "Ok", "Color": "Green", "Causes": [], "InstancesHealth": counts}
        return answer

    def _live_entry(self, env: Environment, instance: Instance) -> dict[str, Any]:
        from localeb.backend import _instance_health

        entry = _instance_health(env, instance, ["All"])
        if self._not_yet_downgraded(env) or (self.on(HEALTH_DOWNGRADE) and self._in_operation(env)):
            status = "Info" if self._in_operation(env) else "Ok"
            entry = {**entry, "HealthStatus": status, "Color": "Green", "Causes": []}
        return entry

    # -- instances ------------------------------------------------------------------------------------------------

    def instances(self, env: Environment) -> list[Instance]:
        """The instances the health list and DescribeEnvironmentResources show: the live ones and the retiring ones."""
        self.observe(env)
        times = self._times(env)
        moment = time.monotonic()
        times.retiring = [r for r in times.retiring if r.until is None or moment < r.until]
        return [*env.instances, *(r.instance for r in times.retiring)]

    def instance_entry(self, env: Environment, instance: Instance) -> tuple[dict[str, Any], datetime]:
        """An instance's DescribeInstancesHealth entry (every element) and the time it dates from."""
        times = self._times(env)
        retiring = next((r for r in times.retiring if r.instance is instance), None)
        if self.on(HEALTH_REFRESH):
            report = times.reports.get(instance.id)
            if report is None:  # launched, not reported yet: no Deployment
                return {"InstanceId": instance.id, "HealthStatus": "Pending", "Color": "Grey", "Causes": []}, now()
            return report.entry, report.at
        if retiring is not None:
            return retiring.entry, now()
        return self._live_entry(env, instance), now()

    def observe(self, env: Environment) -> None:
        """Notices instances that joined or left since last time (under the lock, as every change of the list is)."""
        if env.terminated:
            return
        times = self._times(env)
        current = {i.id: i for i in env.instances}
        for instance_id, instance in list(times.known.items()):
            if instance_id not in current:
                self._left(env, times, instance)
        for instance_id in current:
            if instance_id not in times.known:
                # Each agent reports on its own phase: the first report within one interval of the launch.
                first = time.monotonic() + self.random.uniform(0.05, 1.0) * self.seconds(REPORT_SECONDS)
                times.phases[instance_id] = first
        times.known = current

    def _left(self, env: Environment, times: EnvironmentTimes, instance: Instance) -> None:
        from localeb.options import deployment_policy

        if deployment_policy(env.options) not in IMMUTABLE_POLICIES:
            return
        if instance.deployment_id < env.deployment_id and self.on(RETIRING_INSTANCES):
            report = times.reports.get(instance.id)
            entry = report.entry if report else self._live_entry(env, instance)
            times.retiring.append(Retiring(instance, entry))
        elif instance.deployment_id == env.deployment_id and env.status == "Updating":
            times.departed.append(instance)  # its bundle logs go to S3 if the update closes failed

    def report_due(self) -> None:
        """Takes the health agents' reports that are due (health-refresh)."""
        moment = time.monotonic()
        interval = self.seconds(REPORT_SECONDS)
        for env in self.eb.all_environments():
            if env.terminated or not env.enhanced_health:
                continue
            self.observe(env)
            times = self._times(env)
            for instance in env.instances:
                due = times.phases.get(instance.id, moment)
                if moment >= due:
                    times.reports[instance.id] = Report(now(), self._live_entry(env, instance))
                    times.history.append(times.reports[instance.id])
                    times.phases[instance.id] = due + interval * max(1, int((moment - due) // interval) + 1)
            if times.health_report is None or now() - times.health_report.at >= timedelta(seconds=interval):
                times.health_report = Report(now(), self._live_environment_health(env))

    def _live_environment_health(self, env: Environment) -> dict[str, Any]:
        from localeb.backend import _environment_health

        return self._environment_view(env, _environment_health(env))

    def start(self) -> None:
        """The health agents' clock: a thread that takes due reports and notices instances that left."""

        def tick() -> None:
            while not self.eb._closed:
                time.sleep(0.05)
                if not self.eb.settings.variants:
                    continue
                try:
                    with self.eb.lock:
                        if self.on(HEALTH_REFRESH):
                            self.report_due()
                        else:
                            for env in self.eb.all_environments():
                                if not env.terminated:
                                    self.observe(env)
                except Exception:  # the clock must keep going; the trace goes to the server's log
                    traceback.print_exc()

        threading.Thread(target=tick, name="variants", daemon=True).start()

    # -- the record -------------------------------------------------------------------------------------------------

    def timeline(self, env: Environment) -> dict[str, list[dict[str, Any]]]:
        """What happened when, for callers that measure (GET /_localeb/status): the health reports taken (under
        health-refresh; what each instance's DescribeInstancesHealth entry was from then on) and the closings (EventDate,
        when DescribeEvents showed it, when Ready showed). Wall-clock ISO times, oldest first; nothing AWS answers."""
        times = self.times.get(env.id)
        if times is None:
            return {"reports": [], "closings": []}
        reports = [
            {
                "instance_id": report.entry.get("InstanceId"),
                "at": report.at.isoformat(),
                "health_status": report.entry.get("HealthStatus"),
                "version_label": (report.entry.get("Deployment") or {}).get("VersionLabel"),
                "deployment_status": (report.entry.get("Deployment") or {}).get("Status"),
            }
            for report in times.history
        ]
        closings = [
            {
                "request_id": closing.request_id,
                "message": closing.message,
                "event_date": closing.date.isoformat(),
                "visible_at": closing.visible.isoformat(),
                "ready_at": closing.ready.isoformat(),
            }
            for closing in times.closings
        ]
        return {"reports": reports, "closings": closings}

    # -- slow-logs --------------------------------------------------------------------------------------------------

    def compile_slowly(self, state: RegionState, env: Environment, info_type: str, request_id: str) -> None:
        """Each instance's logs arrive on their own time; an instance terminated meanwhile sends none. Runs in its own
        thread."""
        with self.eb.lock:
            waits = sorted((self.seconds(self.random.uniform(*LOG_DELAY_SECONDS)), i.id) for i in env.instances)
        started = time.monotonic()
        for wait, instance_id in waits:
            time.sleep(max(0.0, started + wait - time.monotonic()))
            with self.eb.lock:
                instance = next((i for i in env.instances if i.id == instance_id), None)
            if instance is not None:
                info = self.eb.compile_instance_log(env, instance, info_type, now())
                with self.eb.lock:
                    self.eb._infos.setdefault(env.id, []).append(info)
        with self.eb.lock:
            self.eb.emit(state, "Pulled logs for environment instances.", env=env, request_id=request_id)

    def _upload_bundle(self, env: Environment, instance: Instance) -> None:
        """A new instance of a failed Immutable or TrafficSplitting update uploads its bundle logs before it goes."""
        info = self.eb.compile_instance_log(env, instance, "bundle", now(), container=False)
        info.lifetime = FAILED_BUNDLE_LIFETIME
        self.eb._infos.setdefault(env.id, []).append(info)


# -- wire answers the control middleware gives ------------------------------------------------------------------------


def empty_health_answer(operation: str, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """An empty result, as the API reference says for a caller without access to the environment ("If the user doesn't
    have access ... an empty result is returned"): no instance, or no element of the environment's health."""
    request_id = str(uuid.uuid4())
    inner = "<InstanceHealthList/>" if operation == "DescribeInstancesHealth" else ""
    body = (
        f'<{operation}Response xmlns="http://elasticbeanstalk.amazonaws.com/docs/2010-12-01/">'
        f"<{operation}Result>{inner}</{operation}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)])
    return [body]
