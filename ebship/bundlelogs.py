"""The logs of the instances a failed Immutable or TrafficSplitting update terminated: their bundle logs in S3.

A `tail` request after such a failure reaches only the instances that are left, the old, healthy ones. The failed new
instances said why before they went: "If an immutable update fails, the new instances upload bundle logs to Amazon S3
before Elastic Beanstalk terminates them. Elastic Beanstalk leaves logs from a failed immutable update in Amazon S3 for
one hour before deleting them" (developer guide, environmentmgmt-updates-immutable). Bundle logs are stored in
Elastic Beanstalk's bucket ``elasticbeanstalk-REGION-ACCOUNT_ID`` under
``resources/environments/logs/bundle/ENVIRONMENT_ID/INSTANCE_ID`` (developer guide, using-features.logging, "Log
location in Amazon S3"). A bundle is a ZIP of the instance's log files.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ebship.aws import call
from ebship.beanstalk import Event

# The update's events that say it launched new instances in a temporary Auto Scaling group (Immutable, and
# TrafficSplitting, which launches the same way): the stand-in's texts (localeb/README.md, "Fleets"), which follow the
# developer guide's description ("creates a second, temporary Auto Scaling group").
REPLACING_FLEET = ("temporary auto scaling group", "immutable deployment policy enabled", "traffic to the new instance")
KEPT = "one hour"
# What explains a failed deploy in a bundle: the platform engine's log and the container's output; the rest (yum, cron,
# CloudFormation) does not.
EXPLAINING_FILES = ("eb-engine.log", "/eb-docker/containers/", "/eb-current-app/")
MAX_BUNDLE_BYTES = 20_000_000
MAX_FILE_BYTES = 200_000  # the end of each log: the failure is at its end
LISTED_PAGES = 5
SINCE_MARGIN = timedelta(minutes=1)  # the bucket's clock against the events' clock
RULE = "-" * 40


def replaced_fleet(events: list[Event]) -> bool:
    """Whether the update launched a fleet of new instances that a failure terminates (Immutable, TrafficSplitting)."""
    return any(marker in event.message.lower() for event in events for marker in REPLACING_FLEET)


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # resources/environments/logs/bundle/ENVIRONMENT_ID/

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def location(bucket: str, environment_id: str) -> Location:
    return Location(bucket, f"resources/environments/logs/bundle/{environment_id}/")


@dataclass(frozen=True)
class Bundle:
    instance_id: str
    key: str
    modified: datetime


def newest_bundles(s3: Any, where: Location, since: datetime) -> list[Bundle]:
    """Each instance's newest bundle uploaded since ``since`` (the update's start), by instance id."""
    params: dict[str, Any] = {"Bucket": where.bucket, "Prefix": where.prefix}
    newest: dict[str, Bundle] = {}
    for _ in range(LISTED_PAGES):  # a bound: bundles live an hour at most, a handful per instance
        page = call("s3", s3, "list_objects_v2", **params)
        for item in page.get("Contents", []):
            instance = str(item["Key"])[len(where.prefix) :].split("/", 1)[0]
            modified = item["LastModified"]
            fresh = instance and modified >= since - SINCE_MARGIN
            if fresh and (instance not in newest or modified > newest[instance].modified):
                newest[instance] = Bundle(instance, str(item["Key"]), modified)
        if not page.get("IsTruncated") or not page.get("NextContinuationToken"):
            break
        params["ContinuationToken"] = page["NextContinuationToken"]
    return [newest[instance] for instance in sorted(newest)]


def read_bundle(s3: Any, bucket: str, bundle: Bundle) -> str:
    """A bundle's explaining files as one text, each framed like a tail's (dashes around its path)."""
    found = call("s3", s3, "get_object", Bucket=bucket, Key=bundle.key)
    return bundle_text(bytes(found["Body"].read(MAX_BUNDLE_BYTES)))


def bundle_text(body: bytes) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile:
        raise ValueError("the bundle is not a ZIP archive") from None
    parts = []
    with archive:
        for info in archive.infolist():
            path = "/" + info.filename.lstrip("/")
            if info.is_dir() or not any(name in path for name in EXPLAINING_FILES):
                continue
            with archive.open(info) as member:
                if info.file_size > MAX_FILE_BYTES:
                    member.seek(info.file_size - MAX_FILE_BYTES)
                text = member.read(MAX_FILE_BYTES).decode("utf-8", errors="replace")
            parts.append(f"{RULE}\n{path}\n{RULE}\n{text}\n")
    return "".join(parts)
