"""Environment properties: resolve references, check Elastic Beanstalk's limits, diff against the environment, describe.

The article's ``update-env.sh`` ran a JSON template through ``envsubst``: an unset variable silently became an empty
string, and a value holding a quote or a backslash broke (or changed the meaning of) the JSON. Here:

- every ``${NAME}`` must be set, and one ``UsageError`` lists all the unset ones (an empty value counts as set);
- values stay data from end to end: ``EnvDiff.option_settings()`` returns the list boto3 serialises itself;
- values are checked against Elastic Beanstalk's documented limits before any call, and no message ever holds a value.

Reference syntax (in the values of ``environments.toml``):

- ``${NAME}`` is replaced by NAME's value from the lookup; NAME is ``[A-Za-z_][A-Za-z0-9_]*``; a value may hold any
  number of references anywhere (``postgres://app:${DB_PASSWORD}@${DB_HOST}/app``);
- ``$${`` is a literal ``${``: in a run of dollar signs followed by ``{``, one ``$`` is a reference and two or more lose
  one ``$`` and are literal (``$$${`` gives ``$${``);
- every other ``$`` is literal (``$HOME``, ``$2b$12$...``: no bare ``$NAME`` substitution, unlike envsubst), and a
  backslash has no special meaning (``\\${A}`` is a backslash followed by A's value);
- any other ``${...}`` (unclosed, ``${1X}``, shell forms like ``${X:-default}``) is an error;
- substituted text is never scanned again, so a secret that contains ``${`` is passed through as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ebship.errors import PipelineError, UsageError

NAMESPACE = "aws:elasticbeanstalk:application:environment"
MASK = "****"

MAX_KEY = 128  # characters
MAX_VALUE = 256  # characters
MAX_TOTAL_BYTES = 4096  # all "key=value" strings together, UTF-8

ASCII_LETTERS_DIGITS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
KEY_CHARACTERS = ASCII_LETTERS_DIGITS | frozenset("_.:/+\\-@")
VALUE_CHARACTERS = ASCII_LETTERS_DIGITS | frozenset(" \t_.:/=+\\-@'\"")
KEY_RULE = "letters, digits and _ . : / + \\ - @"
VALUE_RULE = "letters, digits, spaces, tabs and _ . : / = + \\ - @ ' \""

REFERENCE_START = re.compile(r"(\$+)\{")
REFERENCE_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\}")

CONTROL_NAMES = {
    "\n": "line feed",
    "\r": "carriage return",
    "\t": "tab",
    "\x00": "null",
    "\x0b": "vertical tab",
    "\x0c": "form feed",
    "\x1b": "escape",
    "\x7f": "delete",
}


# -- resolving references -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """The values with every reference replaced, and which keys got (part of) their value from a reference."""

    values: Mapping[str, str] = field(repr=False)
    references: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # key -> variables it referenced
    substituted: tuple[str, ...] = field(default=(), repr=False)  # the looked-up values, as inserted

    @property
    def secret_keys(self) -> frozenset[str]:
        """Keys whose value came (wholly or in part) from a reference: treated as secrets."""
        return frozenset(self.references)

    @property
    def secret_values(self) -> tuple[str, ...]:
        """What to mask in any output (``Console.add_secrets``): the referencing keys' full values and every
        looked-up value, longest first; empty strings left out."""
        found = {self.values[key] for key in self.references} | set(self.substituted)
        return tuple(sorted((value for value in found if value), key=lambda value: (-len(value), value)))


def resolve(variables: Mapping[str, str], lookup: Mapping[str, str]) -> Resolved:
    """Replaces the ``${NAME}`` references in ``variables``' values from ``lookup`` (the caller passes the process
    environment layered over ``.env``). One ``UsageError`` lists every unset reference and every malformed one."""
    values: dict[str, str] = {}
    references: dict[str, tuple[str, ...]] = {}
    substituted: set[str] = set()
    unset: list[tuple[str, str]] = []
    malformed: list[str] = []
    for key, value in variables.items():
        parts: list[str] = []
        names: list[str] = []
        position = 0
        for start in REFERENCE_START.finditer(value):
            dollars = start.group(1)
            if start.start() < position:
                continue  # inside a reference already consumed
            parts.append(value[position : start.start()])
            if len(dollars) > 1:  # escaped: one dollar sign fewer, and literal
                parts.append(dollars[1:] + "{")
                position = start.end()
                continue
            body = REFERENCE_BODY.match(value, start.end())
            if body is None:
                malformed.append(
                    f"  {key}: '${{' at position {start.start() + 1} does not start a reference of the form ${{NAME}} "
                    f"(NAME: letters, digits and _, not starting with a digit); write $${{ for a literal ${{"
                )
                parts.append("${")
                position = start.end()
                continue
            name = body.group(1)
            names.append(name)
            found = lookup.get(name)  # None (python-dotenv's "KEY" without "=") is unset too; "" is set
            if found is None:
                unset.append((key, name))
            else:
                parts.append(found)
                substituted.add(found)
            position = body.end()
        parts.append(value[position:])
        values[key] = "".join(parts)
        if names:
            references[key] = tuple(dict.fromkeys(names))
    if unset or malformed:
        lines = []
        if unset:
            lines.append(
                "Environment properties refer to unset variables (set them in the environment or .env; "
                "an empty value counts as set):"
            )
            lines.extend(f"  {key}: ${{{name}}} is not set" for key, name in unset)
            lines.append(f"  unset: {', '.join(sorted(dict.fromkeys(name for _, name in unset)))}")
        if malformed:
            lines.append("Malformed references:")
            lines.extend(malformed)
        raise UsageError("\n".join(lines))
    return Resolved(values=values, references=references, substituted=tuple(sorted(substituted)))


# -- Elastic Beanstalk's limits -------------------------------------------------------------------------------------


def character_name(character: str) -> str:
    """``'$' (dollar sign)``, or ``U+000A (line feed)`` for a character that does not print."""
    code = f"U+{ord(character):04X}"
    if unicodedata.category(character) == "Cs":
        return f"{code} (lone surrogate: a byte that is not UTF-8)"
    name = unicodedata.name(character, "").lower() or CONTROL_NAMES.get(character, "control character")
    if character.isprintable() and not character.isspace() or character == " ":
        return f"'{character}' ({name})"
    return f"{code} ({name})"


def relaxed_refuses(character: str, key: bool) -> bool:
    """What ``strict=False`` still refuses: control characters (tab is allowed in values), line and paragraph
    separators, lone surrogates; in keys also white space and ``=`` (an environment variable name cannot hold them)."""
    category = unicodedata.category(character)
    if key and (character == "=" or character.isspace()):
        return True
    if character == "\t":
        return False
    return category in ("Cc", "Cs", "Zl", "Zp")


def refused_characters(text: str, strict: bool, key: bool) -> list[tuple[str, int, int]]:
    """(character, first position counting from 1, occurrences) of every distinct refused character, in order."""
    allowed = KEY_CHARACTERS if key else VALUE_CHARACTERS
    found: dict[str, list[int]] = {}
    for position, character in enumerate(text, 1):
        refused = character not in allowed if strict else relaxed_refuses(character, key)
        if refused:
            found.setdefault(character, [position, 0])[1] += 1
    return [(character, first, count) for character, (first, count) in found.items()]


def character_problem(label: str, character: str, position: int, count: int, strict: bool) -> str:
    more = f" (and {count - 1} more time{'s' if count > 2 else ''})" if count > 1 else ""
    verdict = "is not accepted by Elastic Beanstalk" if strict else "is refused even by the relaxed check"
    return f"  {label}: character {character_name(character)} at position {position}{more} {verdict}"


def entry_bytes(key: str, value: str) -> int:
    return len(f"{key}={value}".encode("utf-8", "surrogatepass"))


def validate(
    values: Mapping[str, str],
    strict: bool = True,
    *,
    kept: Mapping[str, str] | None = None,
    relax_hint: str = "eb.env --relaxed",
) -> None:
    """Checks environment properties against Elastic Beanstalk's documented limits; one ``UsageError`` lists every
    problem, naming the key and the offending character and its position, never the value or any other part of it.

    The limits (developer guide, ``environments-cfg-softwaresettings.md``): a key is at most 128 characters of letters,
    digits and ``_ . : / + \\ - @``; a value at most 256 characters of letters, digits, white space and
    ``_ . : / = + \\ - @ ' "``; all ``key=value`` strings together at most 4,096 bytes (counted here in UTF-8).

    Choices where the guide is vague, in ``strict`` mode (the default):

    - "letters" means ASCII letters. The guide's examples are ASCII, no source confirms that EB accepts others,
      and refusing before any call costs nothing while a refusal halfway through an update does. ``é`` is refused.
    - "white space" means the space and the tab. Line breaks and other control characters are refused: whether EB
      takes them is unconfirmed, and line-oriented environment files (Docker's ``--env-file``), a common way for
      properties to reach a container, cannot carry a value that spans lines.
    - An empty value is accepted; an empty key is not.

    ``strict=False`` (for a platform known to accept more) accepts any character, Unicode letters included, except
    control characters other than tab, line/paragraph separators and lone surrogates, and, in keys, white space and
    ``=``. The length limits and the total stay.

    ``kept`` are properties the environment keeps besides ``values`` (keys present but no longer declared, when not
    pruning): they count towards the total, and their characters are not checked (Elastic Beanstalk holds them already).
    ``relax_hint`` names, in the message, how a user relaxes the character check (a task passes its flag or setting).
    """
    problems: list[str] = []
    for key, value in values.items():
        label = key if 0 < len(key) <= MAX_KEY else f"{key[:40]}..." if key else "(empty key)"
        if not key:
            problems.append(f"  {label}: a key needs at least one character")
        elif len(key) > MAX_KEY:
            problems.append(f"  {label}: key of {len(key)} characters; Elastic Beanstalk accepts at most {MAX_KEY}")
        else:
            for character, position, count in refused_characters(key, strict, key=True):
                problems.append(character_problem(f"{label} (the key)", character, position, count, strict))
        if len(value) > MAX_VALUE:
            problems.append(f"  {label}: value of {len(value)} characters; Elastic Beanstalk accepts at most {MAX_VALUE}")
        for character, position, count in refused_characters(value, strict, key=False):
            problems.append(character_problem(label, character, position, count, strict))
    everything = {**(kept or {}), **values}
    sizes = {key: entry_bytes(key, value) for key, value in everything.items()}
    total = sum(sizes.values())
    if total > MAX_TOTAL_BYTES:
        largest = sorted(sizes, key=lambda key: (-sizes[key], key))[:3]
        problems.append(
            f"  all key=value strings together: {total:,} bytes; Elastic Beanstalk accepts at most {MAX_TOTAL_BYTES:,} "
            f"(largest: {', '.join(f'{key} {sizes[key]:,}' for key in largest)})"
        )
    if problems:
        lines = ["Environment properties outside Elastic Beanstalk's documented limits (nothing was sent):", *problems]
        if strict and any("is not accepted" in problem for problem in problems):
            lines.append(
                f"  keys may hold {KEY_RULE}; values {VALUE_RULE}. Only for a platform known to accept more, "
                f"relax the character check ({relax_hint}); the lengths still apply."
            )
        raise UsageError("\n".join(lines))


# -- the environment's current properties and the difference ----------------------------------------------------------


def current_from_configuration(response: Mapping[str, Any]) -> dict[str, str]:
    """The environment properties the environment runs, from a DescribeConfigurationSettings response for it.

    Besides the deployed configuration the response can hold a draft: DeploymentStatus ``pending`` while an update
    deploys it, ``failed`` after the update failed. Only the ``deployed`` one is what runs (botocore model,
    DescribeConfigurationSettings and ConfigurationSettingsDescription.DeploymentStatus); its position is not documented.
    """
    configurations = response.get("ConfigurationSettings") or []
    if not configurations:
        raise PipelineError(
            "DescribeConfigurationSettings returned no configuration for the environment; expected exactly one deployed "
            "configuration. Elastic Beanstalk returns only what the caller may read: check that the credentials allow "
            "elasticbeanstalk:DescribeConfigurationSettings on the application and the environment."
        )
    deployed = [c for c in configurations if str(c.get("DeploymentStatus") or "").lower() == "deployed"]
    if len(deployed) != 1:
        statuses = ", ".join(str(c.get("DeploymentStatus") or "no DeploymentStatus") for c in configurations)
        raise PipelineError(
            f"DescribeConfigurationSettings returned {len(configurations)} configurations ({statuses}); expected "
            "exactly one deployed configuration."
        )
    return {
        option["OptionName"]: option.get("Value") or ""
        for option in deployed[0].get("OptionSettings") or []
        if option.get("Namespace") == NAMESPACE
    }


def draft_pending(response: Mapping[str, Any]) -> bool:
    """Whether an update is deploying other settings: a draft whose DeploymentStatus is ``pending`` (botocore model)."""
    return any(str(c.get("DeploymentStatus") or "").lower() == "pending" for c in response.get("ConfigurationSettings") or [])


@dataclass(frozen=True)
class EnvDiff:
    """What applying the declared properties changes. Values are held for the API call, never shown (see ``describe``)."""

    added: Mapping[str, str] = field(default_factory=dict, repr=False)  # key -> new value
    changed: Mapping[str, str] = field(default_factory=dict, repr=False)  # key -> new value
    removed: tuple[str, ...] = ()  # present, not declared, and pruned
    undeclared: tuple[str, ...] = ()  # present, not declared, and kept (no prune)
    unchanged: tuple[str, ...] = ()
    kept: Mapping[str, str] = field(default_factory=dict, repr=False)  # undeclared keys' current values

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def option_settings(self) -> list[dict[str, str]]:
        """boto3 ``OptionSettings`` for UpdateEnvironment: the added and changed properties, values as data."""
        updates = {**self.added, **self.changed}
        return [{"Namespace": NAMESPACE, "OptionName": key, "Value": updates[key]} for key in sorted(updates)]

    def options_to_remove(self) -> list[dict[str, str]]:
        """boto3 ``OptionsToRemove`` for UpdateEnvironment: the pruned properties."""
        return [{"Namespace": NAMESPACE, "OptionName": key} for key in sorted(self.removed)]

    def __repr__(self) -> str:
        return (
            f"EnvDiff(added={sorted(self.added)}, changed={sorted(self.changed)}, removed={list(self.removed)}, "
            f"undeclared={list(self.undeclared)}, unchanged={list(self.unchanged)})"
        )


def diff(current: Mapping[str, str], desired: Mapping[str, str], prune: bool) -> EnvDiff:
    """Compares the environment's properties with the declared ones. Keys are case-sensitive (as in EB).

    Keys present but not declared are ``removed`` with ``prune``, otherwise ``undeclared`` (left as they are)."""
    extra = sorted(set(current) - set(desired))
    return EnvDiff(
        added={key: desired[key] for key in sorted(desired) if key not in current},
        changed={key: desired[key] for key in sorted(desired) if key in current and current[key] != desired[key]},
        removed=tuple(extra) if prune else (),
        undeclared=() if prune else tuple(extra),
        unchanged=tuple(key for key in sorted(desired) if key in current and current[key] == desired[key]),
        kept={} if prune else {key: current[key] for key in extra},
    )


def describe(difference: EnvDiff) -> list[str]:
    """Lines for people, values always masked: ``+ KEY = ****``, ``~ KEY = ****``, ``- KEY``, ``? KEY ...``."""
    lines = [f"+ {key} = {MASK}" for key in sorted(difference.added)]
    lines += [f"~ {key} = {MASK}" for key in sorted(difference.changed)]
    lines += [f"- {key}" for key in difference.removed]
    lines += [f"? {key} (present but not declared: kept; --prune removes it)" for key in difference.undeclared]
    if difference.unchanged:
        lines.append(f"= {len(difference.unchanged)} unchanged")
    if difference.empty:
        lines.append("no change")
    return lines
