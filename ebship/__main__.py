"""`python -m ebship init [--force] [--dry-run]`: puts eb-ship into the Dockerized app in the current folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from ebship.errors import EXIT_USAGE, UsageError

USAGE = "python -m ebship init [--force] [--dry-run]"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line and exit 2 (argparse's own prints the usage block first)."""
        print(f"python -m ebship: {message} (usage: {USAGE})", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def parser() -> Parser:
    found = Parser(prog="python -m ebship", usage=USAGE, description=__doc__)
    commands = found.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="init")
    init = commands.add_parser("init", usage=USAGE, help="write tasks.py, environments.toml, the Dockerrun template, CI config")
    init.add_argument("--force", action="store_true", help="replace files that exist (each is named)")
    init.add_argument("--dry-run", action="store_true", help="say what would be written, and write nothing")
    return found


def main(argv: list[str] | None = None) -> int:
    from ebship import init

    arguments = parser().parse_args(argv)
    try:
        init.run(Path.cwd(), force=arguments.force, dry_run=arguments.dry_run, say=print)
    except UsageError as error:
        print(f"python -m ebship init: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
