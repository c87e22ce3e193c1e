"""Small helpers of the docker-compose stack, run inside the service images.

  python berth_stack.py healthcheck      exit 0 when this container's service answers /healthz
                                         (the service is BERTH_SERVICE, its port BERTH_<SERVICE>_PORT)
  python berth_stack.py declare-streams  declare every JetStream stream and the sources object
                                         store (berth_common.bus.declare_streams); the stack's
                                         one-shot init job, retried until NATS answers
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
import urllib.request

DEFAULT_PORTS = {"api": 5000, "builder": 5001, "scheduler": 5002, "router": 5003, "logger": 5004}


def healthcheck() -> int:
    service = os.environ.get("BERTH_SERVICE", "")
    port = os.environ.get(f"BERTH_{service.upper()}_PORT") or DEFAULT_PORTS.get(service)
    if not port:
        print("BERTH_SERVICE is not set", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
            return 0 if r.status == 200 else 1
    except OSError as e:
        print(f"{service} /healthz: {e}", file=sys.stderr)
        return 1


async def _declare(url: str) -> None:
    from berth_common import bus

    nc = await bus.connect(url, "stack-init")
    try:
        await bus.declare_streams(nc.jetstream())
    finally:
        await nc.close()


def declare_streams(timeout: float = 120) -> int:
    url = os.environ.get("BERTH_NATS_URL", "nats://nats:4222")
    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(asyncio.wait_for(_declare(url), 30))
            print(f"streams declared on {url}", flush=True)
            return 0
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            if time.monotonic() > deadline:
                print(f"could not declare streams on {url}: {e!r}", file=sys.stderr)
                return 1
            print(f"waiting for NATS at {url}: {e!r}", file=sys.stderr, flush=True)
            time.sleep(2)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "healthcheck":
        sys.exit(healthcheck())
    if command == "declare-streams":
        sys.exit(declare_streams())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
