"""The Console's masking rules on plain data, each value stated: which forms of a secret are masked, in which order, from
which length, and where the masked text goes."""

from __future__ import annotations

import base64
import io
import sys

from ebship import output
from ebship.output import Console, secret_forms


def masked_by(*secrets: str) -> Console:
    console = Console(io.StringIO(), io.StringIO())
    console.add_secrets(secrets)
    return console


def test_the_mask_is_four_asterisks():
    assert masked_by("hunter2-marker").mask("pw=hunter2-marker.") == "pw=****."


def test_add_secrets_adds_to_the_secrets_already_known():
    console = masked_by("first-marker")
    console.add_secrets(["second-marker"])
    assert console.mask("first-marker second-marker") == "**** ****"


def test_a_secret_is_masked_in_its_base64_form():
    assert masked_by("hunter2-marker").mask("aHVudGVyMi1tYXJrZXI=") == "****"


def test_a_secret_is_masked_as_repr_shows_it():
    # repr keeps the non-ASCII letter (ascii() does not) and escapes the single quote (JSON does not).
    assert masked_by("pä'ss\"wd").mask("KeyError: 'pä\\'ss\"wd'") == "KeyError: '****'"


def test_a_secret_is_masked_as_ascii_shows_it():
    assert masked_by("pässwörd").mask("'p\\xe4ssw\\xf6rd'") == "'****'"


def test_a_secret_is_masked_as_json_shows_it():
    assert masked_by("pässwörd").mask('"p\\u00e4ssw\\u00f6rd"') == '"****"'


def test_a_secret_is_masked_as_json_without_ascii_escapes_shows_it():
    assert masked_by('ä"b-marker').mask('{"pw": "ä\\"b-marker"}') == '{"pw": "****"}'


def test_secret_forms_are_exactly_these():
    assert secret_forms('ä"b') == {'ä"b', "w6QiYg==", '\\xe4"b', '\\u00e4\\"b', 'ä\\"b'}
    assert secret_forms("") == set()


def test_a_secret_of_two_lines_is_masked_line_by_line_as_an_apps_log_prints_it():
    """A key of two lines reached "Why it failed" one line at a time, each line alone unmasked."""
    console = masked_by("first-line-of-key\nsecond-line-of-key\n")
    assert console.mask("boom first-line-of-key") == "boom ****"
    assert console.mask("  second-line-of-key") == "  ****"
    assert console.mask("first-line-of-key\nsecond-line-of-key") == "****\n****"
    assert masked_by("ab\nlong-enough-line").mask("ab cd long-enough-line") == "ab cd ****", "short lines stay"


def test_the_registry_token_is_masked_even_where_base64_of_the_password_alone_is_not_part_of_it():
    # "bot:" is 4 bytes, not a multiple of 3: base64 of the password alone does not occur inside the token.
    token = base64.b64encode(b"bot:pw-marker-1").decode()
    assert token == "Ym90OnB3LW1hcmtlci0x"
    assert base64.b64encode(b"pw-marker-1").decode() not in token
    console = Console(io.StringIO(), io.StringIO())
    console.add_credentials("bot", "pw-marker-1")
    assert console.mask(f"auth {token} pw pw-marker-1") == "auth **** pw ****"


def test_no_token_is_registered_without_a_password():
    console = Console(io.StringIO(), io.StringIO())
    console.add_credentials("robot", "")
    assert console.mask("robot cm9ib3Q6 done") == "robot cm9ib3Q6 done"


def test_the_longest_secret_is_masked_first_so_that_overlapping_secrets_leave_nothing():
    assert masked_by("abc", "abcdef").mask("[abcdef]") == "[****]"
    assert masked_by("abcdef", "abc").mask("[abcdef]") == "[****]"
    assert masked_by("xyz", "wxyz").mask("[wxyz]") == "[****]"  # by length, not in reverse alphabetical order


def test_secrets_of_three_characters_are_masked_and_shorter_ones_are_not():
    assert masked_by("xyz").mask("a xyz b") == "a **** b"
    assert masked_by("xy").mask("a xy b") == "a xy b"


def test_print_masks_and_ends_the_line_as_asked():
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_secrets(["hunter2-marker"])
    console.print("one hunter2-marker")
    console.print("two", end="")
    console.print()
    assert out.getvalue() == "one ****\ntwo\n"
    assert err.getvalue() == ""


def test_errors_go_to_the_error_stream_masked():
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_secrets(["hunter2-marker"])
    console.error("failed: hunter2-marker")
    assert err.getvalue() == "failed: ****\n"
    assert out.getvalue() == ""


def test_a_traceback_is_printed_masked_to_the_error_stream_without_a_trailing_blank_line():
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err)
    console.add_secrets(["hunter2-marker"])
    try:
        raise RuntimeError("boom hunter2-marker")
    except RuntimeError as error:
        console.traceback(error)
    text = err.getvalue()
    assert text.startswith("Traceback (most recent call last):\n")
    assert text.endswith("RuntimeError: boom ****\n")
    lines = text.splitlines()
    assert lines[1].startswith('  File "') and lines[2] == '    raise RuntimeError("boom ****")'
    assert out.getvalue() == ""


def test_streams_default_to_the_process_streams(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    console = Console()
    console.print("to stdout")
    console.error("to stderr")
    assert (out.getvalue(), err.getvalue()) == ("to stdout\n", "to stderr\n")
    assert console.out is out and console.err is err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_is_terminal_follows_the_output_stream():
    assert Console(Terminal(), io.StringIO()).is_terminal is True
    assert Console(io.StringIO(), io.StringIO()).is_terminal is False

    class NoIsatty:
        pass

    assert Console(NoIsatty(), io.StringIO()).is_terminal is False  # type: ignore[arg-type]


def test_the_shared_console_is_a_console():
    assert isinstance(output.console, Console)


class CountingFlushes(io.StringIO):
    flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_every_print_and_error_is_flushed_at_once():
    """Progress lines must show while a deploy waits, even when the output is a pipe (CI logs)."""
    out, err = CountingFlushes(), CountingFlushes()
    console = Console(out, err)
    console.print("a")
    console.error("b")
    console.error("c")
    assert (out.flushes, err.flushes) == (1, 2)
