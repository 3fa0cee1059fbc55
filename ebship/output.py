"""All printing goes through one Console, which masks every secret it has been told about, errors included."""

from __future__ import annotations

import base64
import json
import sys
import traceback
from collections.abc import Iterable
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
    return {form for form in forms if len(form) >= 3}


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out
        self._err = err
        self._secrets: set[str] = set()

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    @property
    def is_terminal(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def add_secrets(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            self._secrets |= secret_forms(secret)

    def add_credentials(self, username: str, password: str) -> None:
        """Masks the password and the base64 ``user:password`` token Docker auth files carry."""
        self.add_secrets([password])
        if password:
            self._secrets.add(base64.b64encode(f"{username}:{password}".encode()).decode())

    def mask(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def print(self, text: str = "", *, end: str = "\n") -> None:
        self.out.write(self.mask(text) + end)
        self.out.flush()

    def error(self, text: str) -> None:
        self.err.write(self.mask(text) + "\n")
        self.err.flush()

    def traceback(self, error: BaseException) -> None:
        """Prints an unexpected error's traceback, masked, for a bug report."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.error(text.rstrip())


console = Console()
