"""What every task shares: loading the settings and the commit, and turning failures into a message and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from invoke import Exit

from ebship import job as jobs
from ebship import targets
from ebship.errors import EXIT_FAILED, EXIT_INTERRUPTED
from ebship.job import Destination, Job
from ebship.output import console

# The folder of the tasks.py Invoke loaded (the module "tasks"): this repository, or an app whose tasks.py loads the
# task modules from the installed eb-ship package (ebship/init.py), where this file's own folder is site-packages.
ROOT = Path(str(sys.modules["tasks"].__file__)).resolve().parent

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a command whose reader closed the pipe


def job(flags: Mapping[str, str | None] | None = None) -> Job:
    """The settings (defaults < .env < environment < flags) and the commit, for the project at ROOT."""
    return jobs.load(ROOT, console, flags)


def targeted(env: str | None, flags: Mapping[str, str | None] | None = None) -> tuple[Job, Destination]:
    """The job and the destination of ``--env``; a target's own settings (``local``'s endpoint, ...) rank below flags."""
    return targets.targeted(ROOT, console, env, flags)


def job_for(env: str | None, flags: Mapping[str, str | None] | None = None) -> Job:
    """The job for a task whose --env is optional: a named target's settings (local: the stand-in's endpoint, bucket and
    registry) when one is named, else the settings alone."""
    return targeted(env, flags)[0] if env else job(flags)


def reported(body: F) -> F:
    """Runs a task body; a PipelineError, missing or refused AWS credentials and an unreachable AWS become one message
    and their exit code, Ctrl-C exit 130, anything else (a bug) a masked traceback."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ebship.aws import known_failure

        try:
            result = body(*args, **kwargs)
            sys.stdout.flush()  # a reader that closed early is found here, not at the interpreter's exit
            return result
        except Exit:
            raise
        except BrokenPipeError:
            # `inv eb.events | head -2`: the reader had what it wanted. Quiet, as a command killed by SIGPIPE is.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=EXIT_BROKEN_PIPE) from None
        except KeyboardInterrupt:
            raise Exit("Interrupted.", code=EXIT_INTERRUPTED) from None
        except Exception as error:
            known = known_failure(error)
            if known is not None:
                if getattr(known, "printed", False):  # a verdict judge printed before explaining it (ebship.verdict)
                    raise Exit(code=known.exit_code) from None
                raise Exit(console.mask(str(known)), code=known.exit_code) from None
            console.traceback(error)
            raise Exit(f"Unexpected error ({type(error).__name__}); the traceback above is masked.", code=EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


# The tasks whose --json (-j) prints a document (docs/results.schema.json's commands).
JSON_COMMANDS = ("ci", "eb.deploy", "eb.promote", "eb.status", "eb.env")


def json_command(argv: list[str]) -> str:
    """The task of a command line that asked for --json, or "" when none did."""
    for index, word in enumerate(argv):
        if word in JSON_COMMANDS:
            rest = argv[index + 1 :]
            asked = any(arg == "--json" or (arg.startswith("-") and not arg.startswith("--") and "j" in arg) for arg in rest)
            return word if asked else ""
    return ""


def documenting_parse_errors() -> None:
    """--json promises a document even for bad input, and Invoke refuses a flag it cannot parse before any task runs:
    its parse of the tasks' flags is wrapped once so that such a refusal prints the document too, and exits 2."""
    from invoke.exceptions import ParseError
    from invoke.program import Program

    if getattr(Program.parse_tasks, "documents_parse_errors", False):
        return
    parse = Program.parse_tasks

    def parse_tasks(self: Program) -> None:
        try:
            parse(self)
        except ParseError as error:
            command = json_command(list(getattr(self, "argv", None) or sys.argv))
            if not command:
                raise
            from ebship.errors import EXIT_USAGE, UsageError
            from ebship.results import recorded

            refused = UsageError(f"{error} (see `inv --help {command}`)")
            try:
                with recorded(command, console, True):
                    raise refused
            except UsageError:
                raise Exit(str(refused), code=EXIT_USAGE) from None

    parse_tasks.documents_parse_errors = True  # type: ignore[attr-defined]
    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]


def terminated_as_interrupted() -> None:
    """CI cancels a job with SIGTERM (and stops its processes with it): treated as Ctrl-C is, so that what Ctrl-C does
    happens for it too: an update that goes on is named with how to follow it, a test container is removed, the
    stand-in local.up was starting is stopped, and --json prints its document. A handler someone else set (or SIGTERM
    ignored on purpose) is left alone."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
