"""Attached one-off processes (`berth run` with a terminal or piped input): a container of
the deployed release whose stdin, stdout and stderr travel over core NATS.

    berth.scheduler.run  {"app", "command", "run_id", "attach": true, "tty": bool, "size": [rows, cols]}
    berth.run.<run_id>      (scheduler → api) {"data": base64, "stream": "stdout"|"stderr"} …, then {"exit_code": N}
    berth.run.<run_id>.in   (api → scheduler) {"data": base64} | {"resize": [rows, cols]} | {"eof": true}
                            | {"kill": true} | {"alive": true}

Input is one subject, so bytes, resizes and end-of-input keep their order. The api says
{"alive": true} every few seconds while its client is connected; a session that hears
nothing for ATTACH_IDLE_S (the api or its client went away) is killed, as Heroku ends a
one-off dyno whose terminal disconnects."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time

from berth_common import bus
from berth_common.tasks import cancel_all

from ..adapters.docker_runtime import Attached

log = logging.getLogger("berth.scheduler.oneoff")

ATTACH_IDLE_S = 30.0
MAX_ROWS_COLS = 10_000


def parse_size(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_ROWS_COLS for v in value)):
        raise ValueError("size must be [rows, columns], two positive integers")
    return value[0], value[1]


class Session:
    def __init__(self, reconciler, container_id: str, io: Attached, run_id: str, size: tuple[int, int] | None):
        self.r, self.container_id, self.io = reconciler, container_id, io
        self.out_subject = f"berth.run.{run_id}"
        self.in_subject = f"berth.run.{run_id}.in"
        self.size = size
        self.last_heard = time.monotonic()
        self.writes: asyncio.Queue = asyncio.Queue()
        self.sub = None

    async def listen(self) -> None:
        """Give the terminal its size and subscribe to the input before the api is told the
        session exists (a flush: the server has the subscription), so no keystroke is
        published to nobody and the first command sees the right size."""
        if self.size and self.io.tty:
            await self.r.runtime.resize(self.container_id, *self.size)
        self.sub = await bus.serve(self.r.nc, self.in_subject, self._on_input)

    async def _on_input(self, msg) -> None:
        self.last_heard = time.monotonic()
        try:
            item = json.loads(msg.data)
        except ValueError:
            return
        if "data" in item:
            self.writes.put_nowait(base64.b64decode(item["data"]))
        elif item.get("eof"):
            self.writes.put_nowait(None)
        elif "resize" in item:
            try:
                size = parse_size(item["resize"])
            except ValueError:
                return
            if size and self.io.tty:
                await self.r.runtime.resize(self.container_id, *size)
        elif item.get("kill"):
            log.info("one-off %s: its client left; stopping it", self.container_id[:12])
            await self.r.runtime.stop(self.container_id, 0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        def read() -> None:
            try:
                for stream, data in self.io.frames():
                    loop.call_soon_threadsafe(chunks.put_nowait, (stream, data))
            except OSError:
                pass
            finally:
                loop.call_soon_threadsafe(chunks.put_nowait, None)

        reader = loop.run_in_executor(None, read)
        helpers = [asyncio.create_task(self._write_input()), asyncio.create_task(self._watch_idle())]
        try:
            while (chunk := await chunks.get()) is not None:
                stream, data = chunk
                await self.r.nc.publish(self.out_subject, json.dumps(
                    {"data": base64.b64encode(data).decode(), "stream": stream}).encode())
            try:
                code = await self.r.runtime.wait(self.container_id, 10)
            except Exception:  # noqa: BLE001 - gone or stuck: no code to give
                code = None
            await self.r.nc.publish(self.out_subject, json.dumps({"exit_code": code}).encode())
        finally:
            await cancel_all(helpers)
            if self.sub:
                await self.sub.unsubscribe()
            self.io.close()
            await reader
            await self.r.runtime.stop(self.container_id, 0)

    async def _write_input(self) -> None:
        while True:
            data = await self.writes.get()
            try:
                if data is None:
                    await asyncio.to_thread(self.io.close_stdin)
                else:
                    await asyncio.to_thread(self.io.write, data)
            except OSError:  # the process closed its stdin or exited
                pass

    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(1)
            if time.monotonic() - self.last_heard > ATTACH_IDLE_S:
                log.warning("one-off %s: nothing heard from its client for %.0f s; stopping it",
                            self.container_id[:12], ATTACH_IDLE_S)
                await self.r.runtime.stop(self.container_id, 0)
                return
