"""Source archives from the JetStream Object Store bucket the api uploads them into."""
from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ObjectNotFoundError

from berth_common import events

from ..domain.builds import BuildError


async def fetch_source(js: JetStreamContext, name: str, max_bytes: int) -> bytes:
    store = await js.object_store(events.SOURCES_BUCKET)
    try:
        info = await store.get_info(name)
    except (ObjectNotFoundError, NotFoundError) as e:
        raise BuildError(f"source archive {name!r} not found in the {events.SOURCES_BUCKET} object store") from e
    if info.size and info.size > max_bytes:
        raise BuildError(f"source archive {name!r} is {info.size} bytes, over the size cap of {max_bytes} bytes")
    result = await store.get(name)
    return result.data or b""
