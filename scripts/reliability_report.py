#!/usr/bin/env python3
"""Turns the figures the reliability suites record (.local/reliability/*.json) into docs/reliability.md.

    .venv/bin/python -m pytest -q tests/reliability          # CI size; or the soak command in docs/reliability.md
    .venv/bin/python scripts/reliability_report.py           # writes docs/reliability.md from the last run

Options: --results DIR (default .local/reliability), --output FILE (default docs/reliability.md), --check (exit 1
when a suite is missing or unfinished, or any figure that must be zero is not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("faults", "detection", "closings", "fleets", "interruption", "concurrency", "superseded", "bad_input", "secrets")
TESTS = {
    "faults": "tests/reliability/test_faults.py",
    "detection": "tests/reliability/test_detection.py",
    "closings": "tests/reliability/test_closings.py",
    "fleets": "tests/reliability/test_fleets.py",
    "interruption": "tests/reliability/test_interruption.py",
    "concurrency": "tests/reliability/test_concurrency.py",
    "superseded": "tests/reliability/test_concurrency.py",
    "bad_input": "tests/reliability/test_bad_input.py",
    "secrets": "tests/reliability/test_secrets.py",
}
# Figures that must be zero for a suite to pass (the tests assert the same).
MUST_BE_ZERO = (
    "false_passes",
    "false_failures",
    "runs_with_problems",
    "wrong_exit_class",
    "cause_missing",
    "reruns_not_converged",
    "stray_versions",
    "stray_containers",
    "test_containers_left",
    "containers_left_after_stop",
    "pairs_with_problems",
    "mutating_calls",
    "problems",
    "leaks_found",
    "unencrypted_objects",
)
SOAK = (
    "RELIABILITY_RUNS=10 RELIABILITY_REPEATS=6 .venv/bin/python -m pytest -q tests/reliability "
    "&& .venv/bin/python scripts/reliability_report.py"
)
CI = ".venv/bin/python -m pytest -q tests/reliability && .venv/bin/python scripts/reliability_report.py"
# The suites that run under the stand-in's time variants (RELIABILITY_VARIANTS), and the passes a soak names.
VARIANT_SUITES = ("detection", "closings", "fleets")
TIME_PASSES = (
    "none",
    "health-refresh",
    "retiring-instances",
    "health-downgrade",
    "ready-first",
    "closing-first",
    "event-delay",
    "health-hidden",
    "slow-logs",
    "throttle",
    "realistic",
)
VARIANT_SOAK = (
    "for variants in " + " ".join(TIME_PASSES) + "; do RELIABILITY_VARIANTS=$variants RELIABILITY_REPEATS=2 "
    ".venv/bin/python -m pytest -q " + " ".join(f"tests/reliability/test_{suite}.py" for suite in VARIANT_SUITES) + "; done "
    "&& .venv/bin/python scripts/reliability_report.py"
)


def load(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for suite in SUITES:
        path = directory / f"{suite}.json"
        if path.is_file():
            found[suite] = json.loads(path.read_text())
    return found


def load_variant_runs(directory: Path) -> list[dict[str, Any]]:
    """Every run of the detection, closings and fleets suites: the CI run (`detection.json`) and the runs under chosen
    time variants (`detection@health-refresh.json`, one file per RELIABILITY_VARIANTS value), oldest first."""
    runs = []
    for suite in VARIANT_SUITES:
        for path in [directory / f"{suite}.json", *sorted(directory.glob(f"{suite}@*.json"))]:
            if path.is_file():
                runs.append(json.loads(path.read_text()))
    return sorted(runs, key=lambda data: data.get("finished") or data.get("started") or "")


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def figure(data: dict[str, Any], name: str) -> int:
    return int(data.get("figures", {}).get(name, 0))


def command(data: dict[str, Any], suite: str) -> str:
    parameters = data.get("parameters", {})
    sizes = " ".join(
        f"{name}={parameters[name]}"
        for name in (
            "RELIABILITY_RUNS",
            "RELIABILITY_REPEATS",
            "RELIABILITY_SEED",
            "RELIABILITY_VARIANTS",
            "RELIABILITY_TIME_SCALE",
        )
        if name in parameters
    )
    selector = TESTS[suite] + (
        "::test_a_deploy_superseded_the_moment_it_succeeded_is_reported_truthfully"
        if suite == "superseded"
        else "::test_two_ci_runs_at_once_both_end_truthfully"
        if suite == "concurrency"
        else ""
    )
    return f"{sizes} .venv/bin/python -m pytest -q {selector}"


def summary(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| suite | runs | faults injected | failures detected | false passes | false failures | leaks found | "
        "bad inputs tried | seconds | finished |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    totals = dict.fromkeys(("runs", "faults", "detected", "fp", "ff", "leaks", "bad"), 0)
    for suite, data in results.items():
        row = {
            "runs": figure(data, "runs") or figure(data, "kills") + figure(data, "task_runs") + figure(data, "bad_inputs"),
            "faults": figure(data, "faults_injected") + figure(data, "failures_injected") + figure(data, "kills"),
            "detected": figure(data, "failures_detected") + figure(data, "reruns_converged"),
            "fp": figure(data, "false_passes"),
            "ff": figure(data, "false_failures"),
            "leaks": figure(data, "leaks_found"),
            "bad": figure(data, "bad_inputs"),
        }
        for key, value in row.items():
            totals[key] += value
        lines.append(
            f"| {suite} | {row['runs']} | {row['faults']} | {row['detected']} | {row['fp']} | {row['ff']} | "
            f"{row['leaks']} | {row['bad']} | {data.get('seconds', '')} | {data.get('finished') or 'NOT FINISHED'} |"
        )
    lines.append(
        f"| **all** | {totals['runs']} | {totals['faults']} | {totals['detected']} | {totals['fp']} | "
        f"{totals['ff']} | {totals['leaks']} | {totals['bad']} | | |"
    )
    return lines


def details(suite: str, data: dict[str, Any]) -> list[str]:
    lines = [
        f"### {suite}",
        "",
        data.get("description", ""),
        "",
        f"Reproduce: `{command(data, suite)}`",
        "",
        "Figures: " + ", ".join(f"{name} **{value}**" for name, value in sorted(data.get("figures", {}).items())),
        "",
    ]
    rows = data.get("rows", [])
    if suite == "faults":
        lines += [
            "| level | run | exit | seconds | faults | of them errors | mutating calls (retries aside) | problems |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        lines += [
            f"| {cell(r['level'])} | {r['run']} | {r['exit']} | {r['seconds']} | {r['faults']} | "
            f"{r['error_answers']} | {cell(json.dumps(r['mutating_calls'], sort_keys=True))} | "
            f"{cell('; '.join(r['problems']) or '-')} |"
            for r in rows
        ]
    elif suite in VARIANT_SUITES:
        classes: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in rows:
            classes.setdefault((r.get("time", "none"), r["class"], r["variant"]), []).append(r)
        lines += [
            "| time variants | class | variant | runs | expected exit | exits seen | cause printed | problems |",
            "|---|---|---|---:|---:|---|---:|---|",
        ]
        for (time_variants, kind, variant), group in sorted(classes.items()):
            exits = sorted({r["exit"] for r in group})
            printed = sum(bool(r.get("cause_printed", True)) for r in group)
            issues = "; ".join(p for r in group for p in r["problems"]) or "-"
            lines.append(
                f"| {time_variants} | {kind} | {variant} | {len(group)} | {group[0]['expected_exit']} | {exits} | "
                f"{printed}/{len(group)} | {cell(issues)} |"
            )
    elif suite == "interruption":
        lines += ["| kill | after (s) | stage reached | re-run exit | problems |", "|---:|---:|---|---:|---|"]
        lines += [
            f"| {r['kill']} | {r['after_seconds']} | {cell(r['stage'])}"
            f"{' (had finished)' if r.get('finished_before_kill') else ''} | {r['rerun_exit']} | "
            f"{cell('; '.join(r['problems']) or '-')} |"
            for r in rows
        ]
    elif suite == "concurrency":
        lines += [
            "| pair | delay (s) | exits | deployed, in order | final label | a non-zero run said | problems |",
            "|---:|---:|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['pair']} | {r['delay']} | {r['exits']} | {', '.join(r['deployed_in_order'])} | {r['final']} | "
            f"{cell('; '.join(s for s in r.get('said', []) if s) or '-')} | {cell('; '.join(r['problems']) or '-')} |"
            for r in rows
        ]
    elif suite == "superseded":
        lines += ["| repeat | exit | superseded reported | problems |", "|---:|---:|---|---|"]
        lines += [
            f"| {r['repeat']} | {r['exit']} | {r['superseded_reported']} | {cell('; '.join(r['problems']) or '-')} |"
            for r in rows
        ]
    elif suite == "bad_input":
        lines += [
            "Every bad input tried, the command, its exit code, the start of its message (stderr, as printed), and "
            "the mutating calls the stand-in counted (none is the requirement):",
            "",
            "| bad input | command | exit | message | mutating calls |",
            "|---|---|---:|---|---|",
        ]
        lines += [
            f"| {cell(r['input'])} | `{cell(r['command'])}` | {r['exit']} | {cell(r['message'])} | "
            f"{cell(json.dumps(r['mutating_calls'])) if r['mutating_calls'] else 'none'} |"
            for r in rows
        ]
    elif suite == "secrets":
        markers = data.get("parameters", {}).get("markers", {})
        lines += [
            "Markers (Python `ascii()` notation): " + "; ".join(f"{k} `{v}`" for k, v in markers.items()),
            "",
            "| task run | leaks |",
            "|---|---|",
        ]
        lines += [f"| `{cell(r['run'])}` | {cell(', '.join(r['leaks']) or 'none')} |" for r in rows]
        written = data.get("parameters", {}).get("files_written", [])
        lines += [
            "",
            f"Files the tools wrote in the project and searched: {len(written)} "
            f"({', '.join(sorted({w.split('/')[0] + '/' for w in written}))}); plus HOME, TMPDIR and the "
            "stand-in's server log.",
        ]
    return lines + [""]


def per_variant(runs: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(time variants, suite) -> the latest run that covered it and its rows under those variants."""
    latest: dict[tuple[str, str], tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for data in runs:  # oldest first: a later run of the same variants and suite replaces an earlier one
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in data.get("rows", []):
            grouped.setdefault(row.get("time", "none"), []).append(row)
        for time_variants, rows in grouped.items():
            latest[(time_variants, data["suite"])] = (data, rows)
    return latest


def variant_figures(rows: list[dict[str, Any]]) -> dict[str, int]:
    provoked = [r for r in rows if r["expected_exit"] != 0]
    return {
        "runs": len(rows),
        "provoked": len(provoked),
        "detected": sum(r["exit"] == r["expected_exit"] and bool(r.get("cause_printed", True)) for r in provoked),
        "fp": sum(any(p.startswith("FALSE PASS") for p in r["problems"]) for r in rows),
        "ff": sum(any(p.startswith("FALSE FAILURE") for p in r["problems"]) for r in rows),
        "other": sum(
            bool(r["problems"]) and not any(p.startswith(("FALSE PASS", "FALSE FAILURE")) for p in r["problems"]) for r in rows
        ),
    }


def mean_seconds(rows: list[dict[str, Any]]) -> str:
    """The mean time of one judged `inv` run (recorded since the variant passes were added; "-" before)."""
    timed = [r["seconds"] for r in rows if "seconds" in r]
    return f"{sum(timed) / len(timed):.1f}" if timed else "-"


def last_line(row: dict[str, Any]) -> str:
    return next((line for line in reversed(row.get("output", "").splitlines()) if line.strip()), "")


def variants_section(runs: list[dict[str, Any]]) -> list[str]:
    latest = per_variant(runs)
    if not latest:
        return ["No run under the time variants yet.", ""]
    order = {name: index for index, name in enumerate(TIME_PASSES)}
    keys = sorted(latest, key=lambda key: (order.get(key[0], len(order)), key[0], VARIANT_SUITES.index(key[1])))
    lines = [
        "| time variants | suite | runs | failures provoked | detected | false passes | false failures | "
        "other problems | mean s per run | seconds (whole run) | finished | produced by |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    commands: list[str] = []
    totals = dict.fromkeys(("runs", "provoked", "detected", "fp", "ff", "other"), 0)
    for time_variants, suite in keys:
        data, rows = latest[(time_variants, suite)]
        found = variant_figures(rows)
        for name, value in found.items():
            totals[name] += value
        run = command(data, suite)
        if run not in commands:
            commands.append(run)
        lines.append(
            f"| {time_variants} | {suite} | {found['runs']} | {found['provoked']} | {found['detected']} | {found['fp']} | "
            f"{found['ff']} | {found['other']} | {mean_seconds(rows)} | {data.get('seconds', '')} | "
            f"{data.get('finished') or 'NOT FINISHED'} | "
            f"command {commands.index(run) + 1} |"
        )
    lines.append(
        f"| **all** | | {totals['runs']} | {totals['provoked']} | {totals['detected']} | {totals['fp']} | {totals['ff']} | "
        f"{totals['other']} | | | | |"
    )
    lines += ["", "The commands that produced these rows (each run's seed recorded):", ""]
    lines += [f"{index}. `{run}`" for index, run in enumerate(commands, 1)]
    wrong = [
        (time_variants, suite, row)
        for time_variants, suite in keys
        for row in latest[(time_variants, suite)][1]
        if row["problems"]
    ]
    lines += ["", "Runs with a problem under the time variants (what the tool printed first):", ""]
    lines += [
        f"- {time_variants}, {suite}, {row['class']} ({row['variant']}) #{row['repeat']}: exit {row['exit']} "
        f"(expected {row['expected_exit']}); {cell('; '.join(row['problems']))}; "
        + (f"said: `{cell(row['message'])}`" if row.get("message") else f"last line: `{cell(last_line(row))}`")
        + (f"; known, pinned by an xfail test: {cell(row['known_wrong'])}" if row.get("known_wrong") else "")
        for time_variants, suite, row in wrong
    ] or ["- none"]
    return lines + [""]


def check(results: dict[str, dict[str, Any]]) -> list[str]:
    problems = [f"{suite}: no results" for suite in SUITES if suite not in results]
    for suite, data in results.items():
        if not data.get("finished"):
            problems.append(f"{suite}: did not finish")
        problems += [
            f"{suite}: {name} = {value}" for name, value in data.get("figures", {}).items() if name in MUST_BE_ZERO and value
        ]
    return problems


# Written by hand from the output of scripts/mutation.sh (it takes half an hour), kept here so that it survives
# regeneration.
MUTATION_SCORES = """## Mutation scores

How much of the code behind the two promises (a failed deploy is never reported as a success; a secret never shows) a
fast test actually guards. A mutant is one small change to a module: an operator, a comparison, a condition, a string, a
number, a dropped item of a tuple. It is killed when some test of the fast suite (`pytest -m "not slow"`) fails against
it (or hangs past mutmut's timeout); it survives otherwise, including when no fast test reaches it.

    bash scripts/mutation.sh ebship/watch.py ebship/output.py ebship/envvars.py ebship/settings.py

prints killed/total per module and every survivor. mutmut 3.8.1 (`[tool.mutmut]` in `pyproject.toml`) mutates inside
functions; `scripts/mutation_score.py` then changes each module-level constant and class default one at a time (a string
altered, a number plus one, one item of a tuple dropped; the items of a tuple of calls, like `settings.SPECS`, are dropped
whole, not changed inside) and runs the test files that reach the module. All of it happens in a throw-away copy of the
working tree. `tests/test_static.py` (ruff and mypy over the tree) is left out, since mutmut's generated code never passes
it: a mutant only mypy would catch counts as a survivor here. About 5 minutes for watch.py and 30 for all four on 2 cores.

| module | mutants: functions + constants | killed | score |
|---|---:|---:|---:|
| `ebship/watch.py` | 454 + 23 = 477 | 450 + 21 = 471 | 98.7 % |
| `ebship/output.py` | 69 + 1 = 70 | 66 + 1 = 67 | 95.7 % |
| `ebship/envvars.py` | 637 | 615 | 96.5 % |
| `ebship/settings.py` | 147 + 39 = 186 | 140 + 38 = 178 | 95.7 % |

Measured on 2026-11-27: watch.py at commit 898f199; output.py at 3135a58, settings.py at 307053f and envvars.py at
57bbb0c, after their rule tests landed (before them: output.py 39/70, 55.7 %; settings.py 139/186, 74.7 %; envvars.py
522/639, 81.7 %). envvars.py's figure comes from the same command without the function/constant split.

Before issue 16's tests, the same run killed 310 of watch.py's 454 function mutants (68 %): the
outcome's fields (state, cause, events, API calls), the timeout texts, `until_ready`'s backoff, the schedule, the
superseded logic's comparisons and the closing grace were not pinned down by any fast test.

Survivors of `ebship/watch.py`, each equivalent (changes nothing observable):

- `_confirm`: `self.schedule.next(interval, None)` for `False`: `next` only tests the flag's truth.
- `_superseded_by`: `return "XXXX"` when there is no success time: unreachable, `_confirm` asks only after a success
  event, which sets it.
- `follow`: `quiet -= 1` for `+= 1`: the count is only tested for being non-zero and a multiple of `state_every`, which
  its negative keeps.
- `follow`: `started_seen = None` for `False`: only ever tested for truth.
- `FAILURE_PREFIXES` without `"Update environment operation is complete, but with errors."` or without `"Create
  environment operation is complete, but with errors."`: `INCOMPLETE_CLOSING` matches both.

Survivors of `ebship/output.py`, `ebship/envvars.py` and `ebship/settings.py`, each equivalent:

- `output.py` (3): `json.dumps(secret, ensure_ascii=None)` for `False` (only its truth counts);
  `traceback.format_exception` given `None` or `type(None)` as its first argument (ignored when a value and a traceback
  follow, since Python 3.10).
- `settings.py` (8): the `"default"` source name compared in `load` (`"XXdefaultXX"`, `"DEFAULT"`: an empty value with a
  non-empty default can never come from the default); `- {"XXsourcesXX"}` (no setting is named SOURCES); `.env`'s encoding
  (`None`, absent, `"UTF-8"`: python-dotenv's default is UTF-8 and codec names ignore case); `SettingSpec.pattern_help`'s
  default (never shown: every spec with a pattern sets its own).
- `envvars.py` (22): `_Substitution`'s text `""` (overwritten before it is read); `continue` for `break` on a match
  inside consumed text (a name holds no `$`, so it never happens); the malformed `"${"` text and `secrets_known`'s key
  (the text raises or is dropped; the key only reaches discarded messages); `or "XXXX"` on a missing DeploymentStatus
  (still neither deployed nor pending); the refusal's `times` (printed only for secrets); `REFUSED_REASONS.get(..., None)`
  (only tested for truth); eight `validate` mutants where `None` stands for `False` or `True` adds only `=` (which raises
  before any warning); the `ASCII_LETTERS_DIGITS` and `DOCUMENTED_EXAMPLE_CHARACTERS` constant mutants (adding `X` to a
  set that holds `X`).
"""


def render(results: dict[str, dict[str, Any]], variant_runs: list[dict[str, Any]] | None = None) -> str:
    finished = sorted(data["finished"] for data in results.values() if data.get("finished"))
    sizes = sorted(
        {(d["parameters"].get("RELIABILITY_RUNS"), d["parameters"].get("RELIABILITY_REPEATS")) for d in results.values()}
    )
    lines = [
        "# Reliability: the figures",
        "",
        "Generated by `scripts/reliability_report.py` from the JSON files the suites in `tests/reliability/` write to "
        "`.local/reliability/` as they run. Do not edit by hand: run the suites, then the script.",
        "",
        f"Last run: {finished[0] if finished else '?'} to {finished[-1] if finished else '?'}; sizes "
        + ", ".join(f"RELIABILITY_RUNS={runs}, RELIABILITY_REPEATS={repeats}" for runs, repeats in sizes)
        + ".",
        "",
        "## Summary",
        "",
        *summary(results),
        "",
        "Columns: *runs* are `inv` runs judged (fault and detection runs, kills, task runs searched, bad inputs); "
        "*faults injected* are error and slow answers (faults), failures provoked (detection) and SIGKILLs "
        "(interruption); *failures detected* are failures ended with the right exit class and their cause printed, "
        "and killed runs whose re-run converged.",
        "",
        "## How to reproduce",
        "",
        "CI size (part of the normal suite, `bash scripts/test.sh`; about 6 minutes on 2 cores):",
        "",
        f"    {CI}",
        "",
        "Soak (bigger N and M; the sizes above say which one produced this file):",
        "",
        f"    {SOAK}",
        "",
        "| variable | CI | meaning |",
        "|---|---:|---|",
        "| `RELIABILITY_RUNS` | 3 | `inv ci` runs per fault level (3 levels); random SIGKILLs (one more at a fixed point) |",
        "| `RELIABILITY_REPEATS` | 2 | repetitions per failure class and variant, healthy deploys per variant; "
        "concurrent pairs; superseded deploys |",
        "| `RELIABILITY_SEED` | time | seed of the fault choice, the kill times and the pair delays (recorded below) |",
        "",
        "Each suite's own command, with the seed of the last run, is under its heading.",
        "",
        "## Time variants",
        "",
        "The detection, closings and fleets suites also run under the stand-in's time variants (localeb/README.md, "
        '"Time variants"): `RELIABILITY_VARIANTS` names the passes, separated by commas, each `none`, one variant, '
        "`realistic` or variants joined by `+`, on a clock compressed by `RELIABILITY_TIME_SCALE` (default 0.1: a 10 s "
        "health report comes every second, realistic's 20 s phases take 2 s; the tool's own polling is not compressed). "
        "CI runs `none,realistic`: the suites as before plus one compressed realistic pass (every variant but "
        "health-hidden). Under a variant, VersionLabel is kept after a failed deploy, HEALTH_SETTLE_TIMEOUT is at least "
        "10 s + 40 s x the scale (a report interval, retiring instances, a health downgrade) and DEPLOY_TIMEOUT at least "
        "180 s. Every verdict is the same under every variant, time aside, but under health-hidden: there "
        "DescribeInstancesHealth lists no instance, so a deploy whose events said success, and every failure only the "
        'instances\' reports tell, must fail with "unknown which version the instances run" (exit 1).',
        "",
        "The soak, one pass at a time (a file of its own per `RELIABILITY_VARIANTS` value, "
        "`.local/reliability/SUITE@VARIANTS.json`):",
        "",
        f"    {VARIANT_SOAK}",
        "",
        "Per pass and suite, the latest run (*failures provoked* are the runs whose right verdict is a failure; "
        "*detected* ended with that exit code and the cause printed; *other problems* are runs with the right "
        "verdict but a wrong exit class, a missing cause or a traceback):",
        "",
        *variants_section(variant_runs or []),
        "## What the suites found and what was fixed",
        "",
        "- **Closings**: the watcher ended an update at its first success event. A configuration update that Elastic "
        'Beanstalk closed with errors one second after "Successfully deployed new configuration to environment." was '
        "reported deployed when the environment stayed Green; a deploy closed with command timeouts (a WARN closing) "
        "was reported deployed when VersionLabel kept the new label; health that stayed Yellow waited for the whole "
        "deadline. The update now ends at its closing event (or Ready plus a grace of event reads), events are read "
        "once more before a success, and health outside the accepted set fails after HEALTH_SETTLE_TIMEOUT.",
        "- **Interruption**: a run SIGKILLed while the app's tests ran left its test container behind for ever (its "
        "`finally` never ran). Test containers now carry their owner (host, pid, start time); the next `docker.test` "
        "on the host removes those whose owner is gone.",
        "- **Concurrency**: a deploy that succeeded but was superseded at once by another update was reported FAILED "
        '("the environment runs X, not Y"), judging the other update\'s state as its own; with `--rollback` it would '
        "then have undone the other deploy. It is now reported as deployed and superseded, naming the other request.",
        "- **Time variants** (found, not fixed: the watcher is the lead's): under health-downgrade, a fleet whose app "
        "fails its health checks from the moment it is deployed (`health_after_deploy` Degraded) is passed under "
        "Rolling, RollingWithAdditionalBatch, Immutable and TrafficSplitting: Elastic Beanstalk keeps a failing "
        "instance Ok/Green for three failed checks (30 s), and the watcher's success needs only one instance report "
        "newer than the closing event, which comes before the downgrade. Kept in the figures below; pinned by "
        "`tests/reliability/test_fleets.py::test_health_that_turns_red_after_the_closing_fails_the_deploy` "
        "(xfail, strict).",
        '- **Bad input**: an unreachable AWS endpoint ended in an "Unexpected error" traceback; it now ends with '
        "exit 1 and one line naming the endpoint and what to check.",
        "- **Secrets**: a secret was masked only as itself and in base64, so a traceback showing it as Python does "
        "(repr in a KeyError, escaped quotes, backslashes, non-ASCII) printed it. Its repr, ascii and JSON forms "
        "are now masked too.",
        "",
        "Scope notes: the detection matrix drives `inv eb.deploy`/`inv eb.version` (the stages of `inv ci` that meet "
        "these failures) so that 8 classes x 2 variants x M fit the CI budget; `tests/test_ci.py` covers a failing "
        "deploy through `inv ci`. The stand-in's server log is searched like every other file, not excluded.",
        "",
        "## Per suite",
        "",
    ]
    for suite in SUITES:
        if suite in results:
            lines += details(suite, results[suite])
        else:
            lines += [f"### {suite}", "", "No results: the suite did not run.", ""]
    return "\n".join(lines).rstrip() + "\n\n" + MUTATION_SCORES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=ROOT / ".local" / "reliability")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "reliability.md")
    parser.add_argument("--check", action="store_true", help="exit 1 on a missing suite or a non-zero must-be-zero figure")
    args = parser.parse_args(argv)
    results = load(args.results)
    variant_runs = load_variant_runs(args.results)
    if not results:
        print(
            f"No results in {args.results}: run the suites first (.venv/bin/python -m pytest tests/reliability).", file=sys.stderr
        )
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results, variant_runs))
    print(f"Wrote {args.output} from {len(results)} suite(s).")
    problems = check(results)
    problems += [
        f"{suite} under {time_variants}: {name} = {value}"
        for (time_variants, suite), (_, rows) in per_variant(variant_runs).items()
        for name, value in variant_figures(rows).items()
        if name in ("fp", "ff", "other") and value
    ]
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
