"""What is masked: values that come from references in environments.toml and values whose key names a secret, in
every task's output; everything else (application and environment names, hosts, URLs) is shown."""

from __future__ import annotations

import io

import pytest

from ebship import envvars
from ebship.output import Console

MARKER = "M4sk-m3-Pl34se"


@pytest.mark.parametrize(
    "key",
    [
        "SECRET_KEY",
        "SECRET_KEY_BASE",
        "DB_PASSWORD",
        "DBPASSWORD",
        "db_passwd",
        "API_KEY",
        "apiKey",
        "GITHUB_TOKEN",
        "authToken",
        "GOOGLE_CREDENTIALS",
        "SENTRY_DSN",
        "DB_PASS",
        "PRIVATE_KEY_PEM",
        "AWS_SECRET_ACCESS_KEY",
        "SSH_PASSPHRASE",
        "STRIPE_KEYS",
    ],
)
def test_keys_that_name_a_secret(key):
    assert envvars.names_a_secret(key)


@pytest.mark.parametrize(
    "key",
    [
        "DJANGO_SETTINGS_MODULE",
        "ALLOWED_HOSTS",
        "APP_NAME",
        "TOKEN_TTL",
        "AWS_ACCESS_KEY_ID",
        "KEYBOARD",
        "MONKEY_MODE",
        "DEBUG",
        "PORT",
    ],
)
def test_keys_that_do_not(key):
    assert not envvars.names_a_secret(key)


def test_secret_values_hold_the_values_of_keys_that_name_a_secret_even_when_written_plainly():
    resolved = envvars.resolve_references({"API_TOKEN": "plain-t0ken", "APP_NAME": "sampleapp", "DSN": "x"}, {})
    assert "plain-t0ken" in resolved.secret_values
    assert "sampleapp" not in resolved.secret_values


def test_secrets_known_never_raises_and_masks_what_it_can_resolve():
    variables = {
        "SECRET_KEY": "${SECRET_KEY}",
        "DATABASE_URL": "postgres://app:${DB_PASSWORD}@db/app",
        "OTHER": "${UNSET_HERE}",
        "BROKEN": "${1X}",
        "APP_NAME": "sampleapp",
    }
    found = envvars.secrets_known(variables, {"SECRET_KEY": MARKER, "DB_PASSWORD": "pw-99"})
    assert set(found) == {MARKER, "postgres://app:pw-99@db/app", "pw-99"}


def test_current_values_are_masked_only_for_secret_keys():
    current = {"SECRET_KEY": MARKER, "APP_NAME": "sampleapp", "ALLOWED_HOSTS": "127.0.0.1", "DATABASE_URL": "pg://u:p@h/d"}
    assert set(envvars.secret_current_values(current, {"DATABASE_URL"})) == {MARKER, "pg://u:p@h/d"}


def test_a_console_masks_the_declared_secrets_and_shows_the_rest(tmp_path):
    (tmp_path / "environments.toml").write_text(
        '[stg]\neb_environment = "sampleapp-stg"\n\n[stg.variables]\nSECRET_KEY = "${SECRET_KEY}"\n'
        'ALLOWED_HOSTS = "127.0.0.1"\nAPP_NAME = "sampleapp"\nAPI_TOKEN = "t0ken-wr1tten-pl4inly"\n'
        '\n[prod]\neb_environment = "sampleapp-prod"\n\n[prod.variables]\nDB = "pg://app:${DB_PASSWORD}@db/app"\n'
    )
    (tmp_path / ".env").write_text("DB_PASSWORD=dotenv-pw-77\n")
    out = io.StringIO()
    console = Console(out=out)
    console.add_secrets(envvars.declared_secrets(tmp_path, {"SECRET_KEY": MARKER, "DB_PASSWORD": "dotenv-pw-77"}))
    console.print(
        f"boom: environ({{'SECRET_KEY': {MARKER!r}, 'API_TOKEN': 't0ken-wr1tten-pl4inly', 'DB': 'pg://app:dotenv-pw-77@db/app'}})"
        " on sampleapp-local at http://127.0.0.1:8080"
    )
    printed = out.getvalue()
    for secret in (MARKER, "t0ken-wr1tten-pl4inly", "dotenv-pw-77"):
        assert secret not in printed
    assert "sampleapp-local at http://127.0.0.1:8080" in printed


def test_declared_secrets_reads_dotenv_under_the_environment(tmp_path, monkeypatch):
    (tmp_path / "environments.toml").write_text('[stg]\neb_environment = "app-stg"\n\n[stg.variables]\nK = "${REF}"\n')
    (tmp_path / ".env").write_text("REF=from-dotenv\n")
    monkeypatch.setenv("REF", "from-environ")
    assert envvars.declared_secrets(tmp_path) == ("from-environ",)
    monkeypatch.delenv("REF")
    assert envvars.declared_secrets(tmp_path) == ("from-dotenv",)


def test_declared_secrets_of_a_broken_or_missing_file_are_none(tmp_path):
    assert envvars.declared_secrets(tmp_path, {}) == ()
    (tmp_path / "environments.toml").write_text("[stg\n")
    assert envvars.declared_secrets(tmp_path, {}) == ()


def test_every_task_registers_the_declared_secrets(tmp_path, monkeypatch):
    """tasks._support.job, which every task calls first: an app that prints its environment in an event is masked."""
    from ebship.output import console
    from tasks import _support

    (tmp_path / "environments.toml").write_text(
        '[stg]\neb_environment = "sampleapp-stg"\n\n[stg.variables]\nSECRET_KEY = "${JOB_SECRET}"\nAPP = "sampleapp"\n'
    )
    monkeypatch.setattr(_support, "ROOT", tmp_path)
    monkeypatch.setenv("JOB_SECRET", MARKER + "-job")
    _support.job()
    assert console.mask(f"SECRET_KEY={MARKER}-job APP=sampleapp") == "SECRET_KEY=**** APP=sampleapp"


def test_switches_are_never_masked_even_under_a_secret_name():
    resolved = envvars.resolve_references(
        {"SECRET_CHECKS": "true", "API_TOKEN_REQUIRED_KEY": "off", "DB_PASSWORD": "${PW}"}, {"PW": "no"}
    )
    assert resolved.secret_values == ()
