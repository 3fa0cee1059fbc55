"""Choosing the lines that explain a failure from an instance's tail logs (ebship/logs.py), on plain text; and the
explanation's bounds: what it prints when logs cannot be had, its call count, its masking. Fakes stand in for the
service only on these paths; tests/test_say_why.py shows the whole on the stand-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from tests_support import FakeClock

from ebship import logs
from ebship.beanstalk import LogEntry
from ebship.clock import Deadline
from ebship.output import Console

RULE = "-" * 40
APP_LOG = "/var/log/eb-docker/containers/eb-current-app/eb-3f2a9c1d7e4b-stdouterr.log"

# What the sample app's release image printed with DJANGO_SETTINGS_MODULE=sampleapp.missing_settings (gunicorn 27, two
# workers): each worker's traceback, then the master's shutdown, with the exception far above the last lines.
WORKER_TRACEBACK = """\
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 752, in spawn_worker
    worker.init_process()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/workers/base.py", line 138, in init_process
    self.load_wsgi()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/workers/base.py", line 150, in load_wsgi
    self.wsgi = self.app.wsgi()
                ^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/app/base.py", line 67, in wsgi
    self.callable = self.load()
                    ^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/app/wsgiapp.py", line 57, in load
    return self.load_wsgiapp()
           ^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/app/wsgiapp.py", line 47, in load_wsgiapp
    return util.import_app(self.app_uri)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/util.py", line 420, in import_app
    mod = importlib.import_module(module)
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1206, in _gcd_import
  File "<frozen importlib._bootstrap>", line 1178, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1149, in _find_and_load_unlocked
  File "<frozen importlib._bootstrap>", line 690, in _load_unlocked
  File "<frozen importlib._bootstrap_external>", line 940, in exec_module
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/app/sampleapp/wsgi.py", line 9, in <module>
    application = get_wsgi_application()
                  ^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/django/core/wsgi.py", line 12, in get_wsgi_application
    django.setup(set_prefix=False)
  File "/opt/venv/lib/python3.11/site-packages/django/__init__.py", line 19, in setup
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
                      ^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/django/conf/__init__.py", line 81, in __getattr__
    self._setup(name)
  File "/opt/venv/lib/python3.11/site-packages/django/conf/__init__.py", line 68, in _setup
    self._wrapped = Settings(settings_module)
                    ^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/opt/venv/lib/python3.11/site-packages/django/conf/__init__.py", line 166, in __init__
    mod = importlib.import_module(self.SETTINGS_MODULE)
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1206, in _gcd_import
  File "<frozen importlib._bootstrap>", line 1178, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1142, in _find_and_load_unlocked
ModuleNotFoundError: No module named 'sampleapp.missing_settings'
No module named 'sampleapp.missing_settings'"""
GUNICORN_LOG = "\n".join(
    [
        "[2026-11-27 15:58:02 +0000] [1] [INFO] Starting gunicorn 27.0.1",
        "[2026-11-27 15:58:02 +0000] [1] [INFO] Listening at: http://0.0.0.0:80 (1)",
        "[2026-11-27 15:58:02 +0000] [1] [INFO] Using worker: sync",
        "[2026-11-27 15:58:02 +0000] [7] [INFO] Booting worker with pid: 7",
        "[2026-11-27 15:58:02 +0000] [8] [INFO] Booting worker with pid: 8",
        "[2026-11-27 15:58:02 +0000] [7] [ERROR] Exception in worker process",
        WORKER_TRACEBACK,
        "[2026-11-27 15:58:02 +0000] [7] [INFO] Worker exiting (pid: 7)",
        "[2026-11-27 15:58:02 +0000] [8] [ERROR] Exception in worker process",
        WORKER_TRACEBACK,
        "[2026-11-27 15:58:02 +0000] [8] [INFO] Worker exiting (pid: 8)",
        "[2026-11-27 15:58:02 +0000] [1] [ERROR] Worker (pid:7) exited with code 3.",
        "[2026-11-27 15:58:02 +0000] [1] [INFO] Worker (pid:8) was sent SIGTERM!",
        "[2026-11-27 15:58:03 +0000] [1] [ERROR] Shutting down: Master",
        "[2026-11-27 15:58:03 +0000] [1] [ERROR] Reason: Worker failed to boot.",
    ]
)
EXCEPTION = "ModuleNotFoundError: No module named 'sampleapp.missing_settings'"
# gunicorn 20 ends a failed boot with HaltServer's tracebacks (a chained pair), far below the one that explains it: the
# log that issue 14 item 8 met, where a last-lines tail showed only HaltServer.
HALT_SERVER = """\
[2026-11-27 15:58:02 +0000] [1] [INFO] Shutting down: Master
[2026-11-27 15:58:02 +0000] [1] [INFO] Reason: Worker failed to boot.
Traceback (most recent call last):
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 209, in run
    self.sleep()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 357, in sleep
    ready = select.select([self.PIPE[0]], [], [], 1.0)
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 242, in handle_chld
    self.reap_workers()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 525, in reap_workers
    raise HaltServer(reason, self.WORKER_BOOT_ERROR)
gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/opt/venv/bin/gunicorn", line 8, in <module>
    sys.exit(run())
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/app/wsgiapp.py", line 58, in run
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/app/base.py", line 228, in run
    super().run()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/app/base.py", line 72, in run
    Arbiter(self).run()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 229, in run
    self.halt(reason=inst.reason, exit_status=inst.exit_status)
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 342, in halt
    self.stop()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 393, in stop
    time.sleep(0.1)
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 242, in handle_chld
    self.reap_workers()
  File "/opt/venv/lib/python3.11/site-packages/gunicorn/arbiter.py", line 525, in reap_workers
    raise HaltServer(reason, self.WORKER_BOOT_ERROR)
gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>"""
GUNICORN20_LOG = "\n".join(
    [
        "[2026-11-27 15:58:02 +0000] [1] [INFO] Starting gunicorn 20.1.0",
        "[2026-11-27 15:58:02 +0000] [7] [INFO] Booting worker with pid: 7",
        "[2026-11-27 15:58:02 +0000] [7] [ERROR] Exception in worker process",
        WORKER_TRACEBACK,
        "[2026-11-27 15:58:02 +0000] [7] [INFO] Worker exiting (pid: 7)",
        HALT_SERVER,
    ]
)
HALT = "  gunicorn.errors.HaltServer: <HaltServer 'Worker failed to boot.' 3>"
ENGINE_LOG = """\
2026/11/27 15:57:58.101010 [INFO] Executing instruction: StageApplication
2026/11/27 15:57:59.202020 [INFO] Running command /bin/sh -c docker run -d --env-file /opt/elasticbeanstalk/deployment/env.list
2026/11/27 15:58:05.303030 [ERROR] An error occurred during execution of command [app-deploy] - \
[Docker Specific Start Application]. Stop running the command. Error: container exited with code 3
2026/11/27 15:58:05.404040 [INFO] Executing cleanup logic
2026/11/27 15:58:05.505050 [INFO] Platform Engine finished execution on command: app-deploy"""


def tail(*files: tuple[str, str]) -> str:
    return "".join(f"{RULE}\n{path}\n{RULE}\n{text}\n\n\n" for path, text in files)


def test_the_exception_far_above_the_last_lines_is_chosen_with_its_traceback() -> None:
    text = tail((APP_LOG, GUNICORN20_LOG))
    assert EXCEPTION not in "\n".join(text.splitlines()[-20:]), "the exception must be out of a last-20 tail's reach"
    lines = logs.explaining_lines(text)
    assert lines[0] == f"{APP_LOG}:"
    assert f"  {EXCEPTION}" in lines and HALT in lines
    header = lines.index("  Traceback (most recent call last):")
    assert header < lines.index(f"  {EXCEPTION}") < lines.index(HALT), "the cause, then what gunicorn made of it"
    assert lines.count(HALT) == 1, "the chained HaltServer pair is shown once"


def test_each_worker_raising_the_same_exception_shows_it_once() -> None:
    lines = logs.explaining_lines(tail((APP_LOG, GUNICORN_LOG)))
    assert lines.count(f"  {EXCEPTION}") == 1 and "  Traceback (most recent call last):" in lines
    assert len(lines) <= 1 + logs.TRACEBACK_LINES


def test_a_long_traceback_keeps_its_header_and_its_last_frames() -> None:
    block = logs.tracebacks(WORKER_TRACEBACK.splitlines())[0]
    assert len(block) > logs.TRACEBACK_LINES
    kept = logs.shortened(block)
    assert kept[0] == "Traceback (most recent call last):" and kept[1] == "  ..." and kept[-1] == EXCEPTION
    assert len(kept) == logs.TRACEBACK_LINES


def test_eb_engine_log_gives_its_error_lines_and_the_app_its_exception() -> None:
    lines = logs.explaining_lines(tail(("/var/log/eb-engine.log", ENGINE_LOG), (APP_LOG, GUNICORN_LOG)))
    engine = lines[: lines.index(f"{APP_LOG}:")]
    assert engine[0] == "/var/log/eb-engine.log:"
    assert len(engine) == 2 and "[ERROR] An error occurred during execution of command [app-deploy]" in engine[1]
    assert f"  {EXCEPTION}" in lines


def test_without_a_traceback_the_last_lines_are_shown() -> None:
    output = "\n".join(f"line {n}" for n in range(1, 51)) + "\n\n"
    lines = logs.explaining_lines(tail((APP_LOG, output)))
    assert lines == [f"{APP_LOG}:"] + [f"  line {n}" for n in range(31, 51)]


def test_text_outside_any_framed_file_is_read_as_the_apps_output() -> None:
    assert f"  {EXCEPTION}" in logs.explaining_lines(GUNICORN_LOG)
    assert logs.explaining_lines("") == []


class FakeLogsService:
    """The few calls an explanation makes, counted. ``arrivals`` says, per instance, at which RetrieveEnvironmentInfo
    call its tail for this request is first listed (None: never); an older tail of the first instance is always there."""

    def __init__(
        self,
        compiled_after: int = 1,
        causes: list[str] | None = None,
        requested: datetime | None = None,
        arrivals: dict[str, int | None] | None = None,
    ) -> None:
        self.requested = requested or datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
        self.arrivals = arrivals if arrivals is not None else {"i-0abc": compiled_after}
        self.causes = causes or []
        self.calls: list[str] = []

    def instance_ids(self, environment: str) -> list[str]:
        self.calls.append("DescribeEnvironmentResources")
        return list(self.arrivals)

    def request_tail_logs(self, environment: str) -> datetime:
        self.calls.append("RequestEnvironmentInfo")
        return self.requested

    def tail_logs(self, environment: str) -> list[LogEntry]:
        self.calls.append("RetrieveEnvironmentInfo")
        retrievals = self.calls.count("RetrieveEnvironmentInfo")
        found = [LogEntry(next(iter(self.arrivals)), self.requested - timedelta(minutes=5), "http://s3.example/old")]
        for instance, arrival in self.arrivals.items():
            if arrival is not None and retrievals >= arrival:
                url = f"http://s3.example/{instance}/new?X-Amz-Signature=abc"
                found.append(LogEntry(instance, self.requested + timedelta(seconds=4), url))
        return found

    def health_causes(self, environment: str) -> list[str]:
        self.calls.append("DescribeEnvironmentHealth")
        return self.causes

    def logs_location(self, environment: str) -> tuple[str, str]:
        self.calls.append("DescribeEnvironments")
        return "elasticbeanstalk-eu-west-1-123456789012", "e-abc123"


def explain(service: FakeLogsService, fetch, seconds: float = 30.0, secrets: tuple[str, ...] = ()) -> tuple[str, FakeClock]:
    out, clock = StringIO(), FakeClock()
    console = Console(out, StringIO())
    console.add_secrets(secrets)
    logs.explain_failure(service, "web-env", console, Deadline(clock, seconds), fetch)  # type: ignore[arg-type]
    return out.getvalue(), clock


def test_the_newest_tail_is_read_and_explained_with_health_causes_and_secrets_masked() -> None:
    secret = "s3cr3t-M4rk3r-value"
    fetched: list[str] = []

    def fetch(url: str, timeout: float) -> str:
        fetched.append(url)
        return tail((APP_LOG, f"SECRET_KEY={secret}\n" + GUNICORN_LOG))

    service = FakeLogsService(compiled_after=2, causes=["Command failed on all instances."])
    printed, _ = explain(service, fetch, secrets=(secret,))
    assert fetched == ["http://s3.example/i-0abc/new?X-Amz-Signature=abc"], "only the tail compiled for this request"
    assert "Why it failed" in printed and "[Instance: i-0abc]" in printed and EXCEPTION in printed
    assert "health cause: Command failed on all instances." in printed
    assert service.calls == [
        "DescribeEnvironmentResources",
        "RequestEnvironmentInfo",
        "RetrieveEnvironmentInfo",
        "RetrieveEnvironmentInfo",
        "DescribeEnvironments",
        "DescribeEnvironmentHealth",
    ]
    # They hold what the app printed (this secret among it): where they stay, and for how long (API reference).
    assert (
        "These tails hold whatever the app printed: Elastic Beanstalk keeps them in "
        "s3://elasticbeanstalk-eu-west-1-123456789012/resources/environments/logs/tail/e-abc123/ and deletes them after "
        "15 minutes; until then anyone holding their pre-signed URLs can read them."
    ) in printed
    printed, _ = explain(FakeLogsService(), lambda url, timeout: f"SECRET_KEY={secret}\nfailed")
    assert "failed" in printed
    masked, _ = explain(FakeLogsService(), lambda url, timeout: f"SECRET_KEY={secret}\nfailed", secrets=(secret,))
    assert secret not in masked and "SECRET_KEY=****" in masked


def test_every_instances_tail_is_waited_for_and_the_wait_ends_when_all_are_in() -> None:
    service = FakeLogsService(arrivals={"i-1": 1, "i-2": 2, "i-3": 4})
    printed, clock = explain(service, lambda url, timeout: f"raised on {url.split('/')[3]}", seconds=120.0)
    for instance in ("i-1", "i-2", "i-3"):
        assert f"[Instance: {instance}]" in printed and f"raised on {instance}" in printed, printed
    assert service.calls.count("RetrieveEnvironmentInfo") == 4, "stops at the call that brought the last one"
    assert clock.now == sum(logs.RETRIEVE_INTERVALS[:4])
    assert "Fetching the instances' tail logs (up to 2 min): 0 of 3 in" in printed
    assert "1 of 3 in after 3 s" in printed and "3 of 3 in after" in printed
    assert "No tail logs" not in printed


def test_at_the_budget_the_tails_that_came_are_explained_and_the_silent_instances_named() -> None:
    service = FakeLogsService(arrivals={"i-1": 1, "i-2": None, "i-3": 3})
    printed, clock = explain(service, lambda url, timeout: f"raised on {url.split('/')[3]}", seconds=120.0)
    assert "raised on i-1" in printed and "raised on i-3" in printed
    assert "No tail logs within 120 s from i-2: get them with `eb logs`" in printed
    assert 100.0 <= clock.now <= 120.0, "it waited out the budget, and no longer"
    assert service.calls.count("RetrieveEnvironmentInfo") <= len(logs.RETRIEVE_INTERVALS) <= 8


def test_logs_never_compiled_end_in_one_line_saying_how_to_get_them_within_the_bound() -> None:
    service = FakeLogsService(compiled_after=10**6)
    printed, clock = explain(service, lambda url, timeout: "", seconds=30.0)
    assert "Could not fetch the tail logs (no instance had sent them after 30 s)" in printed
    assert "`eb logs`" in printed and "RequestEnvironmentInfo" in printed
    assert clock.now <= 30.0
    assert service.calls.count("RetrieveEnvironmentInfo") <= len(logs.RETRIEVE_INTERVALS)


def test_a_download_that_fails_is_reported_not_raised() -> None:
    def refused(url: str, timeout: float) -> str:
        raise OSError("HTTP Error 403: Forbidden")

    printed, _ = explain(FakeLogsService(), refused)
    assert "[Instance: i-0abc] could not download its tail logs (OSError: HTTP Error 403: Forbidden): get them" in printed

    def naming_the_url(url: str, timeout: float) -> str:
        raise ValueError(f"URL can't contain control characters. {url!r}")

    printed, _ = explain(FakeLogsService(), naming_the_url)
    assert "s3.example" not in printed, "the URL lets anyone read the logs: never shown"
    assert "(ValueError: URL can't contain control characters. '<pre-signed URL>')" in printed


def test_the_explanation_has_a_budget_of_its_own_of_two_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    monkeypatch.setattr(logs, "explain_failure", lambda eb, env, console, deadline, **_: seen.append(deadline.seconds))
    explainer = logs.explainer(FakeLogsService(), Console(StringIO(), StringIO()), FakeClock())  # type: ignore[arg-type]
    explainer("web-env", [])
    assert seen == [120.0] == [logs.TAIL_BUDGET_SECONDS]


def test_ctrl_c_during_the_fetch_stops_it_and_leaves_the_verdict_standing() -> None:
    class Interrupted(FakeLogsService):
        def tail_logs(self, environment: str) -> list[LogEntry]:
            raise KeyboardInterrupt

    out, err = StringIO(), StringIO()
    explainer = logs.explainer(Interrupted(), Console(out, err), FakeClock())  # type: ignore[arg-type]
    explainer("web-env", [])  # does not raise
    assert "Interrupted: the logs were not all fetched; the verdict above stands." in err.getvalue()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example/x"])
def test_only_http_urls_are_downloaded(url: str) -> None:
    with pytest.raises(ValueError):
        logs.download(url, 1.0)


def test_a_line_printed_between_the_frames_and_the_exception_does_not_hide_the_exception():
    """stdout and stderr reach the log as two streams: what the app printed just before raising can land inside it."""
    lines = [
        "Traceback (most recent call last):",
        '  File "<string>", line 1, in <module>',
        "SECRET_KEY=****",
        "RuntimeError: cannot start: no database at ****",
    ]
    assert logs.tracebacks(lines) == [[lines[0], lines[1], lines[3]]]
    assert logs.app_lines(lines)[-1] == "RuntimeError: cannot start: no database at ****"


def test_a_secret_the_run_never_held_but_the_environment_does_is_masked_before_any_log_is_printed() -> None:
    """A CI job given only the registry's credentials: the app prints SECRET_KEY, which the run's own environment
    never held. The environment's variables are read, and those named as secrets masked, before the tails are shown."""
    secret = "environment-only-M4rk3r"

    class WithConfiguration(FakeLogsService):
        def configuration(self, application: str, environment: str) -> dict:
            self.calls.append("DescribeConfigurationSettings")
            options = [
                {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "SECRET_KEY", "Value": secret},
                {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "DEBUG", "Value": "false"},
            ]
            return {"ConfigurationSettings": [{"DeploymentStatus": "deployed", "OptionSettings": options}]}

    out = StringIO()
    masks: list[str] = []
    console = Console(out, StringIO())
    console.on_secret = masks.extend  # what GitHub Actions' ::add-mask:: is told
    service = WithConfiguration()
    logs.explain_failure(
        service,  # type: ignore[arg-type]
        "web-env",
        console,
        Deadline(FakeClock(), 30.0),
        lambda url, timeout: f"SECRET_KEY={secret}\nDEBUG=false\nboom {secret}\n",
        application="web",
    )
    printed = out.getvalue()
    assert secret not in printed and "SECRET_KEY=****" in printed and "boom ****" in printed
    assert "DEBUG=false" in printed, "a value whose name says nothing secret is shown"
    assert secret in masks
    assert service.calls[0] == "DescribeConfigurationSettings", "read before anything from the logs is printed"
