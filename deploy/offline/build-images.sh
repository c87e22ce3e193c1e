#!/usr/bin/env bash
# Builds, from Debian packages only, the base images Berth's builder defaults to, so Berth
# works on a host that reaches no image registry (an air-gapped host, or CI here).
#   berth/python:bookworm  python3 + venv + pip, for Python buildpack builds
#   berth/static:bookworm  busybox httpd, for static sites (and the runtime of Go builds)
#   berth/node:bookworm    nodejs + npm, for Node.js buildpack builds
#   berth/go:bookworm      golang-go, the compile stage of Go buildpack builds
# An image that already exists is kept (pass --force to rebuild). Needs root, debootstrap
# and a running Docker engine. MIRROR overrides the Debian mirror.
set -euo pipefail
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
force=0
[ "${1:-}" = "--force" ] && force=1

have() { [ $force = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

build_rootfs() { # name packages... [-- packages installed with apt inside the new tree]
  # debootstrap resolves plain dependencies only; packages whose dependencies are virtual
  # (npm) go after `--` and are installed by apt-get, chrooted into the new tree.
  local name=$1; shift
  local pkgs=() apt_pkgs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do pkgs+=("$1"); shift; done
  [ "${1:-}" = "--" ] && { shift; apt_pkgs=("$@"); }
  local dir; dir=$(mktemp -d /tmp/berth-rootfs-XXXXXX)
  echo "building $name from Debian $SUITE (${pkgs[*]} ${apt_pkgs[*]})" >&2
  debootstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" "$SUITE" "$dir" "$MIRROR" >/tmp/berth-debootstrap.log 2>&1 \
    || { tail -20 /tmp/berth-debootstrap.log >&2; exit 1; }
  if [ ${#apt_pkgs[@]} -gt 0 ]; then
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    mount -t proc proc "$dir/proc"
    if ! { chroot "$dir" apt-get update -q \
           && DEBIAN_FRONTEND=noninteractive chroot "$dir" apt-get install -y -q --no-install-recommends "${apt_pkgs[@]}" \
           && chroot "$dir" apt-get clean; } >/tmp/berth-apt.log 2>&1; then
      umount "$dir/proc"; tail -20 /tmp/berth-apt.log >&2; exit 1
    fi
    umount "$dir/proc"
    : > "$dir/etc/resolv.conf"
  fi
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
have berth/node:bookworm || build_rootfs berth/node:bookworm nodejs ca-certificates -- npm
have berth/go:bookworm || build_rootfs berth/go:bookworm golang-go ca-certificates

# The docker-compose stack's images too (NATS, Postgres, the five services; see
# build-stack-images.sh) with --stack (after --force, if both) or BERTH_STACK_IMAGES=1.
case " $* " in *" --stack "*) BERTH_STACK_IMAGES=1 ;; esac
if [ "${BERTH_STACK_IMAGES:-0}" = 1 ] && [ "${BERTH_SKIP_STACK_IMAGES:-0}" != 1 ]; then
  if [ $force = 1 ]; then bash "$(dirname "$0")/build-stack-images.sh" --force; else bash "$(dirname "$0")/build-stack-images.sh"; fi
fi
