#!/usr/bin/env bash
# Makes sure a Docker engine answers, that a Python base image is available to build on, and that the tools for a
# local private registry (Debian's docker-registry, htpasswd) are installed.
# On a laptop with Docker Desktop or a running dockerd this does nothing but check.
# On a bare Debian machine run as root (CI here) it installs docker.io and starts dockerd, and, when
# python:3.12-slim cannot be pulled (no route to Docker Hub), builds a stand-in base image from
# Debian's packages. It prints the base image to use as its last line: BASE_IMAGE=<name>.
set -euo pipefail

log() { printf '[engine] %s\n' "$*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

start_engine() {
  if engine_up; then return; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "No Docker engine answers (docker info failed). Start Docker (Docker Desktop, or 'sudo systemctl start docker') and run again."
    exit 1
  fi
  if ! command -v dockerd >/dev/null; then
    log "installing docker.io from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  log "starting dockerd"
  # iptables is not available in these sandboxes; published ports still work through docker-proxy.
  nohup dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    if engine_up; then return; fi
    sleep 1
  done
  log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
  tail -20 /var/log/dockerd.log >&2 || true
  exit 1
}

LOCAL_BASE=local/python:3.11-bookworm
UPSTREAM_BASE=python:3.12-slim

ensure_base_image() {
  if [ -n "${BASE_IMAGE:-}" ] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "$BASE_IMAGE"; return
  fi
  for image in "$UPSTREAM_BASE" "$LOCAL_BASE"; do
    if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; return; fi
  done
  if timeout 60 docker pull -q "$UPSTREAM_BASE" >/dev/null 2>&1; then
    echo "$UPSTREAM_BASE"; return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "Cannot pull $UPSTREAM_BASE and cannot build a local base image (needs root and apt-get)."
    exit 1
  fi
  log "$UPSTREAM_BASE cannot be pulled here; building $LOCAL_BASE from Debian's packages (about a minute)"
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local rootfs mirror
  rootfs=$(mktemp -d /var/tmp/base-rootfs.XXXXXX)
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" ${mirror:+"$mirror"} >/var/log/debootstrap.log 2>&1 \
    || { log "debootstrap failed; see /var/log/debootstrap.log"; exit 1; }
  # This network's TLS goes through a proxy whose CA only the host's bundle has.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | docker import -q - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
  echo "$LOCAL_BASE"
}

ensure_registry_tools() {
  if command -v htpasswd >/dev/null && command -v docker-registry >/dev/null; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing docker-registry and apache2-utils (htpasswd) from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry apache2-utils >/dev/null
  elif ! command -v htpasswd >/dev/null; then
    log "htpasswd is missing: install apache2-utils (Debian/Ubuntu) or httpd-tools; the local registry needs it."
    exit 1
  fi
  # Without Debian's docker-registry binary, the registry:2 image is used.
}

start_engine
ensure_registry_tools
echo "BASE_IMAGE=$(ensure_base_image)"
