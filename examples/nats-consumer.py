"""An in-cluster consumer of Berth's events, straight from NATS JetStream.

    BERTH_NATS_URL=nats://127.0.0.1:4222 uv run python examples/nats-consumer.py [--app APP]

It keeps a durable pull consumer (`example-deploy-watcher`) on the scheduler's stream, so
after a restart it goes on where it stopped; it acknowledges each event once handled
(explicit ack), and skips what it has already handled by the CloudEvents `id` (JetStream
delivers at least once). Berth declares the streams; a consumer only adds its own durable
consumer to one. See docs/integrations.md and docs/events.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.errors import TimeoutError as NatsTimeout

STREAM = "BERTH_SCHEDULER"  # one stream per producing service: BERTH_API, BERTH_BUILDER, BERTH_SCHEDULER
SUBJECTS = ["berth.release.deployed.v1", "berth.release.failed.v1", "berth.process.crashed.v1"]
DURABLE = "example-deploy-watcher"


def handle(event: dict) -> None:
    data = event["data"]
    if event["type"] == "berth.release.deployed.v1":
        print(f"{event['time']} {event['subject']}: v{data['version']} is live")
    elif event["type"] == "berth.release.failed.v1":
        print(f"{event['time']} {event['subject']}: v{data['version']} failed: {data['reason']}")
    else:
        print(f"{event['time']} {event['subject']}: {data['instance']} crashed (exit code {data.get('exit_code')})")


async def main(app: str | None) -> None:
    nc = await nats.connect(os.environ.get("BERTH_NATS_URL", "nats://127.0.0.1:4222"), name="example-consumer")
    js = nc.jetstream()
    # filter_subjects (several subjects, one consumer) needs nats-server 2.10 or newer.
    config = ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, max_deliver=5,
                            deliver_policy=DeliverPolicy.NEW, filter_subjects=SUBJECTS)
    await js.add_consumer(STREAM, config)
    sub = await js.pull_subscribe_bind(DURABLE, stream=STREAM)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    seen: set[str] = set()  # a real consumer keeps this with its own state, in one transaction
    print(f"waiting for {', '.join(SUBJECTS)} on {STREAM} (Ctrl-C stops)")
    while not stop.is_set():
        try:
            msgs = await sub.fetch(10, timeout=2)
        except NatsTimeout:
            continue
        for msg in msgs:
            event = json.loads(msg.data)
            if event["id"] not in seen and (app is None or event["subject"] == app):
                handle(event)
                seen.add(event["id"])
            await msg.ack()
    await nc.drain()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", help="only this app's events")
    asyncio.run(main(parser.parse_args().app))
