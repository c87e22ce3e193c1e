#!/usr/bin/env bash
# Builds, from Debian packages only, the base images Berth's builder defaults to, so Berth
# works on a host that reaches no image registry (an air-gapped host, or CI here).
#   berth/python:bookworm  python3 + venv + pip, for Python buildpack builds
#   berth/static:bookworm  busybox httpd, for static sites
# An image that already exists is kept (pass --force to rebuild). Needs root, debootstrap
# and a running Docker engine. MIRROR overrides the Debian mirror.
set -euo pipefail
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
force=0
[ "${1:-}" = "--force" ] && force=1

have() { [ $force = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

build_rootfs() { # name packages...
  local name=$1; shift
  local dir; dir=$(mktemp -d /tmp/berth-rootfs-XXXXXX)
  echo "building $name from Debian $SUITE ($*)" >&2
  debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" "$SUITE" "$dir" "$MIRROR" >/tmp/berth-debootstrap.log 2>&1 \
    || { tail -20 /tmp/berth-debootstrap.log >&2; exit 1; }
  # Shrink: package lists and docs are not needed at run time.
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* "$dir"/usr/share/man/*
  tar -C "$dir" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    -c 'CMD ["/bin/sh"]' - "$name" >/dev/null
  rm -rf "$dir"
  echo "built $name" >&2
}

have berth/python:bookworm || build_rootfs berth/python:bookworm python3 python3-venv python3-pip ca-certificates
have berth/static:bookworm || build_rootfs berth/static:bookworm busybox ca-certificates
