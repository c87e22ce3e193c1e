"""Integrations over HTTP: webhook subscriptions and their deliveries, the live event stream
(Server-Sent Events) and the event catalogue."""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import datetime, timedelta, timezone

from aiohttp import web
from nats.js.api import ConsumerConfig, DeliverPolicy

from berth_common import catalogue as cat, events as ev
from berth_common.secrets import seal
from berth_common.service import JS, POOL

from ..adapters import queries as q
from ..adapters import webhook_queries as wq
from ..adapters.webhook_sender import check_url
from ..domain.errors import ApiError, NotFound
from ..domain.webhooks import external_envelope, new_secret, parse_include, parse_secret
from ..messaging.webhook_dispatch import GUARD
from .middleware import USER
from .views import SETTINGS, _limit, _uuid, app_or_404, json_body, record


def _unknown(body: dict, allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}", id="invalid_webhook", status=422)


async def _webhook_or_404(request: web.Request, app_name: str):
    hook_id = _uuid(request.match_info["webhook"], "webhook")
    row = await request.app[POOL].fetchrow(wq.SELECT_WEBHOOK, app_name, hook_id)
    if row is None:
        raise NotFound(f"webhook {request.match_info['webhook']!r} of {app_name!r} not found", id="webhook_not_found")
    return row


# --- subscriptions -----------------------------------------------------------------------

async def create_webhook(request: web.Request) -> web.Response:
    """POST /apps/{app}/webhooks {url, include: [groups], secret?}; the secret is shown here only."""
    app = await app_or_404(request)
    body = await json_body(request)
    _unknown(body, {"url", "include", "secret"})
    include = parse_include(body.get("include"))
    secret = parse_secret(body["secret"]) if body.get("secret") is not None else new_secret()
    url = await check_url(body.get("url"), request.app[GUARD])
    hook_id = q.new_id()
    pool = request.app[POOL]
    await pool.execute(wq.INSERT_WEBHOOK, hook_id, app["id"], url, include, seal(secret), request[USER]["user_id"])
    row = await pool.fetchrow(wq.SELECT_WEBHOOK, app["name"], hook_id)
    return web.json_response(record(row, secret=secret), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    rows = await request.app[POOL].fetch(wq.SELECT_WEBHOOKS, app["name"])
    return web.json_response([record(r) for r in rows])


async def get_webhook(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    return web.json_response(record(await _webhook_or_404(request, app["name"])))


async def delete_webhook(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    row = await _webhook_or_404(request, app["name"])
    await request.app[POOL].execute(wq.DELETE_WEBHOOK, app["name"], row["id"])
    return web.json_response(record(row, deleted=True))


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret signs from now on; the old one also signs (a second signature in the
    header) for the overlap period, so receivers can switch without losing a delivery."""
    app = await app_or_404(request)
    body = await json_body(request) if request.can_read_body else {}
    _unknown(body, {"secret", "overlap_hours"})
    settings = request.app[SETTINGS]
    hours = body.get("overlap_hours", settings.webhook_secret_overlap_hours)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or not 0 <= hours <= 24 * 30:
        raise ApiError("overlap_hours must be a number from 0 to 720", id="invalid_webhook", status=422)
    secret = parse_secret(body["secret"]) if body.get("secret") is not None else new_secret()
    row = await _webhook_or_404(request, app["name"])
    until = datetime.now(timezone.utc) + timedelta(hours=hours)
    await request.app[POOL].execute(wq.ROTATE_SECRET, app["name"], row["id"], until, seal(secret))
    row = await _webhook_or_404(request, app["name"])
    return web.json_response(record(row, secret=secret))


# --- deliveries --------------------------------------------------------------------------

async def list_deliveries(request: web.Request) -> web.Response:
    """The app's deliveries, newest first, each with its attempts (?webhook=ID, ?status=)."""
    app = await app_or_404(request)
    webhook = _uuid(request.query["webhook"], "webhook") if request.query.get("webhook") else None
    status = request.query.get("status")
    if status is not None and status not in ("pending", "delivered", "failed"):
        raise ApiError("status must be pending, delivered or failed")
    pool = request.app[POOL]
    rows = await pool.fetch(wq.SELECT_DELIVERIES, app["name"], webhook, status, _limit(request, default=100))
    attempts: dict = {}
    for a in await pool.fetch(wq.ATTEMPTS_OF, [r["id"] for r in rows]):
        attempt = record(a)
        attempts.setdefault(attempt.pop("delivery_id"), []).append(attempt)
    return web.json_response([record(r, attempts_log=attempts.get(str(r["id"]), [])) for r in rows])


async def retry_delivery(request: web.Request) -> web.Response:
    """Send a delivery again now, whatever its state (a delivered one is sent once more, with
    the same webhook-id; a failed one gets a fresh retry window)."""
    app = await app_or_404(request)
    delivery_id = _uuid(request.match_info["delivery"], "delivery")
    settings = request.app[SETTINGS]
    pool = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.fetchval(wq.RETRY_DELIVERY, app["name"], delivery_id, settings.webhook_retry_hours * 3600)
        if done is None:
            raise NotFound(f"delivery {request.match_info['delivery']!r} of {app['name']!r} not found",
                           id="delivery_not_found")
        await conn.execute(wq.NOTIFY_DELIVERIES)
    row = await pool.fetchrow(wq.SELECT_DELIVERY, app["name"], delivery_id)
    return web.json_response(record(row), status=202)


# --- the live event stream (SSE) ---------------------------------------------------------
# The position in the stream is the last JetStream sequence sent from each producer's stream,
# e.g. "api:12,builder:40,scheduler:33": it is every event's SSE id, so a client that
# reconnects with Last-Event-ID resumes every stream right after what it saw.

_CURSOR = re.compile(r"^(\w+):(\d+)$")


def parse_cursor(raw: str) -> dict[str, int]:
    cursor = {}
    for part in raw.split(","):
        m = _CURSOR.match(part.strip())
        if not m or m.group(1) not in ev.PRODUCERS:
            raise ApiError(f"Last-Event-ID {raw!r} is not a Berth event stream position "
                           "(like api:12,builder:40,scheduler:33)", id="invalid_last_event_id")
        cursor[m.group(1)] = int(m.group(2))
    missing = set(ev.PRODUCERS) - set(cursor)
    if missing:
        raise ApiError(f"Last-Event-ID {raw!r} lacks the position of {', '.join(sorted(missing))}",
                       id="invalid_last_event_id")
    return cursor


def format_cursor(cursor: dict[str, int]) -> str:
    return ",".join(f"{p}:{cursor[p]}" for p in ev.PRODUCERS)


KEEPALIVE_S = 15


class Visibility:
    """Whose events a stream shows: an admin's, every app's; anyone else's, the apps they
    may use. Known apps are remembered (so an app's deletion still shows to those who
    could see it) and the list is read again every REFRESH_S (a collaborator removed
    stops seeing the app's events)."""

    REFRESH_S = 30.0

    def __init__(self, pool, user):
        self.pool, self.user = pool, user
        self.names: set[str] = set()
        self.loaded_at = float("-inf")

    async def allows(self, app: str | None) -> bool:
        if self.user["is_admin"]:
            return True
        if app is None:
            return False
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self.loaded_at > self.REFRESH_S:
            now = {r["name"] for r in await self.pool.fetch(q.APP_NAMES_OF_USER, self.user["user_id"])}
            existing = {r["name"] for r in await self.pool.fetch(q.SELECT_APP_NAMES)}
            self.names = now | (self.names - existing)
            self.loaded_at = loop_time
        if app not in self.names and await self.pool.fetchval(q.MAY_USE_APP, app, self.user["user_id"]):
            self.names.add(app)
        return app in self.names


async def event_stream(request: web.Request) -> web.StreamResponse:
    """GET /events[?app=A]: every event from now, or after Last-Event-ID, as SSE; only those
    of the apps the token's user may use (all of them for an admin)."""
    only_app = request.query.get("app") or None  # an app deleted since still has its events
    visible = Visibility(request.app[POOL], request[USER])
    if only_app and not await visible.allows(only_app) and await q.app_or_none(request.app[POOL], only_app):
        raise NotFound(f"app {only_app!r} not found", id="app_not_found")
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    js = request.app[JS]
    if raw:
        cursor = parse_cursor(raw)
    else:
        cursor = {p: (await js.stream_info(ev.stream_name(p))).state.last_seq for p in ev.PRODUCERS}

    queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
    subs = []
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    try:
        # One ordered consumer per producer stream, each from its own position; an ordered
        # consumer notices a gap and re-creates itself from the last sequence it delivered.
        for producer in ev.PRODUCERS:
            async def on_msg(msg, producer=producer):
                await queue.put((producer, msg))
            subs.append(await js.subscribe(
                "berth.>", stream=ev.stream_name(producer), ordered_consumer=True, cb=on_msg,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                      opt_start_seq=cursor[producer] + 1),
            ))
        await resp.prepare(request)
        await resp.write(f": berth events from {format_cursor(cursor)}\nretry: 2000\n\n".encode())
        while True:
            try:
                producer, msg = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await resp.write(b": keepalive\n\n")
                continue
            seq = msg.metadata.sequence.stream
            if seq <= cursor[producer]:
                continue  # already sent (a consumer that re-created itself)
            cursor[producer] = seq
            try:
                env = json.loads(msg.data)
            except ValueError:
                continue
            if (only_app and env.get("subject") != only_app) or not await visible.allows(env.get("subject")):
                continue
            body = json.dumps(external_envelope(env), separators=(",", ":"))
            await resp.write(f"id: {format_cursor(cursor)}\nevent: {env.get('type', 'unknown')}\n"
                             f"data: {body}\n\n".encode())
    except ConnectionResetError:  # the client went away: the normal end of a stream
        pass
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
    return resp


# --- the event catalogue ------------------------------------------------------------------

async def event_catalogue(request: web.Request) -> web.Response:
    return web.json_response(cat.catalogue())


async def event_schema(request: web.Request) -> web.Response:
    event_type = request.match_info["type"]
    if event_type not in ev.EVENT_TYPES:
        raise NotFound(f"no event type {event_type!r}; GET /events/catalogue lists them", id="event_type_not_found")
    return web.json_response(cat.json_schema(event_type), content_type="application/schema+json")
