"""The UDP syslog socket HAProxy sends its access lines to (`log <addr> format raw`):
each line is parsed, attributed to an app by its backend, and published to the app's log
stream as a `router` line. Publishing happens off the datagram callback through a bounded
queue, so a slow NATS never blocks HAProxy (UDP: lines are dropped, never queued forever)."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext

from berth_common import bus, events

from ..domain.access_log import parse_access_line
from ..domain.first_requests import FirstRequests

log = logging.getLogger("berth.router.access_log")


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue, first_requests: FirstRequests):
        self.queue = queue
        self.first_requests = first_requests
        self.dropped = 0

    def datagram_received(self, data: bytes, addr) -> None:
        for raw in data.decode(errors="replace").splitlines():
            parsed = parse_access_line(raw)
            if parsed is None or parsed.app is None:
                continue  # not an access line, or a request for an unknown host
            self.first_requests.observe(parsed)
            try:
                self.queue.put_nowait(events.LogLine(app=parsed.app, source="router", process="router",
                                                     line=parsed.render()))
            except asyncio.QueueFull:
                self.dropped += 1


class AccessLogListener:
    def __init__(self, js: JetStreamContext, host: str = "127.0.0.1", port: int = 0, queue_size: int = 10000,
                 first_requests: FirstRequests | None = None):
        self.js = js
        self.first_requests = first_requests or FirstRequests()
        self.host, self.port = host, port
        self.queue: asyncio.Queue = asyncio.Queue(queue_size)
        self.transport: asyncio.DatagramTransport | None = None
        self._publisher: asyncio.Task | None = None

    @property
    def address(self) -> str:
        host, port = self.transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self.queue, self.first_requests), local_addr=(self.host, self.port))
        self._publisher = asyncio.create_task(self._publish())

    async def _publish(self) -> None:
        while True:
            line = await self.queue.get()
            try:
                await bus.publish_log(self.js, line)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a lost access line is not worth a crash
                log.warning("access line for %s not published: %s", line.app, e)

    async def stop(self) -> None:
        if self.transport:
            self.transport.close()
        if self._publisher:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
