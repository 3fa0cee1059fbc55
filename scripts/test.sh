#!/usr/bin/env bash
# Installs everything the tests need, starts the Docker engine if none answers, then runs the whole suite.
# The registry and the local AWS server are started by the tests themselves, on free ports.
# Extra arguments go to pytest (e.g. -k push, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
services=$(bash scripts/services.sh)
export "${services##*$'\n'}"   # BASE_IMAGE=...
echo "Base image for test builds: $BASE_IMAGE"
exec .venv/bin/python -m pytest "$@"
