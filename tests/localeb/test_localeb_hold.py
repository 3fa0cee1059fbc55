"""The hold control: a test stops an update at a named phase, acts while it waits there, then lets it go on.

Unit tests of localeb.hold.Holds and of the /_localeb/hold endpoint, then one update held at each of its phases on the
session's server, with every read answering meanwhile.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from localeb_support import unique, wait_ready

from localeb.control import Control
from localeb.hold import PHASES, Holds
from localeb.settings import Settings

SOON = 10.0  # generous bound for a thread to get going or to end; never a pause


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + SOON
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {SOON:.0f} s"
        time.sleep(0.01)


def reach_in_thread(holds: Holds, phase: str) -> threading.Thread:
    worker = threading.Thread(target=holds.reach, args=(phase,), daemon=True)
    worker.start()
    return worker


def test_work_waits_at_the_armed_phase_until_released() -> None:
    holds = Holds()
    holds.arm("deploying")
    passing = reach_in_thread(holds, "update-started")  # another phase: not held
    passing.join(SOON)
    assert not passing.is_alive()
    held = reach_in_thread(holds, "deploying")
    wait_until(lambda: holds.describe()["waiting"] == 1, "the work waits at the hold")
    assert holds.describe()["phase"] == "deploying" and holds.describe()["reached"] == 1
    held.join(0.2)
    assert held.is_alive(), "a held work item goes on only when released"
    assert holds.release()["phase"] is None
    held.join(SOON)
    assert not held.is_alive()
    assert holds.describe() == {"phase": None, "waiting": 0, "reached": 1, "seconds_left": 0}


def test_arming_the_next_phase_lets_the_held_work_go_on_to_it() -> None:
    holds = Holds()
    holds.arm("update-started")

    def every_phase() -> None:
        for phase in PHASES:
            holds.reach(phase)

    worker = threading.Thread(target=every_phase, daemon=True)
    worker.start()
    for phase in ("update-started", "deploying", "closing"):
        # `reached` starts from 0 at each arming: 1 means the work arrived at this phase, not the one before
        wait_until(lambda: holds.describe()["reached"] == 1 == holds.describe()["waiting"], f"the work waits at {phase}")
        assert holds.describe()["phase"] == phase
        following = list(PHASES)[list(PHASES).index(phase) + 1 :]
        if following:
            holds.arm(following[0])
    holds.release()
    worker.join(SOON)
    assert not worker.is_alive()


def test_a_hold_releases_itself_at_its_own_deadline() -> None:
    holds = Holds()
    holds.arm("closing", seconds=0.5)
    started = time.monotonic()
    worker = reach_in_thread(holds, "closing")
    worker.join(SOON)
    assert not worker.is_alive(), "a forgotten hold must not hold for ever"
    assert time.monotonic() - started >= 0.45, "it held until its deadline"
    assert holds.describe()["phase"] is None
    reach_in_thread(holds, "closing").join(SOON)  # expired: nothing waits any more


def test_a_bad_hold_is_refused_and_changes_nothing() -> None:
    holds = Holds()
    holds.arm("deploying", seconds=60)
    with pytest.raises(ValueError, match="phase must be one of launch-started, update-started, deploying, closing"):
        holds.arm("halfway")
    with pytest.raises(ValueError, match="deadline"):
        holds.arm("closing", seconds=0)
    assert holds.describe()["phase"] == "deploying"


def call(control: Control, method: str, payload: Any = None) -> tuple[str, Any]:
    body = b"" if payload is None else json.dumps(payload).encode()
    answer: dict[str, str] = {}
    environ = {
        "PATH_INFO": "/_localeb/hold",
        "REQUEST_METHOD": method,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    data = control(environ, lambda status, headers: answer.update(status=status))
    return answer["status"], json.loads(b"".join(data))


def test_the_hold_endpoint_arms_reports_and_releases() -> None:
    control = Control(None, Settings(), lambda: {})
    status, armed = call(control, "PUT", {"phase": "update-started", "seconds": 30})
    assert status == "200 OK" and armed["phase"] == "update-started" and 0 < armed["seconds_left"] <= 30
    worker = reach_in_thread(control.holds, "update-started")
    wait_until(lambda: call(control, "GET")[1]["waiting"] == 1, "GET reports the waiting work")
    assert call(control, "DELETE") == ("200 OK", {"phase": None, "waiting": 1, "reached": 1, "seconds_left": 0})
    worker.join(SOON)
    assert not worker.is_alive()
    for bad in ({"phase": "never"}, {"seconds": 5}, ["deploying"], {"phase": "closing", "seconds": -1}):
        status, answer = call(control, "PUT", bad)
        assert status == "400 Bad Request" and answer["error"], (bad, answer)
    assert call(control, "GET")[1]["phase"] is None


def events_of(eb: Any, name: str, request_id: str) -> list[str]:
    listed = eb.describe_events(EnvironmentName=name, RequestId=request_id)["Events"]
    return [event["Message"] for event in reversed(listed)]


def test_an_update_held_at_each_phase_while_reads_answer(eb: Any, app: str, eb_server: Any) -> None:
    name = unique("held")
    eb.create_application_version(ApplicationName=app, VersionLabel="v1")
    eb.create_application_version(ApplicationName=app, VersionLabel="v2")
    try:
        eb_server.hold("launch-started")
        eb.create_environment(ApplicationName=app, EnvironmentName=name, VersionLabel="v1", SolutionStackName="Docker")
        eb_server.wait_held("launch-started", timeout=SOON)
        assert eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["Status"] == "Launching"
        eb_server.release()
        wait_ready(eb, name)

        eb_server.hold("update-started")
        request_id = eb.update_environment(EnvironmentName=name, VersionLabel="v2")["ResponseMetadata"]["RequestId"]
        expected = {
            "update-started": ["Environment update is starting."],
            "deploying": ["Environment update is starting.", "Deploying new version to instance(s)."],
            "closing": [
                "Environment update is starting.",
                "Deploying new version to instance(s).",
                "Instance deployment completed successfully.",
            ],
        }
        for phase, events in expected.items():
            eb_server.hold(phase)
            assert eb_server.wait_held(phase, timeout=SOON)["waiting"] == 1
            assert events_of(eb, name, request_id) == events, phase
            assert eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["Status"] == "Updating"
        eb_server.release()
        assert wait_ready(eb, name)["VersionLabel"] == "v2"
        assert events_of(eb, name, request_id)[-1] == "Environment update completed successfully."
    finally:
        eb_server.release()


def test_a_fleet_update_is_held_where_a_single_instance_one_is(eb: Any, app: str, eb_server: Any) -> None:
    name = unique("heldfleet")
    eb.create_application_version(ApplicationName=app, VersionLabel="v1")
    eb.create_application_version(ApplicationName=app, VersionLabel="v2")
    fleet = [
        {"Namespace": "aws:autoscaling:asg", "OptionName": "MinSize", "Value": "2"},
        {"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType", "Value": "LoadBalanced"},
        {"Namespace": "aws:elasticbeanstalk:command", "OptionName": "DeploymentPolicy", "Value": "AllAtOnce"},
    ]
    eb.create_environment(
        ApplicationName=app, EnvironmentName=name, VersionLabel="v1", SolutionStackName="Docker", OptionSettings=fleet
    )
    wait_ready(eb, name)
    try:
        eb_server.hold("deploying")
        request_id = eb.update_environment(EnvironmentName=name, VersionLabel="v2")["ResponseMetadata"]["RequestId"]
        eb_server.wait_held("deploying", timeout=SOON)
        assert events_of(eb, name, request_id) == ["Environment update is starting.", "Deploying new version to instance(s)."]
        eb_server.hold("closing")
        eb_server.wait_held("closing", timeout=SOON)
        assert events_of(eb, name, request_id)[-1].startswith("Command execution completed on all instances.")
        assert eb.describe_environments(EnvironmentNames=[name])["Environments"][0]["Status"] == "Updating"
        eb_server.release()
        assert wait_ready(eb, name)["VersionLabel"] == "v2"
    finally:
        eb_server.release()


def test_wait_held_says_when_nothing_is_armed(eb_server: Any) -> None:
    eb_server.release()
    with pytest.raises(TimeoutError, match="no hold is armed at deploying"):
        eb_server.wait_held("deploying", timeout=1)


def test_up_refuses_an_unknown_hold_before_it_starts_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from localeb import cluster

    monkeypatch.setenv(cluster.UP_HOLD_VARIABLE, "halfway")
    with pytest.raises(cluster.ClusterError, match="LOCALEB_UP_HOLD must name one of registry-started, server-started"):
        cluster.up(tmp_path / "stand-in")
    assert not (tmp_path / "stand-in").exists()
