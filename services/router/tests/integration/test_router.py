"""The router end to end against a real HAProxy: events in, HTTP through the public port.
The tests run in order and share one router and one app, as a deploy would."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid

import aiohttp
import pytest

from berth_common import events

from .conftest import BASE_DOMAIN, Upstream, eventually, get, publish, routes_query

APP = "shop"
HOST = f"{APP}.{BASE_DOMAIN}"

pytestmark = pytest.mark.timeout(180)

state: dict = {}


async def responders(router, n: int, host: str = HOST) -> list[str]:
    names = []
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            async with s.get(router.url + "/", headers={"Host": host}) as resp:
                assert resp.status == 200, await resp.text()
                names.append((await resp.json())["name"])
    return names


async def test_unknown_host_gets_404_with_a_message(router):
    await router.dataplane.ready.wait()
    status, body, headers = await get(router.url, "nobody.berth.test")
    assert status == 404
    assert body == "No app is deployed at this host\n"
    assert headers["Content-Type"].startswith("text/plain")


async def test_created_app_without_endpoints_gets_503(router, nc):
    await publish(nc.jetstream(), events.AppCreated(app=APP))

    async def is_503():
        status, body, _ = await get(router.url, HOST)
        return status == 503 and "No instance" in body

    await eventually(is_503)


async def test_two_endpoints_take_traffic_round_robin_with_forwarding_headers(router, nc):
    a, b = await Upstream("shop.web.1").start(), await Upstream("shop.web.2").start()
    state["old"] = [a, b]
    await publish(nc.jetstream(), events.EndpointsChanged(app=APP, endpoints=[a.endpoint(), b.endpoint()]))

    async def both_serve():
        return set(await responders(router, 6)) == {"shop.web.1", "shop.web.2"}

    await eventually(both_serve)
    names = await responders(router, 10)
    assert names.count("shop.web.1") == names.count("shop.web.2") == 5  # round robin

    status, body, _ = await get(router.url, "SHOP.berth.test:8080", "/x?y=1",
                                headers={"X-Request-Id": "spoofed", "X-Forwarded-For": "6.6.6.6"})
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/x?y=1"
    h = {k.lower(): v for k, v in seen["headers"].items()}
    print(h)
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == "SHOP.berth.test:8080"
    assert h["x-request-id"] != "spoofed"
    uuid.UUID(h["x-request-id"])


async def test_routes_query_answers_the_live_servers(router, nc):
    reply = await routes_query(nc, APP)
    a, b = state["old"]
    assert reply["app"] == APP
    assert sorted(reply["servers"], key=lambda s: s["instance"]) == [
        {"instance": "shop.web.1", "address": f"127.0.0.1:{a.port}", "state": "ready"},
        {"instance": "shop.web.2", "address": f"127.0.0.1:{b.port}", "state": "ready"},
    ]
    assert await routes_query(nc, "no-such-app") == {"app": "no-such-app", "servers": []}
    assert "error" in await routes_query(nc, "Not A Name")


async def test_replacing_endpoints_drains_old_servers_without_reload_or_failed_requests(router, nc):
    old = state["old"]
    new = [await Upstream("shop.web.3").start(), await Upstream("shop.web/4").start()]
    info_before = await router.dataplane.api.info()
    reloads_before = router.dataplane.reloads

    failures, answered, stop = [], [], asyncio.Event()

    async def steady_traffic():
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                try:
                    async with s.get(router.url + "/", headers={"Host": HOST}) as resp:
                        if resp.status != 200:
                            failures.append(resp.status)
                        else:
                            answered.append((await resp.json())["name"])
                except aiohttp.ClientError as e:
                    failures.append(repr(e))
                await asyncio.sleep(0.01)

    async def slow_request():
        status, body, _ = await get(router.url, HOST, "/slow")
        return status, json.loads(body)["name"]

    traffic = asyncio.create_task(steady_traffic())
    # in flight on the old instances (round robin: one each) while they are drained
    in_flight = [asyncio.create_task(slow_request()) for _ in range(2)]
    await asyncio.sleep(0.5)
    await publish(nc.jetstream(), events.EndpointsChanged(app=APP, endpoints=[n.endpoint() for n in new]))

    async def old_ones_gone():
        reply = await routes_query(nc, APP)
        return {s["instance"] for s in reply["servers"]} == {"shop.web.3", "shop.web/4"} and all(
            s["state"] == "ready" for s in reply["servers"])

    await eventually(old_ones_gone, timeout=30)
    slow = [await t for t in in_flight]
    assert all(status == 200 for status, _ in slow)
    assert {name for _, name in slow} <= {"shop.web.1", "shop.web.2"}
    await asyncio.sleep(0.5)
    stop.set()
    await traffic

    # only now would the scheduler stop the old instances
    for u in old:
        await u.stop()
    state["new"] = new

    assert failures == []
    assert {"shop.web.1", "shop.web.2"} <= set(answered)
    assert set(answered[-10:]) == {"shop.web.3", "shop.web/4"}
    assert set(await responders(router, 4)) == {"shop.web.3", "shop.web/4"}
    info_after = await router.dataplane.api.info()
    assert info_after["Pid"] == info_before["Pid"]  # the same worker: no reload
    assert router.dataplane.reloads == reloads_before


async def test_access_lines_arrive_in_the_apps_log_stream(router, nc):
    js = nc.jetstream()
    path = f"/logged-{uuid.uuid4().hex[:8]}"
    status, _, _ = await get(router.url, HOST, path)
    assert status == 200

    async def line_published():
        msg = await js.get_last_msg(events.LOGS_STREAM, events.log_subject(APP, "router"))
        line = events.LogLine.model_validate_json(msg.data)
        assert line.app == APP and line.source == "router"
        assert line.line.startswith(f"GET {path} 200 "), line.line
        return line

    line = await eventually(line_published, timeout=10)
    assert "request_id=" in line.line and "ms " in line.line


async def test_restarted_router_serves_at_once_from_its_tables(router):
    await router.stop()
    status = None
    with pytest.raises(aiohttp.ClientError):
        await get(router.url, HOST, timeout=aiohttp.ClientTimeout(total=2))
    await router.start()

    async def first_answer():
        return await get(router.url, HOST)

    # the very first answer HAProxy gives already routes to the app's endpoints
    status, body, _ = await eventually(first_answer, timeout=15, interval=0.02)
    assert status == 200, body
    assert json.loads(body)["name"] in {"shop.web.3", "shop.web/4"}


async def test_haproxy_that_dies_is_restarted(router):
    await router.dataplane.ready.wait()
    os.kill(router.dataplane.process.pid, signal.SIGKILL)

    async def serves_again():
        status, _, _ = await get(router.url, HOST)
        return status == 200

    await eventually(serves_again, timeout=20)


async def test_maintenance_mode_answers_503_with_a_page_and_back_without_reload(router, nc):
    reloads_before = router.dataplane.reloads
    await publish(nc.jetstream(), events.AppUpdated(app=APP, maintenance=True))

    async def in_maintenance():
        status, body, headers = await get(router.url, HOST)
        return (status, body, headers) if status == 503 and "Down for maintenance" in body else None
    status, body, headers = await eventually(in_maintenance)
    assert headers["Content-Type"].startswith("text/html") and headers["Retry-After"] == "120"
    await publish(nc.jetstream(), events.AppUpdated(app=APP, maintenance=False))

    async def serving():
        status, _, _ = await get(router.url, HOST)
        return status == 200
    await eventually(serving)
    assert router.dataplane.reloads == reloads_before  # a map change through the Runtime API


async def test_deleted_app_gets_404(router, nc):
    await publish(nc.jetstream(), events.AppDeleted(app=APP))

    async def is_404():
        status, body, _ = await get(router.url, HOST)
        return status == 404 and body == "No app is deployed at this host\n"

    await eventually(is_404)
    for u in state.get("new", []):
        await u.stop()
