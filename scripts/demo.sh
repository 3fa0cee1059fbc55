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
# --json: inv ci's progress goes to stderr (the terminal), its result is one JSON document on stdout
# (docs/results.md), read with Python rather than by scraping text.
ci_status=0
result=$(.venv/bin/inv ci --json) || ci_status=$?
python="${PYTHON:-python3}"   # the interpreter setup.sh checked
"$python" -c 'import json, sys; json.loads(sys.argv[1])' "$result" 2>/dev/null \
  || fail "inv ci --json printed no JSON document (exit $ci_status): $result"
field() {
  "$python" -c 'import json, sys; value = json.loads(sys.argv[1])[sys.argv[2]]; print("" if value is None else value)' \
    "$result" "$1"
}
verdict=$(field verdict)
[ "$ci_status" -eq 0 ] && [ "$verdict" = ok ] \
  || fail "inv ci ended $verdict (exit $ci_status): $(field message)"
url=$(field url)
[ -n "$url" ] || fail "inv ci deployed, but its result names no URL for the sample app: $result"
echo
echo "inv ci: $verdict, version $(field version), health $(field health)"
curl -fsS --max-time 10 -o /dev/null -w "GET $url -> HTTP %{http_code}\n" "$url" \
  || fail "the sample app does not answer at $url (curl's error is above); see .venv/bin/inv eb.events --env local"
echo "The sample app answers at $url"
echo "Stop the local stand-in with: .venv/bin/inv local.down"
