"""Where the label last seen running healthy on each environment is remembered, for rollbacks.

The environment's own VersionLabel cannot be trusted after a failed deploy: whether it reverts is not documented. So
each deploy that finds the environment Ready and healthy records what it runs before changing it (eb.deploy's plan
shows that step): after a failed deploy, the record names the way back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Protocol

from ebship.aws import CloudError
from ebship.cloud import Storage


class LastGood(Protocol):
    def read(self, environment: str) -> str: ...

    def write(self, environment: str, label: str) -> None: ...


class MemoryLastGood:
    def __init__(self) -> None:
        self.labels: dict[str, str] = {}

    def read(self, environment: str) -> str:
        return self.labels.get(environment, "")

    def write(self, environment: str, label: str) -> None:
        self.labels[environment] = label


class S3LastGood:
    """A small JSON object per environment in the deployment bucket, so any runner finds it."""

    def __init__(self, storage: Storage, bucket: str, prefix: str) -> None:
        self.storage, self.bucket, self.prefix = storage, bucket, prefix.strip("/")

    def key(self, environment: str) -> str:
        return f"{self.prefix}/_environments/{environment}/last-good.json".lstrip("/")

    def read(self, environment: str) -> str:
        """ "" when there is no record, or it cannot be read: then no version is known to have run healthy."""
        try:
            body = self.storage.read(self.bucket, self.key(environment)).body
        except CloudError:
            return ""
        return str(json.loads(body).get("label", "")) if body else ""

    def write(self, environment: str, label: str) -> None:
        body = json.dumps({"label": label, "recorded": datetime.now(UTC).isoformat()}).encode()
        self.storage.put(self.bucket, self.key(environment), body)
