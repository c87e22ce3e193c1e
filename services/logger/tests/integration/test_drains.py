"""Log drains against real receivers: an HTTP endpoint (Heroku's logplex format) and a
syslog TCP listener, fed by lines that go through the logs stream into the store."""
from __future__ import annotations

import asyncio
import json
import re

from aiohttp import web

from berth_cli.platform import free_port
from berth_common import events as ev

from .conftest import running_logger, settings_for, wait_for


async def publish(js, app, source, text, **kw):
    line = ev.LogLine(app=app, source=source, line=text, **kw)
    await js.publish(ev.log_subject(app, source), line.model_dump_json().encode())


async def drains(nc, **body) -> dict:
    msg = await nc.request("berth.logger.drains", json.dumps(body).encode(), timeout=10)
    return json.loads(msg.data)


def unframe(data: bytes) -> list[str]:
    """Octet-counted frames: "<len> <message>" where len counts the message and its newline."""
    out = []
    while data:
        length, _, rest = data.partition(b" ")
        n = int(length)
        out.append(rest[:n].decode())
        assert rest[n - 1:n] == b"\n"
        data = rest[n:]
    return [m.rstrip("\n") for m in out]


class HttpReceiver:
    def __init__(self):
        self.batches: list[tuple[dict, list[str]]] = []
        self.fail_next = 0
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        self.batches.append((dict(request.headers), unframe(await request.read())))
        return web.Response(status=204)

    @property
    def messages(self) -> list[str]:
        return [m for _, batch in self.batches for m in batch]

    async def __aenter__(self):
        app = web.Application()
        app.router.add_post("/logs", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


SYSLOG = re.compile(r"<(\d+)>1 (\S+) (d\.[0-9a-f-]+) (\S+) (\S+) - (.*)")


async def test_an_http_drain_gets_the_apps_lines_in_logplex_frames(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    settings = settings_for(nats_url, database_url, collect_docker=False, drain_allow_hosts="127.0.0.1/32")
    async with HttpReceiver() as receiver, running_logger(settings):
        await publish(js, app_name, "app", "before the drain", process="web", instance="web.1.aaa111")
        await wait_for(lambda: _stored(nc, app_name, 1))
        added = await drains(nc, op="add", app=app_name, url=f"http://127.0.0.1:{receiver.port}/logs")
        drain = added["drain"]
        assert drain["token"].startswith("d.") and drain["last_error"] is None
        await publish(js, app_name, "app", "hello from web.1", process="web", instance="web.1.aaa111")
        await publish(js, app_name, "app", "from a worker", process="worker", instance="worker.2.bbb222")
        await publish(js, app_name, "router", "GET / 200 12ms")
        await publish(js, app_name, "build", "Step 1/5 : FROM python")  # not drained
        await publish(js, app_name, "berth", "Release v2 deployed")

        async def four():
            return receiver.messages if len(receiver.messages) >= 4 else None
        messages = await wait_for(four)
        assert messages and len(messages) == 4, receiver.messages
        parsed = [SYSLOG.fullmatch(m).groups() for m in messages]
        assert [(p[0], p[2], p[3], p[4], p[5]) for p in parsed] == [
            ("190", drain["token"], "app", "web.1", "hello from web.1"),
            ("190", drain["token"], "app", "worker.2", "from a worker"),
            ("190", drain["token"], "router", "router", "GET / 200 12ms"),
            ("190", drain["token"], "berth", "berth", "Release v2 deployed"),
        ]
        headers = receiver.batches[0][0]
        assert headers["Content-Type"] == "application/logplex-1"
        assert headers["Logplex-Drain-Token"] == drain["token"]
        assert int(headers["Logplex-Msg-Count"]) == len(receiver.batches[0][1])
        listed = (await drains(nc, op="list", app=app_name))["drains"]
        assert [d["token"] for d in listed] == [drain["token"]] and listed[0]["last_sent_at"]

        # A failing receiver: the error is kept, the batch comes again, nothing is lost.
        receiver.fail_next = 1
        await publish(js, app_name, "app", "after a failure", process="web", instance="web.1.aaa111")

        async def recovered():
            return any(m.endswith("after a failure") for m in receiver.messages)
        assert await wait_for(recovered, timeout=30)
        assert (await drains(nc, op="list", app=app_name))["drains"][0]["last_error"] is None

        removed = await drains(nc, op="remove", app=app_name, drain=drain["token"])
        assert removed["drain"]["id"] == drain["id"]
        assert (await drains(nc, op="list", app=app_name))["drains"] == []


async def _stored(nc, app, n):
    msg = await nc.request("berth.logger.query", json.dumps({"app": app}).encode(), timeout=10)
    return len(json.loads(msg.data)["lines"]) >= n


async def test_a_syslog_drain_gets_octet_counted_rfc5424_messages(nats_url, database_url, nc, app_name):
    js = nc.jetstream()
    received = bytearray()

    async def on_client(reader, writer):
        while data := await reader.read(65536):
            received.extend(data)
    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_for(nats_url, database_url, collect_docker=False, drain_allow_hosts="127.0.0.1/32")
    try:
        async with running_logger(settings):
            drain = (await drains(nc, op="add", app=app_name, url=f"syslog://127.0.0.1:{port}"))["drain"]
            for i in range(3):
                await publish(js, app_name, "app", f"line {i}", process="web", instance="web.1.ccc333")

            async def three():
                try:
                    messages = unframe(bytes(received))
                except (ValueError, AssertionError):
                    return None  # a frame still on its way
                return messages if len(messages) >= 3 else None
            messages = await wait_for(three)
            assert [SYSLOG.fullmatch(m).groups()[2:] for m in messages] == [
                (drain["token"], "app", "web.1", f"line {i}") for i in range(3)]
    finally:
        server.close()
        await server.wait_closed()


async def test_bad_and_internal_drain_urls_are_refused(nats_url, database_url, nc, app_name):
    settings = settings_for(nats_url, database_url, collect_docker=False)  # no allow-list
    async with running_logger(settings):
        refused = await drains(nc, op="add", app=app_name, url="http://127.0.0.1:9/logs")
        assert refused["id"] == "drain_url_refused" and "loopback" in refused["error"]
        assert "BERTH_LOG_DRAIN_ALLOW_HOSTS" in refused["error"]
        meta = await drains(nc, op="add", app=app_name, url="http://169.254.169.254/latest")
        assert "link-local" in meta["error"]
        bad = await drains(nc, op="add", app=app_name, url="ftp://logs.example.com/")
        assert bad["id"] == "invalid_drain" and "https://, http://, syslog+tls:// or syslog://" in bad["error"]
        assert "only host and port" in (await drains(nc, op="add", app=app_name, url="syslog://logs.example.com:514/x"))["error"]
        assert (await drains(nc, op="remove", app=app_name, drain="d.nope"))["id"] == "drain_not_found"
        assert "error" in await drains(nc, op="add", app="Bad App", url="https://logs.example.com/")
        assert (await drains(nc, op="list", app=app_name))["drains"] == []
