"""python -m bench: the benchmark of issue 7 against the local Elastic Beanstalk. See bench/README.md."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.services import ROOT, Stack

FIGURES = ("latency", "ci", "rebuild", "startup", "fleet", "throttle")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(FIGURES),
        help=f"comma-separated parts to run, among {', '.join(FIGURES)} (ci gives figures 2, 4 and 6; fleet figure 7; "
        "throttle figure 8)",
    )
    parser.add_argument("--deploys", type=int, default=10, help="deploys followed for figure 1 (default 10)")
    parser.add_argument(
        "--latency-pace",
        default="15:30",
        help="figure 1: seconds per deploy phase on the realistic preset, drawn per deploy from LOW:HIGH (default 15:30, "
        "around the preset's 20 s: updates of one to two minutes)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="figures 1 and 8: the stand-in's time_scale, a factor on every time variant's durations (default 1.0; "
        "the smoke test compresses it)",
    )
    parser.add_argument(
        "--follow-pace", default="3:6", help="figure 7: seconds per deploy phase, drawn per version from LOW:HIGH (default 3:6)"
    )
    parser.add_argument("--throttle-deploys", type=int, default=10, help="figure 8: deploys at once, one per environment")
    parser.add_argument(
        "--throttle-rate", type=float, default=1.5, help="figure 8: the account-wide throttle, calls per second (default 1.5)"
    )
    parser.add_argument("--throttle-burst", type=int, default=10, help="figure 8: the throttle's burst (default 10)")
    parser.add_argument(
        "--throttle-pace", type=float, default=20.0, help="figure 8: seconds per deploy phase (default 20, the preset's)"
    )
    parser.add_argument(
        "--calibrate",
        type=float,
        default=60.0,
        help="figure 8: seconds that ten EB CLI-style pollers (DescribeEvents every 5 s) run first, to show that the rate "
        "throttles them (default 60)",
    )
    parser.add_argument(
        "--fleet-deploys",
        type=int,
        default=6,
        help="figure 7: versions deployed to both the 1-instance and the 4-instance rolling environment (default 6); "
        "pace drawn per version from --follow-pace",
    )
    parser.add_argument(
        "--pace",
        default="realistic",
        help="the stand-in's pace for the `inv ci` runs: fast, realistic (8 s per phase) or seconds",
    )
    parser.add_argument("--reruns", type=int, default=3, help="no-change re-runs of inv ci (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three fresh-runner rebuilds (default 3)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each start-up command (default 7)")
    parser.add_argument(
        "--ebcli",
        type=Path,
        default=None,
        help="virtualenv with awsebcli (default: installed into /tmp/ebship-bench-ebcli on first use)",
    )
    parser.add_argument("--no-ebcli", action="store_true", help="leave eb --version out of figure 5")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="also keep the raw results here (pickle), to --render the report again without measuring",
    )
    parser.add_argument("--render", type=Path, default=None, help="write the report from saved --results; measure nothing")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        help="where to write the report (default docs/benchmarks.md); - for none",
    )
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(args.parts) - set(FIGURES)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    low, _, high = args.follow_pace.partition(":")
    args.follow_range = (float(low), float(high or low))
    low, _, high = args.latency_pace.partition(":")
    args.latency_range = (float(low), float(high or low))
    from localeb.settings import parse_pace

    args.pace_seconds = parse_pace(args.pace)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    began = time.monotonic()
    if args.render:
        import pickle

        results = pickle.loads(args.render.read_bytes())
        results.rendered = True
        return _write(results, args.out)

    def log(text: str) -> None:
        print(f"[bench {time.monotonic() - began:6.0f}s] {text}", flush=True)

    results = report.Results(
        command="python -m bench" + ("" if not argv else " " + shlex.join(argv)),
        pace=args.pace_seconds,
        follow_range=args.follow_range,
        latency_range=args.latency_range,
        time_scale=args.time_scale,
    )
    if "startup" in args.parts:
        from bench import startup

        eb = None
        if not args.no_ebcli:
            eb = startup.ensure_ebcli(args.ebcli or startup.DEFAULT_EBCLI, log)
        log("start-up times")
        results.startup = startup.run(ROOT, eb, args.repeats)
    needs_stack = any(part in args.parts for part in ("latency", "ci", "rebuild", "fleet", "throttle"))
    if needs_stack:
        with tempfile.TemporaryDirectory(prefix="ebship-bench-") as workdir:
            stack = Stack(Path(workdir), args.pace_seconds, with_registry=any(part in args.parts for part in ("ci", "rebuild")))
            try:
                log("starting the stand-in" + (", the registry and a project copy" if stack.with_registry else ""))
                stack.start()
                deployed_label = ""
                if "ci" in args.parts or "rebuild" in args.parts:
                    from bench import ci

                    results.ci = ci.run_all(stack, args.reruns if "ci" in args.parts else 0, log)
                    _keep(results, args.results)
                    assert stack.project is not None
                    from bench.services import git

                    deployed_label = git(stack.project, "rev-parse", "HEAD")
                if "latency" in args.parts:
                    from bench import latency

                    bundle = latency.bundles(stack, deployed_label)
                    results.latency_bundle = bool(bundle)
                    low, high = args.latency_range
                    log(
                        f"figure 1: {args.deploys} deploys on the realistic preset (time_scale {args.time_scale:g}), "
                        f"phase {low:g}-{high:g} s, " + ("the app's image" if bundle else "no bundle (no container)")
                    )
                    results.latency = latency.run(stack, args.deploys, args.latency_range, bundle, log, args.time_scale)
                    _keep(results, args.results)
                if "fleet" in args.parts:
                    from bench import fleet, latency

                    bundle = latency.bundles(stack, deployed_label)
                    results.fleet_bundle = bool(bundle)
                    log(
                        f"figure 7: {args.fleet_deploys} versions, each to {' and '.join(map(str, fleet.SIZES))} "
                        f"instance(s), rolling, phase {args.follow_range[0]}-{args.follow_range[1]} s, "
                        + ("the app's image" if bundle else "no bundle (no container)")
                    )
                    results.fleet = fleet.run(stack, args.fleet_deploys, args.follow_range, bundle, log)
                    _keep(results, args.results)
                if "throttle" in args.parts:
                    from bench import throttle

                    log(
                        f"figure 8: {args.throttle_deploys} deploys at once, throttled to {args.throttle_rate:g} calls/s "
                        f"(burst {args.throttle_burst}), phase {args.throttle_pace:g} s, no bundle; the new watcher, "
                        "then the previous one"
                    )
                    results.throttle = throttle.run(
                        stack,
                        throttle.Plan(
                            args.throttle_deploys,
                            args.throttle_rate,
                            args.throttle_burst,
                            args.throttle_pace,
                            args.time_scale,
                            args.calibrate,
                        ),
                        log,
                    )
                    _keep(results, args.results)
                if "rebuild" in args.parts:
                    from bench import rebuild

                    results.rebuild = rebuild.run(stack, args.rounds, log)
            finally:
                log("stopping the stand-in and the registry, removing this run's images")
                stack.close()
    results.seconds = time.monotonic() - began
    _keep(results, args.results)
    return _write(results, args.out)


def _keep(results: report.Results, path: Path | None) -> None:
    """Saves the raw results so far (after each part: a later failure loses nothing measured)."""
    if path is not None:
        import pickle

        path.write_bytes(pickle.dumps(results))


def _write(results: report.Results, out: Path) -> int:
    print()
    print(report.table(results))
    if str(out) != "-":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.markdown(results))
        print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
