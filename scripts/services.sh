#!/usr/bin/env bash
# Makes sure a Docker engine answers, that a Python base image is available to build on, and that the tools for a
# local private registry (Debian's docker-registry, htpasswd) are installed.
# On a laptop with Docker Desktop or a running dockerd this does nothing but check.
# On a bare Debian machine run as root (CI here) it installs docker.io and starts dockerd, and, when
# python:3.12-slim cannot be pulled (no route to Docker Hub), builds a stand-in base image from Debian's packages
# (named by LOCAL_BASE_IMAGE, default local/python:3.11-bookworm).
# It prints the base image to use as its last line: BASE_IMAGE=<name>. Any step that fails stops it with exit 1
# and the step's cause on stderr, and prints no BASE_IMAGE line.
#
# Sourcing it defines the functions without running anything: test.sh and demo.sh call prepare_services, which
# sets BASE_IMAGE, and the tests call single steps.
set -euo pipefail
# Functions report through globals and exit directly, never through $(...): a failure inside a command
# substitution does not stop the caller under set -e.

log() { printf '[engine] %s\n' "$*" >&2; }

fail() {
  log "$*"
  exit 1
}

engine_up() { docker info >/dev/null 2>&1; }

as_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_install() {
  log "installing $* from Debian's packages"
  apt-get update -qq || fail "apt-get update failed (see above)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || fail "apt-get install $* failed (see above)"
}

start_engine() {
  if engine_up; then return; fi
  if ! as_root_with_apt; then
    fail "No Docker engine answers (docker info failed). Start Docker (Docker Desktop, or 'sudo systemctl start docker') and run again."
  fi
  if ! command -v dockerd >/dev/null; then apt_install docker.io; fi
  log "starting dockerd"
  # iptables is not available in these sandboxes; published ports still work through docker-proxy.
  nohup dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    if engine_up; then return; fi
    sleep 1
  done
  tail -20 /var/log/dockerd.log >&2 || true
  fail "dockerd did not answer within 60 s; see /var/log/dockerd.log"
}

LOCAL_BASE_IMAGE=${LOCAL_BASE_IMAGE:-local/python:3.11-bookworm}
UPSTREAM_BASE_IMAGE=python:3.12-slim

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# Builds $LOCAL_BASE_IMAGE: a Debian bookworm root file system with python3, imported as an image.
build_local_base_image() {
  if ! as_root_with_apt; then
    fail "Cannot pull $UPSTREAM_BASE_IMAGE and cannot build a local base image (needs root and apt-get). Pull $UPSTREAM_BASE_IMAGE, or set BASE_IMAGE to a Python 3.11+ image you have."
  fi
  log "building $LOCAL_BASE_IMAGE from Debian's packages (about a minute)"
  if ! command -v debootstrap >/dev/null; then apt_install debootstrap; fi
  local workdir mirror
  workdir=$(mktemp -d /var/tmp/base-image.XXXXXX) || fail "mktemp failed in /var/tmp"
  # shellcheck disable=SC2064  # expand now: the local is gone when the trap runs
  trap "rm -rf '$workdir'" EXIT
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null) || mirror=""
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$workdir/rootfs" \
    ${mirror:+"$mirror"} >"$workdir/debootstrap.log" 2>&1; then
    tail -20 "$workdir/debootstrap.log" >&2
    fail "debootstrap failed (its log's tail is above)"
  fi
  # This network's TLS goes through a proxy whose CA only the host's bundle has.
  cp /etc/ssl/certs/ca-certificates.crt "$workdir/rootfs/etc/ssl/certs/ca-certificates.crt" \
    || fail "cannot copy the host's CA bundle into the image"
  if ! tar -C "$workdir/rootfs" -c . | docker import - "$LOCAL_BASE_IMAGE" >/dev/null; then
    fail "docker import of $LOCAL_BASE_IMAGE failed (see above)"
  fi
  image_present "$LOCAL_BASE_IMAGE" || fail "docker import reported success but $LOCAL_BASE_IMAGE is not there"
  rm -rf "$workdir"
  trap - EXIT
}

# Sets BASE_IMAGE to an image that is present on the engine, building one if it must.
ensure_base_image() {
  local image
  if [ -n "${BASE_IMAGE:-}" ] && ! image_present "$BASE_IMAGE"; then
    log "BASE_IMAGE=$BASE_IMAGE is not on the engine; looking for another"
  fi
  for image in ${BASE_IMAGE:+"$BASE_IMAGE"} "$UPSTREAM_BASE_IMAGE" "$LOCAL_BASE_IMAGE"; do
    if image_present "$image"; then BASE_IMAGE=$image; return; fi
  done
  if timeout 60 docker pull -q "$UPSTREAM_BASE_IMAGE" >/dev/null 2>&1; then
    BASE_IMAGE=$UPSTREAM_BASE_IMAGE
    return
  fi
  log "$UPSTREAM_BASE_IMAGE cannot be pulled here"
  build_local_base_image
  BASE_IMAGE=$LOCAL_BASE_IMAGE
}

ensure_registry_tools() {
  if command -v htpasswd >/dev/null && command -v docker-registry >/dev/null; then return; fi
  if as_root_with_apt; then
    apt_install docker-registry apache2-utils
  elif ! command -v htpasswd >/dev/null; then
    fail "htpasswd is missing: install apache2-utils (Debian/Ubuntu) or httpd-tools; the local registry needs it."
  fi
  # Without Debian's docker-registry binary, the registry:2 image is used.
}

prepare_services() {
  start_engine
  ensure_registry_tools
  ensure_base_image
}

main() {
  prepare_services
  echo "BASE_IMAGE=$BASE_IMAGE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main
fi
