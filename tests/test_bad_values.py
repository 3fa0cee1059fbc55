"""Users' mistakes that used to end in a traceback: each gets one clear line and exit 2, and changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests_support import ROOT, base_env

from ebship import operate, settings
from ebship.errors import UsageError


def inv(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`inv` for real; AWS pointed at a closed port, so that nothing could be reached even if a check were missing."""
    full_env = {
        **base_env(),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        **(env or {}),
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("inv")), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["DEPLOY_TIMEOUT", "AUTH_KEY", "AUTH_FORMAT", "CONTAINER_PORT", "ACCEPTED_HEALTH"])
@pytest.mark.parametrize("where", ["environment", ".env", "flag"])
def test_an_empty_setting_that_has_a_default_is_refused(tmp_path, name, where):
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"{name}=\n" if where == ".env" else "")
    with pytest.raises(UsageError) as raised:
        settings.load(
            flags={name: ""} if where == "flag" else None,
            environ={name: ""} if where == "environment" else {},
            dotenv_path=dotenv,
        )
    message = str(raised.value)
    assert f"{name} is set but empty ({where})" in message
    assert "remove it to use the default" in message


def test_a_setting_without_default_may_be_empty(tmp_path):
    loaded = settings.load(environ={"DOCKER_BUILD_NETWORK": "", "AWS_REGION": ""}, dotenv_path=tmp_path / "none")
    assert loaded.docker_build_network == "" and loaded.aws_region == ""


def test_a_dotenv_that_is_not_utf8_is_refused_naming_the_line_not_the_byte(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"EB_BUCKET=bucket\nSECRET=caf\xe9-M4rk3r\n")
    with pytest.raises(UsageError) as raised:
        settings.load(environ={}, dotenv_path=dotenv)
    assert str(raised.value) == ".env is not UTF-8 text (line 2): save it as UTF-8"


@pytest.mark.parametrize(
    ("text", "low", "high", "says"),
    [
        ("0", 1, 1000, "--count takes a whole number from 1 to 1000, not 0."),
        ("-5", 1, 1000, "--count takes a whole number from 1 to 1000, not -5."),
        ("1001", 1, 1000, "--count takes a whole number from 1 to 1000, not 1001."),
        ("abc", 1, 1000, "--count takes a whole number from 1 to 1000, not 'abc'."),
        ("2.5", 1, None, "--count takes a whole number 1 or more, not '2.5'."),
    ],
)
def test_whole_number_names_the_flag_and_its_range(text, low, high, says):
    with pytest.raises(UsageError) as raised:
        operate.whole_number("--count", text, low, high)
    assert str(raised.value) == says


def test_whole_number_accepts_the_range_ends():
    assert operate.whole_number("--count", "1", 1, 1000) == 1
    assert operate.whole_number("--count", 1000, 1, 1000) == 1000


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("eb.events", "--env", "local", "--count", "0"), "--count takes a whole number from 1 to 1000, not 0."),
        (("eb.events", "--env", "local", "--count", "-5"), "--count takes a whole number from 1 to 1000, not -5."),
        (("eb.events", "--env", "local", "--count", "abc"), "--count takes a whole number from 1 to 1000, not 'abc'."),
        (("eb.prune", "--keep", "abc"), "--keep takes a whole number 1 or more, not 'abc'."),
        (("-R", "eb.deploy", "--env", "prod"), "inv -R/--dry is not supported"),
        (("--dry", "eb.env", "--env", "stg"), "use the task's own --dry-run"),
    ],
)
def test_bad_flags_get_one_line_and_exit_2_without_traceback(args, says):
    result = inv(*args)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert says.lower() in output.lower()
    assert "Traceback" not in output and "Unexpected error" not in output
    assert len(result.stderr.strip().splitlines()) == 1, output


def test_invoke_dry_run_is_refused_by_every_task():
    """Each task, called as Invoke calls it under -R, stops before its body runs (the body would need arguments)."""
    from invoke import Config, Context, Exit

    import tasks

    dry = Context(Config(overrides={"run": {"dry": True}}))
    ran = []
    for name in tasks.ns.task_names:
        try:
            tasks.ns[name](dry)
            ran.append(name)
        except Exit as stopped:
            assert stopped.code == 2 and "inv -R/--dry is not supported" in str(stopped.message), name
        except Exception:  # the body ran (and failed on its missing arguments or settings)
            ran.append(name)
    assert not ran, f"tasks that Invoke's -R would run for real: {sorted(ran)}"


@pytest.mark.parametrize("pace", ["nan", "inf", "-inf", "1e9", "-1", "301"])
def test_a_pace_that_is_no_pace_is_refused_before_anything_stops(pace: str) -> None:
    """`inv local.up --pace nan` passed the check, stopped the running stand-in, and the new one never started."""
    from ebship.errors import UsageError
    from ebship.standin import checked_pace

    with pytest.raises(UsageError) as refused:
        checked_pace(pace)
    assert str(refused.value).startswith("--pace: pace must be seconds between 0 and 300")


@pytest.mark.parametrize("pace", ["fast", "realistic", "0", "2.5", "300"])
def test_a_pace_in_range_is_taken(pace: str) -> None:
    from ebship.standin import checked_pace

    assert checked_pace(pace) == pace


def test_docker_build_without_image_repository_is_missing_settings_before_the_engine_is_asked(tmp_path):
    """With the base image present, the build went on to ask the engine about an image with no name: a Docker traceback."""
    import dataclasses
    import io

    from ebship import release
    from ebship.errors import UsageError
    from ebship.job import Job
    from ebship.output import Console
    from ebship.settings import load

    settings = dataclasses.replace(load({}, environ={}, dotenv_path=tmp_path / ".env"), image_repository="")

    class NoEngine:
        @property
        def engine(self):
            raise AssertionError("the engine was asked")

    with pytest.raises(UsageError) as refused:
        release.build(Job(tmp_path, settings, Console(io.StringIO(), io.StringIO())), actions=NoEngine())  # type: ignore[arg-type]
    assert str(refused.value).startswith("Missing settings") and "IMAGE_REPOSITORY" in str(refused.value)
    assert refused.value.exit_code == 2


@pytest.mark.parametrize("dockerignore", [None, ".git\n", ".env\n!.env\n"])
def test_a_build_whose_context_would_carry_dot_env_is_refused_before_the_engine(tmp_path, dockerignore):
    import dataclasses
    import io

    from ebship import release
    from ebship.errors import UsageError
    from ebship.job import Job
    from ebship.output import Console
    from ebship.settings import load

    (tmp_path / ".env").write_text("SECRET_KEY=marker-value\n")
    if dockerignore is not None:
        (tmp_path / ".dockerignore").write_text(dockerignore)
    settings = dataclasses.replace(load({}, environ={}, dotenv_path=tmp_path / ".env"), image_repository="r.example/a/w")

    class NoEngine:
        @property
        def engine(self):
            raise AssertionError("the engine was asked")

    job = Job(tmp_path, settings, Console(io.StringIO(), io.StringIO()))
    for attempt in (lambda: release.build(job, actions=NoEngine()), lambda: release.plan_test(job)):  # type: ignore[arg-type]
        with pytest.raises(UsageError) as refused:
            attempt()
        assert str(refused.value).startswith("The build context would send .env to the Docker engine")
        assert "marker-value" not in str(refused.value)


def test_this_repositorys_dockerignore_keeps_every_local_settings_file_out(tmp_path):
    from pathlib import Path

    from ebship import images

    root = Path(__file__).resolve().parents[1]
    patterns = images.dockerignore_patterns((root / ".dockerignore").read_text())
    assert not any(images.sent_to_engine(patterns, name) for name in (".env", ".env.local", "app/.env"))
