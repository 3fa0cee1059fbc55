"""eb.env: make an environment's variables match environments.toml, changing only what differs.

References (``${NAME}``) are resolved from the process environment over ``.env``; an unset one is an error, never an
empty string. Values travel as data in OptionSettings, never spliced into JSON. Every value is masked in all output.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ebship import environments, envvars
from ebship.clock import Deadline
from ebship.cloud import Cloud
from ebship.deploy import deployer_for
from ebship.errors import DeployTimeout, UsageError
from ebship.job import Destination, Job, Target, accepted_health
from ebship.plan import Plan, Secret, Step, executor
from ebship.settings import read_dotenv
from ebship.verdict import Report, judge


def declared_variables(job: Job, destination: Destination, like: str = "") -> dict[str, str]:
    if like:
        declared = environments.load(job.root / environments.DEFAULT_PATH)
        return dict(environments.named(like, declared).variables)
    if destination.declared is not None:
        return dict(destination.declared.variables)
    raise UsageError(
        "The local environment declares no variables of its own: rehearse another environment's with "
        "--like NAME (e.g. --env local --like stg)."
    )


def plan_update(target: Target, difference: envvars.EnvDiff) -> Plan:
    notes = tuple(envvars.describe(difference))
    if difference.empty:
        return Plan(f"eb.env {target.name} ({target.environment})", notes=notes)
    settings = [{**option, "Value": Secret(option["Value"])} for option in difference.option_settings()]
    params = {"ApplicationName": target.application, "EnvironmentName": target.environment, "OptionSettings": settings}
    if difference.options_to_remove():
        params["OptionsToRemove"] = difference.options_to_remove()
    summary = (
        f"update {target.environment}'s variables: {len(difference.added)} added, {len(difference.changed)} changed, "
        f"{len(difference.removed)} removed; then follow the update until Ready"
    )
    return Plan(f"eb.env {target.name} ({target.environment})", (Step("eb.update_environment", params, summary),), notes)


def apply(
    job: Job,
    destination: Destination,
    prune: bool,
    strict: bool,
    dry_run: bool,
    like: str = "",
    cloud: Cloud | None = None,
    confirm: Callable[[Plan], None] | None = None,
) -> Report | None:
    """``confirm`` sees the update's plan before it runs, never on a dry run or when nothing differs (ebship.gate)."""
    variables = declared_variables(job, destination, like)
    lookup = {**read_dotenv(job.root / ".env"), **os.environ}
    values = envvars.resolve_references(variables, lookup)
    job.console.add_secrets(values.secret_values)
    for warning in envvars.validate(values.values, strict, secret_keys=values.secret_keys):  # before any call
        job.console.print(warning)
    cloud = cloud or Cloud(job.settings)
    target = replace(destination.target, health=accepted_health(destination.target, job.settings.accepted_health))
    configuration = settled_configuration(job, cloud, target, dry_run)
    current = envvars.current_from_configuration(configuration)
    job.console.add_secrets(envvars.secret_current_values(current, values.secret_keys))
    difference = envvars.diff(current, values.values, prune)
    envvars.validate(values.values, strict, kept=difference.kept)  # the total counts the variables kept as they are
    plan = plan_update(target, difference)
    if plan.empty:
        executor(None, job.console, dry_run).run(plan)
        return None
    deployer = deployer_for(job, cloud)
    deployer.confirm = confirm
    report = deployer.execute(plan, target, "configuration", dry_run)
    judge(report, job.console)
    return None if dry_run else report


def settled_configuration(job: Job, cloud: Cloud, target: Target, dry_run: bool) -> dict[str, Any]:
    """The environment's deployed settings; while another update is deploying settings (a pending draft), those it
    leaves, once it has left them, or a "no change" could be false. A dry run compares with the deployed ones."""
    configuration = cloud.eb.configuration(target.application, target.environment)
    if envvars.draft_pending(configuration):
        then = "compared with the deployed ones below" if dry_run else "waiting for its end"
        job.console.print(f"{target.environment} is deploying other settings (a pending draft): {then}.")
    waiting = Deadline(cloud.clock, float(job.settings.deploy_timeout))
    while envvars.draft_pending(configuration) and not dry_run:
        if waiting.passed:
            raise DeployTimeout(
                f"{target.environment} was still deploying other settings after {waiting.seconds:.0f} s "
                "(DEPLOY_TIMEOUT); nothing was changed."
            )
        waiting.sleep(2.0)
        configuration = cloud.eb.configuration(target.application, target.environment)
    return configuration
