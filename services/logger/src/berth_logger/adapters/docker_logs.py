"""Collecting the output of every Berth app container from the Docker engine.

The Docker SDK is synchronous, so every call runs off the event loop: short calls in
`asyncio.to_thread`, and each long-lived stream (engine events, one per followed
container) in its own daemon thread that hands lines to the loop with
`call_soon_threadsafe`. Daemon threads, not the default executor: a stream blocked in
`recv` must never hold up the loop's shutdown."""
from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
from typing import Awaitable, Callable

import docker
from docker.types.daemon import CancellableStream
from docker.utils.socket import STDERR, STDOUT

from berth_common.tasks import cancel_all

from ..domain.lines import ContainerMeta, InvalidLine, LineShaper, NewLine, since_param

log = logging.getLogger(__name__)

APP_LABEL = "berth.app"
# After a restart the logger re-reads this much before the newest stored line: stdout and
# stderr are timestamped separately, so the last stored line is not always the latest one
# written. The idempotency key drops what was stored already.
REREAD_NS = 1_000_000_000
# Readers pause while this many lines wait for the writer (soft back-pressure).
MAX_PENDING = 10_000

Sink = Callable[[list[NewLine]], Awaitable[None]]
LastStored = Callable[[str], Awaitable[int | None]]


class ContainerLogCollector:
    """Follows the logs of containers labelled `berth.app`: those running at start and
    every one started later. `sink` stores batches of lines (in order per container)."""

    def __init__(self, sink: Sink, last_stored: LastStored,
                 connect: Callable[[], docker.DockerClient] = lambda: docker.from_env(max_pool_size=64),
                 relist_s: float = 30.0, batch: int = 500, labels: list[str] | None = None):
        # Label filters (all must match): by default every Berth app container; the service
        # narrows this to its own installation (berth_common.labels.platform_filters).
        self._labels = labels or [APP_LABEL]
        self._connect = connect
        self._client: docker.DockerClient | None = None
        self._sink = sink
        self._last_stored = last_stored
        self._relist_s = relist_s
        self._batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[NewLine] = asyncio.Queue()
        self._following: set[str] = set()
        self._streams: dict[str, CancellableStream] = {}
        self._streams_lock = threading.Lock()  # touched by reader threads and the loop
        self._stopping = threading.Event()
        # Set while the engine's start events are watched: a container started from then on
        # is collected, however quickly it exits.
        self.watching = asyncio.Event()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._connect_engine()
        writer = asyncio.create_task(self._write_lines(), name="container-lines-writer")
        try:
            while True:
                try:
                    await self._watch_and_list()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("watching the Docker engine failed; retrying")
                await asyncio.sleep(2)
        finally:
            self._stop_streams()
            await cancel_all([writer])
            await asyncio.to_thread(self._client.close)

    async def _connect_engine(self) -> None:
        delay = 1.0
        while True:
            try:
                self._client = await asyncio.to_thread(self._connect)
                return
            except Exception as e:  # noqa: BLE001 - the engine may come up after the logger
                log.warning("Docker engine not reachable (%s); container logs not collected yet", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    # --- discovery ------------------------------------------------------------------------

    async def _watch_and_list(self) -> None:
        # Watch events *before* listing, so that a container starting in between is seen
        # by at least one of the two; following the same container twice is a no-op.
        events = await asyncio.to_thread(
            self._client.events, decode=True,
            filters={"type": "container", "label": self._labels, "event": "start"},
        )
        with self._streams_lock:
            self._streams["events"] = events
        ended = asyncio.Event()
        threading.Thread(target=self._read_events, args=(events, ended), daemon=True,
                         name="docker-events").start()
        self.watching.set()
        try:
            while not ended.is_set():
                # The periodic re-list heals a missed event (e.g. while the engine restarted).
                await self._follow_running()
                try:
                    await asyncio.wait_for(ended.wait(), self._relist_s)
                except asyncio.TimeoutError:
                    pass
            log.warning("Docker event stream ended; reconnecting")
        finally:
            self.watching.clear()
            self._close_stream("events")

    async def _follow_running(self) -> None:
        containers = await asyncio.to_thread(
            self._client.api.containers, filters={"label": self._labels, "status": "running"})
        for c in containers:
            await self.follow(c["Id"])

    def _read_events(self, events: CancellableStream, ended: asyncio.Event) -> None:
        try:
            for event in events:
                cid = event.get("id") or event.get("Actor", {}).get("ID")
                if cid and not self._stopping.is_set():
                    self._call(self._follow_soon, cid)
        except Exception:
            if not self._stopping.is_set():
                log.exception("reading Docker events failed")
        finally:
            self._call(ended.set)

    def _follow_soon(self, cid: str) -> None:
        asyncio.ensure_future(self.follow(cid))

    # --- following one container ----------------------------------------------------------

    async def follow(self, cid: str) -> None:
        if cid in self._following or self._stopping.is_set():
            return
        self._following.add(cid)
        try:
            last = await self._last_stored(cid)
        except Exception:
            self._following.discard(cid)
            raise
        since = None if last is None else max(0, last - REREAD_NS)
        threading.Thread(target=self._read_logs, args=(cid, since), daemon=True,
                         name=f"logs-{cid[:12]}").start()

    def _read_logs(self, cid: str, since_ns: int | None) -> None:
        api = self._client.api
        try:
            info = api.inspect_container(cid)
            meta = ContainerMeta.from_labels(cid, info["Config"].get("Labels") or {})
            tty = bool(info["Config"].get("Tty"))
            params = {"follow": 1, "stdout": 1, "stderr": 1, "timestamps": 1, "tail": "all"}
            if since_ns is not None:
                params["since"] = since_param(since_ns)
            res = api._get(api._url("/containers/{0}/logs", cid), params=params, stream=True)
            api._raise_for_status(res)
            # A followed log may stay silent for hours: no read timeout.
            api._disable_socket_timeout(api._get_raw_response_socket(res))
            stream = CancellableStream(_frames(res.raw, tty), res)
            with self._streams_lock:
                self._streams[cid] = stream
            if self._stopping.is_set():
                return
            shaper = LineShaper(meta)
            for stream_id, data in stream:
                name = "stderr" if stream_id == STDERR else "stdout"
                if stream_id not in (STDOUT, STDERR) or not data:
                    continue
                self._deliver(shaper.feed(name, data))
            self._deliver(shaper.flush())
        except docker.errors.NotFound:
            log.info("container %s is gone before its logs were read", cid[:12])
        except InvalidLine as e:
            log.warning("not collecting logs: %s", e)
        except Exception:
            if not self._stopping.is_set():
                log.exception("following logs of container %s failed", cid[:12])
        finally:
            self._close_stream(cid)
            self._call(self._following.discard, cid)

    def _deliver(self, lines: list[NewLine]) -> None:
        while self._queue.qsize() > MAX_PENDING and not self._stopping.is_set():
            time.sleep(0.05)
        for line in lines:
            self._call(self._queue.put_nowait, line)

    def _call(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the logger is stopping
            self._stopping.set()

    async def _write_lines(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            delay = 0.5
            while True:
                try:
                    await self._sink(batch)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("storing %d container lines failed; retrying", len(batch))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10)

    # --- shutdown -------------------------------------------------------------------------

    def _close_stream(self, key: str) -> None:
        with self._streams_lock:
            stream = self._streams.pop(key, None)
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - already closed or broken
                pass

    def _stop_streams(self) -> None:
        # Shutting the sockets down wakes the reader threads blocked in recv.
        self._stopping.set()
        with self._streams_lock:
            keys = list(self._streams)
        for key in keys:
            self._close_stream(key)


def _frames(raw, tty: bool):
    """(stream id, bytes) from a logs response. Without a TTY the engine multiplexes stdout
    and stderr in frames (8-byte header: stream id, length); with one, it is all stdout.
    Read through the response (not its socket): the body is chunked."""
    if tty:
        while data := raw.read1(64 * 1024):
            yield STDOUT, data
        return
    while True:
        header = raw.read(8)
        if len(header) < 8:
            return
        stream_id, length = struct.unpack(">BxxxL", header)
        if not length:
            continue
        data = raw.read(length)
        if not data:
            return
        yield stream_id, data
