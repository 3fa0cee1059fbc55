"""The benchmark harness (bench/) with tiny parameters, so that it cannot rot: it must run and print its table."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_and_prints_its_table(tmp_path, engine):
    out = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "startup,fleet", "--follow-pace", "0.2:0.4",
         "--fleet-deploys", "1", "--repeats", "1", "--no-ebcli", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout.split("fig  measure", 1)[-1]
    for command in ("inv --list", "inv --help eb.deploy"):
        assert command in table, result.stdout
    for size in (1, 4):
        assert f"rolling deploy to {size} instance(s) (1 deploys)" in table, result.stdout
    report = out.read_text()
    assert report.startswith("# Benchmarks") and "## 5. Start-up" in report
    assert "## 7. API calls per second on fleets" in report
    assert "Machine:" in report and "python -m bench" in report


def test_bench_realistic_latency_and_throttled_deploys(tmp_path, engine):
    """Figure 1 on the realistic preset and figure 8 (ten deploys at once, throttled; here three), time compressed
    twenty times: every verdict right, and ebship's verdict never before the stand-in's state satisfied its rule."""
    out, saved = tmp_path / "benchmarks.md", tmp_path / "results.pkl"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "latency,throttle", "--deploys", "2", "--latency-pace", "0.3:0.5",
         "--time-scale", "0.05", "--throttle-deploys", "3", "--throttle-pace", "0.5", "--throttle-burst", "3", "--calibrate", "3",
         "--results", str(saved), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout.split("fig  measure", 1)[-1]
    for row in (
        "result latency p50 / p95 (2 deploys, realistic preset), from its rule's moment",
        "settling after the closing event (median)",
        "EB CLI (5 s): p50 / p95 from the closing's EventDate",
        "EB calls per deploy: ebship / EB CLI (5 s)",
        "3 EB CLI-style pollers at 1.5 calls/s: throttled answers",
        "3 deploys at once, today's watcher: failed from throttling, wrong verdicts",
        "3 deploys at once, previous watcher (90399e2): failed from throttling, wrong verdicts",
    ):
        assert row in table, result.stdout

    results = pickle.loads(saved.read_bytes())
    for sample in results.latency:
        assert sample.succeeded and set(sample.verdicts.values()) == {"deployed"}, sample
        assert sample.latency["ebship (eb.deploy)"] > -0.01, "a verdict before the state satisfied the rule"
        assert sample.settling >= 0 and sample.events, sample
    new, previous = results.throttle.rounds
    assert (new.watcher, previous.watcher) == ("new", "previous")
    assert all(deploy.right and deploy.verdict == "deployed" for deploy in new.deploys), new
    assert all(deploy.latency is not None and deploy.latency > -0.01 for deploy in new.deploys), new
    assert all(deploy.verdict for deploy in previous.deploys), previous

    report = out.read_text()
    assert "## 1. Result latency, on the stand-in's realistic preset" in report
    assert "## 8. Ten deploys at once under account-wide throttling" in report
