#!/usr/bin/env bash
# Puts the job's AWS credentials where boto3's default chain reads them, for the steps that follow: CircleCI's shell
# sources $BASH_ENV before each step, so what this appends there holds for `inv ci`.
#
# - AWS_ROLE_ARN set (project variable or the eb-deploy context): the job's OIDC token goes to a file only this user
#   can read, outside the checkout (so never in a Docker build context), and AWS_WEB_IDENTITY_TOKEN_FILE and
#   AWS_ROLE_SESSION_NAME are exported beside AWS_ROLE_ARN. boto3 then assumes the role by web identity
#   (STS AssumeRoleWithWebIdentity) and renews the credentials from the same file. Access keys would win over the role
#   in boto3's chain, so they are unset.
# - No AWS_ROLE_ARN: nothing changes; boto3 uses AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
#
# CircleCI issues $CIRCLE_OIDC_TOKEN and $CIRCLE_OIDC_TOKEN_V2 only to jobs that use at least one context
# (CircleCI docs, "Using OpenID Connect tokens in jobs"). V2 is preferred: its `sub` claim also names the VCS origin
# and ref, which a role's trust policy can restrict on (docs/iam.md).
set -euo pipefail

fail() {
    echo "aws credentials: $1" >&2
    exit 2
}

[ -n "${BASH_ENV:-}" ] || fail "BASH_ENV is not set: run this as a CircleCI step (CircleCI sets it), or point BASH_ENV at a file the next commands source."

if [ -z "${AWS_ROLE_ARN:-}" ]; then
    if [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
        echo "aws credentials: access keys (AWS_ACCESS_KEY_ID); set AWS_ROLE_ARN to use the job's OIDC token instead."
    else
        echo "aws credentials: none (no AWS_ROLE_ARN, no AWS_ACCESS_KEY_ID): enough to build and test; a deploy needs one of them."
    fi
    exit 0
fi

[[ "$AWS_ROLE_ARN" =~ ^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$ ]] \
    || fail "AWS_ROLE_ARN is not an IAM role ARN (expected arn:aws:iam::123456789012:role/NAME): fix the project variable."

token="${CIRCLE_OIDC_TOKEN_V2:-${CIRCLE_OIDC_TOKEN:-}}"
[ -n "$token" ] || fail "AWS_ROLE_ARN is set but this job has no OIDC token (CIRCLE_OIDC_TOKEN_V2, CIRCLE_OIDC_TOKEN): CircleCI issues one only to jobs that use a context; add one to the job in the workflow, or unset AWS_ROLE_ARN to use access keys."

token_file="$(umask 077 && mktemp "${TMPDIR:-/tmp}/circleci-oidc-token.XXXXXX")"
printf '%s' "$token" >"$token_file"

# STS: RoleSessionName is 2 to 64 characters of [\w+=,.@-].
session="circleci-${CIRCLE_PROJECT_REPONAME:-job}-${CIRCLE_BUILD_NUM:-0}"
session="$(printf '%s' "$session" | tr -c 'A-Za-z0-9_+=,.@-' '-' | cut -c1-64)"

{
    printf 'export AWS_ROLE_ARN=%q\n' "$AWS_ROLE_ARN"
    printf 'export AWS_WEB_IDENTITY_TOKEN_FILE=%q\n' "$token_file"
    printf 'export AWS_ROLE_SESSION_NAME=%q\n' "$session"
    echo 'unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN'
} >>"$BASH_ENV"

note=""
[ -z "${AWS_ACCESS_KEY_ID:-}" ] || note="; AWS_ACCESS_KEY_ID is set too and is ignored"
echo "aws credentials: role $AWS_ROLE_ARN by web identity (session $session; token in a file)$note."
