#!/usr/bin/env bash
# Run the whole test suite (unit, integration and end-to-end) against real NATS, Postgres,
# HAProxy and Docker: `scripts/test.sh [pytest options]`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec uv run pytest "$@"
