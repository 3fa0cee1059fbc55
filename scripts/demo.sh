#!/usr/bin/env bash
# The newcomer's first command: installs the task collection, makes sure a Docker engine and a base image are
# there, then runs the whole pipeline (`inv ci`) as a rehearsal on the local Elastic Beanstalk stand-in.
# It ends with the sample app answering on a printed URL; `.venv/bin/inv local.down` stops everything afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev   # the stand-in runs on moto's server, a test-and-rehearsal dependency
services=$(bash scripts/services.sh)
export "${services##*$'\n'}"   # BASE_IMAGE=...
if [ "$BASE_IMAGE" != "python:3.12-slim" ]; then
  # The stand-in base image is for machines without Docker Hub; their builds reach PyPI through the host's network.
  export DOCKER_BUILD_NETWORK="${DOCKER_BUILD_NETWORK:-host}"
fi
unset CI
.venv/bin/inv ci
url=$(.venv/bin/inv eb.status --env local | awk '$1 == "url" {print $2}')
echo
echo "The sample app answers at $url"
curl -fsS -o /dev/null -w "GET $url -> HTTP %{http_code}\n" "$url" || true
echo "Stop the local stand-in with: .venv/bin/inv local.down"
