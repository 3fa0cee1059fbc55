"""How a deploy (or a configuration update) ended, said in words and in the exit code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ebship.beanstalk import EnvState, Event
from ebship.errors import DeployTimeout, PipelineError
from ebship.job import Target
from ebship.output import Console
from ebship.watch import Outcome


@dataclass
class Report:
    outcome: Outcome
    label: str
    target: Target
    previous_label: str = ""
    rollback: Outcome | None = None
    no_op: bool = False  # the environment already ran the label healthy: nothing was deployed
    planned: bool = False  # a dry run: the plan was printed, nothing was deployed
    events: list[Event] = field(default_factory=list)
    # Why the update failed, told after the verdict (ebship.logs): the instances' logs take a while to come.
    explanation: Callable[[], None] | None = field(default=None, repr=False, compare=False)


def url_of(state: EnvState | None) -> str:
    if state is None or not state.cname:
        return ""
    return state.cname if "://" in state.cname else f"http://{state.cname}"


def judge(report: Report, console: Console) -> None:
    """Prints the verdict; raises for anything but a healthy deploy so the exit code tells the truth."""
    outcome, state = report.outcome, report.outcome.state
    where = f"{report.target.name} ({report.target.environment})"
    if report.no_op or report.planned:
        return
    if outcome.ok and outcome.superseded_by:
        console.print(
            f"Deployed {report.label} to {where}: Elastic Beanstalk reported the update successful, then another update "
            f"(request {outcome.superseded_by}) superseded it before its final state could be read; "
            f"now {state.describe() if state else 'unknown'}."
        )
        return
    if outcome.ok:
        console.print(
            f"Deployed {report.label} to {where}: {state.status}, health {state.health}, {url_of(state)}" if state else ""
        )
        return
    lines = [f"Deploy of {report.label} to {where} {'TIMED OUT' if outcome.result == 'timeout' else 'FAILED'}."]
    if outcome.cause:
        lines += [f"  cause: {line}" for line in outcome.cause.splitlines()]
    if report.rollback is None:
        lines.append(f"  last known state: {state.describe() if state else 'unknown'}")
    else:
        # Both outcomes, each with its own state: the failed deploy's is history once the rollback has run.
        lines.append(f"  state after the failed deploy: {state.describe() if state else 'unknown'}")
        lines.append(f"  rollback to {report.previous_label}: {rollback_verdict(report.rollback)}")
        lines.append(f"  now: {describe_final(report)}")
    message = "\n".join(lines)
    if outcome.result == "timeout":
        raise DeployTimedOut(message, report)
    if report.explanation is None:
        raise DeployFailed(message, report)
    # The verdict first, then why: the handlers (tasks/_support.reported, ebship.pipeline.failed) see it printed.
    console.error(message)
    explanation, report.explanation = report.explanation, None
    explanation()
    raise DeployFailed(message, report, printed=True)


class DeployFailed(PipelineError):
    """A deploy or configuration update that failed, with its report (what --json documents, ebship.results);
    ``printed`` when judge printed its message already (before the explanation that followed it)."""

    def __init__(self, message: str, report: Report, printed: bool = False) -> None:
        super().__init__(message)
        self.report = report
        self.printed = printed


class DeployTimedOut(DeployTimeout):
    """A deploy or configuration update that passed its deadline, with its report."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


def rollback_verdict(back: Outcome) -> str:
    if back.ok:
        return "succeeded"
    return back.result.upper() + (f" ({back.cause.splitlines()[0]})" if back.cause else "")


def final_state(report: Report) -> EnvState | None:
    """The state the environment was last seen in: after the rollback when one ran, else after the deploy."""
    if report.rollback is not None and report.rollback.state is not None:
        return report.rollback.state
    return report.outcome.state


def describe_final(report: Report) -> str:
    state = final_state(report)
    return state.describe() if state else "unknown"
