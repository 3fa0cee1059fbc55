import pytest
from django.conf import settings

from sampleapp.settings import (
    INSECURE_DEV_SECRET_KEY,
    allowed_hosts_from,
    env_flag,
    secret_key_from,
)


def test_no_database_is_configured() -> None:
    # Django fills an empty DATABASES with the "dummy" backend, which refuses every query.
    engines = {db["ENGINE"] for db in settings.DATABASES.values()}
    assert engines <= {"django.db.backends.dummy"}


def test_secret_key_from_the_environment_wins() -> None:
    assert secret_key_from({"SECRET_KEY": "s3cr3t"}, debug=False) == "s3cr3t"
    assert secret_key_from({"SECRET_KEY": "s3cr3t"}, debug=True) == "s3cr3t"


def test_debug_without_secret_key_uses_the_dev_key() -> None:
    assert secret_key_from({}, debug=True) == INSECURE_DEV_SECRET_KEY


def test_no_secret_key_outside_debug_is_random_and_warned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = secret_key_from({}, debug=False)
    second = secret_key_from({"SECRET_KEY": "  "}, debug=False)
    assert first != second
    assert INSECURE_DEV_SECRET_KEY not in (first, second)
    assert len(first) >= 50
    assert "SECRET_KEY is not set" in capsys.readouterr().err


def test_allowed_hosts() -> None:
    assert allowed_hosts_from({}) == ["*"]
    assert allowed_hosts_from({"ALLOWED_HOSTS": " "}) == ["*"]
    assert allowed_hosts_from({"ALLOWED_HOSTS": "a.example, b.example,"}) == [
        "a.example",
        "b.example",
        "127.0.0.1",
        "localhost",
    ]
    assert allowed_hosts_from({"ALLOWED_HOSTS": "localhost"}) == [
        "localhost",
        "127.0.0.1",
    ]


def test_env_flag() -> None:
    assert env_flag({"X": "1"}, "X")
    assert env_flag({"X": "true"}, "X")
    assert not env_flag({"X": "0"}, "X")
    assert not env_flag({}, "X")


def test_wsgi_application_loads() -> None:
    from sampleapp.wsgi import application

    assert callable(application)
