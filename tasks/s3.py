"""s3.*: the registry credentials Elastic Beanstalk pulls with, stored encrypted in the deployment bucket."""

from __future__ import annotations

from invoke import Collection

from tasks._flags import task
from tasks._support import job_for, reported


@task(
    help={
        "env": "Optional: take the AWS and registry settings of this environment (needed for local only).",
        "bucket": "Deployment bucket (EB_BUCKET), in the environment's region.",
        "key": "S3 key of the auth file (AUTH_KEY); Dockerrun.aws.json points to it.",
        "format": "config.json (Amazon Linux 2 and later, default) or dockercfg (legacy AMI) (AUTH_FORMAT).",
        "dry_run": "Print what would be done, secrets masked, and change nothing.",
    }
)
@reported
def auth(c, env=None, bucket=None, key=None, format=None, dry_run=False):
    """Check that the registry accepts the credentials, then upload its auth file to S3, encrypted (skipped when S3
    already holds the same content)."""
    from ebship import release

    flags = {"EB_BUCKET": bucket, "AUTH_KEY": key, "AUTH_FORMAT": format}
    release.upload_auth(job_for(env, flags), dry_run=dry_run)


ns = Collection(auth)
