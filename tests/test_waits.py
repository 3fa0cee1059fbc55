"""Every wait of the core runs on the injected clock, so each one is proven here on a fake clock, in no real time.

The other waits have theirs beside their subject: following an update and waiting for Ready (tests/test_watch.py), a
version's processing (tests/test_aws_faithfulness.py, ``wait_processed``), fetching tail logs (tests/test_logs.py).
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from tests_support import FakeClock

from ebship import envupdate, operate
from ebship.beanstalk import Beanstalk
from ebship.cloud import Cloud
from ebship.errors import DeployTimeout
from ebship.job import Job, Target
from ebship.output import Console
from ebship.settings import load

TARGET = Target("stg", "web-stg", "web", ("Green",))
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class StoppingClock(FakeClock):
    """A fake clock whose ``stop_after``-th sleep is the user's Ctrl-C."""

    def __init__(self, stop_after: int) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self.stop_after = stop_after

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.stop_after:
            raise KeyboardInterrupt
        super().sleep(seconds)


def job_on(tmp_path: Path, timeout: str = "60") -> tuple[Job, io.StringIO]:
    out = io.StringIO()
    settings = dataclasses.replace(
        load({}, environ={"AWS_REGION": "eu-west-1"}, dotenv_path=tmp_path / ".env"), deploy_timeout=timeout
    )
    return Job(tmp_path, settings, Console(out, io.StringIO())), out


def stubbed_eb() -> tuple[Beanstalk, Stubber]:
    client = boto3.client("elasticbeanstalk", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return Beanstalk(client), Stubber(client)


def event(seconds: int, message: str) -> dict[str, object]:
    return {"EventDate": T0 + timedelta(seconds=seconds), "Severity": "INFO", "Message": message}


def test_events_follow_polls_on_the_clock_and_prints_each_event_once(tmp_path):
    job, out = job_on(tmp_path)
    eb, stub = stubbed_eb()
    stub.add_response("describe_events", {"Events": [event(1, "first")]})
    stub.add_response("describe_events", {"Events": [event(2, "second"), event(1, "first")]})
    stub.add_response("describe_events", {"Events": [event(2, "second"), event(1, "first")]})
    clock = StoppingClock(stop_after=3)
    with stub, pytest.raises(KeyboardInterrupt):
        operate.events(job, TARGET, 20, follow=True, cloud=Cloud(job.settings, clock, eb=eb))
    assert clock.sleeps == [2.0, 2.0, 2.0]
    assert [line.split()[-1] for line in out.getvalue().splitlines()] == ["first", "second"]


def test_events_follow_prints_only_what_is_newer_than_what_it_showed_never_older_history(tmp_path):
    """`--count 2` shows the two newest; the next poll asks for 100 and gets older events too: history, not news (an
    old "Failed to deploy application." printed as new would be a lie)."""
    job, out = job_on(tmp_path)
    eb, stub = stubbed_eb()
    stub.add_response("describe_events", {"Events": [event(60, "newest"), event(50, "second newest")]})
    older = [event(seconds, f"old-{seconds}") for seconds in range(49, 0, -1)]
    stub.add_response("describe_events", {"Events": [event(70, "new"), event(60, "newest"), event(50, "second newest"), *older]})
    clock = StoppingClock(stop_after=2)
    with stub, pytest.raises(KeyboardInterrupt):
        operate.events(job, TARGET, 2, follow=True, cloud=Cloud(job.settings, clock, eb=eb))
    printed = [line.split(maxsplit=3)[-1] for line in out.getvalue().splitlines()]
    assert printed == ["second newest", "newest", "new"]


def configuration(*statuses: str) -> dict[str, object]:
    return {
        "ConfigurationSettings": [
            {"ApplicationName": "web", "EnvironmentName": "web-stg", "DeploymentStatus": status, "OptionSettings": []}
            for status in statuses
        ]
    }


def test_eb_env_waits_for_another_updates_settings_on_the_clock(tmp_path):
    job, out = job_on(tmp_path)
    eb, stub = stubbed_eb()
    for _ in range(3):
        stub.add_response("describe_configuration_settings", configuration("deployed", "pending"))
    stub.add_response("describe_configuration_settings", configuration("deployed"))
    clock = FakeClock()
    with stub:
        found = envupdate.settled_configuration(job, Cloud(job.settings, clock, eb=eb), TARGET, dry_run=False)
        stub.assert_no_pending_responses()
    assert found == configuration("deployed") and clock.now == 6.0
    assert "deploying other settings (a pending draft): waiting for its end" in out.getvalue()


def test_eb_env_gives_up_on_a_draft_that_stays_pending_at_the_deadline(tmp_path):
    job, _ = job_on(tmp_path, timeout="10")
    eb, stub = stubbed_eb()
    for _ in range(7):
        stub.add_response("describe_configuration_settings", configuration("deployed", "pending"))
    clock = FakeClock()
    with stub, pytest.raises(DeployTimeout, match="still deploying other settings after 10 s"):
        envupdate.settled_configuration(job, Cloud(job.settings, clock, eb=eb), TARGET, dry_run=False)
    assert clock.now == 10.0


def test_a_dry_run_of_eb_env_never_waits(tmp_path):
    job, _ = job_on(tmp_path)
    eb, stub = stubbed_eb()
    stub.add_response("describe_configuration_settings", configuration("deployed", "pending"))
    clock = FakeClock()
    with stub:
        envupdate.settled_configuration(job, Cloud(job.settings, clock, eb=eb), TARGET, dry_run=True)
    assert clock.now == 0.0
