"""What ``--env NAME`` means: a declared environment of environments.toml, or ``local``, the stand-in `inv local.up` runs.

For ``local`` the settings that point at AWS and the registry are taken from the stand-in's state file, so every
ordinary task works against it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ebship import environments
from ebship import job as jobs
from ebship import settings as settings_module
from ebship.errors import UsageError
from ebship.job import Destination, Job, Target
from ebship.output import Console
from ebship.source import Source

LOCAL = environments.LOCAL
LOCAL_DIR = Path(".local") / "stand-in"
LOCAL_STATE = LOCAL_DIR / "localeb.json"  # written by `inv local.up` (localeb.cluster)
LOCAL_REPOSITORY = "sampleapp"


def local_state(root: Path) -> dict[str, Any]:
    path = root / LOCAL_STATE
    if not path.is_file():
        raise UsageError("The local Elastic Beanstalk is not running: start it with `inv local.up`.")
    return dict(json.loads(path.read_text()))


def local_flags(state: dict[str, Any]) -> dict[str, str]:
    registry = state["registry"]
    return {
        "AWS_ENDPOINT_URL": str(state["endpoint_url"]),
        "AWS_REGION": str(state["region"]),
        "EB_BUCKET": str(state["bucket"]),
        "EB_APPLICATION": str(state["application"]),
        "IMAGE_REPOSITORY": f"{registry['address']}/{LOCAL_REPOSITORY}",
        "REGISTRY_USERNAME": str(registry["username"]),
        "REGISTRY_PASSWORD": str(registry["password"]),
    }


def destination(root: Path, name: str, application: str) -> Destination:
    """``application`` is EB_APPLICATION as configured; a declared environment may override it."""
    if name == LOCAL:
        state = local_state(root)
        flags = local_flags(state)
        return Destination(Target(LOCAL, str(state["environment"]), flags["EB_APPLICATION"]), None, flags)
    declared = environments.named(name, environments.load(root / environments.DEFAULT_PATH))
    app = declared.application or application
    if not app:
        raise UsageError(
            f"No Elastic Beanstalk application for {name}: set EB_APPLICATION (or application in environments.toml)."
        )
    flags = {"EB_APPLICATION": app} if declared.application else {}
    return Destination(Target(name, declared.eb_environment, app, declared.health), declared, flags)


def targeted(
    root: Path,
    console: Console,
    env: str | None,
    flags: Mapping[str, str | None] | None = None,
    source: Source | None = None,
) -> tuple[Job, Destination]:
    """The job and the destination of ``--env``; a target's own settings (``local``'s endpoint, ...) rank below flags.
    ``source``: the commit, when the caller has read it already (git is asked once per run)."""
    if not env:
        raise UsageError("Name the environment: --env stg (see environments.toml), or --env local for the stand-in.")
    configured = settings_module.load(flags, dotenv_path=root / ".env")
    found = destination(root, env, configured.eb_application)
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    return jobs.load(root, console, {**found.flags, **given}, source=source), found
