"""The local stand-in of AWS (``localeb``) as a place to deploy to: starting it, and saying where it runs.

``--env local`` reads its settings from the state file it writes (``ebship.targets``); ``inv ci`` without an AWS target
starts it first, as ``inv local.up`` does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ebship.errors import PipelineError, UsageError
from ebship.output import Console
from ebship.targets import LOCAL_DIR

APPLICATION = "sampleapp"
ENVIRONMENT = "sampleapp-local"


def start(root: Path, console: Console, pace: str | None = None) -> dict[str, Any]:
    """Starts the stand-in unless it already runs (restarted when ``pace`` is given); returns its state."""
    from localeb import cluster

    server_args = ["--pace", checked_pace(pace)] if pace is not None else None
    state_dir = root / LOCAL_DIR
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
        state = dict(cluster.up(state_dir, application=APPLICATION, environment=ENVIRONMENT, server_args=server_args))
    except cluster.ClusterError as error:
        raise PipelineError(f"The local Elastic Beanstalk did not start: {error}") from None
    console.print(f"Local Elastic Beanstalk up: {where(state)}" + (f" (pace {pace})" if pace is not None else ""))
    return state


def where(state: dict[str, Any]) -> str:
    """The stand-in's addresses, as recorded in its state."""
    return (
        f"{state['endpoint_url']}; registry {state['registry']['address']}; "
        f"environment {ENVIRONMENT} at {state.get('environment_url', '')}"
    )


def checked_pace(pace: str) -> str:
    """The stand-in's own rule for --pace, applied before anything is stopped or started."""
    from localeb.settings import parse_pace

    try:
        parse_pace(str(pace))
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"--pace: {error} (e.g. --pace realistic or --pace 2.5).") from None
    return str(pace)
