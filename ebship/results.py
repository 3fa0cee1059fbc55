"""Results machines can read: one JSON document on stdout (``--json``), and GitHub Actions' step outputs and masks.

A task opens ``recorded(...)`` around its whole body and fills the ``Record`` as it learns things (the target, the
deploy's report, inv ci's report, the environment's state, eb.env's planned changes). When the body ends, however it
ends, the record becomes one document (docs/results.schema.json): printed to stdout under ``--json`` (people's output
goes to stderr meanwhile), and, under GitHub Actions, appended to $GITHUB_OUTPUT as step outputs. The exception that
ended the body goes on to the task's own handler, so exit codes and messages stay what they are without --json.

Everything in the document is masked by the console twice: each string before it is serialized, then the JSON text.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ebship import envupdate, envvars
from ebship.aws import CloudError, known_failure
from ebship.beanstalk import EnvState
from ebship.cloud import Cloud
from ebship.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE, UsageError
from ebship.job import Destination, Job, Target
from ebship.output import Console
from ebship.settings import read_dotenv
from ebship.verdict import Report, final_state, url_of

if TYPE_CHECKING:
    from ebship.pipeline import CiReport

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "results.schema.json"  # in the repository, not the package

VERDICTS = {
    EXIT_OK: "ok",
    EXIT_FAILED: "failed",
    EXIT_USAGE: "bad-input",
    EXIT_TIMEOUT: "timeout",
    EXIT_INTERRUPTED: "interrupted",
}

# The step outputs a GitHub Actions job reads as steps.<id>.outputs.<name>; "result" is the whole document, compact.
OUTPUTS = ("verdict", "exit-code", "environment", "version", "digest", "url", "health", "result")


@dataclass
class Record:
    """What one run of a task found out; its fields stay empty (None in the document) until the task knows them."""

    command: str  # "ci", "eb.deploy", "eb.promote", "eb.status", "eb.env"
    dry_run: bool = False
    active: bool = False  # a document will be made (--json, or GitHub Actions): worth an extra read
    target: Target | None = None
    version: str = ""
    digest: str = ""
    report: Report | None = None  # a deploy's or a configuration update's
    ci: CiReport | None = None
    state: EnvState | None = None  # eb.status
    changes: envvars.EnvDiff | None = None  # eb.env --dry-run
    exit_code: int = EXIT_OK
    message: str = ""
    seconds: float = 0.0


class recorded:  # noqa: N801 (used as a context manager, like contextlib's)
    """``with recorded("eb.deploy", console, as_json) as record:`` around a task's whole body (bad input included)."""

    def __init__(
        self, command: str, console: Console, as_json: bool, *, dry_run: bool = False, environ: Mapping[str, str] | None = None
    ) -> None:
        environ = os.environ if environ is None else environ
        self.console = console
        self.as_json = as_json
        self.github = GitHubActions.from_environ(environ)
        self.record = Record(command, dry_run, active=as_json or self.github is not None)
        self.started = 0.0

    def __enter__(self) -> Record:
        self.started = time.monotonic()
        self.console.people_on_stderr = self.as_json
        if self.github is not None:
            # Before anything else is printed: the secrets known now, then each one as it becomes known.
            self.github.mask(self.console, sorted(self.console.secrets))
            github, console = self.github, self.console
            console.on_secret = lambda forms: github.mask(console, forms)
            problem = github.unwritable()
            if problem:
                # Bad input, found before anything changed: a run whose outputs cannot be recorded stops here, with
                # its document, rather than deploy and then fail (or pass) without the outputs later steps read.
                self.github = None  # the document still goes to stdout; no outputs are written
                refused = UsageError(problem)
                self.__exit__(UsageError, refused, None)
                raise refused
        return self.record

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        record = self.record
        record.seconds = time.monotonic() - self.started
        if error is not None:
            record.exit_code, record.message = ending(error)
            report = getattr(error, "report", None)  # verdict.DeployFailed / DeployTimedOut carry the failed deploy's
            if isinstance(report, Report) and record.report is None:
                record.report = report
        elif record.ci is not None:
            record.exit_code, record.message = record.ci.exit_code, record.ci.message
        try:
            if record.active:
                built = masked(document(record), self.console)
                if self.as_json:
                    self.console.document(json.dumps(built, indent=2))
                if self.github is not None:
                    self.github.write_outputs(built, self.console)
        finally:
            self.console.people_on_stderr = False
            self.console.on_secret = None
        # None: the exception (if any) goes on to the task's handler, which prints it and exits with its code


def ending(error: BaseException) -> tuple[int, str]:
    """The exit code and message the task's handler gives ``error`` (tasks/_support.reported)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "Interrupted."
    code = getattr(error, "code", None)  # Invoke's Exit (and SystemExit): the code it was raised with
    if isinstance(code, int) and not isinstance(code, bool):
        return code, str(getattr(error, "message", "") or "")
    known = known_failure(error)
    if known is not None:
        return known.exit_code, str(known)
    return EXIT_FAILED, f"Unexpected error ({type(error).__name__})."


def verdict(exit_code: int, dry_run: bool) -> str:
    if exit_code == EXIT_OK:
        return "planned" if dry_run else "ok"
    return VERDICTS.get(exit_code, "failed")


def document(record: Record) -> dict[str, Any]:
    """The record as docs/results.schema.json describes it, unmasked (``masked`` masks it)."""
    ci = record.ci
    report = record.report or (ci.deploy if ci is not None else None)
    state = record.state or (final_state(report) if report is not None else None)
    target = record.target or (report.target if report is not None else None)
    version = record.version or (ci.label if ci is not None else "")
    if not version and report is not None and record.command != "eb.env":  # eb.env's report is a configuration's
        version = report.label
    if not version and record.state is not None:  # eb.status: the version it runs
        version = record.state.version_label
    return {
        "schema_version": SCHEMA_VERSION,
        "command": record.command,
        "verdict": verdict(record.exit_code, record.dry_run),
        "exit_code": record.exit_code,
        "message": record.message or (None if record.exit_code == EXIT_OK else f"exit code {record.exit_code}"),
        "dry_run": record.dry_run,
        "environment": environment(record, target),
        "version": version or None,
        "digest": record.digest or (ci.digest if ci is not None else "") or None,
        "url": url_of(state) or None,
        "health": (state.health or None) if state is not None else None,
        "status": (state.status or None) if state is not None else None,
        "running_version": (state.version_label or None) if state is not None else None,
        "stages": stages(record),
        "rollback": rollback(report),
        "changes": changes(record.changes),
    }


def environment(record: Record, target: Target | None) -> dict[str, str | None] | None:
    if target is not None:
        return {"name": target.name, "eb_environment": target.environment, "application": target.application}
    if record.ci is not None and record.ci.decision.environment:  # decided, but stopped before its target was read
        return {"name": record.ci.decision.environment, "eb_environment": None, "application": None}
    return None


def stages(record: Record) -> list[dict[str, Any]]:
    """inv ci's stages; a single task is one stage of its own name."""
    if record.ci is not None:
        return [
            {"name": s.name, "result": s.result, "seconds": round(s.seconds, 3), "detail": s.detail or None}
            for s in record.ci.stages
        ]
    if record.exit_code == EXIT_OK:
        result = "planned" if record.dry_run else "ok"
    else:
        result = "interrupted" if record.exit_code == EXIT_INTERRUPTED else "failed"
    return [{"name": record.command, "result": result, "seconds": round(record.seconds, 3), "detail": None}]


def rollback(report: Report | None) -> dict[str, Any] | None:
    if report is None or report.rollback is None:
        return None
    return {"to": report.previous_label, "result": report.rollback.result, "ok": report.rollback.ok}


def changes(difference: envvars.EnvDiff | None) -> dict[str, Any] | None:
    """Keys only: a value never enters the document, masked or not."""
    if difference is None:
        return None
    return {
        "added": sorted(difference.added),
        "changed": sorted(difference.changed),
        "removed": sorted(difference.removed),
        "undeclared": sorted(difference.undeclared),
        "unchanged": len(difference.unchanged),
    }


def masked(value: Any, console: Console) -> Any:
    if isinstance(value, str):
        return console.mask(value)
    if isinstance(value, dict):
        return {console.mask(key): masked(item, console) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item, console) for item in value]
    return value


# --- what tasks read for the record (only when it is active) ----------------------------------------------------------


def environment_state(job: Job, target: Target) -> EnvState | None:
    return Cloud(job.settings).eb.environment(target.environment, target.application)


def version_digest(job: Job, target: Target, label: str) -> str:
    """The image digest eb.version recorded in the version's description ("" when it recorded none, or the version
    cannot be read: the deploy itself says what is wrong with it)."""
    from ebship.versions import recorded_digest

    try:
        version = Cloud(job.settings).eb.version(target.application, label)
    except CloudError:
        return ""
    return recorded_digest(version.description) if version is not None else ""


def planned_changes(job: Job, destination: Destination, prune: bool, like: str) -> envvars.EnvDiff:
    """What eb.env --dry-run plans, as its difference: the declared variables against the deployed ones (read-only)."""
    variables = envupdate.declared_variables(job, destination, like)
    values = envvars.resolve_references(variables, {**read_dotenv(job.root / ".env"), **os.environ})
    target = destination.target
    configuration = Cloud(job.settings).eb.configuration(target.application, target.environment)
    return envvars.diff(envvars.current_from_configuration(configuration), values.values, prune)


# --- GitHub Actions -------------------------------------------------------------------------------------------------


@dataclass
class GitHubActions:
    """The runner reads workflow commands (``::add-mask::``) from the step's stdout and stderr alike (actions/runner,
    src/Runner.Worker/Handlers/ScriptHandler.cs: an OutputManager with the command manager on each), and step outputs
    from the file $GITHUB_OUTPUT names (docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands:
    "Masking a value in a log", "Setting an output parameter", "Multiline strings")."""

    output_path: str
    masked: set[str] = field(default_factory=set)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> GitHubActions | None:
        if environ.get("GITHUB_ACTIONS") != "true":
            return None
        return cls(environ.get("GITHUB_OUTPUT", ""))

    def mask(self, console: Console, forms: list[str]) -> None:
        """``::add-mask::`` for each form, on the stream people's output goes to (so it comes before any line that
        could hold the secret), written as it is: these lines are the only ones that carry a secret."""
        lines = [line for form in forms for line in add_mask_lines(form) if line not in self.masked]
        self.masked.update(lines)
        if lines:
            console.out.write("".join(line + "\n" for line in lines))
            console.out.flush()

    def unwritable(self) -> str:
        """Why step outputs could not be appended to $GITHUB_OUTPUT, or "" when they can (or when it is not set)."""
        if not self.output_path:
            return ""
        try:
            with open(self.output_path, "a", encoding="utf-8"):
                pass
        except OSError as error:
            return (
                f"GITHUB_OUTPUT names {self.output_path}, which cannot be written ({error.strerror or error}): this "
                "run's step outputs could not be recorded, so it stopped before changing anything. The runner sets it "
                "to a writable file: do not override it."
            )
        return ""

    def write_outputs(self, built: Mapping[str, Any], console: Console) -> None:
        if not self.output_path:
            console.error("GITHUB_ACTIONS=true but GITHUB_OUTPUT is not set: no step outputs were written.")
            return
        values = step_outputs(built)
        with open(self.output_path, "a", encoding="utf-8") as outputs:  # the runner reads it as UTF-8
            outputs.write("".join(output_entry(name, console.mask(value)) for name, value in values.items()))


def escape_command_data(text: str) -> str:
    """A workflow command's value as the runner unescapes it (actions/runner, src/Runner.Common/ActionCommand.cs)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def add_mask_lines(secret: str) -> list[str]:
    """The whole value, escaped, and for a multi-line secret each line too: "To register a multiline secret you must
    register each line individually" (actions/toolkit, docs/commands.md). Lines under 3 characters are left out, as
    the console leaves out forms that short: masking them would mask ordinary text everywhere."""
    values = [secret]
    if "\n" in secret or "\r" in secret:
        values += [line for line in secret.replace("\r", "\n").split("\n") if len(line.strip()) >= 3]
    return [f"::add-mask::{escape_command_data(value)}" for value in values]


def step_outputs(built: Mapping[str, Any]) -> dict[str, str]:
    environment_name = (built.get("environment") or {}).get("name")
    values = {
        "verdict": built["verdict"],
        "exit-code": str(built["exit_code"]),
        "environment": environment_name,
        "version": built.get("version"),
        "digest": built.get("digest"),
        "url": built.get("url"),
        "health": built.get("health"),
        "result": json.dumps(built, separators=(",", ":")),
    }
    return {name: "" if values[name] is None else str(values[name]) for name in OUTPUTS}


def output_entry(name: str, value: str) -> str:
    """``name=value``; a value with a line break in the delimiter form, with a delimiter the value does not hold."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
