"""Every setting's default, help, rule and message, stated value by value on plain data (no constant of the module is
imported to compare with), so that changing any of them fails a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebship import settings
from ebship.errors import UsageError

NO_DOTENV = Path("/nonexistent/.env")


def load(**environ: str) -> settings.Settings:
    return settings.load(environ=environ, dotenv_path=NO_DOTENV)


def refusal(**environ: str) -> str:
    with pytest.raises(UsageError) as raised:
        load(**environ)
    return str(raised.value)


def test_every_default():
    loaded = load()
    assert {name: loaded.value(name) for name in settings.SPEC_BY_ENV} == {
        "IMAGE_REPOSITORY": "",
        "REGISTRY_USERNAME": "",
        "REGISTRY_PASSWORD": "",
        "BASE_IMAGE": "python:3.12-slim",
        "DOCKER_BUILD_NETWORK": "",
        "TEST_TIMEOUT": "900",
        "AWS_REGION": "",
        "AWS_ENDPOINT_URL": "",
        "EB_BUCKET": "",
        "EB_APPLICATION": "",
        "BUNDLE_PREFIX": "deploy",
        "CONTAINER_PORT": "80",
        "DEPLOY_TIMEOUT": "900",
        "HEALTH_SETTLE_TIMEOUT": "180",
        "ACCEPTED_HEALTH": "Green",
        "ROLLBACK": "false",
        "AUTH_KEY": "registry-auth/config.json",
        "AUTH_FORMAT": "config.json",
    }
    assert set(loaded.sources.values()) == {"default"}


def test_a_setting_with_no_default_starts_empty_in_the_dataclass():
    empty = settings.Settings()
    assert {name: empty.value(name) for name in settings.SPEC_BY_ENV} == dict.fromkeys(settings.SPEC_BY_ENV, "")
    assert dict(empty.sources) == {}


HELP = {
    "IMAGE_REPOSITORY": "Image repository to build and push, with its registry host: quay.io/acme/web, 127.0.0.1:5000/web.",
    "REGISTRY_USERNAME": "User (or robot account) of the private registry. From the environment only.",
    "REGISTRY_PASSWORD": "Password or token of the private registry. From the environment only.",
    "BASE_IMAGE": "Base image of the release image (the Dockerfile's BASE_IMAGE build argument).",
    "DOCKER_BUILD_NETWORK": "Network mode for build steps (e.g. host); empty for Docker's default.",
    "TEST_TIMEOUT": "Seconds the app's tests may run in docker.test before they are stopped (exit 3).",
    "AWS_REGION": "AWS region of the environment and bucket; empty to use boto3's chain (AWS_DEFAULT_REGION, profile).",
    "AWS_ENDPOINT_URL": "Endpoint for every AWS call; only to point at a stand-in (inv local.up sets it for --env local).",
    "EB_BUCKET": "S3 bucket for the registry auth file and the source bundles; in the environment's region.",
    "EB_APPLICATION": "Elastic Beanstalk application name.",
    "BUNDLE_PREFIX": "S3 key prefix of the source bundles: <prefix>/<label>/Dockerrun.aws.json.",
    "CONTAINER_PORT": "Port the app listens on in the container (Dockerrun's ContainerPort).",
    "DEPLOY_TIMEOUT": "Seconds one deploy (or configuration update) may take in all, waits included.",
    "HEALTH_SETTLE_TIMEOUT": (
        "Seconds health may stay outside ACCEPTED_HEALTH (Grey, Yellow, Red) after an update ended well before it fails."
    ),
    "ACCEPTED_HEALTH": "Health colours that count as healthy after a deploy, comma-separated.",
    "ROLLBACK": "Redeploy the version that ran before when a deploy fails (true/false).",
    "AUTH_KEY": "S3 key of the registry auth file that Dockerrun.aws.json points to.",
    "AUTH_FORMAT": "Format of the auth file: config.json (Amazon Linux 2 and later) or dockercfg (legacy Amazon Linux AMI).",
}
FROM_THE_ENVIRONMENT = "(export it in the environment (a CircleCI project variable in CI); it is never read from a file)"
FROM_A_FILE = "(set it in .env (see .env.example) or the environment)"


def test_the_message_for_every_missing_setting_states_its_help_and_where_to_set_it():
    where = {name: FROM_A_FILE for name in HELP} | {
        "REGISTRY_USERNAME": FROM_THE_ENVIRONMENT,
        "REGISTRY_PASSWORD": FROM_THE_ENVIRONMENT,
    }
    assert settings.missing_message(list(HELP)).splitlines() == [
        "Missing settings:",
        *(f"  {name}: {text} {where[name]}" for name, text in HELP.items()),
    ]


@pytest.mark.parametrize(
    ("name", "good"),
    [
        ("IMAGE_REPOSITORY", "quay.io/acme/web"),
        ("IMAGE_REPOSITORY", "127.0.0.1:5000/team/web-app"),
        ("IMAGE_REPOSITORY", "myreg:5000/app"),
        ("IMAGE_REPOSITORY", "web"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_REGION", "us-gov-west-1"),
        ("AWS_REGION", "cn-north-1"),
        ("AWS_REGION", "eusc-de-east-1"),  # the European Sovereign Cloud's partition: refused by a pattern written here
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ("AWS_ENDPOINT_URL", "https://elasticbeanstalk.eu-west-1.amazonaws.com"),
        ("EB_BUCKET", "abc"),
        ("EB_BUCKET", "my.bucket-1"),
        ("EB_BUCKET", "a" * 63),
        ("EB_APPLICATION", "x"),
        ("EB_APPLICATION", "Sample App (v2)"),
        ("EB_APPLICATION", "a" * 100),
        ("CONTAINER_PORT", "1"),
        ("CONTAINER_PORT", "8080"),
        ("CONTAINER_PORT", "65535"),
        ("TEST_TIMEOUT", "60"),
        ("DEPLOY_TIMEOUT", "1"),
        ("DEPLOY_TIMEOUT", "1800"),
        ("HEALTH_SETTLE_TIMEOUT", "0"),
        ("HEALTH_SETTLE_TIMEOUT", "60"),
        ("ACCEPTED_HEALTH", "Green"),
        ("ACCEPTED_HEALTH", "Green,Yellow"),
        ("ACCEPTED_HEALTH", "Yellow,Red,Grey"),
        ("ROLLBACK", "true"),
        ("ROLLBACK", "false"),
        ("AUTH_FORMAT", "config.json"),
        ("AUTH_FORMAT", "dockercfg"),
    ],
)
def test_valid_values_are_accepted(name, good):
    loaded = load(**{name: good})
    assert loaded.value(name) == good
    assert loaded.sources[name] == "environment"


@pytest.mark.parametrize(
    ("name", "bad", "line"),
    [
        (
            "IMAGE_REPOSITORY",
            "quay.io/acme/web:v1",
            "  IMAGE_REPOSITORY: 'quay.io/acme/web:v1' is not lower-case registry host[:port]/path, no tag (the commit's sha "
            "is the tag) (environment)",
        ),
        ("AWS_REGION", "europe", "  AWS_REGION: 'europe' is not an AWS region such as eu-west-1 (environment)"),
        (
            "AWS_REGION",
            "mars-west-1",
            "  AWS_REGION: 'mars-west-1' is not a region of any AWS partition botocore knows (aws, aws-cn, aws-us-gov, ...) "
            "(environment)",
        ),
        ("AWS_ENDPOINT_URL", "localhost:4566", "  AWS_ENDPOINT_URL: 'localhost:4566' is not an http(s) URL (environment)"),
        ("AWS_ENDPOINT_URL", "http://a b", "  AWS_ENDPOINT_URL: 'http://a b' is not an http(s) URL (environment)"),
        (
            "EB_BUCKET",
            "ab",
            "  EB_BUCKET: 'ab' is not an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens (environment)",
        ),
        ("EB_APPLICATION", "a/b", "  EB_APPLICATION: 'a/b' is not 1-100 characters without '/' (environment)"),
        ("EB_APPLICATION", "a" * 101, f"  EB_APPLICATION: '{'a' * 101}' is not 1-100 characters without '/' (environment)"),
        ("CONTAINER_PORT", "http", "  CONTAINER_PORT: 'http' is not a port number (environment)"),
        ("CONTAINER_PORT", "0", "  CONTAINER_PORT: '0' is not a port number (environment)"),
        ("CONTAINER_PORT", "123456", "  CONTAINER_PORT: '123456' is not a port number (environment)"),
        ("DEPLOY_TIMEOUT", "15m", "  DEPLOY_TIMEOUT: '15m' is not a whole number of seconds (environment)"),
        ("DEPLOY_TIMEOUT", "0", "  DEPLOY_TIMEOUT: '0' is not a whole number of seconds (environment)"),
        ("HEALTH_SETTLE_TIMEOUT", "-1", "  HEALTH_SETTLE_TIMEOUT: '-1' is not a whole number of seconds (environment)"),
        ("ACCEPTED_HEALTH", "green", "  ACCEPTED_HEALTH: 'green' is not comma-separated colours: Green,Yellow (environment)"),
        (
            "ACCEPTED_HEALTH",
            "Green, Yellow",
            "  ACCEPTED_HEALTH: 'Green, Yellow' is not comma-separated colours: Green,Yellow (environment)",
        ),
        ("ROLLBACK", "yes", "  ROLLBACK must be one of true, false (environment)"),
        ("AUTH_FORMAT", "yaml", "  AUTH_FORMAT must be one of config.json, dockercfg (environment)"),
    ],
)
def test_invalid_values_are_refused_with_this_line(name, bad, line):
    assert refusal(**{name: bad}) == "Invalid settings:\n" + line


def test_a_secret_that_breaks_a_rule_is_never_shown(monkeypatch):
    # No rule applies to the password today; a secret setting with a pattern says "the value" instead of it.
    spec = settings.SettingSpec("TOKEN", "help", secret=True, pattern="[a-z]+", pattern_help="lower-case letters")
    monkeypatch.setattr(settings, "SPECS", (*settings.SPECS, spec))
    message = refusal(TOKEN="Marker-SECRET-9")
    assert message == "Invalid settings:\n  TOKEN: the value is not lower-case letters (environment)"


def test_an_empty_value_where_a_default_exists_is_refused_and_names_the_default():
    assert refusal(BUNDLE_PREFIX="") == (
        "Invalid settings:\n  BUNDLE_PREFIX is set but empty (environment): remove it to use the default 'deploy', "
        "or give it a value"
    )


def test_an_empty_value_without_a_default_is_simply_not_set():
    assert load(EB_BUCKET="").eb_bucket == ""


def test_white_space_around_a_value_is_refused():
    assert refusal(AUTH_KEY=" key ") == "Invalid settings:\n  AUTH_KEY has leading or trailing white space (environment)"


def test_problems_are_listed_in_the_order_of_the_settings():
    assert refusal(AUTH_FORMAT="yaml", CONTAINER_PORT="x") == (
        "Invalid settings:\n  CONTAINER_PORT: 'x' is not a port number (environment)\n"
        "  AUTH_FORMAT must be one of config.json, dockercfg (environment)"
    )


def test_credentials_in_dotenv_are_refused_and_not_taken(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("REGISTRY_USERNAME=robot\nREGISTRY_PASSWORD=Marker-pw-7\n")
    with pytest.raises(UsageError) as raised:
        settings.load(environ={}, dotenv_path=dotenv)
    assert str(raised.value) == (
        "Invalid settings:\n"
        "  REGISTRY_PASSWORD is in .env, but registry credentials are read from the environment only: remove it from .env "
        "and export it (a CircleCI project variable in CI)\n"
        "  REGISTRY_USERNAME is in .env, but registry credentials are read from the environment only: remove it from .env "
        "and export it (a CircleCI project variable in CI)"
    )


def test_sources_name_where_each_value_came_from(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("EB_BUCKET=from-dotenv\nAUTH_KEY=k-dotenv\nDOCKER_BUILD_NETWORK\n")
    loaded = settings.load(
        flags={"AUTH_KEY": "k-flag", "BUNDLE_PREFIX": None}, environ={"AWS_REGION": "eu-west-1"}, dotenv_path=dotenv
    )
    assert (loaded.eb_bucket, loaded.auth_key, loaded.aws_region, loaded.docker_build_network) == (
        "from-dotenv",
        "k-flag",
        "eu-west-1",
        "",
    )
    assert {name: loaded.sources[name] for name in ("EB_BUCKET", "AUTH_KEY", "AWS_REGION", "BUNDLE_PREFIX")} == {
        "EB_BUCKET": ".env",
        "AUTH_KEY": "flag",
        "AWS_REGION": "environment",
        "BUNDLE_PREFIX": "default",
    }


def test_read_dotenv_of_a_missing_file_is_empty_and_keys_without_a_value_are_dropped(tmp_path):
    assert settings.read_dotenv(tmp_path / "absent") == {}
    (tmp_path / ".env").write_text("A=1\nB\nC=\n")
    assert settings.read_dotenv(tmp_path / ".env") == {"A": "1", "C": ""}


def test_a_dotenv_that_is_not_utf8_names_its_line(tmp_path):
    (tmp_path / ".env").write_bytes(b"A=1\nB=2\nC=p\xe4ss\n")
    with pytest.raises(UsageError) as raised:
        settings.read_dotenv(tmp_path / ".env")
    assert str(raised.value) == ".env is not UTF-8 text (line 3): save it as UTF-8"


def test_the_password_is_the_only_secret_and_never_in_the_repr():
    loaded = load(REGISTRY_USERNAME="robot-user", REGISTRY_PASSWORD="Marker-pw-7")
    assert loaded.secrets == ["Marker-pw-7"]
    assert "Marker-pw-7" not in repr(loaded)
    assert "robot-user" in repr(loaded)
    assert load().secrets == []


def test_require_passes_when_every_name_is_set_and_names_only_the_missing_ones():
    loaded = load(EB_BUCKET="bucket-1")
    loaded.require("EB_BUCKET", "BASE_IMAGE")
    with pytest.raises(UsageError) as raised:
        loaded.require("EB_BUCKET", "EB_APPLICATION")
    assert str(raised.value) == (
        "Missing settings:\n  EB_APPLICATION: Elastic Beanstalk application name. "
        "(set it in .env (see .env.example) or the environment)"
    )


@pytest.mark.parametrize(
    ("repository", "registry"),
    [
        ("myreg:5000/app", "myreg:5000"),  # a port but no dot: still a registry host, never Docker Hub
        ("registry.local/team/app", "registry.local"),
        ("localhost/app", "localhost"),
        ("localhost:5000/app", "localhost:5000"),
        ("acme/web", "docker.io"),
        ("localhostx/web", "docker.io"),
        ("quay.io", "docker.io"),  # no path: a Docker Hub image named quay.io
    ],
)
def test_the_registry_is_the_first_component_when_it_has_a_dot_or_a_colon_or_is_localhost(repository, registry):
    # Docker's rule (distribution/reference, splitDockerDomain): the first component is a host when it holds '.' or ':'
    # or is 'localhost'.
    assert settings.registry_of(repository) == registry
    assert load(IMAGE_REPOSITORY=repository).registry == registry


def test_by_default_the_process_environment_and_the_working_directorys_dotenv_are_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("EB_BUCKET=bucket-from-dotenv\nAUTH_KEY=key-from-dotenv\n")
    monkeypatch.setenv("AUTH_KEY", "key-from-environ")
    monkeypatch.delenv("EB_BUCKET", raising=False)
    loaded = settings.load()
    assert (loaded.eb_bucket, loaded.auth_key) == ("bucket-from-dotenv", "key-from-environ")
    assert (loaded.sources["EB_BUCKET"], loaded.sources["AUTH_KEY"]) == (".env", "environment")


def test_the_readme_sizes_deploy_timeout_with_the_settings_it_names_and_their_defaults():
    """DEPLOY_TIMEOUT must cover the wait for Ready, the update and the settling: the README says how to size it."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    sizing = readme[readme.index("**Sizing `DEPLOY_TIMEOUT`.**") :].split("## Exit codes")[0]
    assert "DEPLOY_TIMEOUT >= batches x Timeout + EvaluationTime (TrafficSplitting) + HEALTH_SETTLE_TIMEOUT" in sizing
    defaults = settings.load({}, environ={})
    assert f"The\ndefault {defaults.deploy_timeout} s" in sizing
    assert f"6 x 600 + {defaults.health_settle_timeout} = {6 * 600 + int(defaults.health_settle_timeout)} s" in sizing
