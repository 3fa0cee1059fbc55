"""local.*: a local Elastic Beanstalk (and S3, and a private registry) to rehearse the whole pipeline on, with --env local."""

from __future__ import annotations

import json

from invoke import Collection

from tasks._flags import task
from tasks._support import ROOT, reported

APPLICATION = "sampleapp"
ENVIRONMENT = "sampleapp-local"


def start(pace: str | None = None) -> dict:
    """Starts the stand-in unless it already runs (restarted when ``pace`` is given); returns its state."""
    from ebship.output import console
    from ebship.targets import LOCAL_DIR
    from localeb import cluster

    server_args = ["--pace", checked_pace(pace)] if pace is not None else None
    state_dir = ROOT / LOCAL_DIR
    current = cluster.status(state_dir)
    if current.get("running"):
        if server_args is None:
            running = dict(current["state"])
            console.print(f"Local Elastic Beanstalk already running: {where(running)} (`inv local.down` stops it).")
            return running
        console.print("Stopping the local Elastic Beanstalk to start it again at the pace asked for...")
        cluster.down(state_dir)
    console.print("Starting the local Elastic Beanstalk (server, registry, bucket, application, environment)...")
    try:
        state = cluster.up(state_dir, application=APPLICATION, environment=ENVIRONMENT, server_args=server_args)
    except cluster.ClusterError as error:
        from ebship.errors import PipelineError

        raise PipelineError(f"The local Elastic Beanstalk did not start: {error}") from None
    console.print(f"Local Elastic Beanstalk up: {where(state)}" + (f" (pace {pace})" if pace is not None else ""))
    return state


def where(state: dict) -> str:
    """The stand-in's addresses, as recorded in its state."""
    return (
        f"{state['endpoint_url']}; registry {state['registry']['address']}; "
        f"environment {ENVIRONMENT} at {state.get('environment_url', '')}"
    )


def checked_pace(pace: str) -> str:
    """The stand-in's own rule for --pace, applied before anything is stopped or started."""
    import argparse

    from ebship.errors import UsageError
    from localeb.settings import parse_pace

    try:
        parse_pace(str(pace))
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"--pace: {error} (e.g. --pace realistic or --pace 2.5).") from None
    return str(pace)


@task(help={"pace": "Seconds per deploy phase: fast (default), realistic, or a number."})
@reported
def up(c, pace=None):
    """Start the local Elastic Beanstalk, S3 and a registry; then use --env local with any task."""
    start(pace)


@task(help={"json_": "Print the full status as JSON."})
@reported
def status(c, json_=False):
    """Show whether the local Elastic Beanstalk runs, where, and its environments and containers."""
    from ebship.output import console
    from ebship.targets import LOCAL_DIR
    from localeb import cluster

    current = cluster.status(ROOT / LOCAL_DIR)
    if json_:
        current.get("state", {}).get("registry", {}).pop("password", None)
        console.print(json.dumps(current, indent=2, default=str))
        return
    if not current.get("state"):
        console.print("The local Elastic Beanstalk is not running (start it with `inv local.up`).")
        return
    server, registry = current["server"], current["registry"]
    console.print(
        f"server      {server['endpoint_url']} ({'running' if server['alive'] else 'NOT running'}, pid {server['pid']})"
    )
    console.print(f"registry    {registry['address']} ({'running' if registry['alive'] else 'NOT running'})")
    for env in current.get("environments", []):
        console.print(f"environment {env}")


@task
@reported
def down(c):
    """Stop everything local.up started and remove the containers it ran."""
    from ebship.output import console
    from ebship.targets import LOCAL_DIR
    from localeb import cluster

    result = cluster.down(ROOT / LOCAL_DIR)
    console.print(f"Local Elastic Beanstalk stopped: {json.dumps(result, default=str)}")


ns = Collection(up, status, down)
