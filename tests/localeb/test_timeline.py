"""The stand-in's record of when things happened (GET /_localeb/status, each environment's `timeline`): what the
benchmark counts result latency from. It must agree with what callers saw over the wire: the closing's EventDate, when
DescribeEvents showed it and Ready showed, and every health report DescribeInstancesHealth answered from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from localeb_support import client, create_environment, unique

pytestmark = pytest.mark.slow

ENHANCED = {"Namespace": "aws:elasticbeanstalk:healthreporting:system", "OptionName": "SystemType", "Value": "enhanced"}
UPDATE_COMPLETED = "Environment update completed successfully."
SCALE = 0.2  # a report every 2 s, events 0.4 to 1 s late, Ready 0.6 s after the closing


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from localeb.server import start_server

    log = tmp_path_factory.mktemp("timeline") / "server.log"
    running = start_server(log, extra_args=["--pace", "fast", "--fault-seed", "7"])
    running.update_settings(variants="health-refresh,event-delay,closing-first", time_scale=SCALE)
    yield running
    running.stop()


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_timeline_tells_when_the_closing_and_each_health_report_happened(server: Any) -> None:
    eb = client("elasticbeanstalk", server.endpoint_url)
    app = unique("app")
    eb.create_application(ApplicationName=app)
    for label in ("v1", "v2"):
        eb.create_application_version(ApplicationName=app, VersionLabel=label)
    name = create_environment(eb, app, VersionLabel="v1", OptionSettings=[ENHANCED])["EnvironmentName"]
    request_id = eb.update_environment(EnvironmentName=name, VersionLabel="v2")["ResponseMetadata"]["RequestId"]

    closing: dict[str, Any] | None = None
    ready_seen: datetime | None = None
    refreshed: list[datetime] = []  # RefreshedAt of every answer with v2 deployed
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    while (closing is None or ready_seen is None or not refreshed) and datetime.now(UTC) < deadline:
        if closing is None:
            closing = next(
                (e for e in eb.describe_events(RequestId=request_id)["Events"] if e["Message"] == UPDATE_COMPLETED), None
            )
            closing_seen = datetime.now(UTC)
        if ready_seen is None and eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["Status"] == "Ready":
            ready_seen = datetime.now(UTC)
        answer = eb.describe_instances_health(EnvironmentName=name, AttributeNames=["All"])
        deployment = answer["InstanceHealthList"][0].get("Deployment") or {}
        if deployment.get("VersionLabel") == "v2" and deployment.get("Status") == "Deployed":
            refreshed.append(answer["RefreshedAt"])
    assert closing is not None and ready_seen is not None and refreshed, "the update did not close and report in 60 s"

    entry = next(e for e in server.status()["environments"] if e["name"] == name)
    recorded = next(c for c in entry["timeline"]["closings"] if c["request_id"] == request_id)
    assert recorded["message"] == UPDATE_COMPLETED
    event_date = parse(recorded["event_date"])
    assert abs((event_date - closing["EventDate"]).total_seconds()) < 0.002
    # event-delay: shown 0.4 to 1 s after it happened, and no later than this test first read it
    assert event_date + timedelta(seconds=2 * SCALE) <= parse(recorded["visible_at"]) <= closing_seen
    # closing-first: Ready 0.6 s after the closing, and no later than this test first saw it
    ready_at = parse(recorded["ready_at"])
    assert abs((ready_at - event_date).total_seconds() - 3 * SCALE) < 0.05 and ready_at <= ready_seen

    reports = [r for r in entry["timeline"]["reports"] if r["version_label"] == "v2" and r["deployment_status"] == "Deployed"]
    taken = [parse(r["at"]) for r in reports]
    for moment in refreshed:  # every answer dates from a recorded report
        assert any(abs((moment - at).total_seconds()) < 0.002 for at in taken), (moment, taken)
    assert min(taken) <= min(refreshed)
