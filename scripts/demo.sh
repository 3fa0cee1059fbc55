#!/usr/bin/env bash
# The newcomer's first command: installs the task collection, makes sure a Docker engine and a base image are
# there, then runs the whole pipeline (`inv ci`) as a rehearsal on the local Elastic Beanstalk stand-in.
# It ends with the sample app answering on a printed URL; `.venv/bin/inv local.down` stops everything afterwards.
# Any step that fails stops it with its cause and a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  printf 'demo.sh: %s\n' "$*" >&2
  exit 1
}

bash scripts/setup.sh --dev   # the stand-in runs on moto's server, a test-and-rehearsal dependency
source scripts/services.sh    # functions only; they exit on failure and set BASE_IMAGE
prepare_services
export BASE_IMAGE
if [ "$BASE_IMAGE" != "$UPSTREAM_BASE_IMAGE" ]; then
  # The stand-in base image is for machines without Docker Hub; their builds reach PyPI through the host's network.
  export DOCKER_BUILD_NETWORK="${DOCKER_BUILD_NETWORK:-host}"
fi
unset CI
.venv/bin/inv ci
status=$(.venv/bin/inv eb.status --env local)   # an assignment fails with its command: inv has said why
url=$(awk '$1 == "url" && $2 != "(none)" {print $2; exit}' <<<"$status")
[ -n "$url" ] || fail "inv eb.status --env local shows no URL for the sample app:
$status"
echo
curl -fsS --max-time 10 -o /dev/null -w "GET $url -> HTTP %{http_code}\n" "$url" \
  || fail "the sample app does not answer at $url (curl's error is above); see .venv/bin/inv eb.events --env local"
echo "The sample app answers at $url"
echo "Stop the local stand-in with: .venv/bin/inv local.down"
