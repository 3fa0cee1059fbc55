"""eb.env: make an environment's variables match environments.toml, changing only what differs.

References (``${NAME}``) are resolved from the process environment over ``.env``; an unset one is an error, never an
empty string. Values travel as data in OptionSettings, never spliced into JSON. Every value is masked in all output.
"""

from __future__ import annotations

import os
from dataclasses import replace

from ebship import environments, envvars
from ebship.aws import client
from ebship.beanstalk import Beanstalk
from ebship.clock import Deadline, SystemClock
from ebship.deploy import Deployer, Report, summarize
from ebship.errors import DeployTimeout, UsageError
from ebship.job import Destination, Job, accepted_health
from ebship.logs import explainer
from ebship.plan import Plan, Secret, Step, print_plan, reveal
from ebship.settings import read_dotenv
from ebship.watch import Expectation


def declared_variables(job: Job, resolved: Destination, like: str = "") -> dict[str, str]:
    if like:
        declared = environments.load(job.root / environments.DEFAULT_PATH)
        return dict(environments.named(like, declared).variables)
    if resolved.declared is not None:
        return dict(resolved.declared.variables)
    raise UsageError(
        "The local environment declares no variables of its own: rehearse another environment's with "
        "--like NAME (e.g. --env local --like stg)."
    )


def plan_update(resolved: Destination, difference: envvars.EnvDiff) -> Plan:
    target = resolved.target
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


def apply(job: Job, resolved: Destination, prune: bool, strict: bool, dry_run: bool, like: str = "") -> Report | None:
    variables = declared_variables(job, resolved, like)
    lookup = {**read_dotenv(job.root / ".env"), **os.environ}
    values = envvars.resolve(variables, lookup)
    job.console.add_secrets(values.secret_values)
    for warning in envvars.validate(values.values, strict, secret_keys=values.secret_keys):  # before any call
        job.console.print(warning)
    eb = Beanstalk(client(job.settings, "elasticbeanstalk"))
    target = replace(resolved.target, health=accepted_health(resolved.target, job.settings.accepted_health))
    configuration = eb.call(
        "describe_configuration_settings", ApplicationName=target.application, EnvironmentName=target.environment
    )
    if envvars.draft_pending(configuration):
        then = "compared with the deployed ones below" if dry_run else "waiting for its end"
        job.console.print(f"{target.environment} is deploying other settings (a pending draft): {then}.")
    waiting = Deadline(SystemClock(), float(job.settings.deploy_timeout))
    while envvars.draft_pending(configuration) and not dry_run:
        # Another update is deploying settings: compare with what it leaves, or a "no change" could be false.
        if waiting.passed:
            raise DeployTimeout(
                f"{target.environment} was still deploying other settings after {waiting.seconds:.0f} s "
                "(DEPLOY_TIMEOUT); nothing was changed."
            )
        waiting.sleep(2.0)
        configuration = eb.call(
            "describe_configuration_settings", ApplicationName=target.application, EnvironmentName=target.environment
        )
    current = envvars.current_from_configuration(configuration)
    job.console.add_secrets(envvars.secret_current_values(current, values.secret_keys))
    difference = envvars.diff(current, values.values, prune)
    envvars.validate(values.values, strict, kept=difference.kept)  # the total counts the variables kept as they are
    plan = plan_update(replace(resolved, target=target), difference)
    print_plan(plan, job.console, dry_run)
    if dry_run or plan.empty:
        return None
    step = plan.steps[0]
    change = {key: value for key, value in step.params.items() if key in ("OptionSettings", "OptionsToRemove")}
    deployer = Deployer(
        eb,
        job.console,
        float(job.settings.deploy_timeout),
        settle=float(job.settings.health_settle_timeout),
        explain=explainer(eb, job.console),
    )
    outcome, _ = deployer.update(
        target, reveal(change), Expectation("", target.health, deployer.settle), Deadline(deployer.clock, deployer.timeout)
    )
    report = Report(outcome, "configuration", target)
    summarize(report, job.console)
    return report
