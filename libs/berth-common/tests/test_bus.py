"""The outbox, the relay and the inbox against real Postgres and NATS JetStream."""
import asyncio
import json
import uuid

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from berth_common import bus, db, events as ev


@pytest.fixture(scope="module")
async def pool(database_url):
    schema = f"bus_{uuid.uuid4().hex[:8]}"
    p = await db.create_pool(database_url, schema)
    async with p.acquire() as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"; SET search_path TO "{schema}"; ' + db.MESSAGING_TABLES)
    yield p
    await p.close()


@pytest.fixture(scope="module")
async def js(nats_url, streams):
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def _read_all(js, subject: str, timeout: float = 1.0) -> list[ev.Envelope]:
    sub = await js.subscribe(subject, ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    out = []
    try:
        while True:
            msg = await sub.next_msg(timeout=timeout)
            out.append((ev.Envelope.model_validate_json(msg.data), msg.headers or {}))
    except nats.errors.TimeoutError:
        pass
    await sub.unsubscribe()
    return out


async def test_outbox_row_needs_a_transaction(pool):
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await bus.add_to_outbox(conn, ev.AppCreated(app="x"))


async def test_rolled_back_events_are_never_published_and_committed_ones_once(pool, js):
    app = f"a{uuid.uuid4().hex[:8]}"
    with pytest.raises(ZeroDivisionError):
        async with pool.acquire() as conn, conn.transaction():
            await bus.add_to_outbox(conn, ev.AppCreated(app=app + "-rolledback"))
            1 / 0
    async with pool.acquire() as conn, conn.transaction():
        env = await bus.add_to_outbox(conn, ev.AppCreated(app=app))
    relay = asyncio.create_task(bus.run_outbox_relay(pool, js, poll_s=0.2))
    try:
        for _ in range(50):
            if await pool.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", uuid.UUID(env.id)):
                break
            await asyncio.sleep(0.1)
        # A relay that restarts before marking the row publishes again: JetStream dedupes by id.
        await pool.execute("UPDATE outbox SET published_at = NULL WHERE event_id = $1", uuid.UUID(env.id))
        await asyncio.sleep(1.0)
    finally:
        relay.cancel()
    msgs = [(e, h) for e, h in await _read_all(js, ev.AppCreated.type) if e.subject.startswith(app)]
    assert [e.subject for e, _ in msgs] == [app]
    assert msgs[0][1]["Nats-Msg-Id"] == env.id


async def test_inbox_makes_redelivery_harmless_and_poison_is_kept(pool, js):
    app = f"b{uuid.uuid4().hex[:8]}"
    effects: list[str] = []

    async def handler(conn, env, data):
        if not data.app.startswith(app):
            return  # another test's event on the shared stream
        if data.app.endswith("-poison"):
            raise ValueError("cannot handle this one")
        await conn.execute("SELECT 1")
        effects.append(env.id)

    sub = bus.Subscription(f"test-{app}", ev.AppDeleted.type, handler, max_deliver=2, ack_wait_s=5)
    good = ev.envelope(ev.AppDeleted(app=app))
    poison = ev.envelope(ev.AppDeleted(app=app + "-poison"))
    for env in (good, good, poison):  # the same event twice under different message ids
        await js.publish(env.type, env.model_dump_json().encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    task = asyncio.create_task(bus.run_subscription("test", pool, js, sub))
    try:
        for _ in range(100):
            dead = [d for d in await pool.fetch("SELECT * FROM dead_letters WHERE consumer = $1", f"test-{sub.name}")
                    if app in d["body"]]
            if dead and effects:
                break
            await asyncio.sleep(0.2)
    finally:
        task.cancel()
    assert effects == [good.id]
    assert len(dead) == 1 and "cannot handle this one" in dead[0]["error"] and dead[0]["deliveries"] == 2
    assert json.loads(dead[0]["body"])["id"] == poison.id
