"""`python -m ebship init`: puts eb-ship into an existing Dockerized app, in the app's root folder.

It writes a thin tasks.py (the task modules stay in the installed package: one copy, upgraded with the pin),
environments.toml, Dockerrun.aws.json.template (with the port of the Dockerfile's EXPOSE), .env.example, .dockerignore
and the CircleCI config; it adds the lines eb-ship needs to .gitignore and pins eb-ship in requirements.txt. A file that
exists is skipped and named, or with ``force`` replaced and named; ``dry_run`` only says what it would do. Everything
is checked, and every file planned, before the first write.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ebship.errors import UsageError

VERSION = "0.1.0"  # the package's version: setup.py reads it from here, and init pins it
DISTRIBUTION = "eb-ship"
# The stand-in (localeb: moto's server) comes with the extra "local": `inv ci` rehearses on it without AWS settings.
REQUIREMENT = f"{DISTRIBUTION}[local]=={VERSION}"

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
# Where setup.py puts the repository's tasks.py and tasks/ in the installed package (see installed_collection).
COLLECTION = PACKAGE / "collection"

DEFAULT_PORT = "80"
GITIGNORED = (".env", ".local/", ".venv/")
DOCKERIGNORED = (".env", ".env.*")


@dataclass(frozen=True)
class File:
    """A file init writes whole: skipped when it exists, unless forced."""

    path: str  # relative to the app's root
    content: str
    executable: bool = False


@dataclass(frozen=True)
class Lines:
    """Lines init makes sure a file holds: the missing ones are appended, nothing is removed or replaced."""

    path: str
    lines: tuple[str, ...]
    why: str
    present: Callable[[str, str], bool]  # (line wanted, the file's text) -> already there


@dataclass(frozen=True)
class Plan:
    root: Path
    port: str  # "" when the Dockerfile exposes none: the template keeps {{PORT}} (CONTAINER_PORT)
    files: tuple[File, ...]
    lines: tuple[Lines, ...]
    notes: tuple[str, ...]


# --- reading the app ----------------------------------------------------------------------------------------------


def dockerfile_lines(text: str) -> list[str]:
    """The instructions of a Dockerfile, one per line: continuations joined, comments and blank lines dropped."""
    joined, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    if current:
        joined.append(current)
    return joined


def exposed_port(dockerfile: str) -> tuple[str, list[str]]:
    """The first TCP port the final stage EXPOSEs (the one Elastic Beanstalk wires to its proxy), and the other
    ports it names; ("", ...) when it exposes no literal TCP port."""
    stage: list[str] = []
    for line in dockerfile_lines(dockerfile):
        keyword = line.split(maxsplit=1)[0].upper()
        if keyword == "FROM":
            stage = []
        elif keyword == "EXPOSE":
            stage.extend(line.split()[1:])
    ports = []
    for token in stage:
        number, _, protocol = token.partition("/")
        if number.isdigit() and 1 <= int(number) <= 65535 and protocol.lower() in ("", "tcp"):
            ports.append(number)
    return (ports[0], ports[1:]) if ports else ("", [])


def app_name(root: Path) -> str:
    """The folder's name as an Elastic Beanstalk environment name's stem: letters, digits and hyphens; room for -prod."""
    stem = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")[:35].strip("-")
    return stem or "myapp"


def requirements_file(dockerfile: str) -> str:
    """requirements.txt, unless the image installs it (eb-ship has no place in the image): then a file of its own."""
    return "requirements-deploy.txt" if "requirements.txt" in dockerfile else "requirements.txt"


# --- the plan -----------------------------------------------------------------------------------------------------


def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def names_distribution(line: str, text: str) -> bool:
    return any(re.match(r"eb[-_.]?ship\b", existing.strip(), re.IGNORECASE) for existing in text.splitlines())


def kept_out(line: str, text: str) -> bool:
    """Whether a .dockerignore's patterns already keep a file ``line`` names (".env", ".env.*") out of the build."""
    from ebship.images import dockerignore_patterns, sent_to_engine

    example = line.replace("*", "local")
    return not sent_to_engine(dockerignore_patterns(text), example)


def listed(line: str, text: str) -> bool:
    entries = {existing.strip() for existing in text.splitlines()}
    return line in entries or line.rstrip("/") in entries or "/" + line in entries


def plan(root: Path) -> Plan:
    """Reads the app and plans every file; refuses (UsageError, nothing written) what init cannot work with."""
    root = root.resolve()
    dockerfile_path = root / "Dockerfile"
    if not dockerfile_path.is_file():
        raise UsageError(
            f"No Dockerfile in {root}: run `python -m ebship init` in the root folder of a Dockerized app "
            "(where its Dockerfile is)."
        )
    try:
        dockerfile = dockerfile_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{dockerfile_path} is not UTF-8 text: save it as UTF-8 and run init again.") from None
    if (root / "tasks" / "__init__.py").is_file():
        raise UsageError(
            f"{root / 'tasks'} is a Python package: Invoke would load it instead of eb-ship's tasks.py. "
            "Rename it (or fold its tasks into another module) and run init again."
        )
    port, others = exposed_port(dockerfile)
    notes = []
    if port:
        notes.append(f"port {port}: the Dockerfile's EXPOSE, written into Dockerrun.aws.json.template")
        if others:
            notes.append(f"the Dockerfile also exposes {', '.join(others)}: Elastic Beanstalk wires only the first")
        port_value, port_note = port, f"{port}, from the Dockerfile's EXPOSE"
    else:
        notes.append(
            f"the Dockerfile EXPOSEs no port: Dockerrun.aws.json.template says {{{{PORT}}}}, filled from CONTAINER_PORT "
            f"(default {DEFAULT_PORT}); set it in .env and CI, or write the port into the template"
        )
        port_value, port_note = "{{PORT}}", f"here {{{{PORT}}}}: set CONTAINER_PORT, default {DEFAULT_PORT}"
    if not (root / "Dockerfile.test").is_file():
        notes.append(
            "no Dockerfile.test: `inv docker.test` (and `inv ci`) build it FROM the release image "
            "(ARG RELEASE_IMAGE, FROM ${RELEASE_IMAGE}) and run its CMD as the app's tests; add one"
        )
    requirements = requirements_file(dockerfile)
    if requirements != "requirements.txt":
        notes.append(f"the Dockerfile installs requirements.txt, so eb-ship is pinned in {requirements} (not in the image)")
    files = (
        File("tasks.py", template("tasks.py")),
        File("environments.toml", template("environments.toml").replace("@APP@", app_name(root))),
        File("Dockerrun.aws.json.template", template("Dockerrun.aws.json.template").replace("@PORT@", port_value)),
        File(".env.example", template("env.example").replace("@PORT_NOTE@", port_note)),
        File(".dockerignore", template("dockerignore")),
        File(".circleci/config.yml", template("circleci-config.yml").replace("@REQUIREMENTS@", requirements)),
        File(".circleci/aws-credentials.sh", template("aws-credentials.sh"), executable=True),
    )
    # A .dockerignore of the app's own is kept, but never without these: the next build would bake .env into the image.
    kept_out_of_images = (
        (Lines(".dockerignore", DOCKERIGNORED, "local settings hold secrets: they stay out of every image", kept_out),)
        if (root / ".dockerignore").is_file()
        else ()
    )
    lines = (
        *kept_out_of_images,
        Lines(".gitignore", GITIGNORED, "local settings, the stand-in's state and the venv stay out of git", listed),
        Lines(requirements, (REQUIREMENT,), "the pinned eb-ship the tasks come from", names_distribution),
    )
    for path in [f.path for f in files] + [entry.path for entry in lines]:
        target = root / path
        if target.exists() and not target.is_file():
            raise UsageError(f"{target} exists and is not a file: move it away and run init again.")
        if target.parent.exists() and not target.parent.is_dir():
            raise UsageError(f"{target.parent} is not a folder: move it away and run init again.")
    if not os.access(root, os.W_OK):
        raise UsageError(f"{root} is not writable: run init as a user who may write there.")
    return Plan(root, port, files, lines, tuple(notes))


# --- applying it --------------------------------------------------------------------------------------------------


def missing_lines(entry: Lines, root: Path) -> list[str]:
    target = root / entry.path
    text = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else ""
    return [line for line in entry.lines if not entry.present(line, text)]


def apply(planned: Plan, *, force: bool, dry_run: bool, say: Callable[[str], None]) -> None:
    """Writes the plan (or, dry, says what it would write); every file it touches or leaves is named."""
    root = planned.root
    for file in planned.files:
        target = root / file.path
        if target.exists() and not force:
            say(f"{'would skip' if dry_run else 'skipped':<13} {file.path}: it exists (--force replaces it)")
            continue
        if target.exists() and target.read_text(encoding="utf-8", errors="replace") == file.content:
            say(f"{'unchanged':<13} {file.path}")
            continue
        replacing = target.exists()
        if not dry_run:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.content, encoding="utf-8")
            if file.executable:
                target.chmod(target.stat().st_mode | 0o111)
        label = ("would replace" if dry_run else "replaced") if replacing else ("would write" if dry_run else "wrote")
        say(f"{label:<13} {file.path}")
    for entry in planned.lines:
        missing = missing_lines(entry, root)
        if not missing:
            say(f"{'unchanged':<13} {entry.path}: it already has {', '.join(entry.lines)}")
            continue
        if not dry_run:
            target = root / entry.path
            existing = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else ""
            separator = "" if not existing or existing.endswith("\n") else "\n"
            target.write_text(existing + separator + "".join(f"{line}\n" for line in missing), encoding="utf-8")
        label = "would add to" if dry_run else "added to"
        say(f"{label:<13} {entry.path}: {', '.join(missing)} ({entry.why})")
    for note in planned.notes:
        say(f"note: {note}")


NEXT_STEPS = """Next (docs/adopting.md in eb-ship):
  1. pip install -r {requirements}: eb-ship and its tasks (`inv --list` lists them)
  2. commit, then `inv ci`: build, test and deploy to a local stand-in of Elastic Beanstalk (a rehearsal)
  3. edit environments.toml, copy .env.example to .env, then `inv doctor --env stg` before the first real deploy"""


def run(root: Path, *, force: bool, dry_run: bool, say: Callable[[str], None]) -> Plan:
    planned = plan(root)
    if dry_run:
        say(f"python -m ebship init --dry-run in {planned.root}: nothing is written.")
    apply(planned, force=force, dry_run=dry_run, say=say)
    if not dry_run:
        say(NEXT_STEPS.format(requirements=planned.lines[-1].path))
    return planned


# --- what the app's tasks.py calls --------------------------------------------------------------------------------


def installed_collection(shim: ModuleType) -> Any:
    """The root task collection for an app's tasks.py (``shim``, the module Invoke loaded as ``tasks``).

    The installed package holds this repository's tasks.py and tasks/ under ``collection/``: the task modules become
    the shim's submodules (``tasks.docker``, ``tasks._support``, ...), and the packaged tasks.py builds the collection
    from them, so an app carries no copy of the task code. ``tasks._support.ROOT`` is then the shim's folder: the app.
    """
    root_file = COLLECTION / "tasks.py"
    if not root_file.is_file():
        raise SystemExit(
            f"eb-ship's task modules are not in {COLLECTION}: install eb-ship with pip (`pip install -r requirements.txt`)."
        )
    shim.__path__ = [str(COLLECTION / "tasks")]
    spec = importlib.util.spec_from_file_location("ebship.collection.root", root_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ns
