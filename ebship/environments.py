"""The named environments that ``--env NAME`` refers to, declared in ``environments.toml`` at the repository root.

One table per environment::

    [stg]
    eb_environment = "sampleapp-stg"   # required: the Elastic Beanstalk environment name
    branch = "release/stg"             # optional: pushes to this branch deploy here
    health = ["Green"]                 # optional: EB health colours accepted after a deploy (else ACCEPTED_HEALTH)
    application = "sampleapp"          # optional: EB application name, overriding the project's default
    protected = true                   # optional: a person types the name before a change (ebship.gate); default false
    [stg.variables]                    # optional: the environment properties this environment should have
    SECRET_KEY = "${SECRET_KEY}"       # a reference, resolved by ``ebship.envvars.resolve_references``; never a secret here

Loading checks everything and reports every problem in one ``UsageError``: a TOML syntax error (file and line),
unknown keys (a typo such as ``brnach`` is refused, with a suggestion), wrong types, Elastic Beanstalk environment
names outside EB's rule, health colours outside EB's enum, a branch or an EB environment claimed by two environments,
and the reserved name ``local`` (the local stand-in, never declared in the file).
Variable values are checked later, after references are resolved (``ebship.envvars``).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ebship.errors import UsageError

DEFAULT_PATH = Path("environments.toml")
LOCAL = "local"  # reserved: the local Elastic Beanstalk stand-in
HEALTH_COLOURS = ("Green", "Yellow", "Red", "Grey")  # EnvironmentHealth in the service model
DEFAULT_HEALTH = ("Green",)  # when neither environments.toml nor ACCEPTED_HEALTH says otherwise

KEYS = ("eb_environment", "branch", "health", "application", "protected", "variables")
REQUIRED = ("eb_environment",)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# Service model: EnvironmentName 4-40 chars; the API reference: letters, digits and hyphens, no hyphen at either end.
EB_ENVIRONMENT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,38}[A-Za-z0-9]")
EB_ENVIRONMENT_HELP = "4-40 letters, digits and hyphens, not starting or ending with a hyphen"
MAX_APPLICATION = 100  # service model: ApplicationName 1-100 chars


@dataclass(frozen=True)
class Environment:
    name: str  # the table name, as given to --env
    eb_environment: str
    branch: str = ""  # empty: deployed only by hand
    variables: Mapping[str, str] = field(default_factory=dict)  # key -> value as written (references unresolved)
    health: tuple[str, ...] = ()  # as declared; () when not declared, so that ACCEPTED_HEALTH applies
    application: str = ""  # empty: the project's default application
    protected: bool = False  # a change asks for the name to be typed (ebship.gate)


def load(path: Path | str = DEFAULT_PATH) -> dict[str, Environment]:
    """Reads and checks the environments file; one ``UsageError`` lists every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"Environments file {path} not found (it declares the environments --env refers to)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"Environments file {path} cannot be read: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib's message ends with "(at line L, column C)".
        raise UsageError(f"Environments file {path} is not valid TOML: {error}") from None
    return parse(data, source=str(path))


def parse(data: Mapping[str, Any], source: str = str(DEFAULT_PATH)) -> dict[str, Environment]:
    """Checks already-parsed TOML data (``load`` without the file); ``source`` names it in messages."""
    problems: list[str] = []
    environments: dict[str, Environment] = {}
    for name, table in data.items():
        before = len(problems)
        if not isinstance(table, dict):
            problems.append(
                f"{name}: top-level key outside any environment table; put it under a [name] header (or it is a typo)"
            )
            continue
        if name == LOCAL:
            problems.append(f"[{name}]: the name '{LOCAL}' is reserved for the local stand-in; choose another name")
        elif not NAME_PATTERN.fullmatch(name):
            problems.append(
                f"[{name}]: an environment name must be letters, digits, '-' and '_', starting with a letter or digit"
            )
        problems.extend(check_table(name, table))
        if len(problems) == before:
            environments[name] = Environment(
                name=name,
                eb_environment=table["eb_environment"],
                branch=table.get("branch", ""),
                variables=dict(table.get("variables", {})),
                health=tuple(table.get("health", ())),
                application=table.get("application", ""),
                protected=table.get("protected", False),
            )
    problems.extend(check_unique(data, "branch", "branch"))
    problems.extend(check_unique(data, "eb_environment", "Elastic Beanstalk environment"))
    if not data:
        problems.append('no environments declared: add a table such as [stg] with eb_environment = "..."')
    if problems:
        raise UsageError(f"Invalid environments file {source}:\n" + "\n".join(f"  {problem}" for problem in problems))
    return environments


def check_table(name: str, table: Mapping[str, Any]) -> list[str]:
    problems = []
    where = f"[{name}]"
    for key in table:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"{where}: unknown key '{key}'{hint}; the keys are {', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in table:
            problems.append(f"{where}: {key} is missing")
    eb_environment = table.get("eb_environment")
    if eb_environment is not None:
        if not isinstance(eb_environment, str):
            problems.append(f"{where} eb_environment: must be a string")
        elif not EB_ENVIRONMENT_PATTERN.fullmatch(eb_environment):
            problems.append(f"{where} eb_environment: '{eb_environment}' is not {EB_ENVIRONMENT_HELP}")
    branch = table.get("branch")
    if branch is not None:
        if not isinstance(branch, str):
            problems.append(f"{where} branch: must be a string")
        elif not branch or re.search(r"\s", branch):
            problems.append(f"{where} branch: {branch!r} is not a branch name (empty or with white space)")
    application = table.get("application")
    if application is not None:
        if not isinstance(application, str):
            problems.append(f"{where} application: must be a string")
        elif not 1 <= len(application) <= MAX_APPLICATION or application != application.strip():
            problems.append(
                f"{where} application: {application!r} must be 1-{MAX_APPLICATION} characters "
                f"without leading or trailing white space"
            )
    protected = table.get("protected")
    if protected is not None and not isinstance(protected, bool):
        problems.append(f"{where} protected: must be true or false, without quotes")
    health = table.get("health")
    if health is not None:
        if not isinstance(health, list) or not all(isinstance(colour, str) for colour in health):
            problems.append(f'{where} health: must be a list of strings, e.g. ["Green", "Yellow"]')
        elif not health:
            problems.append(f"{where} health: must accept at least one colour (leave it out to use ACCEPTED_HEALTH)")
        else:
            for colour in health:
                if colour not in HEALTH_COLOURS:
                    close = difflib.get_close_matches(colour.capitalize(), HEALTH_COLOURS, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    problems.append(
                        f"{where} health: '{colour}' is not an Elastic Beanstalk health colour{hint}; "
                        f"the colours are {', '.join(HEALTH_COLOURS)}"
                    )
    variables = table.get("variables")
    if variables is not None:
        if not isinstance(variables, dict):
            problems.append(f"{where} variables: must be a table ([{name}.variables])")
        else:
            for key, value in variables.items():
                if not key:
                    problems.append(f"{where} variables: an empty key")
                elif isinstance(value, dict):
                    problems.append(
                        f'{where} variables.{key}: is a table, not a string (quote a key that holds dots: "{key}.x" = ...)'
                    )
                elif not isinstance(value, str):
                    problems.append(
                        f"{where} variables.{key}: must be a string; write it in quotes "
                        f"(environment properties are text, and TOML's {type(value).__name__} would be reformatted)"
                    )
    return problems


def check_unique(data: Mapping[str, Any], key: str, what: str) -> list[str]:
    users: dict[str, list[str]] = {}
    for name, table in data.items():
        if isinstance(table, dict) and isinstance(table.get(key), str):
            users.setdefault(table[key], []).append(name)
    return [
        f"{what} '{value}' is claimed by several environments: {', '.join(names)}; each may belong to one only"
        for value, names in users.items()
        if len(names) > 1
    ]


def named(name: str, environments: Mapping[str, Environment]) -> Environment:
    """The environment ``--env NAME`` names; an unknown name is a ``UsageError`` that lists the known ones."""
    if name in environments:
        return environments[name]
    known = sorted(environments)
    if not known:
        raise UsageError(f"Unknown environment '{name}': no environments are declared")
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UsageError(f"Unknown environment '{name}'. Known environments: {', '.join(known)}.{hint}")


def for_branch(branch: str, environments: Mapping[str, Environment]) -> Environment | None:
    """The environment that pushes to ``branch`` deploy to (``refs/heads/`` is ignored), or None."""
    if branch.startswith("refs/heads/"):
        branch = branch[len("refs/heads/") :]
    if not branch:
        return None
    for environment in environments.values():
        if environment.branch == branch:
            return environment
    return None
