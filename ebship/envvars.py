"""Environment properties: resolve references, check Elastic Beanstalk's limits, diff against the environment, describe.

Filling a JSON template with ``envsubst``, as hand-made deploy scripts do, turns an unset variable silently into an empty
string, and a value holding a quote or a backslash breaks (or changes the meaning of) the JSON. Here:

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
from pathlib import Path
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
class ResolvedValues:
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
        """What to mask in any output (``Console.add_secrets``): the full values of the keys that reference a
        variable or name a secret (``names_a_secret``), and every looked-up value, longest first; no empty strings."""
        secret = {key for key in self.values if key in self.references or names_a_secret(key)}
        return _longest_first({self.values[key] for key in secret} | set(self.substituted))


@dataclass
class _Substitution:
    text: str
    names: list[str]
    substituted: list[str]
    unset: list[str]
    malformed: list[str]


def _substitute(key: str, value: str, lookup: Mapping[str, str]) -> _Substitution:
    """One value with its references replaced; unset and malformed ones are collected, not raised."""
    result = _Substitution("", [], [], [], [])
    parts: list[str] = []
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
            result.malformed.append(
                f"  {key}: '${{' at position {start.start() + 1} does not start a reference of the form ${{NAME}} "
                f"(NAME: letters, digits and _, not starting with a digit); write $${{ for a literal ${{"
            )
            parts.append("${")
            position = start.end()
            continue
        name = body.group(1)
        result.names.append(name)
        found = lookup.get(name)  # None (python-dotenv's "KEY" without "=") is unset too; "" is set
        if found is None:
            result.unset.append(name)
        else:
            parts.append(found)
            result.substituted.append(found)
        position = body.end()
    parts.append(value[position:])
    result.text = "".join(parts)
    return result


def resolve_references(variables: Mapping[str, str], lookup: Mapping[str, str]) -> ResolvedValues:
    """Replaces the ``${NAME}`` references in ``variables``' values from ``lookup`` (the caller passes the process
    environment layered over ``.env``). One ``UsageError`` lists every unset reference and every malformed one."""
    values: dict[str, str] = {}
    references: dict[str, tuple[str, ...]] = {}
    substituted: set[str] = set()
    unset: list[tuple[str, str]] = []
    malformed: list[str] = []
    for key, value in variables.items():
        one = _substitute(key, value, lookup)
        values[key] = one.text
        substituted |= set(one.substituted)
        unset += [(key, name) for name in one.unset]
        malformed += one.malformed
        if one.names:
            references[key] = tuple(dict.fromkeys(one.names))
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
    return ResolvedValues(values=values, references=references, substituted=tuple(sorted(substituted)))


# -- which values are secret ----------------------------------------------------------------------------------------

# A key names a secret when one of these is part of it (DB_PASSWORD, SECRET_KEY_BASE, GOOGLE_CREDENTIALS) ...
SECRET_PARTS = ("SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE_KEY", "PRIVATEKEY")
# ... or its last word is one of these (API_KEY, GITHUB_TOKEN, DB_PASS, SENTRY_DSN; not TOKEN_TTL or KEY_ID).
SECRET_LAST_WORDS = frozenset({"KEY", "KEYS", "APIKEY", "TOKEN", "TOKENS", "PASS", "PWD", "DSN", "SALT"})
WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def names_a_secret(key: str) -> bool:
    """Whether a variable's name says that its value is secret (``SECRET_KEY``, ``apiToken``, ``DB_PASSWORD``)."""
    upper = key.upper()
    words = WORDS.findall(key)
    return any(part in upper for part in SECRET_PARTS) or bool(words and words[-1].upper() in SECRET_LAST_WORDS)


def secrets_known(variables: Mapping[str, str], lookup: Mapping[str, str]) -> tuple[str, ...]:
    """What to mask for declared variables even where they cannot all be resolved (a task that only deploys, a
    reference unset on this machine): every looked-up value, and the full value of each key that references one or
    names a secret, when it resolves. Never raises."""
    found: set[str] = set()
    for key, value in variables.items():
        one = _substitute(key, value, lookup)
        found |= set(one.substituted)
        if (one.names or names_a_secret(key)) and not one.unset and not one.malformed:
            found.add(one.text)
    return _longest_first(found)


def secret_current_values(current: Mapping[str, str], secret_keys: frozenset[str] | set[str]) -> tuple[str, ...]:
    """The values an environment holds for keys that are secret: declared with a reference, or named as a secret.
    The others (an application name, a host) are shown."""
    return _longest_first({value for key, value in current.items() if key in secret_keys or names_a_secret(key)})


def declared_secrets(root: Path, lookup: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """``secrets_known`` over every environment ``environments.toml`` declares (``--like`` applies one environment's
    variables to another, so a secret may sit in any environment); nothing when the file is absent or broken (the
    task that needs it reports that). ``lookup`` defaults to the process environment over ``root``'s ``.env``."""
    import os

    from ebship import environments
    from ebship.settings import read_dotenv

    if lookup is None:
        lookup = {**read_dotenv(root / ".env"), **os.environ}

    try:
        declared = environments.load(root / environments.DEFAULT_PATH)
    except UsageError:
        return ()
    found: set[str] = set()
    for environment in declared.values():
        found |= set(secrets_known(environment.variables, lookup))
    return _longest_first(found)


# Masking these would blank every "true" in the output, and they hide nothing: a switch, not a secret.
NOT_SECRETS = frozenset({"", "true", "false", "yes", "no", "on", "off", "none", "null"})


def _longest_first(values: set[str]) -> tuple[str, ...]:
    """The values worth masking, longest first (so that a longer secret is masked whole before a part of it)."""
    return tuple(sorted((value for value in values if value.lower() not in NOT_SECRETS), key=lambda value: (-len(value), value)))


# -- Elastic Beanstalk's limits -------------------------------------------------------------------------------------
#
# Refused before any call, each for a reason that has evidence of breaking on Elastic Beanstalk:
# - the lengths and the total: the limits the developer guide documents (environments-cfg-softwaresettings.md);
# - a comma, in a key or a value: Elastic Beanstalk hands the properties to its CloudFormation template as ONE
#   comma-joined "EnvironmentVariables" parameter of KEY=VALUE pairs (hashicorp/terraform-provider-aws#14180 shows
#   that parameter; the EB CLI's setenv splits on commas too, aws/aws-elastic-beanstalk-cli#83), so a comma cuts a
#   property in two;
# - '=' in a key: in that parameter, and in any process environment (POSIX "name=value"), a name ends at its first '=';
# - NUL anywhere: a process environment's strings end at NUL (execve), so the value cannot reach the application;
# - a lone surrogate (a byte that was not UTF-8): the request cannot be encoded at all.
# Accepted without a word: the characters the guide documents, plus '?' and '&', which the guide's own example value
# uses (jdbc:mysql://localhost:3306/mydatabase?user=me&password=mypassword, create_deploy_Java.managing.md).
# Everything else ('$', '%', '*', '#', non-ASCII letters, line breaks, ...) is sent, with a warning naming the key:
# it is outside the documented set, but no public report shows Elastic Beanstalk refusing it through the API, and the
# guide's own example steps outside that set. (mickael-kerjean/filestash#603, a '$' refused, concerns a
# docker-compose file, where '$' is interpolation, not a property set through the API.)

DOCUMENTED_EXAMPLE_CHARACTERS = frozenset("?&")
ACCEPTED_VALUE_CHARACTERS = VALUE_CHARACTERS | DOCUMENTED_EXAMPLE_CHARACTERS
COMMA_REASON = (
    "Elastic Beanstalk passes all properties to CloudFormation as one comma-separated list, where a comma would split "
    "this one (remove it, or encode it: %2C in a URL)"
)
REFUSED_REASONS = {
    ",": COMMA_REASON,
    "\x00": "a process environment cannot hold it",
}
KEY_EQUALS_REASON = "a variable's name ends at its first '='"


def character_name(character: str) -> str:
    """``'$' (dollar sign)``, or ``U+000A (line feed)`` for a character that does not print."""
    code = f"U+{ord(character):04X}"
    if unicodedata.category(character) == "Cs":
        return f"{code} (lone surrogate: a byte that is not UTF-8)"
    name = unicodedata.name(character, "").lower() or CONTROL_NAMES.get(character, "control character")
    if character.isprintable() and not character.isspace() or character == " ":
        return f"'{character}' ({name})"
    return f"{code} ({name})"


def refusal_reason(character: str, key: bool) -> str:
    """Why a character cannot be sent at all, or "" when it can (see the evidence above)."""
    if unicodedata.category(character) == "Cs":
        return "it cannot be encoded as UTF-8"
    if key and character == "=":
        return KEY_EQUALS_REASON
    return REFUSED_REASONS.get(character, "")


def undocumented(character: str, key: bool) -> bool:
    """Outside what Elastic Beanstalk documents (or shows in its examples) for keys or values."""
    return character not in (KEY_CHARACTERS if key else ACCEPTED_VALUE_CHARACTERS)


def occurrences(text: str, wanted) -> dict[str, list[int]]:
    """character -> [first position counting from 1, count], for the characters ``wanted`` selects, in order."""
    found: dict[str, list[int]] = {}
    for position, character in enumerate(text, 1):
        if wanted(character):
            found.setdefault(character, [position, 0])[1] += 1
    return found


def refusal(label: str, character: str, position: int, count: int, reason: str, secret: bool) -> str:
    """One refused character; a secret's positions are never shown, only that it holds the character."""
    times = f" {count} time{'s' if count > 1 else ''}" if secret else ""
    where = (
        f"holds {character_name(character)}{times}" if secret else f"character {character_name(character)} at position {position}"
    )
    more = f" (and {count - 1} more time{'s' if count > 2 else ''})" if count > 1 and not secret else ""
    return f"  {label}: {where}{more}, which cannot be sent: {reason}"


def entry_bytes(key: str, value: str) -> int:
    return len(f"{key}={value}".encode("utf-8", "surrogatepass"))


def validate(
    values: Mapping[str, str],
    strict: bool = True,
    *,
    kept: Mapping[str, str] | None = None,
    relax_hint: str = "eb.env --relaxed",
    secret_keys: frozenset[str] | set[str] = frozenset(),
) -> list[str]:
    """Checks environment properties before any call: one ``UsageError`` lists everything that cannot be sent (see
    the evidence above), naming the key and, for a value that is not secret, the character's position; never a value
    or any part of it. Returns warnings, one per key, for characters outside the documented set that are sent anyway.

    Secret values (keys in ``secret_keys`` or named as secrets, ``names_a_secret``) get neither positions nor, in a
    warning, the characters: only the key. ``strict=False`` (for a platform known to take more) drops the warnings;
    what is refused stays refused. ``kept`` are properties the environment keeps besides ``values`` (undeclared,
    not pruned): they count towards the total, and their characters are not checked (Elastic Beanstalk holds them).
    ``relax_hint`` names how a user silences the warnings (a task passes its flag).
    """
    problems: list[str] = []
    warnings: list[str] = []
    for key, value in values.items():
        secret = key in secret_keys or names_a_secret(key)
        label = key if 0 < len(key) <= MAX_KEY else f"{key[:40]}..." if key else "(empty key)"
        if not key:
            problems.append(f"  {label}: a key needs at least one character")
        elif len(key) > MAX_KEY:
            problems.append(f"  {label}: key of {len(key)} characters; Elastic Beanstalk accepts at most {MAX_KEY}")
        else:
            for character, (position, count) in occurrences(key, lambda c: bool(refusal_reason(c, True))).items():
                problems.append(refusal(f"{label} (the key)", character, position, count, refusal_reason(character, True), False))
        if len(value) > MAX_VALUE:
            problems.append(f"  {label}: value of {len(value)} characters; Elastic Beanstalk accepts at most {MAX_VALUE}")
        for character, (position, count) in occurrences(value, lambda c: bool(refusal_reason(c, False))).items():
            problems.append(refusal(label, character, position, count, refusal_reason(character, False), secret))
        if strict:
            odd_key = [c for c in occurrences(key, lambda c: undocumented(c, True) and not refusal_reason(c, True))]
            odd_value = [c for c in occurrences(value, lambda c: undocumented(c, False) and not refusal_reason(c, False))]
            if odd_key or odd_value:
                warnings.append(undocumented_warning(label, odd_key, odd_value, secret, relax_hint))
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
        raise UsageError("\n".join(["Environment properties that Elastic Beanstalk cannot take (nothing was sent):", *problems]))
    return warnings


def undocumented_warning(label: str, in_key: list[str], in_value: list[str], secret: bool, relax_hint: str) -> str:
    """One line per key; a secret value's characters are not named."""
    parts = []
    if in_key:
        parts.append(f"its key holds {', '.join(character_name(c) for c in in_key)}")
    if in_value:
        named = "characters" if secret else ", ".join(character_name(c) for c in in_value)
        parts.append(f"its value holds {named}")
    return (
        f"warning: {label}: {' and '.join(parts)} outside what Elastic Beanstalk documents; sent anyway, as no refusal "
        f"of them is known. If the update fails on it, change it ({relax_hint} silences this warning)."
    )


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
