"""Deploys to a load-balanced environment's instances by its deployment policy, with the events EB emits per batch.

Policies (developer guide, using-features.rolling-version-deploy.md; localeb/README.md, "Fleets", cites each text):
AllAtOnce deploys to every instance; Rolling to one batch after another (BatchSizeType, BatchSize); a batch that fails
ends the deployment and leaves the done batches on the new version, the pending ones on the old ("If a deployment fails
after one or more batches completed successfully, the completed batches run the new version of your application while
any pending batches continue to run the old version"); RollingWithAdditionalBatch first launches a batch of new
instances and terminates it at the end; Immutable launches the new version on one new instance, then on as many as
the fleet has, in a temporary Auto Scaling group, and swaps them in only when all are healthy ("If the new instances
don't pass health checks, Elastic Beanstalk terminates them, leaving the original instances untouched");
TrafficSplitting does the same and sends NewVersionPercent of the traffic to the new instances while it evaluates them.

Fault injections (settings): the app dies on the first instance of batch `fail_batch`; `partial_closing` success
closes such an update as a success anyway (public transcripts of EB doing so); `health_after_deploy` turns the
instances Degraded or Severe after a closing that said success; `replace_instance` replaces an instance of batch 1 once
that batch is done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from localeb.deploy import (
    UPDATE_COMPLETED,
    _closed_well,
    _health_in_progress,
    _instance_failure,
    _settle,
    _start,
    _unexpected,
    log_failure,
    mark_processed,
    place,
    prepare,
    serve_fleet,
)
from localeb.dockerrun import Dockerrun
from localeb.models import Environment, Instance, end_deployment, new_instance, now, random_id, start_deployment
from localeb.options import OptionKey, batch_size, deployment_policy, traffic_split
from localeb.platform import DeployError

if TYPE_CHECKING:
    from localeb.backend import LocalEB, RegionState

# Per batch (a rolling deploy's events in aws/elastic-beanstalk-roadmap#162 and aws/aws-elastic-beanstalk-cli#50).
BATCH_STARTING = "Batch {batch}: Starting application deployment on instance(s) [{instances}]."
BATCH_COMMAND = "Batch {batch}: Starting application deployment command execution."
BATCH_COMMAND_DONE = "Batch {batch}: Completed application deployment command execution."
COMMANDS_SO_FAR = "Command execution completed on {done} of {total} instances in environment."
BATCH_REGISTERING = "Batch {batch}: Registering instance(s) with the load balancer and waiting for them to be healthy."
BATCH_DONE = "Batch {batch}: Completed application deployment."
# The summary of a command on several instances (ThoughtWorksStudios/eb_deployer#10 and alienfast/elastic-beanstalk#6:
# "Command execution completed. Summary: [Successful: 0, Failed: 1]."; the form "on all instances" as later EB words it).
SUMMARY = "Command execution completed on all instances. Summary: [Successful: {ok}, Failed: {failed}]."
DEPLOYED = "New application version was deployed to running EC2 instances."
FAILED = "Failed to deploy application."
# Instances joining and leaving (EB's wording in public event transcripts; not in a stored source).
ADDED = "Added instance [{instance}] to your environment."
REMOVED = "Removed instance [{instance}] from your environment."
# The stand-in's wording for steps whose texts no stored source gives (README: Fleets).
ADDITIONAL_BATCH = "Launching a new batch of {count} instance(s) to maintain full capacity during the deployment."
IMMUTABLE_START = "Immutable deployment policy enabled. Launching one instance with the new settings to verify health."
TEMPORARY_CREATED = "Created temporary auto scaling group {group}."
TEMPORARY_GROWING = "Adding {count} new instance(s) to temporary auto scaling group {group}."
TEMPORARY_DETACHED = "Detached new instance(s) from temporary auto scaling group {group}."
PERMANENT_ATTACHED = "Attached new instance(s) to the permanent auto scaling group {group}."
TEMPORARY_DELETED = "Deleted temporary auto scaling group {group}."
SPLITTING = "Shifting {percent}% of the traffic to the new instance(s) for the evaluation period."
ALL_TRAFFIC = "Shifting all traffic to the new instance(s)."
# Enhanced health's cause after a deploy that said success, when `health_after_deploy` degrades the instances (the
# wording of EB's causes: "... % of the requests are failing with HTTP 5xx.").
FAILING_REQUESTS = "100.0 % of the requests are failing with HTTP 5xx."


@dataclass
class Rollout:
    eb: LocalEB
    state: RegionState
    env: Environment
    label: str
    request_id: str
    spec: Dockerrun | None = None
    variables: dict[str, str] = field(default_factory=dict)
    batch: int = 0
    failed: list[Instance] = field(default_factory=list)
    succeeded: list[Instance] = field(default_factory=list)
    previous_spec: Dockerrun | None = None
    previous_label: str | None = None
    previous_variables: dict[str, str] = field(default_factory=dict)

    def emit(self, message: str, severity: str = "INFO") -> None:
        self.eb.emit(self.state, message, severity, env=self.env, version_label=self.label, request_id=self.request_id)

    def pace(self) -> None:
        self.eb.sleep_phase()


def _deploy_to(rollout: Rollout, instance: Instance, doomed: bool) -> bool:
    """Runs the new version on one instance; a failure keeps the instance's old container and says why."""
    eb, env = rollout.eb, rollout.env
    with eb.lock:
        start_deployment(env, instance, rollout.label)
    try:
        running = None
        if rollout.spec is not None:
            running = _start(
                eb, env, rollout.label, rollout.spec, rollout.variables, env.options, pull=False, instance=instance, doomed=doomed
            )
    except DeployError as failure:
        _instance_failed(rollout, instance, failure)
        return False
    except Exception as error:  # an engine fault nobody foresaw ends this instance's command, as EB's would
        _instance_failed(rollout, instance, _unexpected(env, error))
        return False
    place(eb, instance, running, rollout.label)
    with eb.lock:
        end_deployment(instance, failed=False)
        instance.log_engine("INFO", "Instance deployment completed successfully.")
        rollout.succeeded.append(instance)
    return True


def _instance_failed(rollout: Rollout, instance: Instance, failure: DeployError) -> None:
    with rollout.eb.lock:
        log_failure(instance, failure)
        end_deployment(instance, failed=True)
        rollout.failed.append(instance)
        for message in failure.events:
            rollout.emit(message, "ERROR")


def _run_batch(rollout: Rollout, instances: list[Instance], serving: bool = True) -> int:
    """Deploys to a batch (the app dies on its first instance when it is batch `fail_batch`); returns how many instances
    failed. `serving`: the batch serves traffic once done, else it stays out until a swap (Immutable)."""
    rollout.batch += 1
    doomed = instances[0] if rollout.eb.settings.fail_batch == rollout.batch else None
    failures = sum(not _deploy_to(rollout, instance, instance is doomed) for instance in instances)
    with rollout.eb.lock:
        if serving:
            serve_fleet(rollout.env)
        else:
            serve_fleet_without(rollout.env, instances)
    return failures


def _launch(rollout: Rollout, count: int) -> list[Instance]:
    instances = [new_instance() for _ in range(count)]
    with rollout.eb.lock:
        rollout.env.instances += instances
    return instances


def _terminate(rollout: Rollout, instances: list[Instance], announce: bool = True) -> None:
    for instance in instances:
        place(rollout.eb, instance, None, None)
        with rollout.eb.lock:
            if instance in rollout.env.instances:
                rollout.env.instances.remove(instance)
            serve_fleet(rollout.env)
            if announce:
                rollout.emit(REMOVED.format(instance=instance.id))


def _replace_one(rollout: Rollout, instance: Instance) -> None:
    """`replace_instance`: an instance of batch 1 is replaced once that batch is done; the replacement runs the version of
    the most recent successful deployment (`previous`: developer guide, "If you terminate instances from the failed
    deployment, Elastic Beanstalk replaces them with instances running the application version from the most recent
    successful deployment"; what EB launches during a deployment that has not ended is not documented) or the one
    being deployed (`deployed`)."""
    eb, env = rollout.eb, rollout.env
    mode = eb.settings.replace_instance
    _terminate(rollout, [instance])
    [replacement] = _launch(rollout, 1)
    label: str | None
    if mode == "deployed":
        spec, label, variables = rollout.spec, rollout.label, rollout.variables
    else:
        spec, label, variables = rollout.previous_spec, rollout.previous_label, rollout.previous_variables
    running = None
    if spec is not None and label is not None:
        try:
            running = _start(eb, env, label, spec, variables, env.options, pull=False, instance=replacement)
        except DeployError:
            running = None
    place(eb, replacement, running, label)
    with eb.lock:
        replacement.deployment_id = env.deployment_id if mode == "deployed" else env.deployment_id - 1
        replacement.deployment_label = label
        replacement.deployment_status = "Deployed"
        replacement.deployment_time = now()
        serve_fleet(env)
        rollout.emit(ADDED.format(instance=replacement.id))


def _batches(instances: list[Instance], size: int) -> list[list[Instance]]:
    return [instances[start : start + size] for start in range(0, len(instances), size)]


def _all_at_once(rollout: Rollout) -> bool:
    failures = _run_batch(rollout, list(rollout.env.instances))
    rollout.emit(SUMMARY.format(ok=len(rollout.env.instances) - failures, failed=failures))
    if not failures and rollout.eb.settings.replace_instance != "none":
        _replace_one(rollout, rollout.succeeded[0])
    return not failures or rollout.eb.settings.partial_closing == "success"


def _rolling_batches(rollout: Rollout, batches: list[list[Instance]], total: int) -> bool:
    """Batch after batch; the first that fails ends the deployment (`partial_closing` success: it goes on)."""
    for batch in batches:
        number = rollout.batch + 1
        rollout.emit(BATCH_STARTING.format(batch=number, instances=", ".join(i.id for i in batch)))
        rollout.pace()
        rollout.emit(BATCH_COMMAND.format(batch=number))
        failures = _run_batch(rollout, batch)
        if failures:
            rollout.emit(SUMMARY.format(ok=len(batch) - failures, failed=failures))
            if rollout.eb.settings.partial_closing == "failed":
                return False
            continue
        rollout.emit(BATCH_COMMAND_DONE.format(batch=number))
        rollout.emit(COMMANDS_SO_FAR.format(done=len(rollout.succeeded), total=total))
        rollout.emit(BATCH_REGISTERING.format(batch=number))
        rollout.pace()
        rollout.emit(BATCH_DONE.format(batch=number))
        if number == 1 and rollout.eb.settings.replace_instance != "none":
            _replace_one(rollout, batch[0])
    return True


def _rolling(rollout: Rollout) -> bool:
    instances = list(rollout.env.instances)
    size = batch_size(rollout.env.options, len(instances))
    return _rolling_batches(rollout, _batches(instances, size), len(instances))


def _rolling_with_additional_batch(rollout: Rollout) -> bool:
    """A new batch first, then the old instances in batches; at the end the additional batch is terminated (developer
    guide: "When the deployment completes, Elastic Beanstalk terminates the additional batch of instances")."""
    old = list(rollout.env.instances)
    size = batch_size(rollout.env.options, len(old))
    rollout.emit(ADDITIONAL_BATCH.format(count=size))
    extra = _launch(rollout, size)
    for instance in extra:
        rollout.emit(ADDED.format(instance=instance.id))
    try:
        return _rolling_batches(rollout, [extra, *_batches(old, size)], len(old) + size)
    finally:
        _terminate(rollout, [i for i in extra if i in rollout.env.instances])


def _immutable(rollout: Rollout, canary_percent: int | None = None) -> bool:
    """New instances in a temporary group: one, then the rest; swapped in only when all are healthy. With
    `canary_percent` (TrafficSplitting) they first take that share of the traffic for the evaluation time."""
    env, eb = rollout.env, rollout.eb
    old = list(env.instances)
    group = f"awseb-{env.id}-immutable-stack-AWSEBAutoScalingGroup-{random_id('', 12).upper()}"
    rollout.emit(IMMUTABLE_START)
    rollout.emit(TEMPORARY_CREATED.format(group=group))
    new = _launch(rollout, 1)
    with eb.lock:
        serve_fleet_without(env, new)
    healthy = not _run_batch(rollout, new, serving=False)
    if healthy and len(old) > 1:
        rollout.emit(TEMPORARY_GROWING.format(count=len(old) - 1, group=group))
        more = _launch(rollout, len(old) - 1)
        new += more
        healthy = not _run_batch(rollout, more, serving=False)
    if healthy and canary_percent is not None:
        rollout.emit(SPLITTING.format(percent=canary_percent))
        with eb.lock:
            env.proxy.route(_targets(old), _targets(new), canary_percent)
        time.sleep(eb.settings.evaluation_seconds)
        healthy = all(i.container and eb.platform.is_running(i.container.id) for i in new)
        if healthy:
            rollout.emit(ALL_TRAFFIC)
    if not healthy:
        _terminate(rollout, new, announce=False)
        rollout.emit(TEMPORARY_DELETED.format(group=group))
        return False
    rollout.emit(TEMPORARY_DETACHED.format(group=group))
    rollout.emit(PERMANENT_ATTACHED.format(group=f"awseb-{env.id}-stack-AWSEBAutoScalingGroup"))
    _terminate(rollout, old, announce=False)
    rollout.emit(TEMPORARY_DELETED.format(group=group))
    if eb.settings.replace_instance != "none":
        _replace_one(rollout, new[0])
    return True


def _targets(instances: list[Instance]) -> list[tuple[str, int]]:
    return [("127.0.0.1", i.container.host_port) for i in instances if i.container]


def serve_fleet_without(env: Environment, left_out: list[Instance]) -> None:
    env.proxy.route(_targets([i for i in env.instances if i not in left_out]))


def _traffic_splitting(rollout: Rollout) -> bool:
    return _immutable(rollout, traffic_split(rollout.env.options))


POLICIES = {
    "AllAtOnce": _all_at_once,
    "Rolling": _rolling,
    "RollingWithAdditionalBatch": _rolling_with_additional_batch,
    "Immutable": _immutable,
    "TrafficSplitting": _traffic_splitting,
}


def deploy_version(
    eb: LocalEB,
    state: RegionState,
    env: Environment,
    label: str,
    previous_options: dict[OptionKey, str],
    request_id: str,
) -> None:
    rollout = Rollout(
        eb,
        state,
        env,
        label,
        request_id,
        previous_spec=env.deployed_spec,
        previous_label=env.deployed_label,
        previous_variables=dict(env.deployed_variables),
    )
    eb.sleep_phase()
    rollout.emit("Deploying new version to instance(s).")
    started = _health_in_progress(eb, state, env, "Application update")
    eb.holds.reach("deploying")
    try:
        rollout.spec, credentials, rollout.variables = prepare(eb, state, env, label, env.options)
        if rollout.spec is not None:
            repository, tag = rollout.spec.repository_and_tag
            try:
                eb.platform.pull(rollout.spec.image, repository, tag, credentials, rollout.spec.update)
            except DeployError as error:
                raise _instance_failure(env, error.events[0]) from None
            mark_processed(eb, state, env, label)
    except DeployError as failure:
        _failed_everywhere(rollout, failure, previous_options, started)
        return
    except Exception as error:
        _failed_everywhere(rollout, _unexpected(env, error), previous_options, started)
        return
    ok = POLICIES[deployment_policy(env.options)](rollout)
    eb.sleep_phase()
    eb.holds.reach("closing")
    with eb.lock:
        env.operation_label = None
        env.updated = now()
        if not ok:
            _close_failed(rollout, previous_options, started)
            return
        rollout.emit(DEPLOYED)
        env.deployed_spec, env.deployed_label, env.deployed_variables = rollout.spec, label, rollout.variables
        degraded = eb.settings.health_after_deploy
        if degraded == "Ok":
            _closed_well(eb, state, env, "Application update", started, label, request_id)
            return
        eb.emit(state, UPDATE_COMPLETED, env=env, version_label=label, request_id=request_id)
        for instance in env.instances:
            instance.health_override = degraded
        env.status = "Ready"
        env.health = env.settled_health = "Red"
        env.health_cause = FAILING_REQUESTS
        eb.emit(state, f"Environment health has transitioned from Info to {degraded}. {FAILING_REQUESTS}", "WARN", env=env)


def _failed_everywhere(rollout: Rollout, failure: DeployError, previous_options: dict[OptionKey, str], started: float) -> None:
    """A failure before any instance ran the version (the bundle, the auth file, the pull): every instance says so."""
    rollout.eb.holds.reach("closing")
    with rollout.eb.lock:
        for instance in rollout.env.instances:
            log_failure(instance, failure)
        for message in failure.events:
            rollout.emit(message, "ERROR")
        rollout.env.operation_label = None
        rollout.env.updated = now()
        _close_failed(rollout, previous_options, started)


def _close_failed(rollout: Rollout, previous_options: dict[OptionKey, str], started: float) -> None:
    eb, env = rollout.eb, rollout.env
    rollout.emit(FAILED, "ERROR")
    if eb.settings.failed_version_label == "revert":
        env.version_label = rollout.previous_label
    env.options = previous_options
    _settle(eb, rollout.state, env, "Red", started=started)


def launch_all(eb: LocalEB, state: RegionState, env: Environment, label: str) -> tuple[Dockerrun | None, dict[str, str]]:
    """CreateEnvironment with a version: every instance runs it; the first failure fails the launch."""
    spec, credentials, variables = prepare(eb, state, env, label, env.options)
    for index, instance in enumerate(env.instances):
        with eb.lock:
            start_deployment(env, instance, label)
        running = None
        if spec is not None:
            running = _start(
                eb, env, label, spec, variables, env.options, pull=index == 0, credentials=credentials, instance=instance
            )
        place(eb, instance, running, label)
        with eb.lock:
            end_deployment(instance, failed=False)
    mark_processed(eb, state, env, label)
    with eb.lock:
        serve_fleet(env)
    return spec, variables
