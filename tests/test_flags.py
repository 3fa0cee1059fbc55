"""Flags people can remember: across every task `inv` loads, a short flag means one thing, and it is the one in the table
below (the README's); flags that undo, remove or skip a check have no short form; typed flags refuse bad input with one
line naming the flag and exit 2."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke import Task

ROOT = Path(__file__).resolve().parent.parent
INV = str(Path(sys.executable).with_name("inv"))

# The table, stated here rather than imported: long flag -> its short letter, wherever the flag exists.
TABLE = {
    "env": "e",
    "dry-run": "d",
    "timeout": "t",
    "json": "j",
    "label": "l",
    "repository": "r",
    "base-image": "b",
    "network": "n",
    "count": "c",
    "follow": "f",
    "keep": "k",
    "pace": "p",
}
LONG_ONLY = {"bucket", "key", "format", "rollback", "prune", "relaxed", "yes", "like", "from", "to"}


def every_task() -> Iterator[tuple[str, Task]]:
    import tasks

    def walk(collection, prefix=""):
        for name, task in collection.tasks.items():
            yield prefix + name, task
        for name, sub in collection.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    yield from walk(tasks.ns)


def flags_of(task) -> list[tuple[str, str | None]]:
    """(long name, short letter or None) of each flag, as Invoke's parser will see them."""
    found = []
    kept = dict(task.help)  # Invoke's own Task empties its help while it builds the flags
    try:
        arguments = task.get_arguments()
    finally:
        task.help = kept
    for argument in arguments:
        longs = [name for name in argument.names if len(name) > 1]
        shorts = [name for name in argument.names if len(name) == 1]
        assert len(longs) == 1 and len(shorts) <= 1, argument.names
        found.append((longs[0], shorts[0] if shorts else None))
    return found


def test_the_table_gives_each_letter_to_one_flag():
    assert len(set(TABLE.values())) == len(TABLE)
    assert not LONG_ONLY & TABLE.keys()


def test_no_short_flag_means_two_things_across_tasks():
    meanings: dict[str, set[str]] = defaultdict(set)
    where: dict[str, list[str]] = defaultdict(list)
    for name, task in every_task():
        for long_name, short in flags_of(task):
            if short:
                meanings[short].add(long_name)
                where[short].append(f"{name} --{long_name}")
    twice = {short: sorted(where[short]) for short, longs in meanings.items() if len(longs) > 1}
    assert not twice, f"short flags with more than one meaning: {twice}"


def test_every_short_flag_is_the_tables_and_long_only_flags_have_none():
    seen = set()
    for name, task in every_task():
        for long_name, short in flags_of(task):
            seen.add(long_name)
            if long_name in TABLE:
                assert short == TABLE[long_name], f"{name} --{long_name}: -{short}, the table says -{TABLE[long_name]}"
            else:
                assert short is None, f"{name} --{long_name} has -{short}, which the table does not give it"
    # The table is about flags that exist: the ones these tasks had when it was made are all still there.
    assert {"env", "dry-run", "timeout", "label", "repository", "rollback", "relaxed", "like", "prune", "keep", "key"} <= seen


def test_a_tasks_flags_keep_their_help_when_read_twice():
    """Invoke empties a task's help while it builds the flags, so reading them before the parser does (a test, a
    tool listing flags) left `inv --help` and the parser with no help at all. (ci and doctor are made in tasks/ci.py.)"""
    from tasks._flags import TableTask

    for name, task in every_task():
        if name in ("ci", "doctor") and not isinstance(task, TableTask):
            continue
        first = {argument.name: argument.help for argument in task.get_arguments()}
        second = {argument.name: argument.help for argument in task.get_arguments()}
        assert first == second, name
        assert all(first.values()), f"{name}: flags with no help {[flag for flag, text in first.items() if not text]}"


def inv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INV, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_inv_help_shows_the_tables_letters():
    deploy = inv("--help", "eb.deploy")
    assert deploy.returncode == 0, deploy.stderr
    assert "-l STRING, --label=STRING" in deploy.stdout
    assert "-t STRING, --timeout=STRING" in deploy.stdout
    rollback = next(line for line in deploy.stdout.splitlines() if "--rollback" in line)
    assert rollback.split()[0] == "--rollback"
    env = inv("--help", "eb.env")
    assert env.returncode == 0, env.stderr
    for long_only in ("--like", "--relaxed", "--prune"):
        line = next(line for line in env.stdout.splitlines() if long_only in line)
        assert line.split()[0].startswith(long_only), line


@pytest.mark.parametrize(
    "args, flag",
    [
        (["eb.deploy", "--env", "stg", "--timeout", "abc"], "--timeout"),
        (["eb.deploy", "--env", "stg", "-t", "0"], "--timeout"),
        (["eb.env", "--env", "stg", "--timeout", "1.5", "--dry-run"], "--timeout"),
        (["eb.events", "--env", "stg", "-c", "abc"], "--count"),
        (["eb.prune", "--keep", "many", "--dry-run"], "--keep"),
    ],
)
def test_typed_flags_refuse_bad_input_with_one_line_naming_the_flag(args, flag):
    result = inv(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{flag} takes a whole number"), result.stderr
    assert not result.stdout.strip(), result.stdout


def test_a_whole_number_of_seconds_passes_the_timeout_check():
    """The same run with -t 60 goes past the flag and stops at the next thing wrong: the environment's name."""
    result = inv("eb.deploy", "--env", "no-such-environment", "-t", "60")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "timeout" not in (result.stdout + result.stderr).lower()
    assert "no-such-environment" in result.stderr


@pytest.mark.parametrize("args", [("eb.deploy", "--json", "--bogus"), ("ci", "-j", "--env"), ("eb.status", "--bogus", "-j")])
def test_json_with_a_flag_invoke_cannot_parse_still_prints_the_document(args):
    import json

    result = inv(*args)
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert (document["command"], document["verdict"], document["exit_code"]) == (args[0], "bad-input", 2)
    assert document["message"] in result.stderr
    assert "Traceback" not in result.stderr


def test_without_json_a_flag_invoke_cannot_parse_is_invokes_own_refusal():
    result = inv("eb.deploy", "--bogus")
    assert (result.returncode, result.stdout) == (1, "")
    assert "--bogus" in result.stderr
