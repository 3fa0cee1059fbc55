"""What every step works on: the job (settings, commit, console) and where it goes (the target of ``--env``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ebship import environments, envvars
from ebship import settings as settings_module
from ebship.images import Credentials
from ebship.output import Console
from ebship.settings import Settings
from ebship.source import Source, describe


@dataclass
class Job:
    root: Path
    settings: Settings
    console: Console
    _source: Source | None = field(default=None, repr=False)

    @property
    def source(self) -> Source:
        if self._source is None:
            self._source = describe(self.root)
        return self._source

    @property
    def release_ref(self) -> str:
        return f"{self.settings.image_repository}:{self.source.tag}"

    @property
    def test_ref(self) -> str:
        return f"{self.settings.image_repository}:{self.source.tag}-test"

    @property
    def cache_ref(self) -> str:
        return f"{self.settings.image_repository}:latest"

    def credentials(self) -> Credentials:
        settings = self.settings
        settings.require("IMAGE_REPOSITORY", "REGISTRY_USERNAME", "REGISTRY_PASSWORD")
        return Credentials(settings.registry, settings.registry_username, settings.registry_password)

    def credentials_if_set(self) -> Credentials | None:
        """The registry login when both halves are set, else None (a pull that needs none may go on without)."""
        settings = self.settings
        if settings.registry_username and settings.registry_password:
            return Credentials(settings.registry, settings.registry_username, settings.registry_password)
        return None


def load(root: Path, console: Console, flags: Mapping[str, str | None] | None = None, source: Source | None = None) -> Job:
    """The settings (defaults < .env < environment < flags) and the commit; every secret they hold is masked from here on,
    and so are the values of the app's secret variables (what the app may print)."""
    settings = settings_module.load(flags, dotenv_path=root / ".env")
    console.add_credentials(settings.registry_username, settings.registry_password)
    console.add_secrets(settings.secrets)
    console.add_secrets(envvars.declared_secrets(root))
    return Job(root=root, settings=settings, console=console, _source=source)


@dataclass(frozen=True)
class Target:
    """Where a deploy goes: the Elastic Beanstalk environment behind a name such as stg."""

    name: str  # the name the user gave (--env)
    environment: str  # the Elastic Beanstalk environment name
    application: str
    # The colours environments.toml declares; () when it declares none: ACCEPTED_HEALTH decides (accepted_health).
    health: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """``--env NAME`` resolved: the target, what environments.toml declares for it, and the settings it imposes."""

    target: Target
    declared: environments.Environment | None  # None for local
    flags: dict[str, str]  # settings the target imposes (local: endpoint, bucket, registry, ...)


def accepted_health(target: Target, setting: str) -> tuple[str, ...]:
    """environments.toml's health for the environment when it declares one (even the default's ["Green"]), else
    ACCEPTED_HEALTH, else Green."""
    if target.health:
        return target.health
    return tuple(colour for colour in setting.split(",") if colour) or environments.DEFAULT_HEALTH
