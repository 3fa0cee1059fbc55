"""The verdict first, "Why it failed" after it: a Deployer only keeps the explanation of a failed update for later
(ebship.deploy), judge prints the verdict and then runs it (ebship.verdict), and the task's handlers do not print the
verdict a second time (tasks/_support.reported, ebship.pipeline.failed). Before a rollback the explanation runs at once,
while the failed instances and their logs are still there. The end-to-end view is tests/test_say_why.py."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from invoke import Exit

from ebship import pipeline
from ebship.beanstalk import EnvState, Event
from ebship.deploy import Deployer
from ebship.job import Target
from ebship.output import Console
from ebship.verdict import DeployFailed, Report, judge
from ebship.watch import Expectation, Outcome

TARGET = Target("stg", "web-stg", "web", ("Green",))
STATE = EnvState("web-stg", "Ready", "Red", "v1", "web-stg.example", "Docker")
FAILURE = Event(datetime(2026, 12, 1, tzinfo=UTC), "ERROR", "Failed to deploy application.")


class Recorder:
    """One stream for people's output and errors, so that their order shows; and the explanations asked for."""

    def __init__(self) -> None:
        self.stream = StringIO()
        self.console = Console(self.stream, self.stream)
        self.explained: list[tuple[str, list[Event]]] = []

    def explain(self, environment: str, events: list[Event]) -> None:
        self.explained.append((environment, events))
        self.console.print("Why it failed (each instance's tail logs, then enhanced health's causes):")


def failing_deployer(recorder: Recorder, monkeypatch: pytest.MonkeyPatch, outcomes: list[Outcome]) -> Deployer:
    deployer = Deployer(None, recorder.console, 60.0, explain=recorder.explain)  # type: ignore[arg-type]
    deployer.target = TARGET
    deployer.deadline = None  # type: ignore[assignment]  # update is replaced below: no wait runs
    deployer.report = Report(Outcome("planned", STATE), "v2", TARGET, "v1")

    def update(target: Target, change: dict[str, Any], expect: Expectation, deadline: Any) -> tuple[Outcome, None]:
        recorder.console.print(f"update to {change['VersionLabel']}")
        return outcomes.pop(0), None

    monkeypatch.setattr(deployer, "update", update)
    return deployer


def test_a_failed_deploy_is_judged_first_and_explained_after(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    failed = Outcome("failed", STATE, "Failed to deploy application.", [FAILURE])
    deployer = failing_deployer(recorder, monkeypatch, [failed])
    deployer.eb_update_environment("web", "web-stg", "v2")
    assert recorder.explained == [], "nothing is fetched before the verdict"
    with pytest.raises(DeployFailed) as raised:
        judge(deployer.report, recorder.console)
    printed = recorder.stream.getvalue()
    assert printed.index("Deploy of v2 to stg (web-stg) FAILED.") < printed.index("Why it failed")
    assert recorder.explained == [("web-stg", [FAILURE])], "the update's events go to the explanation"
    assert raised.value.printed and str(raised.value).startswith("Deploy of v2 to stg (web-stg) FAILED.")
    assert deployer.report.explanation is None, "explained once"


def test_before_a_rollback_the_failed_update_is_explained_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    failed = Outcome("failed", STATE, "Failed to deploy application.", [FAILURE])
    back = Outcome("deployed", EnvState("web-stg", "Ready", "Green", "v1", "web-stg.example", "Docker"))
    deployer = failing_deployer(recorder, monkeypatch, [failed, back])
    deployer.eb_update_environment("web", "web-stg", "v2")
    deployer.eb_roll_back("web", "web-stg", "v1")
    printed = recorder.stream.getvalue()
    assert printed.index("The deploy to web-stg failed (Failed to deploy application.).") < printed.index("Why it failed")
    assert printed.index("Why it failed") < printed.index("Rolling back web-stg to v1") < printed.index("update to v1")
    assert deployer.report.explanation is None, "a rollback that worked leaves nothing to explain"


def test_a_successful_deploy_has_nothing_to_explain(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    good = Outcome("deployed", EnvState("web-stg", "Ready", "Green", "v2", "web-stg.example", "Docker"))
    deployer = failing_deployer(recorder, monkeypatch, [good])
    deployer.eb_update_environment("web", "web-stg", "v2")
    judge(deployer.report, recorder.console)
    assert deployer.report.explanation is None and recorder.explained == []


def test_the_handlers_do_not_print_a_verdict_judge_printed() -> None:
    from tasks._support import reported

    report = Report(Outcome("failed", STATE, "boom"), "v2", TARGET)

    @reported
    def printed_already() -> None:
        raise DeployFailed("Deploy of v2 FAILED.", report, printed=True)

    @reported
    def not_printed() -> None:
        raise DeployFailed("Deploy of v2 FAILED.", report)

    with pytest.raises(Exit) as raised:
        printed_already()
    assert raised.value.code == 1 and not raised.value.message
    with pytest.raises(Exit) as raised:
        not_printed()
    assert raised.value.code == 1 and raised.value.message == "Deploy of v2 FAILED."

    stream = StringIO()
    ci = pipeline.CiReport("main", pipeline.Decision("stg", "test"))
    pipeline.failed(ci, DeployFailed("Deploy of v2 FAILED.", report, printed=True), Console(stream, stream))
    assert stream.getvalue() == "" and ci.exit_code == 1 and ci.message == "Deploy of v2 FAILED."
