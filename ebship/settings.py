"""Every setting of the pipeline, where it comes from, and validation that reports all problems at once.

Precedence, lowest first: the defaults below < ``.env`` (python-dotenv; never overrides the process environment) <
the process environment < task flags. Secrets are read from the process environment only (CircleCI project variables,
or ``export`` on a laptop): a secret in ``.env`` or any other file is refused, since files get copied, committed and baked
into images.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from ebship.errors import UsageError


@dataclass(frozen=True)
class SettingSpec:
    env: str
    help: str
    default: str = ""
    secret: bool = False
    choices: tuple[str, ...] = ()
    pattern: str = ""  # a full-match regular expression a non-empty value must satisfy
    pattern_help: str = ""


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "IMAGE_REPOSITORY",
        "Image repository to build and push, with its registry host: quay.io/acme/web, 127.0.0.1:5000/web.",
        pattern=r"[a-z0-9]+([._:-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*",
        pattern_help="lower-case registry host[:port]/path, no tag (the commit's sha is the tag)",
    ),
    SettingSpec("REGISTRY_USERNAME", "User (or robot account) of the private registry. From the environment only.", secret=False),
    SettingSpec("REGISTRY_PASSWORD", "Password or token of the private registry. From the environment only.", secret=True),
    SettingSpec(
        "BASE_IMAGE", "Base image of the release image (the Dockerfile's BASE_IMAGE build argument).", "python:3.12-slim"
    ),
    SettingSpec(
        "DOCKER_BUILD_NETWORK",
        "Network mode for build steps (e.g. host); empty for Docker's default.",
    ),
    SettingSpec(
        "TEST_TIMEOUT",
        "Seconds the app's tests may run in docker.test before they are stopped (exit 3).",
        "900",
        pattern=r"[1-9][0-9]*",
        pattern_help="a whole number of seconds",
    ),
    SettingSpec(
        "AWS_REGION",
        "AWS region of the environment and bucket; empty to use boto3's chain (AWS_DEFAULT_REGION, profile).",
        pattern=r"[a-z]{2,}(-[a-z]+)+-\d+",
        pattern_help="an AWS region such as eu-west-1",
    ),
    SettingSpec(
        "AWS_ENDPOINT_URL",
        "Endpoint for every AWS call; only to point at a stand-in (inv local.up sets it for --env local).",
        pattern=r"https?://[^\s]+",
        pattern_help="an http(s) URL",
    ),
    SettingSpec(
        "EB_BUCKET",
        "S3 bucket for the registry auth file and the source bundles; in the environment's region.",
        pattern=r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
        pattern_help="an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens",
    ),
    SettingSpec(
        "EB_APPLICATION",
        "Elastic Beanstalk application name.",
        pattern=r"[^/]{1,100}",
        pattern_help="1-100 characters without '/'",
    ),
    SettingSpec("BUNDLE_PREFIX", "S3 key prefix of the source bundles: <prefix>/<label>/Dockerrun.aws.json.", "deploy"),
    SettingSpec(
        "CONTAINER_PORT",
        "Port the app listens on in the container (Dockerrun's ContainerPort).",
        "80",
        pattern=r"[1-9][0-9]{0,4}",
        pattern_help="a port number",
    ),
    SettingSpec(
        "DEPLOY_TIMEOUT",
        "Seconds one deploy (or configuration update) may take in all, waits included.",
        "900",
        pattern=r"[1-9][0-9]*",
        pattern_help="a whole number of seconds",
    ),
    SettingSpec(
        "HEALTH_SETTLE_TIMEOUT",
        "Seconds health may stay outside ACCEPTED_HEALTH (Grey, Yellow, Red) after an update ended well before it fails.",
        "180",
        pattern=r"[0-9]+",
        pattern_help="a whole number of seconds",
    ),
    SettingSpec(
        "ACCEPTED_HEALTH",
        "Health colours that count as healthy after a deploy, comma-separated.",
        "Green",
        pattern=r"(Green|Yellow|Red|Grey)(,(Green|Yellow|Red|Grey))*",
        pattern_help="comma-separated colours: Green,Yellow",
    ),
    SettingSpec(
        "ROLLBACK",
        "Redeploy the version that ran before when a deploy fails (true/false).",
        "false",
        choices=("true", "false"),
    ),
    SettingSpec("AUTH_KEY", "S3 key of the registry auth file that Dockerrun.aws.json points to.", "registry-auth/config.json"),
    SettingSpec(
        "AUTH_FORMAT",
        "Format of the auth file: config.json (Amazon Linux 2 and later) or dockercfg (legacy Amazon Linux AMI).",
        "config.json",
        choices=("config.json", "dockercfg"),
    ),
)

SPEC_BY_ENV = {spec.env: spec for spec in SPECS}
SECRET_NAMES = frozenset(spec.env for spec in SPECS if spec.secret)


@dataclass(frozen=True)
class Settings:
    """The resolved settings. Empty string means not set; ``require`` turns that into an error."""

    image_repository: str = ""
    registry_username: str = ""
    registry_password: str = field(default="", repr=False)
    base_image: str = ""
    docker_build_network: str = ""
    test_timeout: str = ""
    aws_region: str = ""
    aws_endpoint_url: str = ""
    eb_bucket: str = ""
    eb_application: str = ""
    bundle_prefix: str = ""
    container_port: str = ""
    deploy_timeout: str = ""
    health_settle_timeout: str = ""
    accepted_health: str = ""
    rollback: str = ""
    auth_key: str = ""
    auth_format: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def value(self, env: str) -> str:
        return str(getattr(self, env.lower()))

    def require(self, *names: str) -> None:
        """Stops with one message listing every missing setting among ``names`` and where to set it."""
        missing = [name for name in names if not self.value(name)]
        if missing:
            raise UsageError(missing_message(missing))

    @property
    def secrets(self) -> list[str]:
        return [self.value(name) for name in SECRET_NAMES if self.value(name)]

    @property
    def registry(self) -> str:
        return registry_of(self.image_repository)


def registry_of(repository: str) -> str:
    """The registry host of a repository name, as Docker reads it."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def missing_message(missing: list[str]) -> str:
    lines = ["Missing settings:"]
    for name in missing:
        spec = SPEC_BY_ENV[name]
        where = (
            "export it in the environment (a CircleCI project variable in CI); it is never read from a file"
            if spec.secret or name == "REGISTRY_USERNAME"
            else "set it in .env (see .env.example) or the environment"
        )
        lines.append(f"  {name}: {spec.help} ({where})")
    return "\n".join(lines)


ENV_ONLY = frozenset({"REGISTRY_USERNAME", "REGISTRY_PASSWORD"})


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        found = dotenv_values(path, encoding="utf-8")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1  # the line, never the byte: it may be part of a secret
        raise UsageError(f"{path.name} is not UTF-8 text (line {line}): save it as UTF-8") from None
    return {key: value for key, value in found.items() if value is not None}


def load(
    flags: Mapping[str, str | None] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> Settings:
    """Builds the settings from defaults, ``.env``, the environment and flags; checks every value that is set."""
    environ = os.environ if environ is None else environ
    dotenv = read_dotenv(dotenv_path if dotenv_path is not None else Path(".env"))
    problems = [
        f"  {name} is in .env, but registry credentials are read from the environment only: "
        f"remove it from .env and export it (a CircleCI project variable in CI)"
        for name in sorted(ENV_ONLY & dotenv.keys())
    ]
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        values[spec.env], sources[spec.env] = spec.default, "default"
        if spec.env in dotenv and spec.env not in ENV_ONLY:
            values[spec.env], sources[spec.env] = dotenv[spec.env], ".env"
        if spec.env in environ:
            values[spec.env], sources[spec.env] = environ[spec.env], "environment"
        flag = (flags or {}).get(spec.env)
        if flag is not None:
            values[spec.env], sources[spec.env] = flag, "flag"
    for spec in SPECS:
        value = values[spec.env]
        if not value and spec.default and sources[spec.env] != "default":
            problems.append(
                f"  {spec.env} is set but empty ({sources[spec.env]}): remove it to use the default "
                f"{spec.default!r}, or give it a value"
            )
        elif value != value.strip():
            problems.append(f"  {spec.env} has leading or trailing white space ({sources[spec.env]})")
        elif value and spec.choices and value not in spec.choices:
            problems.append(f"  {spec.env} must be one of {', '.join(spec.choices)} ({sources[spec.env]})")
        elif value and spec.pattern and not re.fullmatch(spec.pattern, value):
            shown = "the value" if spec.secret else repr(value)
            problems.append(f"  {spec.env}: {shown} is not {spec.pattern_help} ({sources[spec.env]})")
        elif value and spec.env == "AWS_REGION" and not known_region(value):
            problems.append(
                f"  AWS_REGION: {value!r} is not a region of any AWS partition botocore knows (aws, aws-cn, aws-us-gov, "
                f"...) ({sources[spec.env]})"
            )
    if problems:
        raise UsageError("Invalid settings:\n" + "\n".join(problems))
    names = {f.name for f in fields(Settings)} - {"sources"}
    return Settings(**{key.lower(): value for key, value in values.items() if key.lower() in names}, sources=sources)


def known_region(region: str) -> bool:
    """Whether a region has the shape of one of botocore's partitions (ebship.aws.partition_of)."""
    from ebship.aws import partition_of

    return bool(partition_of(region))
