"""`localeb.cluster`: up, status and down, leaving nothing behind."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from localeb_support import PushedImage

pytestmark = pytest.mark.slow


def test_up_status_down(tmp_path: Path, docker_client: Any, test_image: PushedImage) -> None:
    import boto3

    from localeb import cluster

    state_dir = tmp_path / "local"
    state = cluster.up(state_dir, server_args=["--pace", "fast"])
    try:
        saved = json.loads((state_dir / "localeb.json").read_text())
        assert saved == state
        assert stat.S_IMODE(os.stat(state_dir / "localeb.json").st_mode) == 0o600
        for field in (
            "endpoint_url",
            "region",
            "bucket",
            "application",
            "environment",
            "environment_url",
            "access_key_id",
            "secret_access_key",
        ):
            assert state[field], field
        assert {"address", "username", "password", "pid"} <= set(state["registry"])
        assert {"pid", "server_id"} <= set(state["server"])

        now = cluster.status(state_dir)
        assert now["running"] and now["server"]["alive"] and now["registry"]["alive"]
        assert [(e["name"], e["status"], e["health"]) for e in now["environments"]] == [("local", "Ready", "Green")]
        with pytest.raises(cluster.ClusterError):
            cluster.up(state_dir)

        registry = state["registry"]
        image = f"{registry['address']}/acme/web:{uuid.uuid4().hex[:6]}"
        docker_client.images.get(test_image.name).tag(image)
        pushed = docker_client.api.push(
            image, auth_config={"username": registry["username"], "password": registry["password"]}, stream=True, decode=True
        )
        assert not [line for line in pushed if "error" in line]
        docker_client.images.remove(image)
        options = {
            "endpoint_url": state["endpoint_url"],
            "region_name": state["region"],
            "aws_access_key_id": state["access_key_id"],
            "aws_secret_access_key": state["secret_access_key"],
        }
        s3, eb = boto3.client("s3", **options), boto3.client("elasticbeanstalk", **options)
        auth = json.dumps({"auths": {registry["address"]: {"username": registry["username"], "password": registry["password"]}}})
        s3.put_object(Bucket=state["bucket"], Key="auth.json", Body=auth.encode())
        s3.put_object(
            Bucket=state["bucket"],
            Key="v1.json",
            Body=json.dumps(
                {
                    "AWSEBDockerrunVersion": "1",
                    "Image": {"Name": image},
                    "Ports": [{"ContainerPort": 80}],
                    "Command": "serve rehearsal",
                    "Authentication": {"Bucket": state["bucket"], "Key": "auth.json"},
                }
            ),
        )
        eb.create_application_version(
            ApplicationName=state["application"],
            VersionLabel="v1",
            SourceBundle={"S3Bucket": state["bucket"], "S3Key": "v1.json"},
        )
        eb.update_environment(EnvironmentName=state["environment"], VersionLabel="v1")
        eb.get_waiter("environment_updated").wait(
            EnvironmentNames=[state["environment"]], WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        env = eb.describe_environments(EnvironmentNames=[state["environment"]])["Environments"][0]
        assert env["Health"] == "Green"
        import urllib.request

        with urllib.request.urlopen(state["environment_url"], timeout=5) as response:
            assert response.read().decode().strip() == "rehearsal"
    finally:
        result = cluster.down(state_dir)
    assert result["containers_removed"] >= 0
    assert not (state_dir / "localeb.json").exists()
    assert not cluster.status(state_dir)["running"]
    for pid in (state["server"]["pid"], state["registry"]["pid"]):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    label = f"localeb.server={state['server']['server_id']}"
    assert not docker_client.containers.list(all=True, filters={"label": label})
    assert cluster.down(state_dir) == {"stopped": [], "containers_removed": 0}
