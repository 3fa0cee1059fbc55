"""A plan is data: the steps a task will take, computed before anything changes.

Executing and printing are two consumers of the same plan, so a dry run cannot drift from what really happens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ebship.output import Console


@dataclass(frozen=True)
class Secret:
    """A value that a plan carries but never shows."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "****"


@dataclass(frozen=True)
class Step:
    action: str  # what the executor does, e.g. "s3.put_object"
    params: Mapping[str, Any]
    summary: str  # one line for people; never holds a secret


@dataclass(frozen=True)
class Plan:
    title: str
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = ()  # what was found, printed above the steps as written, e.g. "auth file already up to date"

    @property
    def empty(self) -> bool:
        return not self.steps


def shown(value: Any) -> str:
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return str(value)


def reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.value
    if isinstance(value, Mapping):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def print_plan(plan: Plan, console: Console, dry_run: bool) -> None:
    head = "Dry run, nothing will change. " if dry_run else ""
    console.print(f"{head}{plan.title}:")
    for note in plan.notes:
        console.print(f"  {note}")  # as written: some carry their own marker ("+ KEY = ****", "= 3 unchanged")
    for number, step in enumerate(plan.steps, 1):
        console.print(f"  {number}. {step.summary}")
        if dry_run:
            console.print(f"       action: {step.action}")
            for key, value in step.params.items():
                console.print(f"       {key}: {shown(value)}")
    if plan.empty:
        console.print("  nothing to do")


class Executor:
    """Runs a plan: prints it, then dispatches each step to the method of ``actions`` named after its action
    ("s3.put_object" runs ``actions.s3_put_object``), with the secrets the plan carries revealed only to that call."""

    dry_run = False

    def __init__(self, actions: object, console: Console) -> None:
        self.actions = actions
        self.console = console

    def run(self, plan: Plan) -> list[Any]:
        methods = [self.method(step.action) for step in plan.steps]  # every action known before the first runs
        print_plan(plan, self.console, dry_run=False)
        return [method(**reveal(dict(step.params))) for method, step in zip(methods, plan.steps, strict=True)]

    def method(self, action: str) -> Callable[..., Any]:
        method = getattr(self.actions, action.replace(".", "_"), None)
        if not callable(method):
            raise KeyError(f"{type(self.actions).__name__} has no method for the action {action!r}")
        return method


class DisplayExecutor:
    """A dry run: prints the same plan, every parameter shown with its secrets masked, and runs nothing."""

    dry_run = True

    def __init__(self, console: Console) -> None:
        self.console = console

    def run(self, plan: Plan) -> list[Any]:
        print_plan(plan, self.console, dry_run=True)
        return []


def executor(actions: object, console: Console, dry_run: bool) -> Executor | DisplayExecutor:
    return DisplayExecutor(console) if dry_run else Executor(actions, console)
