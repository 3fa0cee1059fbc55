"""Reads and deletes objects in the server's own S3 (moto's in-process backend), as EB's service role would."""

from __future__ import annotations

from typing import Any

from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition


class S3Missing(LookupError):
    """The bucket or the object does not exist; the message names which, as S3 would."""


def _backend(account_id: str, region: str) -> Any:
    return s3_backends[account_id][get_partition(region)]


def bucket_region(account_id: str, region: str, bucket: str) -> str:
    try:
        return str(_backend(account_id, region).get_bucket(bucket).region_name)
    except MissingBucket:
        raise S3Missing("The specified bucket does not exist") from None


def get_object(account_id: str, region: str, bucket: str, key: str) -> bytes:
    backend = _backend(account_id, region)
    try:
        found = backend.get_object(bucket, key)
    except MissingBucket:
        raise S3Missing("The specified bucket does not exist") from None
    if found is None:
        raise S3Missing("Not Found")
    return bytes(found.value)


def object_exists(account_id: str, region: str, bucket: str, key: str) -> bool:
    try:
        get_object(account_id, region, bucket, key)
    except S3Missing:
        return False
    return True


def delete_object(account_id: str, region: str, bucket: str, key: str) -> None:
    _backend(account_id, region).delete_object(bucket, key)


def put_object(account_id: str, region: str, bucket: str, key: str, body: bytes) -> None:
    """Writes an object, creating the bucket in `region` first when it does not exist (as EB does its storage bucket)."""
    backend = _backend(account_id, region)
    try:
        backend.get_bucket(bucket)
    except MissingBucket:
        backend.create_bucket(bucket, region)
    backend.put_object(bucket, key, body)
