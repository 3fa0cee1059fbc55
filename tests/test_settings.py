from pathlib import Path

import pytest

from ebship import settings
from ebship.errors import UsageError


def write_env(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_precedence_defaults_then_dotenv_then_environment_then_flags(tmp_path):
    dotenv = write_env(tmp_path, "IMAGE_REPOSITORY=quay.io/from/dotenv\nEB_BUCKET=dotenv-bucket\nAUTH_KEY=from-dotenv\n")
    loaded = settings.load(
        flags={"AUTH_KEY": "from-flag", "EB_BUCKET": None},
        environ={"IMAGE_REPOSITORY": "quay.io/from/env", "AUTH_KEY": "from-env"},
        dotenv_path=dotenv,
    )
    assert loaded.image_repository == "quay.io/from/env"  # .env never overrides the environment
    assert loaded.eb_bucket == "dotenv-bucket"
    assert loaded.auth_key == "from-flag"
    assert loaded.base_image == "python:3.12-slim"
    assert loaded.sources["AUTH_KEY"] == "flag"
    assert loaded.sources["BASE_IMAGE"] == "default"


def test_loading_does_not_touch_the_process_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("EB_BUCKET", raising=False)
    settings.load(environ={}, dotenv_path=write_env(tmp_path, "EB_BUCKET=dotenv-bucket\n"))
    import os

    assert "EB_BUCKET" not in os.environ


def test_require_lists_every_missing_setting_once(tmp_path):
    loaded = settings.load(environ={}, dotenv_path=tmp_path / "none")
    with pytest.raises(UsageError) as raised:
        loaded.require("IMAGE_REPOSITORY", "REGISTRY_PASSWORD", "EB_BUCKET")
    message = str(raised.value)
    assert message.startswith("Missing settings:")
    for name in ("IMAGE_REPOSITORY", "REGISTRY_PASSWORD", "EB_BUCKET"):
        assert message.count(f"  {name}:") == 1
    assert "export it in the environment" in message
    assert ".env.example" in message


def test_registry_credentials_in_dotenv_are_refused(tmp_path):
    dotenv = write_env(tmp_path, "REGISTRY_USERNAME=robot\nREGISTRY_PASSWORD=hunter2-marker\n")
    with pytest.raises(UsageError) as raised:
        settings.load(environ={}, dotenv_path=dotenv)
    assert "REGISTRY_PASSWORD is in .env" in str(raised.value)
    assert "hunter2-marker" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAGE_REPOSITORY", "Quay.io/Upper/Case"),
        ("IMAGE_REPOSITORY", "quay.io/acme/web:tag"),
        ("EB_BUCKET", "no_underscores"),
        ("AUTH_FORMAT", "yaml"),
        ("AWS_REGION", "europe"),
        ("EB_BUCKET", " padded "),
    ],
)
def test_malformed_values_are_refused_with_the_name(tmp_path, name, value):
    with pytest.raises(UsageError) as raised:
        settings.load(environ={name: value}, dotenv_path=tmp_path / "none")
    assert name in str(raised.value)


def test_all_problems_are_reported_together(tmp_path):
    with pytest.raises(UsageError) as raised:
        settings.load(environ={"EB_BUCKET": "x", "AUTH_FORMAT": "yaml"}, dotenv_path=tmp_path / "none")
    assert "EB_BUCKET" in str(raised.value) and "AUTH_FORMAT" in str(raised.value)


@pytest.mark.parametrize(
    ("repository", "registry"),
    [
        ("quay.io/acme/web", "quay.io"),
        ("127.0.0.1:5000/web", "127.0.0.1:5000"),
        ("localhost/web", "localhost"),
        ("acme/web", "docker.io"),
        ("web", "docker.io"),
    ],
)
def test_registry_of_repository(repository, registry):
    assert settings.registry_of(repository) == registry


def test_every_setting_is_documented_in_env_example():
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    for spec in settings.SPECS:
        if spec.env in settings.ENV_ONLY:
            assert spec.env in example  # explained, though not settable there
        else:
            assert f"\n{spec.env}=" in example, spec.env
