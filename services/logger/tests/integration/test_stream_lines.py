"""Lines from the BERTH_LOGS stream: stored once, queried in order, tailed live, retained."""
import asyncio
import json

import aiohttp
from datetime import datetime, timedelta, timezone

from berth_common import events as ev
from berth_logger.domain.retention import Retention
from berth_logger.messaging.log_stream import DURABLE

from .conftest import query, running_logger, settings_for, wait_for


async def publish(js, app: str, source: str, text: str, msg_id: str | None = None, **kw):
    line = ev.LogLine(app=app, source=source, line=text, **kw)
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    return await js.publish(ev.log_subject(app, source), line.model_dump_json().encode(), headers=headers)


async def lines_of(nc, app, n=None, **kw):
    async def check():
        reply = await query(nc, app=app, **kw)
        return reply["lines"] if n is None or len(reply["lines"]) >= n else None
    return await wait_for(check) or (await query(nc, app=app, **kw))["lines"]


async def test_stream_lines_are_stored_and_queried_in_order(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    settings = settings_for(nats_url, database_url, collect_docker=False)
    async with running_logger(settings):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{settings.common.health_port}/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["checks"] == {"postgres": "ok", "nats": "ok"}
        for i in range(5):
            await publish(js, app_name, "build", f"step {i}", msg_id=f"{app_name}-{i}")
        # A publisher retrying with the same message id does not make a second line.
        ack = await publish(js, app_name, "build", "step 4", msg_id=f"{app_name}-4")
        assert ack.duplicate
        await publish(js, app_name, "router", "GET / 200")
        await publish(js, app_name, "berth", "scaled web=2", process="web")

        lines = await lines_of(nc, app_name, 7)
        assert [l["line"] for l in lines] == [f"step {i}" for i in range(5)] + ["GET / 200", "scaled web=2"]
        assert [l["source"] for l in lines] == ["build"] * 5 + ["router", "berth"]
        assert lines[-1]["process"] == "web"
        ids = [l["id"] for l in lines]
        assert ids == sorted(ids)
        assert set(lines[0]) >= {"id", "time", "app", "source", "process", "instance", "line"}
        datetime.fromisoformat(lines[0]["time"])

        assert [l["line"] for l in (await query(nc, app=app_name, lines=2))["lines"]] == ["GET / 200", "scaled web=2"]
        build = (await query(nc, app=app_name, source="build"))["lines"]
        assert [l["line"] for l in build] == [f"step {i}" for i in range(5)]
        after = (await query(nc, app=app_name, after_id=ids[1], lines=2))["lines"]
        assert [l["id"] for l in after] == ids[2:4]
        assert (await query(nc, app="no-such-app"))["lines"] == []
        assert "error" in await query(nc, app="Bad Name")
        assert "error" in await query(nc, app=app_name, lines="many")


async def test_redelivered_lines_are_not_stored_twice(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    settings = settings_for(nats_url, database_url, collect_docker=False)
    async with running_logger(settings):
        for i in range(3):
            await publish(js, app_name, "build", f"line {i}")
        assert len(await lines_of(nc, app_name, 3)) == 3
    # Losing the consumer's position makes the whole stream come again.
    await js.delete_consumer(ev.LOGS_STREAM, DURABLE)
    async with running_logger(settings):
        await publish(js, app_name, "build", "after restart")
        lines = await lines_of(nc, app_name, 4)

        async def caught_up():
            info = await js.consumer_info(ev.LOGS_STREAM, DURABLE)
            return info.num_pending == 0 and info.num_ack_pending == 0
        assert await wait_for(caught_up)
        lines = (await query(nc, app=app_name))["lines"]
        assert [l["line"] for l in lines] == ["line 0", "line 1", "line 2", "after restart"]


async def test_new_lines_are_tailed_live(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    received: asyncio.Queue = asyncio.Queue()

    async def on_tail(msg):
        received.put_nowait(json.loads(msg.data))
    sub = await nc.subscribe(f"berth.logtail.{app_name}", cb=on_tail)
    await nc.flush()  # the server knows of the subscription before anything is published
    async with running_logger(settings_for(nats_url, database_url, collect_docker=False)):
        await publish(js, app_name, "build", "compiling", msg_id=f"{app_name}-tail")
        first = await asyncio.wait_for(received.get(), 10)
        await publish(js, app_name, "router", "GET /health 200")
        second = await asyncio.wait_for(received.get(), 10)
        # A duplicate publish stores nothing and so tails nothing.
        await publish(js, app_name, "build", "compiling", msg_id=f"{app_name}-tail")
        await asyncio.sleep(1)
        assert received.empty()
    await sub.unsubscribe()
    assert (first["line"], first["source"], first["app"]) == ("compiling", "build", app_name)
    assert second["line"] == "GET /health 200" and second["id"] > first["id"]
    stored = (await query_after_stop_ok(nats_url, database_url, nc, app_name))
    assert [l["id"] for l in stored] == [first["id"], second["id"]]


async def query_after_stop_ok(nats_url, database_url, nc, app_name):
    async with running_logger(settings_for(nats_url, database_url, collect_docker=False)):
        return (await query(nc, app=app_name))["lines"]


async def test_deleting_an_app_removes_its_lines(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    other = app_name + "x"
    async with running_logger(settings_for(nats_url, database_url, collect_docker=False)):
        await publish(js, app_name, "build", "doomed")
        await publish(js, other, "build", "kept")
        assert await lines_of(nc, app_name, 1) and await lines_of(nc, other, 1)
        env = ev.envelope(ev.AppDeleted(app=app_name))
        await js.publish(env.type, env.model_dump_json().encode(), headers={"Nats-Msg-Id": env.id})

        async def gone():
            return (await query(nc, app=app_name))["lines"] == []
        assert await wait_for(gone)
        assert [l["line"] for l in (await query(nc, app=other))["lines"]] == ["kept"]


async def test_retention_removes_excess_and_expired_lines(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    old_app = app_name + "old"
    settings = settings_for(nats_url, database_url, collect_docker=False,
                            retention=Retention(max_lines_per_app=3, max_age_hours=1), retention_interval_s=0.2)
    async with running_logger(settings):
        for i in range(6):
            await publish(js, app_name, "build", f"line {i}")
        ten_hours_ago = (datetime.now(timezone.utc) - timedelta(hours=10)).isoformat()
        await publish(js, old_app, "build", "ancient", time=ten_hours_ago)
        await publish(js, old_app, "build", "fresh")

        async def trimmed():
            lines = (await query(nc, app=app_name))["lines"]
            old = (await query(nc, app=old_app))["lines"]
            return [l["line"] for l in lines] == ["line 3", "line 4", "line 5"] and \
                [l["line"] for l in old] == ["fresh"]
        assert await wait_for(trimmed), (await query(nc, app=app_name), await query(nc, app=old_app))


async def test_lines_are_filtered_by_dyno(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    async with running_logger(settings_for(nats_url, database_url, collect_docker=False)):
        await publish(js, app_name, "app", "from web.1", process="web", instance="web.1.aaa111")
        await publish(js, app_name, "app", "from web.12", process="web", instance="web.12.bbb222")
        await publish(js, app_name, "app", "from worker.1", process="worker", instance="worker.1.ccc333")
        await publish(js, app_name, "router", "GET / 200")
        all_lines = await lines_of(nc, app_name, 4)
        assert len(all_lines) == 4

        async def texts(**kw):
            return [l["line"] for l in (await query(nc, app=app_name, **kw))["lines"]]
        assert await texts(dyno="web") == ["from web.1", "from web.12"]
        assert await texts(dyno="web.1") == ["from web.1"]
        assert await texts(dyno="worker.1.ccc333") == ["from worker.1"]
        assert await texts(dyno="web", after_id=all_lines[0]["id"]) == ["from web.12"]
        assert await texts(dyno="clock") == []
        assert "error" in await query(nc, app=app_name, dyno="web 1")
