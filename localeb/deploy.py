"""The background work behind CreateEnvironment, UpdateEnvironment, TerminateEnvironment and SwapEnvironmentCNAMEs.

Each function runs in its own thread, paced by `Settings.phase_seconds`, and emits the events EB emits.
The final event and the environment's return to Ready happen under one lock, so a client that sees Ready
also sees the event that says how the operation ended.
"""

from __future__ import annotations

import time
import traceback
from typing import TYPE_CHECKING

from localeb import ecr, s3store
from localeb.dockerrun import (
    BundleError,
    Dockerrun,
    dockerrun_text,
    parse_dockerrun,
    registry_credentials,
)
from localeb.models import Environment, Instance, now
from localeb.options import (
    OptionKey,
    environment_properties,
    health_check_path,
    healthy_codes,
)
from localeb.platform import DeployError, RunningContainer, command_failed

if TYPE_CHECKING:
    from localeb.backend import LocalEB, RegionState

# The closing of a successful update (developer guide, eb3-deploy.md), for configuration updates too, after
# "Successfully deployed new configuration to environment." (transcript in ThoughtWorksStudios/eb_deployer#69).
UPDATE_COMPLETED = "Environment update completed successfully."
INSTANCE_DEPLOYED = "Instance deployment completed successfully."
VERSION_DEPLOYED = "New application version was deployed to running EC2 instances."
# From "Instance deployment completed successfully." to the closing: about 6 s in those transcripts, a third of the
# realistic preset's 20 s phase.
CLEANUP_PHASES = 0.3
CONFIGURATION_DEPLOYED = "Successfully deployed new configuration to environment."
CLOSED_WITH_ERRORS = (
    "Update environment operation is complete, but with errors. For more information, see troubleshooting documentation."
)
# Developer guide, troubleshooting-deployments.md. Its severity is not documented: WARN, the case a client that only
# looks for ERROR events would miss.
CLOSED_WITH_COMMAND_TIMEOUTS = (
    "Update environment operation is complete, but with command timeouts. Try increasing the timeout period."
)
COMMAND_TIMEOUT_WARNING = (
    "The following instances have not responded in the allowed command timeout time (they might "
    "still finish eventually on their own): [{instance}]."
)
# An enhanced-health cause as EB words it in a health transition event (a public event transcript:
# "Environment health has transitioned from Ok to Severe. 85.7 % of the requests are erroring with HTTP 4xx.").
UNSETTLED_CAUSE = "12.5 % of the requests are erroring with HTTP 4xx."
# The transcript's gap between the success step and the error closing.
LATE_CLOSING_SECONDS = 1.0


def _instance_failure(env: Environment, cause: str, instance: Instance | None = None) -> DeployError:
    return DeployError(cause, *command_failed((instance or env.instances[0]).id))


def _unexpected(env: Environment, error: Exception) -> DeployError:
    """An engine or S3 fault nobody foresaw still ends the operation, as EB's would, and leaves a trace in the log."""
    traceback.print_exception(error)
    return _instance_failure(env, f"Instance deployment failed: {error.__class__.__name__}: {error}")


def _fetch_spec(eb: LocalEB, env: Environment, bucket: str, key: str) -> Dockerrun:
    try:
        bundle = s3store.get_object(env.account, env.region, bucket, key)
    except s3store.S3Missing as missing:
        raise _instance_failure(
            env,
            f"Instance deployment failed to download the source bundle s3://{bucket}/{key}: {missing}. The deployment failed.",
        ) from None
    try:
        return parse_dockerrun(dockerrun_text(bundle), allow_digest=eb.settings.image_digest == "accept")
    except BundleError as error:
        raise _instance_failure(env, f"Instance deployment: {error} The deployment failed.") from None


def _credentials(eb: LocalEB, env: Environment, spec: Dockerrun) -> dict[str, str] | None:
    if not spec.auth_bucket or not spec.auth_key:
        return None
    where = f"s3://{spec.auth_bucket}/{spec.auth_key}"
    try:
        region = s3store.bucket_region(env.account, env.region, spec.auth_bucket)
        if region != env.region:
            raise s3store.S3Missing(
                f"the bucket is in {region}, but the environment is in {env.region}; it must be in the same region"
            )
        auth_file = s3store.get_object(env.account, env.region, spec.auth_bucket, spec.auth_key)
    except s3store.S3Missing as missing:
        raise _instance_failure(
            env,
            f"Instance deployment failed to download the Docker registry authentication file {where}: "
            f"{missing}. The deployment failed.",
        ) from None
    try:
        return registry_credentials(auth_file, spec.registry, accept_legacy=eb.settings.legacy_dockercfg == "accept")
    except BundleError as error:
        raise _instance_failure(env, f"Instance deployment: {error} ({where}) The deployment failed.") from None


def _start(
    eb: LocalEB,
    env: Environment,
    label: str,
    spec: Dockerrun,
    variables: dict[str, str],
    options: dict[OptionKey, str],
    pull: bool,
    credentials: dict[str, str] | None = None,
    instance: Instance | None = None,
    doomed: bool = False,
) -> RunningContainer:
    """Runs the version on an instance (the first by default) and health-checks it; a container that fails is removed,
    its output kept for the tail logs."""
    instance = instance or env.instances[0]
    if pull:
        repository, tag = spec.repository_and_tag
        try:
            eb.platform.pull(spec.image, repository, tag, credentials, spec.update)
        except DeployError as error:
            raise _instance_failure(env, error.events[0], instance) from None
    try:
        running = eb.platform.run(env.id, env.name, label, spec, variables)
    except DeployError as error:
        instance.failed_output = error.failed_output or instance.failed_output
        if error.events:
            raise
        raise DeployError(*command_failed(instance.id), engine=error.engine) from None
    if doomed:
        eb.platform.kill(running.id)  # a fault injection (localeb.fleet): this instance's app dies as it starts
    try:
        eb.platform.wait_healthy(
            running,
            instance.id,
            health_check_path(options),
            healthy_codes(options),
            eb.settings.health_timeout,
            eb.settings.health_interval,
        )
    except DeployError:
        instance.failed_output = (running.id, eb.platform.output(running.id))
        eb.platform.remove(running.id)
        raise
    return running


def prepare(
    eb: LocalEB,
    state: RegionState,
    env: Environment,
    label: str,
    options: dict[OptionKey, str],
) -> tuple[Dockerrun | None, dict[str, str] | None, dict[str, str]]:
    """What every instance needs to run the version: its Dockerrun (None for a version without a bundle), the registry
    credentials, the environment properties."""
    with eb.lock:
        version = state.versions.get((env.application, label))
        bucket, key = (version.bucket, version.key) if version else (None, None)
    variables = environment_properties(options)
    if not bucket or not key:
        return None, None, variables
    spec = _fetch_spec(eb, env, bucket, key)
    credentials = _credentials(eb, env, spec)
    try:  # an ECR image is pulled with the instance profile (localeb.ecr)
        spec, credentials = ecr.instance_profile_pull(env.account, env.region, spec, credentials)
    except DeployError as error:
        raise _instance_failure(env, error.events[0]) from None
    return spec, credentials, variables


def mark_processed(eb: LocalEB, state: RegionState, env: Environment, label: str) -> None:
    with eb.lock:
        version = state.versions.get((env.application, label))
        if version is not None and version.status in ("Unprocessed", "Processing"):
            version.status = "Processed"
            version.updated = now()


def _install(
    eb: LocalEB,
    state: RegionState,
    env: Environment,
    label: str,
    options: dict[OptionKey, str],
) -> tuple[RunningContainer | None, Dockerrun | None, dict[str, str]]:
    spec, credentials, variables = prepare(eb, state, env, label, options)
    if spec is None:
        return None, None, variables
    running = _start(eb, env, label, spec, variables, options, pull=True, credentials=credentials)
    mark_processed(eb, state, env, label)
    return running, spec, variables


def place(eb: LocalEB, instance: Instance, running: RunningContainer | None, label: str | None) -> None:
    """Puts a container on an instance, removing the one it replaces."""
    previous = instance.container
    with eb.lock:
        instance.container, instance.label = running, label if running else None
    if previous is not None and (running is None or previous.id != running.id):
        eb.platform.remove(previous.id)


def serve_fleet(env: Environment) -> None:
    """The proxy's targets: every instance's container, in turn (under the lock)."""
    env.proxy.route([("127.0.0.1", i.container.host_port) for i in env.instances if i.container])


def _switch(
    eb: LocalEB,
    env: Environment,
    running: RunningContainer | None,
    spec: Dockerrun | None,
    label: str | None,
    variables: dict[str, str],
) -> None:
    with eb.lock:
        env.deployed_spec = spec
        env.deployed_label = label
        env.deployed_variables = variables
        env.proxy.target = ("127.0.0.1", running.host_port) if running else None
    place(eb, env.instances[0], running, label)


def log_failure(instance: Instance, failure: DeployError) -> None:
    """eb-engine.log's account of a failed command: the cause in its words, then the cleanup."""
    instance.log_engine("ERROR", failure.engine)
    instance.log_engine("INFO", "Executing cleanup logic")


def _settle(
    eb: LocalEB, state: RegionState, env: Environment, health: str, kind: str = "Application update", started: float | None = None
) -> None:
    """Ends an operation: Ready with `health`, and the health event EB emits when the colour changes.

    Basic health reports `Environment health has been set to RED`; enhanced health a transition with its cause.
    """
    previous = env.settled_health
    env.status = "Ready"
    env.health = env.settled_health = health
    env.health_cause = UNSETTLED_CAUSE if health == "Yellow" else ""
    if env.enhanced_health and started is not None:
        took = f"took {time.monotonic() - started:.0f} seconds"
        if health == "Yellow":
            eb.emit(state, f"Environment health has transitioned from Info to Warning. {UNSETTLED_CAUSE}", "WARN", env=env)
        elif health == "Green":
            eb.emit(
                state, f"Environment health has transitioned from Info to Ok. {kind} completed 0 seconds ago and {took}.", env=env
            )
        else:
            eb.emit(
                state,
                "Environment health has transitioned from Info to Severe. Command failed on all "
                f"instances. {kind} failed 0 seconds ago and {took}.",
                "WARN",
                env=env,
            )
    elif health == "Red" and previous != "Red":
        eb.emit(state, "Environment health has been set to RED", "WARN", env=env)
    elif health == "Green" and previous == "Red":
        eb.emit(state, "Environment health has been set to GREEN", "INFO", env=env)


def _closed_well(
    eb: LocalEB, state: RegionState, env: Environment, kind: str, started: float, version_label: str | None, request_id: str
) -> None:
    """The closing of an update that went well; under ``unsettled-yellow`` health then stays Yellow."""
    eb.emit(state, UPDATE_COMPLETED, env=env, version_label=version_label, request_id=request_id)
    health = "Yellow" if eb.settings.update_closing == "unsettled-yellow" else "Green"
    _settle(eb, state, env, health, kind, started)


def _timed_out(
    eb: LocalEB,
    state: RegionState,
    env: Environment,
    label: str,
    previous_label: str | None,
    previous_options: dict[OptionKey, str],
    request_id: str,
) -> None:
    """``command-timeouts``: the instance never answers the deploy command; the old container keeps serving."""
    eb.sleep_phase()
    eb.holds.reach("closing")
    with eb.lock:
        env.operation_label = None
        env.updated = now()
        eb.emit(
            state,
            COMMAND_TIMEOUT_WARNING.format(instance=env.instance_id),
            "WARN",
            env=env,
            version_label=label,
            request_id=request_id,
        )
        eb.emit(state, CLOSED_WITH_COMMAND_TIMEOUTS, "WARN", env=env, version_label=label, request_id=request_id)
        if eb.settings.failed_version_label == "revert":
            env.version_label = previous_label
        env.options = previous_options
        _settle(eb, state, env, env.settled_health)


def _health_in_progress(eb: LocalEB, state: RegionState, env: Environment, kind: str) -> float:
    """For enhanced health, the transition to Info that EB reports while an update runs; returns the start time."""
    if env.enhanced_health:
        before = {"Green": "Ok", "Red": "Severe"}.get(env.settled_health, "No Data")
        count = len(env.instances)
        noun = "instance" if count == 1 else "instances"
        eb.emit(
            state,
            f"Environment health has transitioned from {before} to Info. {kind} in progress on {count} "
            f"{noun}. 0 out of {count} {noun} completed (running for 1 second).",
            env=env,
        )
    return time.monotonic()


def launch(eb: LocalEB, state: RegionState, env: Environment, request_id: str) -> None:
    label = env.version_label
    eb.holds.reach("launch-started")
    eb.sleep_phase()
    if env.is_fleet:
        eb.emit(
            state,
            f"Using the local Docker engine as the environment's {len(env.instances)} instances "
            f"({', '.join(i.id for i in env.instances)}) behind {env.proxy.address}.",
            env=env,
            request_id=request_id,
        )
    else:
        eb.emit(
            state,
            f"Using the local Docker engine as the environment's only instance ({env.instance_id}) behind {env.proxy.address}.",
            env=env,
            request_id=request_id,
        )
    failure: DeployError | None = None
    eb.holds.reach("deploying")
    if label:
        eb.sleep_phase()
        try:
            if env.is_fleet:
                from localeb.fleet import launch_all

                spec, variables = launch_all(eb, state, env, label)
                with eb.lock:
                    env.deployed_spec, env.deployed_label, env.deployed_variables = spec, label, variables
            else:
                running, spec, variables = _install(eb, state, env, label, env.options)
                _switch(eb, env, running, spec, label, variables)
        except DeployError as error:
            failure = error
        except Exception as error:
            failure = _unexpected(env, error)
    else:
        _switch(eb, env, None, None, None, {})
    eb.sleep_phase()
    eb.holds.reach("closing")
    with eb.lock:
        env.operation_label = None
        env.updated = now()
        if failure:
            log_failure(env.instances[0], failure)
            for message in failure.events:
                eb.emit(state, message, "ERROR", env=env, version_label=label, request_id=request_id)
            eb.emit(
                state,
                "Create environment operation is complete, but with errors. For more information, "
                "see troubleshooting documentation.",
                "ERROR",
                env=env,
                request_id=request_id,
            )
            if eb.settings.failed_version_label == "revert":
                env.version_label = None
            _settle(eb, state, env, "Red")
        else:
            eb.emit(state, f"Successfully launched environment: {env.name}", env=env, request_id=request_id)
            _settle(eb, state, env, "Green")


def deploy_version(
    eb: LocalEB,
    state: RegionState,
    env: Environment,
    label: str,
    previous_options: dict[OptionKey, str],
    request_id: str,
) -> None:
    eb.holds.reach("update-started")
    if env.is_fleet and eb.settings.update_closing != "command-timeouts":
        from localeb import fleet

        fleet.deploy_version(eb, state, env, label, previous_options, request_id)
        return
    previous_label = env.deployed_label
    eb.sleep_phase()
    eb.emit(state, "Deploying new version to instance(s).", env=env, version_label=label, request_id=request_id)
    started = _health_in_progress(eb, state, env, "Application update")
    eb.holds.reach("deploying")
    if eb.settings.update_closing == "command-timeouts":
        _timed_out(eb, state, env, label, previous_label, previous_options, request_id)
        return
    failure: DeployError | None = None
    try:
        running, spec, variables = _install(eb, state, env, label, env.options)
    except DeployError as error:
        failure = error
    except Exception as error:
        failure = _unexpected(env, error)
    if failure is None:
        # Public transcripts of one-instance deploys on Amazon Linux 2 and later: "Instance deployment completed
        # successfully." some seconds before the end, then "New application version was deployed to running EC2
        # instances." and the closing in the same second (e.g. 17:09:33, 17:09:39 and 17:09:39; 2016-01-08T10:04:52.840Z
        # and .884Z).
        eb.emit(state, INSTANCE_DEPLOYED, env=env, version_label=label, request_id=request_id)
        eb.sleep_phase(CLEANUP_PHASES)
        _switch(eb, env, running, spec, label, variables)
    else:
        eb.sleep_phase()
    eb.holds.reach("closing")
    with eb.lock:
        env.operation_label = None
        env.updated = now()
        if not failure:
            eb.emit(state, VERSION_DEPLOYED, env=env, version_label=label, request_id=request_id)
        if failure:
            log_failure(env.instances[0], failure)
            for message in failure.events:
                eb.emit(state, message, "ERROR", env=env, version_label=label, request_id=request_id)
            eb.emit(state, "Failed to deploy application.", "ERROR", env=env, version_label=label, request_id=request_id)
            if eb.settings.failed_version_label == "revert":
                env.version_label = previous_label
            env.options = previous_options
            _settle(eb, state, env, "Red", started=started)
        else:
            _closed_well(eb, state, env, "Application update", started, label, request_id)


def configure(
    eb: LocalEB,
    state: RegionState,
    env: Environment,
    previous_options: dict[OptionKey, str],
    request_id: str,
) -> None:
    eb.holds.reach("update-started")
    eb.sleep_phase()
    eb.emit(state, f"Updating environment {env.name}'s configuration settings.", env=env, request_id=request_id)
    started = _health_in_progress(eb, state, env, "Configuration update")
    eb.holds.reach("deploying")
    failure: DeployError | None = None
    variables = environment_properties(env.options)
    spec = env.deployed_spec
    if spec is not None and env.container is not None and not env.is_fleet:
        try:
            running = _start(eb, env, env.deployed_label or "", spec, variables, env.options, pull=False)
            _switch(eb, env, running, spec, env.deployed_label, variables)
        except DeployError as error:
            failure = error
        except Exception as error:
            failure = _unexpected(env, error)
    elif spec is not None and env.is_fleet:
        # Every instance that runs the environment's version restarts with the new settings, one after another.
        for instance in [i for i in env.instances if i.container and i.label == env.deployed_label]:
            try:
                running = _start(eb, env, env.deployed_label or "", spec, variables, env.options, pull=False, instance=instance)
            except DeployError as error:
                failure = error
                break
            except Exception as error:
                failure = _unexpected(env, error)
                break
            place(eb, instance, running, env.deployed_label)
            with eb.lock:
                env.deployed_variables = variables
                serve_fleet(env)
    eb.sleep_phase()
    eb.holds.reach("closing")
    with eb.lock:
        env.updated = now()
        if failure:
            log_failure(env.instances[0], failure)
            for message in failure.events:
                eb.emit(state, message, "ERROR", env=env, request_id=request_id)
            eb.emit(state, "Failed to deploy configuration.", "ERROR", env=env, request_id=request_id)
            env.options = previous_options
            eb.emit(
                state,
                "The environment was reverted to the previous configuration setting.",
                "INFO",
                env=env,
                request_id=request_id,
            )
            _settle(eb, state, env, "Red", "Configuration update", started)
            return
        eb.emit(state, CONFIGURATION_DEPLOYED, env=env, request_id=request_id)
        closing = eb.settings.update_closing
        if closing not in ("late-errors", "late-errors-green"):
            _closed_well(eb, state, env, "Configuration update", started, None, request_id)
            return
        # Ready first, the error closing a second later: the order a client reading Ready as "over" gets wrong.
        _settle(eb, state, env, "Red" if closing == "late-errors" else "Green", "Configuration update", started)
    time.sleep(LATE_CLOSING_SECONDS)
    with eb.lock:
        eb.emit(state, CLOSED_WITH_ERRORS, "ERROR", env=env, request_id=request_id)


def terminate(eb: LocalEB, state: RegionState, env: Environment, request_id: str) -> None:
    eb.sleep_phase()
    with eb.lock:
        eb._retire(env)
        eb.emit(state, "terminateEnvironment completed successfully.", env=env, request_id=request_id)


def swap(eb: LocalEB, state: RegionState, source: Environment, destination: Environment, request_id: str) -> None:
    eb.sleep_phase()
    with eb.lock:
        source.proxy, destination.proxy = destination.proxy, source.proxy
        for env in (source, destination):
            serve_fleet(env)
            env.status = "Ready"
            env.updated = now()
        for env in (source, destination):
            eb.emit(
                state,
                f"Completed swapping CNAMEs for environments '{source.name}' and '{destination.name}'.",
                env=env,
                request_id=request_id,
            )
