"""One facade over AWS: Elastic Beanstalk (``ebship.beanstalk``), S3 and STS, built from the settings, each call's errors
translated once (``ebship.aws.call``), and the clock every wait of the core runs on."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from ebship.aws import CloudError, call, client, session
from ebship.beanstalk import Beanstalk
from ebship.clock import Clock, SystemClock
from ebship.errors import UsageError
from ebship.settings import Settings

# S3 answers a missing key with 403 AccessDenied, not 404 NoSuchKey, to a caller without s3:ListBucket on the bucket
# (S3 API reference, GetObject, "Permissions"); HeadObject's 403 has no body, so botocore names it "403".
DENIED = ("AccessDenied", "403")
MISSING = ("NoSuchKey", "404")
NO_BUCKET = ("NoSuchBucket",)


@dataclass(frozen=True)
class Stored:
    """What reading one S3 object found: its bytes, or None when it is missing or S3 denied reading it."""

    body: bytes | None = field(default=None, repr=False)
    encryption: str = ""  # its server-side encryption, "" for none
    denied: bool = False  # S3 said AccessDenied: missing, or not readable; it does not say which without s3:ListBucket


def bucket_region(location_constraint: str | None) -> str:
    """The region of a bucket from GetBucketLocation's LocationConstraint. S3 answers null for us-east-1 and the legacy
    "EU" for eu-west-1 (botocore's S3 model, GetBucketLocationOutput; API_GetBucketLocation in the S3 API reference)."""
    if not location_constraint:
        return "us-east-1"
    return "eu-west-1" if location_constraint == "EU" else location_constraint


class MissingBucket(UsageError):
    def __init__(self, bucket: str) -> None:
        super().__init__(
            f"The bucket {bucket} does not exist (EB_BUCKET). Create it in the environment's region, "
            "or set EB_BUCKET to Elastic Beanstalk's bucket (elasticbeanstalk-<region>-<account>)."
        )
        self.bucket = bucket


class Storage:
    """The S3 part of the facade: the objects the pipeline reads and writes (auth file, bundles, last-good records)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def region(self) -> str:
        return str(self.client.meta.region_name)

    def read(self, bucket: str, key: str) -> Stored:
        try:
            found = self._call("get_object", Bucket=bucket, Key=key)
        except CloudError as error:
            if error.code in MISSING:
                return Stored()
            if error.code in DENIED:
                return Stored(denied=True)
            if error.code in NO_BUCKET:
                raise MissingBucket(bucket) from None
            raise
        return Stored(bytes(found["Body"].read()), str(found.get("ServerSideEncryption", "")))

    def put(self, bucket: str, key: str, body: bytes, content_type: str = "application/json") -> None:
        """Writes the object encrypted at rest (SSE-S3, AES256), as everything the pipeline stores."""
        self._call("put_object", Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256", ContentType=content_type)

    def bucket_region(self, bucket: str) -> str:
        try:
            found = self._call("get_bucket_location", Bucket=bucket)
        except CloudError as error:
            if error.code in (*NO_BUCKET, "404"):
                raise MissingBucket(bucket) from None
            raise
        return bucket_region(found.get("LocationConstraint"))

    def require_bucket_in(self, bucket: str, region: str) -> str:
        """The bucket's region, which must be the environment's: Elastic Beanstalk reads bundles and the auth file only
        from a bucket in its own region (S3LocationNotInServiceRegionException otherwise)."""
        location = self.bucket_region(bucket)
        if location != region:
            raise UsageError(
                f"The bucket {bucket} is in {location}, but the environment is in {region}: Elastic Beanstalk reads "
                f"bundles and the auth file only from a bucket in its own region. Use a bucket in {region} (EB_BUCKET)."
            )
        return location

    def _call(self, operation: str, **params: Any) -> Any:
        return call("s3", self.client, operation, **params)


class Cloud:
    """AWS as the core sees it; clients are made on first use, so a task pays only for the services it calls."""

    def __init__(
        self, settings: Settings, clock: Clock | None = None, *, eb: Beanstalk | None = None, s3: Storage | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        if eb is not None:
            self.eb = eb
        if s3 is not None:
            self.s3 = s3

    @functools.cached_property
    def eb(self) -> Beanstalk:
        return Beanstalk(client(self.settings, "elasticbeanstalk"), self.clock)

    @functools.cached_property
    def s3(self) -> Storage:
        return Storage(client(self.settings, "s3"))

    @property
    def region(self) -> str:
        return str(session(self.settings).region_name)

    def ecr(self, region: str) -> Any:
        """An ECR client in the region of a registry (its host names it: ebship.ecr.region_of), which may differ from
        the environment's."""
        return client(self.settings, "ecr", region=region)

    def caller(self) -> str:
        """The ARN of the identity in use (STS GetCallerIdentity), which proves the credentials work."""
        return str(call("sts", client(self.settings, "sts"), "get_caller_identity")["Arn"])
