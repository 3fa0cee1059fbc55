"""The printed table and docs/benchmarks.md."""

from __future__ import annotations

import platform
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Figure 6: why `inv ci` makes each call (ebship/release.py, versions.py, deploy.py, watch.py).
REASONS = {
    "s3:GetObject": "s3.auth reads the auth file to skip an unchanged upload; eb.version reads an existing bundle to "
    "reuse a label only for identical bytes; eb.deploy reads the last-good record when the environment is not healthy "
    "(its rollback target)",
    "s3:PutObject": "s3.auth uploads the auth file (only when it changed); eb.version uploads the bundle; eb.deploy "
    "records the label the environment runs healthy before it deploys (the way back)",
    "s3:HeadObject": "eb.version checks whether the bundle is already in the bucket",
    "s3:HeadBucket": "checks that the bucket exists and is reachable",
    "s3:GetBucketLocation": "checks that the bucket is in the environment's region",
    "DescribeApplicationVersions": "eb.version: does the label exist (reuse or refuse), then waits until Elastic "
    "Beanstalk has processed the new version (polls 0.2 s apart growing to 3 s; the stand-in takes one phase); eb.deploy "
    "preflight: the version exists and is not FAILED",
    "CreateApplicationVersion": "eb.version registers this commit's version",
    "DescribeEnvironments": "eb.deploy: preflight (exists, what it runs), wait for Ready before the update, every 6th "
    "quiet poll while following, and the final confirmation (Ready, label, health)",
    "UpdateEnvironment": "eb.deploy starts the update",
    "DescribeEvents": "eb.deploy follows the update's own events (filtered by its RequestId) until its closing event",
    "DescribeApplications": "checks that the application exists",
}
TARGETS = {"p50": 1.0, "p95": 2.0, "rate": 1.0, "rerun": 3.0, "overhead": 0.05, "startup": 0.25, "rebuild": 3.0}


@dataclass
class Results:
    command: str
    pace: float
    follow_range: tuple[float, float]
    seconds: float = 0.0
    startup: dict[str, float] | None = None
    ci: dict[str, list[Any]] | None = None
    latency: list[Any] | None = None
    latency_bundle: bool = False
    rebuild: list[Any] | None = None
    fleet: list[Any] | None = None
    fleet_bundle: bool = False
    throttle: Any = None
    latency_range: tuple[float, float] = (15.0, 30.0)
    time_scale: float = 1.0
    rendered: bool = False
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _ok(met: bool) -> str:
    return "yes" if met else "NO"


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


def summary_rows(results: Results) -> list[tuple[str, str, str, str, str]]:
    """(figure, measure, value, target, met)."""
    rows: list[tuple[str, str, str, str, str]] = []
    if results.latency:
        from bench.latency import TOOL, summary

        table = {row["poller"]: row for row in summary(results.latency)}
        tool = table[TOOL]
        n = len(results.latency)
        settling = [s.settling for s in results.latency if s.settling == s.settling]
        rows.append(
            (
                "1",
                f"result latency p50 / p95 ({n} deploys, realistic preset), from its rule's moment",
                f"{tool['p50']:.2f} s / {tool['p95']:.2f} s",
                "<= 1 s / <= 2 s",
                _ok(tool["p50"] <= 1.0 and tool["p95"] <= 2.0),
            )
        )
        if settling:
            rows.append(("1", "settling after the closing event (median)", f"{statistics.median(settling):.1f} s", "", ""))
        for name, row in table.items():
            if name != TOOL:
                rows.append(
                    (
                        "1",
                        f"  {name}: p50 / p95 from the closing's EventDate",
                        f"{row['p50']:.2f} s / {row['p95']:.2f} s",
                        "",
                        "",
                    )
                )
                rows.append(
                    (
                        "1",
                        f"EB calls per deploy: ebship / {name}",
                        f"{tool['calls']:.1f} / {row['calls']:.1f}",
                        "<= the EB CLI's",
                        _ok(tool["calls"] <= row["calls"]),
                    )
                )
        rows.append(("1", "API calls per second while following", f"{tool['rate']:.2f}", "<= 1", _ok(tool["rate"] <= 1.0)))
    ci = results.ci or {}
    reruns = ci.get("no-change re-run") or []
    if reruns:
        wall = statistics.median(run.wall for run in reruns)
        mutating = sum(sum(run.mutating.values()) for run in reruns)
        rows.append(("2", f"no-change re-run of inv ci (median of {len(reruns)})", f"{wall:.2f} s", "<= 3 s", _ok(wall <= 3.0)))
        rows.append(("2", "mutating calls in the re-runs", str(mutating), "0", _ok(mutating == 0)))
    if results.rebuild:
        by = {
            name: statistics.median(r.seconds for r in results.rebuild if r.scenario == name)
            for name in ("registry", "tarball", "no cache")
        }
        moved = {
            name: statistics.median(r.bytes_in + r.bytes_out for r in results.rebuild if r.scenario == name)
            for name in ("registry", "tarball")
        }
        speedup = by["no cache"] / by["registry"]
        rows.append(
            (
                "3",
                "fresh-runner rebuild: registry / tarball / no cache",
                f"{by['registry']:.1f} s / {by['tarball']:.1f} s / {by['no cache']:.1f} s",
                "",
                "",
            )
        )
        rows.append(("3", "  registry cache vs no cache", f"x{speedup:.1f} faster", ">= x3", _ok(speedup >= 3.0)))
        rows.append(
            (
                "3",
                "  registry cache vs tarball",
                f"x{by['tarball'] / by['registry']:.1f} faster",
                "> x1",
                _ok(by["tarball"] > by["registry"]),
            )
        )
        rows.append(("3", "  bytes moved: registry / tarball", f"{_mb(moved['registry'])} / {_mb(moved['tarball'])}", "", ""))
    for kind in ("one-line change", "first deploy", "no-change re-run"):
        runs = ci.get(kind) or []
        if runs:
            share = statistics.median(run.overhead / run.wall for run in runs)
            rows.append(
                (
                    "4",
                    f"tool overhead, {kind}",
                    f"{share * 100:.1f} % of {statistics.median(r.wall for r in runs):.1f} s",
                    "<= 5 %",
                    _ok(share <= 0.05),
                )
            )
    if results.startup:
        for name, seconds in results.startup.items():
            target = "<= 0.25 s" if name.startswith("inv") else ""
            if name.startswith("eb "):
                target = f"x{seconds / results.startup['inv --list']:.1f} inv --list"
            rows.append(("5", name, f"{seconds:.3f} s", target, _ok(seconds <= 0.25) if name.startswith("inv") else ""))
    usual = (ci.get("one-line change") or [None])[0]
    if usual is not None:
        rows.append(("6", "API calls, inv ci of a one-line change", str(sum(usual.calls.values())), "", ""))
    if results.fleet:
        from bench.fleet import summary as fleet_summary

        for row in fleet_summary(results.fleet):
            rows.append(
                (
                    "7",
                    f"API calls per second, rolling deploy to {row['instances']} instance(s) ({row['deploys']} deploys)",
                    f"{row['rate']:.2f} ({row['calls']:.1f} calls in {row['seconds']:.1f} s)",
                    "<= 1",
                    _ok(row["rate"] <= 1.0 and not row["wrong"]),
                )
            )
    if getattr(results, "throttle", None):
        from bench.throttle import summary as throttle_summary

        result = results.throttle
        by = {row["watcher"]: row for row in throttle_summary(result)}
        plan, calibration = result.plan, result.calibration
        rows.append(
            (
                "8",
                f"{calibration.pollers} EB CLI-style pollers at {plan.rate:g} calls/s: throttled answers",
                f"{calibration.throttled} of {calibration.calls}",
                "> 0",
                _ok(calibration.throttled > 0),
            )
        )
        for watcher, row in by.items():
            label = "today's watcher" if watcher == "new" else "previous watcher (90399e2)"
            rows.append(
                (
                    "8",
                    f"{row['deploys']} deploys at once, {label}: failed from throttling, wrong verdicts",
                    f"{row['throttled_out']}, {row['wrong']}",
                    "0, 0" if watcher == "new" else "",
                    _ok(row["throttled_out"] == 0 and row["wrong"] == 0) if watcher == "new" else "",
                )
            )
            rows.append(
                (
                    "8",
                    f"  {label}: EB calls per deploy, throttled answers (all)",
                    f"{row['calls']:.1f}, {row['throttled']}",
                    "",
                    "",
                )
            )
    return rows


def table(results: Results) -> str:
    rows = summary_rows(results)
    header = ("fig", "measure", "value", "target", "met")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def machine() -> str:
    def run(*command: str) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"

    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    memory = next((line.split()[1] for line in run("free", "-m").splitlines() if line.startswith("Mem:")), "?")
    docker = run("docker", "version", "--format", "{{.Server.Version}}")
    return (
        f"{run('nproc')} CPUs ({model}), {memory} MiB memory (`free -m`), Linux {platform.release()}, "
        f"Docker engine {docker}, Python {platform.python_version()}; shared with other jobs running Docker builds "
        "at the same time, so only side-by-side ratios are meaningful"
    )


def _md_table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return out


def markdown(results: Results) -> str:
    from bench import notes

    out = [
        "# Benchmarks",
        "",
        f"Measured {results.date} with `{results.command}` (from the repository root, after `bash scripts/setup.sh --dev` "
        f"and `bash scripts/services.sh`; {results.seconds / 60:.0f} minutes"
        + ("; this text written again from its saved results with `--render`" if getattr(results, "rendered", False) else "")
        + "). How to run it and what each figure measures: "
        "[bench/README.md](../bench/README.md).",
        "",
        f"Machine: {machine()}.",
        "",
        "## Summary",
        "",
        *_md_table(("figure", "measure", "value", "target", "met"), summary_rows(results)),
        "",
    ]
    out += notes.sections(results)
    out += [
        "## Changes to the tool that came out of these measurements",
        "",
        "- `ebship/watch.py`: the watcher's schedule went from 0.5 s after news backing off to 2 s, with a state check "
        "every 3rd quiet poll, to 1 s after news backing off to 1.7 s, with a state check every 6th: the end of an update "
        "is noticed within 1.7 s (p50 under 1 s) at under one call per second, where the old schedule made about 1.6 "
        "calls per second on short deploys. A timeout now reports the state read at the deadline.",
        "- `ebship/aws.py`: every boto3 session shares one botocore loader, so each service's model is parsed once per "
        "process; `inv ci` creates five clients and saved about 0.1 to 0.25 s on each after the first.",
        "",
    ]
    return "\n".join(out) + "\n"
