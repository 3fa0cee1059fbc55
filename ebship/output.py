"""All printing goes through one Console, which masks every secret it has been told about, errors included."""

from __future__ import annotations

import base64
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import TextIO

MASK = "****"


def secret_forms(secret: str) -> set[str]:
    """A secret and the encodings it may travel in (an auth file holds base64 of ``user:password``)."""
    forms = {secret}
    if secret:
        forms.add(base64.b64encode(secret.encode()).decode())
        # As messages and tracebacks show it: repr (a KeyError's text, a container's repr), ascii(), JSON; these escape
        # quotes, backslashes and non-ASCII, so the plain form is not found in them.
        forms |= {repr(secret)[1:-1], ascii(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        # A secret of several lines (a key, a certificate) reaches the output a line at a time (an app's log, each line
        # printed on its own): each line is masked on its own too.
        forms |= {line.strip() for line in secret.splitlines()}
    return {form for form in forms if len(form) >= 3}


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out
        self._err = err
        self._secrets: set[str] = set()
        # --json: stdout carries one document (``document``), so people's output goes to stderr meanwhile.
        self.people_on_stderr = False
        # Told of each form a secret is masked in, when it becomes known (ebship.results: GitHub's ::add-mask::).
        self.on_secret: Callable[[list[str]], None] | None = None

    @property
    def out(self) -> TextIO:
        """Where people's output goes: stdout, or stderr while stdout carries a document."""
        return self.err if self.people_on_stderr else self.data

    @property
    def data(self) -> TextIO:
        """stdout, whatever ``people_on_stderr`` says."""
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    @property
    def is_terminal(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def add_secrets(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self._remember(secret_forms(secret))

    def add_credentials(self, username: str, password: str) -> None:
        """Masks the password and the base64 ``user:password`` token Docker auth files carry."""
        self.add_secrets([password])
        if password:
            self._remember({base64.b64encode(f"{username}:{password}".encode()).decode()})

    def _remember(self, forms: set[str]) -> None:
        new = forms - self._secrets
        self._secrets |= new
        if new and self.on_secret is not None:
            self.on_secret(sorted(new))

    @property
    def secrets(self) -> frozenset[str]:
        """Every form of every secret this console masks."""
        return frozenset(self._secrets)

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def print(self, text: str = "", *, end: str = "\n") -> None:
        self.out.write(self.mask(text) + end)
        self.out.flush()

    def document(self, text: str) -> None:
        """Writes a document for machines (--json) to stdout, masked like everything else."""
        self.data.write(self.mask(text) + "\n")
        self.data.flush()

    def error(self, text: str) -> None:
        self.err.write(self.mask(text) + "\n")
        self.err.flush()

    def traceback(self, error: BaseException) -> None:
        """Prints an unexpected error's traceback, masked, for a bug report."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.error(text.rstrip())


console = Console()
