"""The benchmark harness (bench/) with tiny parameters, so that it cannot rot: it must run and print its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_and_prints_its_table(tmp_path, engine):
    out = tmp_path / "benchmarks.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "latency,startup,fleet", "--deploys", "2", "--follow-pace", "0.2:0.4",
         "--fleet-deploys", "1", "--repeats", "1", "--no-ebcli", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout.split("fig  measure", 1)[-1]
    assert "result latency p50 / p95 (2 deploys)" in table
    for poller in ("EB CLI (5 s)", "beanstalk-deploy", "aws-elasticbeanstalk-deploy", "inv --list", "inv --help eb.deploy"):
        assert poller in table, result.stdout
    for size in (1, 4):
        assert f"rolling deploy to {size} instance(s) (1 deploys)" in table, result.stdout
    report = out.read_text()
    assert report.startswith("# Benchmarks") and "## 1. Result latency" in report and "## 5. Start-up" in report
    assert "## 7. API calls per second on fleets" in report
    assert "Machine:" in report and "python -m bench" in report
