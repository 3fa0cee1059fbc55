#!/usr/bin/env bash
# Installs the task collection into .venv: runtime requirements, plus test and lint tools with --dev.
# Needs Python 3.11 or newer (the code reads TOML with the standard library's tomllib); PYTHON names the interpreter
# to build .venv with (default python3). Checks come first: on bad input it exits 2 and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

bad_input() {
  printf 'setup.sh: %s\n' "$*" >&2
  exit 2
}

requirements=requirements.txt
case "${1:-}" in
  "") ;;
  --dev) requirements=requirements-dev.txt ;;
  *) bad_input "unknown argument '$1': use no argument, or --dev for the test and lint tools too." ;;
esac

python=${PYTHON:-python3}
command -v "$python" >/dev/null || bad_input "$python not found: install Python 3.11 or newer (or set PYTHON to one) and run again."

# Prints the interpreter's version and fails when it is older than 3.11.
python_3_11_or_newer() {
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3]); sys.exit(sys.version_info < (3, 11))'
}

if ! version=$(python_3_11_or_newer "$python"); then
  bad_input "Python 3.11 or newer is needed; $python is ${version:-unusable}. Install Python 3.11+ (or set PYTHON to one) and run again."
fi
if [ -x .venv/bin/python ] && ! version=$(python_3_11_or_newer .venv/bin/python); then
  bad_input ".venv was made with Python ${version:-unknown}; 3.11 or newer is needed. Remove it (rm -rf .venv) and run again."
fi

if [ ! -x .venv/bin/python ] && ! "$python" -m venv .venv; then
  rm -rf .venv   # a half-made .venv would pass the check above next time
  printf 'setup.sh: %s\n' "$python -m venv failed (its error is above; on Debian: apt-get install python3-venv)." >&2
  exit 1
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
