"""Docker Engine calls for builds. The Docker SDK is synchronous: every call runs in a
thread, and the build's output is handed to the event loop line by line as it arrives."""
from __future__ import annotations

import asyncio
import logging
from typing import IO, AsyncIterator

import docker
from docker.errors import DockerException, ImageNotFound

log = logging.getLogger(__name__)

_DONE = object()


class DockerBuildError(Exception):
    """The engine refused or failed the build; the message is its last error line."""


class DockerEngine:
    def __init__(self, client: docker.DockerClient | None = None):
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.from_env()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    async def image_exists(self, tag: str) -> bool:
        def inspect() -> bool:
            try:
                self.client.images.get(tag)
                return True
            except ImageNotFound:
                return False
        return await asyncio.to_thread(inspect)

    async def build(self, context: IO[bytes], tag: str, labels: dict[str, str],
                    build_args: dict[str, str]) -> AsyncIterator[str]:
        """Build `context` (an uncompressed tar with the Dockerfile at its root), yielding the
        output lines as they come; raise DockerBuildError if the build fails."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def put(item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            error: str | None = None
            partial = ""
            try:
                # The legacy builder (docker-py does not speak BuildKit): pull=False because
                # base images are local on air-gapped hosts; rm/forcerm drop intermediates.
                stream = self.client.api.build(
                    fileobj=context, custom_context=True, tag=tag, labels=labels, buildargs=build_args,
                    rm=True, forcerm=True, decode=True, pull=False,
                )
                for chunk in stream:
                    if "stream" in chunk:
                        # A chunk may hold several lines, or part of one.
                        partial += chunk["stream"]
                        *lines, partial = partial.split("\n")
                        for line in lines:
                            if line.strip():
                                put(line.rstrip("\r"))
                    elif "error" in chunk:
                        error = str(chunk["error"]).strip()
                        put(error)
                    elif "status" in chunk:
                        put(str(chunk["status"]))
                if partial.strip():
                    put(partial.rstrip("\r"))
            except DockerException as e:
                error = f"the Docker engine refused the build: {e}"
                put(error)
            except Exception as e:  # noqa: BLE001 - handed to the loop, raised there
                put(_Failure(e))
            finally:
                put(DockerBuildError(error.splitlines()[-1]) if error else None)
                put(_DONE)

        thread = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, DockerBuildError):
                    raise item
                if item is None:
                    continue
                yield item
        finally:
            # The thread ends when the engine ends the stream; wait for it so the context
            # file is not closed under it.
            await asyncio.shield(thread)

    async def remove_image(self, tag: str) -> None:
        def rm() -> None:
            try:
                self.client.images.remove(tag, force=True)
            except ImageNotFound:
                pass
        await asyncio.to_thread(rm)


class _Failure:
    def __init__(self, error: Exception):
        self.error = error
