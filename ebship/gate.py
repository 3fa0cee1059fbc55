"""The gate before an environment marked ``protected = true`` in environments.toml: a person types its name first.

It stands before eb.deploy (a ``--rollback`` included), eb.env, eb.promote to it, and inv ci's deploy to it. It runs
after every read-only check and before the first changing call, so a refusal changes nothing (exit 2). A dry run changes
nothing and is never asked.

With a terminal, the Elastic Beanstalk environment's name must be typed (the name of the thing that changes, not the
short name just typed after --env). Without one there is nobody to ask, and the change is refused unless ``--yes`` was
given, or the run is CI (CI=true) on the environment's own branch (the branch environments.toml maps to it), which is
the deploy a merge into that branch asked for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from ebship.environments import Environment
from ebship.errors import UsageError
from ebship.job import Destination, Job
from ebship.output import Console
from ebship.plan import Plan


def running_in_ci(environ: Mapping[str, str]) -> bool:
    """CI=true, as CircleCI and GitHub Actions set it (and inv ci reads it)."""
    return environ.get("CI", "").lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class Gate:
    declared: Environment | None  # None: the local stand-in, never protected
    yes: bool = False  # --yes
    ci: bool = False  # CI=true
    branch: str = ""  # the branch this run ships
    stdin: TextIO | None = field(default=None, repr=False)  # None: sys.stdin when asked
    prompt_to: TextIO | None = field(default=None, repr=False)  # None: sys.stderr

    @property
    def protected(self) -> bool:
        return self.declared is not None and self.declared.protected

    def on_own_branch(self) -> bool:
        branch = self.branch.removeprefix("refs/heads/")
        return self.ci and self.declared is not None and bool(self.declared.branch) and branch == self.declared.branch

    def check(self, console: Console, doing: str, listing: Sequence[str] = ()) -> None:
        """Returns when the change may go on; a ``UsageError`` (nothing changed) when it may not. ``listing``: the
        lines a person should read before answering (what would be removed)."""
        declared = self.declared
        if declared is None or not declared.protected:
            return
        where = f"{declared.name} ({declared.eb_environment})"
        if self.yes:
            console.print(f"{where} is protected; --yes confirms {doing}.")
            return
        if self.on_own_branch():
            console.print(f"{where} is protected; CI on its own branch {declared.branch} confirms {doing}.")
            return
        stdin, prompt_to = self.stdin or sys.stdin, self.prompt_to or sys.stderr
        if not stdin.isatty():
            own = f", or run it in CI on its branch {declared.branch}" if declared.branch else ""
            raise UsageError(
                f"{where} is protected (environments.toml): {doing} needs its name typed on a terminal, and there is "
                f"none. Pass --yes to confirm{own}. Nothing was changed."
            )
        for line in listing:
            console.print(f"  {line}")
        prompt_to.write(f"{where} is protected. To go on with {doing}, type {declared.eb_environment}: ")
        prompt_to.flush()
        typed = stdin.readline().strip()
        if typed != declared.eb_environment:
            raise UsageError(f"Typed {typed!r}, not {declared.eb_environment!r}: {doing} is cancelled. Nothing was changed.")

    def confirmer(self, console: Console) -> Callable[[Plan], None]:
        """The check for a plan about to run: its title names the change, and what it would remove is listed first."""

        def confirm(plan: Plan) -> None:
            self.check(console, plan.title, removals(plan))

        return confirm


def removals(plan: Plan) -> list[str]:
    """What the plan would remove, one line each (eb.env --prune's variables, a rollback)."""
    lines = []
    for step in plan.steps:
        for option in step.params.get("OptionsToRemove") or ():
            lines.append(f"would remove {option.get('OptionName', '')} ({option.get('Namespace', '')})")
        if step.action == "eb.roll_back":
            lines.append(f"would then, on failure, {step.summary.removeprefix('if the deploy fails: ')}")
    return lines


def for_destination(job: Job, destination: Destination, yes: bool, environ: Mapping[str, str] | None = None) -> Gate:
    """The gate of ``--env``'s destination for this run: --yes, CI=true and the branch being shipped."""
    environ = os.environ if environ is None else environ
    ci = running_in_ci(environ)
    protected = destination.declared is not None and destination.declared.protected
    # The branch is asked of git only when it can matter: a protected destination in CI.
    branch = job.source.branch if protected and ci and not yes else ""
    return Gate(destination.declared, yes=yes, ci=ci, branch=branch)
