#!/usr/bin/env bash
# Installs everything the tests need, starts the Docker engine if none answers, then runs the whole suite.
# The registry and the local AWS server are started by the tests themselves, on free ports.
# Extra arguments go to pytest (e.g. -k push, -x). Any set-up step that fails stops it with its cause.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
source scripts/services.sh   # functions only; they exit on failure and set BASE_IMAGE
prepare_services
export BASE_IMAGE
echo "Base image for test builds: $BASE_IMAGE"
exec .venv/bin/python -m pytest "$@"
