"""Helpers shared by the localeb tests (fixtures live in conftest.py)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
BUCKET = "localeb-tests"


def client(service: str, endpoint: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config) if config else None,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put_json(s3: Any, data: Any, key: str | None = None) -> dict[str, str]:
    key = key or f"bundles/{uuid.uuid4().hex}.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(data).encode())
    return {"S3Bucket": BUCKET, "S3Key": key}


def dockerrun(
    image: str, command: str | None = None, port: int = 80, auth_key: str | None = None, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {"AWSEBDockerrunVersion": "1", "Image": {"Name": image}, "Ports": [{"ContainerPort": port}]}
    if command:
        data["Command"] = command
    if auth_key:
        data["Authentication"] = {"Bucket": BUCKET, "Key": auth_key}
    data.update(extra)
    return data


def wait_ready(eb: Any, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        envs = [e for e in eb.describe_environments(EnvironmentNames=[name])["Environments"] if e["Status"] != "Terminated"]
        if envs and envs[0]["Status"] == "Ready":
            return dict(envs[0])
        if time.monotonic() > deadline:
            raise AssertionError(f"environment {name} not Ready after {timeout} s: {envs}")
        time.sleep(0.1)


def create_environment(eb: Any, app: str, **kwargs: Any) -> dict[str, Any]:
    name = kwargs.pop("EnvironmentName", None) or unique("env")
    eb.create_environment(
        ApplicationName=app, EnvironmentName=name, SolutionStackName="64bit Amazon Linux 2023 v4.6.0 running Docker", **kwargs
    )
    return wait_ready(eb, name)


def messages(eb: Any, **filters: Any) -> list[str]:
    """Event messages, oldest first."""
    return [e["Message"] for e in reversed(eb.describe_events(**filters)["Events"])]


@dataclass
class PushedImage:
    name: str
    registry: Any

    def auth_file(self, username: str | None = None, password: str | None = None, legacy: bool = False) -> bytes:
        token = base64.b64encode(f"{username or self.registry.username}:{password or self.registry.password}".encode()).decode()
        entry = {"auth": token}
        if legacy:
            return json.dumps({self.registry.address: {**entry, "email": "ci@example.com"}}).encode()
        return json.dumps({"auths": {self.registry.address: entry}}).encode()
