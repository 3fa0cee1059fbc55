"""local.*: a local Elastic Beanstalk (and S3, and a private registry) to rehearse the whole pipeline on, with --env local."""

from __future__ import annotations

import json

from invoke import Collection

from tasks._flags import task
from tasks._support import ROOT, reported


@task(help={"pace": "Seconds per deploy phase: fast (default), realistic, or a number."})
@reported
def up(c, pace=None):
    """Start the local Elastic Beanstalk, S3 and a registry; then use --env local with any task."""
    from ebship import standin
    from ebship.output import console

    standin.start(ROOT, console, pace)


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
