"""After a failed Immutable or TrafficSplitting update, the terminated instances' bundle logs (ebship/bundlelogs.py):
which updates replaced the fleet (the update's events), what of a bundle explains the failure, and the reading of the
bundles from the stand-in's real S3 at the place the developer guide documents (Elastic Beanstalk's bucket
elasticbeanstalk-REGION-ACCOUNT_ID, resources/environments/logs/bundle/ENVIRONMENT_ID/INSTANCE_ID/), over sockets.
The stand-in does not upload them itself yet (the `slow-logs` variant): the test puts them there as the instances would."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from tests_support import REGION, FakeClock, standin_client

from ebship import bundlelogs, logs
from ebship.beanstalk import Event, LogEntry
from ebship.clock import Deadline
from ebship.output import Console
from localeb.fleet import IMMUTABLE_START, SPLITTING, TEMPORARY_CREATED

NOW = datetime.now(UTC)
ENVIRONMENT_ID = "e-bundle123"
BUCKET = f"elasticbeanstalk-{REGION}-123456789012"
SECRET = "Bundle-S3cr3t-M4rk3r"
APP_OUTPUT = (
    f"SECRET_KEY={SECRET}\n"
    "Traceback (most recent call last):\n"
    '  File "/app/start.py", line 3, in <module>\n'
    f"RuntimeError: cannot start: no database at {SECRET}\n"
)
ENGINE = "2026/12/08 01:00:00.000000 [ERROR] An error occurred during execution of command [app-deploy]\n"


def events(*messages: str) -> list[Event]:
    return [Event(NOW + timedelta(seconds=n), "INFO", message) for n, message in enumerate(messages)]


def bundle(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


def test_the_updates_that_replace_the_fleet_are_told_by_their_events() -> None:
    immutable = events("Deploying new version to instance(s).", IMMUTABLE_START, TEMPORARY_CREATED.format(group="g"))
    assert bundlelogs.replaced_fleet(immutable)
    assert bundlelogs.replaced_fleet(events(SPLITTING.format(percent=10)))
    rolling = events("Deploying new version to instance(s).", "Batch 1: Starting application deployment on instance(s)")
    assert not bundlelogs.replaced_fleet(rolling)


def test_a_bundle_gives_the_engines_log_and_the_containers_output_and_nothing_else() -> None:
    text = bundlelogs.bundle_text(
        bundle(
            {
                "var/log/eb-engine.log": ENGINE,
                "var/log/eb-docker/containers/eb-current-app/eb-1a2b-stdouterr.log": APP_OUTPUT,
                "var/log/yum.log": "Installed: something\n",
            }
        )
    )
    lines = logs.explaining_lines(text)
    assert "/var/log/eb-engine.log:" in lines and "/var/log/yum.log:" not in lines
    assert f"  RuntimeError: cannot start: no database at {SECRET}" in lines
    with pytest.raises(ValueError):
        bundlelogs.bundle_text(b"not a zip")


class FailedFleet:
    """A failed Immutable update as the explanation meets it: the old instance's tail, and where the logs are kept."""

    def __init__(self) -> None:
        self.requested = NOW

    def instance_ids(self, environment: str) -> list[str]:
        return ["i-old"]

    def request_tail_logs(self, environment: str) -> datetime:
        return self.requested

    def tail_logs(self, environment: str) -> list[LogEntry]:
        return [LogEntry("i-old", self.requested + timedelta(seconds=2), "http://s3.example/i-old")]

    def logs_location(self, environment: str) -> tuple[str, str]:
        return BUCKET, ENVIRONMENT_ID

    def health_causes(self, environment: str) -> list[str]:
        return []


@pytest.fixture(scope="module")
def standin_s3(tmp_path_factory: Any) -> Any:
    from localeb.server import start_server

    running = start_server(tmp_path_factory.mktemp("bundles") / "server.log")
    try:
        s3 = standin_client("s3", {"AWS_ENDPOINT_URL": running.endpoint_url})
        s3.create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        running.stop()


def explain(s3: Any, update_events: list[Event]) -> str:
    out = StringIO()
    console = Console(out, StringIO())
    console.add_secrets([SECRET])
    logs.explain_failure(
        FailedFleet(),  # type: ignore[arg-type]
        "web-env",
        console,
        Deadline(FakeClock(), 120.0),
        lambda url, timeout: "healthy old instance\n",
        events=update_events,
        s3=lambda: s3,
    )
    return out.getvalue()


def test_after_a_failed_immutable_update_the_terminated_instances_bundle_logs_explain_it(standin_s3: Any) -> None:
    where = f"s3://{BUCKET}/resources/environments/logs/bundle/{ENVIRONMENT_ID}/"
    immutable = events(IMMUTABLE_START, TEMPORARY_CREATED.format(group="g"), "Failed to deploy application.")
    printed = explain(standin_s3, immutable)
    assert f"uploaded their bundle logs to {where} (kept one hour); none is there yet" in printed, printed

    prefix = f"resources/environments/logs/bundle/{ENVIRONMENT_ID}"
    files = {
        "var/log/eb-engine.log": ENGINE,
        "var/log/eb-docker/containers/eb-current-app/eb-9f8e-stdouterr.log": APP_OUTPUT,
    }
    for instance in ("i-new1", "i-new2"):
        key = f"{prefix}/{instance}/BundleLogs-1765155600000.zip"
        standin_s3.put_object(Bucket=BUCKET, Key=key, Body=bundle(files))
    printed = explain(standin_s3, immutable)
    assert "[Instance: i-old]" in printed and "healthy old instance" in printed, "the tail of the instance left"
    assert f"uploaded their bundle logs to {where} (kept one hour):" in printed
    for instance in ("i-new1", "i-new2"):
        assert f"[Instance: {instance}] (bundle logs, terminated)" in printed
    assert printed.count("RuntimeError: cannot start: no database at ****") == 2
    assert "[ERROR] An error occurred during execution of command [app-deploy]" in printed
    assert SECRET not in printed

    rolling = events("Deploying new version to instance(s).", "Failed to deploy application.")
    assert "bundle logs" not in explain(standin_s3, rolling), "only an update that replaced the fleet"


def test_bundles_that_cannot_be_read_are_located_not_raised(standin_s3: Any) -> None:
    class Refusing:
        def list_objects_v2(self, **params: Any) -> Any:
            raise OSError("Access Denied")

    immutable = events(IMMUTABLE_START, "Failed to deploy application.")
    printed = explain(Refusing(), immutable)
    assert "could not read them (OSError: Access Denied): `aws s3 cp --recursive s3://" in printed
