#!/usr/bin/env bash
# Start Berth, the embedded default: `scripts/up.sh [berth up options]`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec uv run berth up "$@"
