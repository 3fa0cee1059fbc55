"""Short flags from one table: a letter means the same flag in every task.

Invoke gives each flag the first letter of its name that is still free in that task, so across tasks -r came to mean
--repository, --rollback or --relaxed, and -l --label or --like. Tasks made with this module's ``task`` get a short flag
only from SHORT_FLAGS; any other flag has its long form alone.

Long only, on purpose: --bucket, --key and --format (their letters belong to a commoner flag); --rollback, --prune,
--relaxed and --yes, which undo, remove or skip a check and so are written out in full; --like, --from and --to.
"""

from __future__ import annotations

from typing import Any

import invoke

# The help of the flags several tasks share, written once.
YES = "Confirm a change to a protected environment (environments.toml) without typing its name."
JSON = "Print one JSON document on stdout (docs/results.schema.json), people's output on stderr; exit codes unchanged."

# Long name (as typed, dashed) -> its short letter, in every task that has the flag.
SHORT_FLAGS = {
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


class TableTask(invoke.Task):
    """An Invoke task whose short flags come from SHORT_FLAGS instead of the first free letter."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        (long_name,) = opts["names"]  # auto_shortflags is off: the dashed long name alone
        if long_name in SHORT_FLAGS:
            opts["names"] = [long_name, SHORT_FLAGS[long_name]]
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[invoke.Argument]:
        # Invoke pops each flag's help out of self.help while it builds the arguments, so a second call (the parser's,
        # after a test or `--help`) would find none; it works on a copy here.
        kept = dict(self.help)
        try:
            return super().get_arguments(ignore_unknown_help)
        finally:
            self.help = kept


def task(*args: Any, **kwargs: Any) -> Any:
    """``invoke.task`` with the table's short flags: ``@task`` or ``@task(help={...})``."""
    return invoke.task(*args, klass=TableTask, auto_shortflags=False, **kwargs)


def seconds(flag: str, text: object) -> str | None:
    """A flag's whole number of seconds (1 or more) as settings take it, or None when it was not given; anything else
    ("abc", "1.5", "0") is a UsageError naming the flag. Flags default to None, not a number: Invoke would convert the
    text itself and end in a traceback on "abc"."""
    if text is None:
        return None
    from ebship.operate import whole_number

    return str(whole_number(flag, text, 1))
