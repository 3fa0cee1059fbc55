"""s3.*: the registry credentials Elastic Beanstalk pulls with, stored encrypted in the deployment bucket."""

from __future__ import annotations

from invoke import Collection, task

from tasks._support import job, reported


@task(
    help={
        "bucket": "Deployment bucket (EB_BUCKET), in the environment's region.",
        "key": "S3 key of the auth file (AUTH_KEY); Dockerrun.aws.json points to it.",
        "format": "config.json (Amazon Linux 2 and later, default) or dockercfg (legacy AMI) (AUTH_FORMAT).",
        "dry_run": "Print what would be done, secrets masked, and change nothing.",
    }
)
@reported
def auth(c, bucket=None, key=None, format=None, dry_run=False):
    """Upload the registry auth file to S3, encrypted; skipped when S3 already holds the same content."""
    from ebship import release

    release.upload_auth(job({"EB_BUCKET": bucket, "AUTH_KEY": key, "AUTH_FORMAT": format}), dry_run=dry_run)


ns = Collection(auth)
