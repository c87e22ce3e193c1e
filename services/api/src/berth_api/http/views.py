"""Thin HTTP handlers: parse and check input, call the domain/adapters, shape JSON."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
from aiohttp import web
from nats.js.api import ConsumerConfig, DeliverPolicy

from berth_common import bus, events as ev
from berth_common.names import InvalidAppName, InvalidDyno, dyno_matches, validate_app_name, validate_dyno
from berth_common.secrets import sign_for, verify_for
from berth_common.service import JS, NC, POOL

from ..adapters import queries as q
from ..domain.errors import ApiError, Conflict, Forbidden, NotFound, PayloadTooLarge
from ..domain.releases import BUILD_FINAL
from .middleware import USER

SETTINGS = web.AppKey("api_settings", object)


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def record(r: asyncpg.Record | None, **extra) -> dict:
    return {**{k: _jsonable(v) for k, v in dict(r).items()}, **extra}


async def json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        raise ApiError("request body is required (a JSON object)")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(f"request body is not valid JSON: {e}")
    if not isinstance(body, dict):
        raise ApiError("request body must be a JSON object")
    return body


async def app_or_404(request: web.Request) -> asyncpg.Record:
    name = request.match_info["app"]
    app = await q.app_or_none(request.app[POOL], name)
    if app is None:
        raise NotFound(f"app {name!r} not found", id="app_not_found")
    return app


async def locked_app_or_404(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    """The app's row, locked for the caller's transaction (changes to one app are serialised)."""
    app = await conn.fetchrow(q.LOCK_APP, name)
    if app is None:
        raise NotFound(f"app {name!r} not found", id="app_not_found")
    return app


async def require_owner_or_admin(db, request: web.Request, app: asyncpg.Record, what: str) -> None:
    """For what a collaborator may not do (delete the app, manage who may use it)."""
    user = request[USER]
    if not user["is_admin"] and await db.fetchval(q.SELECT_APP_OWNER, app["id"]) != user["user_id"]:
        raise Forbidden(f"only the owner of {app['name']} or an admin may {what}")


async def ask(request: web.Request, service: str, subject: str, body: dict, timeout: float = 5) -> dict:
    """A core NATS request to another service; its JSON answer, or a clear error."""
    try:
        reply = await request.app[NC].request(subject, json.dumps(body).encode(), timeout=timeout)
    except Exception as e:  # noqa: BLE001 - no responder or timeout
        raise ApiError(f"the {service} service did not answer: {e.__class__.__name__}",
                       id=f"{service}_unavailable", status=503)
    answer = json.loads(reply.data)
    if "error" in answer:  # the service may say which error it is (an id) and how bad (a status)
        raise ApiError(answer["error"], id=answer.get("id"), status=answer.get("status"))
    return answer


def app_json(request: web.Request, app: asyncpg.Record) -> dict:
    return record(app, web_url=request.app[SETTINGS].web_url(app["name"]))


# --- apps ------------------------------------------------------------------------------

async def create_app(request: web.Request) -> web.Response:
    body = await json_body(request)
    unknown = set(body) - {"name"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}")
    try:
        name = validate_app_name(body.get("name"))
    except InvalidAppName as e:
        raise ApiError(str(e), id="invalid_app_name", status=422)
    pool = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        app_id = await conn.fetchval(q.INSERT_APP, q.new_id(), name, request[USER]["user_id"])
        if app_id is None:
            raise Conflict(f"app {name!r} already exists", id="app_exists")
        await bus.add_to_outbox(conn, ev.AppCreated(app=name))
        app = await q.app_or_none(conn, name)
    return web.json_response(app_json(request, app), status=201)


async def list_apps(request: web.Request) -> web.Response:
    """Every app for an admin; the apps they own or collaborate on for anyone else."""
    user = request[USER]
    rows = await (request.app[POOL].fetch(q.SELECT_APPS) if user["is_admin"]
                  else request.app[POOL].fetch(q.SELECT_APPS_OF_USER, user["user_id"]))
    return web.json_response([app_json(request, r) for r in rows])


async def get_app(request: web.Request) -> web.Response:
    return web.json_response(app_json(request, await app_or_404(request)))


async def update_app(request: web.Request) -> web.Response:
    """PATCH {"maintenance": true|false}: maintenance mode, as Heroku's app update."""
    body = await json_body(request)
    unknown = set(body) - {"maintenance"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}; only maintenance may be changed")
    maintenance = body.get("maintenance")
    if not isinstance(maintenance, bool):
        raise ApiError("maintenance must be true or false", id="invalid_maintenance", status=422)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        if await conn.fetchval(q.SET_MAINTENANCE, app["id"], maintenance):
            await bus.add_to_outbox(conn, ev.AppUpdated(app=app["name"], maintenance=maintenance))
        row = await q.app_or_none(conn, app["name"])
    return web.json_response(app_json(request, row))


async def delete_app(request: web.Request) -> web.Response:
    name = request.match_info["app"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, name)
        await require_owner_or_admin(conn, request, app, "delete it")
        await conn.execute(q.DELETE_APP, app["id"])
        await bus.add_to_outbox(conn, ev.AppDeleted(app=name))
    return web.json_response({"name": name, "deleted": True})


# --- builds ----------------------------------------------------------------------------

ARCHIVE_TYPES = {"application/gzip", "application/x-gzip", "application/octet-stream", "application/x-tar+gzip"}


async def create_build(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    settings = request.app[SETTINGS]
    if request.content_type not in ARCHIVE_TYPES:
        raise ApiError(f"the body must be a tar.gz source archive (Content-Type application/gzip), "
                       f"not {request.content_type!r}", id="invalid_archive", status=415)
    if request.content_length and request.content_length > settings.max_upload_bytes:
        raise PayloadTooLarge(f"source archive is larger than {settings.max_upload_bytes // 2**20} MB")
    data = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        data.extend(chunk)
        if len(data) > settings.max_upload_bytes:
            raise PayloadTooLarge(f"source archive is larger than {settings.max_upload_bytes // 2**20} MB")
    if not data:
        raise ApiError("source archive is empty", id="invalid_archive")
    if data[:2] != b"\x1f\x8b":
        raise ApiError("source archive is not gzip-compressed: upload a .tar.gz", id="invalid_archive")
    source_version = request.query.get("version") or None
    if source_version is not None and len(source_version) > 100:
        raise ApiError("version is longer than 100 characters")

    build_id = q.new_id()
    object_name = f"{app['name']}/{build_id}.tar.gz"
    store = await request.app[JS].object_store(ev.SOURCES_BUCKET)
    # The archive is stored first: a build.requested event must never point at nothing.
    # If the transaction below fails, the object is removed again.
    await store.put(object_name, bytes(data))
    try:
        async with request.app[POOL].acquire() as conn, conn.transaction():
            await locked_app_or_404(conn, app["name"])
            await conn.execute(q.INSERT_BUILD, build_id, app["id"], object_name, source_version,
                               request[USER]["user_id"])
            await bus.add_to_outbox(conn, ev.BuildRequested(
                app=app["name"], build_id=str(build_id), source_object=object_name,
                source_version=source_version))
            build = await conn.fetchrow(q.SELECT_BUILD, app["name"], build_id)
    except BaseException:
        await store.delete(object_name)
        raise
    return web.json_response(record(build), status=201)


def _limit(request: web.Request, default: int = 50, maximum: int = 1000) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value!r} not found")


async def list_builds(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    rows = await request.app[POOL].fetch(q.SELECT_BUILDS, app["name"], _limit(request))
    return web.json_response([record(r) for r in rows])


async def get_build(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    build = await request.app[POOL].fetchrow(q.SELECT_BUILD, app["name"], _uuid(request.match_info["build"], "build"))
    if build is None:
        raise NotFound(f"build {request.match_info['build']!r} not found")
    return web.json_response(record(build))


async def build_output(request: web.Request) -> web.StreamResponse:
    """Stream a build's output lines (plain text) until the build has finished."""
    app = await app_or_404(request)
    build_id = _uuid(request.match_info["build"], "build")
    pool = request.app[POOL]
    build = await pool.fetchrow(q.SELECT_BUILD, app["name"], build_id)
    if build is None:
        raise NotFound(f"build {request.match_info['build']!r} not found")
    resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    start = (build["created_at"] - timedelta(seconds=5)).isoformat()
    sub = await request.app[JS].subscribe(
        ev.log_subject(app["name"], "build"), ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=start),
    )
    try:
        finished_polls = 0
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except Exception:  # noqa: BLE001 - nats TimeoutError: nothing new
                status = await pool.fetchval("SELECT status FROM builds WHERE id = $1", build_id)
                if status is None or status in BUILD_FINAL:
                    # The builder publishes every line before it reports the outcome, so once
                    # the outcome is known and the stream has gone quiet, the output is complete.
                    finished_polls += 1
                    if finished_polls >= 2:
                        break
                continue
            line = json.loads(msg.data)
            if line.get("instance") == str(build_id):
                await resp.write((line["line"].rstrip("\n") + "\n").encode())
    finally:
        await sub.unsubscribe()
    await resp.write_eof()
    return resp


# --- releases --------------------------------------------------------------------------

async def list_releases(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    rows = await request.app[POOL].fetch(q.SELECT_RELEASES, app["name"], _limit(request))
    return web.json_response([record(r) for r in rows])


async def get_release(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    raw = request.match_info["version"].lstrip("v")
    if not raw.isdigit():
        raise ApiError(f"release version must look like 3 or v3, not {request.match_info['version']!r}")
    row = await request.app[POOL].fetchrow(q.SELECT_RELEASE, app["name"], int(raw))
    if row is None:
        raise NotFound(f"release v{raw} of {app['name']!r} not found")
    return web.json_response(record(row))


# --- logs ------------------------------------------------------------------------------

def format_line(line: dict) -> str:
    who = line.get("instance") if line.get("source") == "app" else line.get("process")
    label = f"{line['source']}[{who}]" if who else line["source"]
    return f"{line['time']} {label}: {line['line']}\n"


async def query_logger(request: web.Request, body: dict) -> list[dict]:
    return (await ask(request, "logger", "berth.logger.query", body))["lines"]


def log_params(app_name: str, given) -> dict:
    """A log request's parameters (query string or log-session body), validated: lines,
    source, dyno, tail, format."""
    raw = str(given.get("lines", "100"))
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise ApiError("lines must be a whole number from 1 to 10000")
    source = given.get("source")
    if source is not None and source not in ev.LOG_SOURCES:
        raise ApiError(f"source must be one of {', '.join(ev.LOG_SOURCES)}")
    dyno = given.get("dyno")
    if dyno is not None:
        try:
            validate_dyno(dyno)
        except InvalidDyno as e:
            raise ApiError(str(e))
    tail = given.get("tail")
    return {"app": app_name, "lines": int(raw), "source": source, "dyno": dyno,
            "tail": tail is True or str(tail).lower() in ("1", "true", "yes"),
            "format": "json" if given.get("format") == "json" else "text"}


async def get_logs(request: web.Request) -> web.StreamResponse:
    app = await app_or_404(request)
    return await stream_logs(request, log_params(app["name"], request.query))


async def stream_logs(request: web.Request, params: dict) -> web.StreamResponse:
    """Recent lines (from the logger), then with `tail` new ones as they are stored."""
    app_name, source, dyno, tail = params["app"], params["source"], params["dyno"], params["tail"]
    as_json = params["format"] == "json"
    query = {"app": app_name, "lines": params["lines"], **({"source": source} if source else {}),
             **({"dyno": dyno} if dyno else {})}

    def render(line: dict) -> bytes:
        return (json.dumps(line) + "\n").encode() if as_json else format_line(line).encode()

    resp = web.StreamResponse(headers={
        "Content-Type": "application/x-ndjson" if as_json else "text/plain; charset=utf-8",
        "Cache-Control": "no-cache"})
    live: asyncio.Queue = asyncio.Queue(maxsize=10000)
    sub = None
    if tail:
        # Subscribe before reading history, so no line falls between the two; ids dedupe.
        async def on_line(msg):
            try:
                live.put_nowait(json.loads(msg.data))
            except asyncio.QueueFull:
                pass
        sub = await request.app[NC].subscribe(f"berth.logtail.{app_name}", cb=on_line)
    try:
        history = await query_logger(request, query)
        await resp.prepare(request)
        last_id = 0
        for line in history:
            last_id = max(last_id, line.get("id", 0))
            await resp.write(render(line))
        while tail:
            line = await live.get()
            if line.get("id", 0) <= last_id or (source and line.get("source") != source) or (
                    dyno and not dyno_matches(dyno, line.get("process"), line.get("instance"))):
                continue
            last_id = line["id"]
            await resp.write(render(line))
    finally:
        if sub is not None:
            await sub.unsubscribe()
    await resp.write_eof()
    return resp


# --- log drains (the logger owns them: berth_logger/messaging/drains.py) ---------------

async def list_log_drains(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    answer = await ask(request, "logger", "berth.logger.drains", {"op": "list", "app": app["name"]})
    return web.json_response(answer["drains"])


async def add_log_drain(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    body = await json_body(request)
    unknown = set(body) - {"url"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}")
    answer = await ask(request, "logger", "berth.logger.drains",
                       {"op": "add", "app": app["name"], "url": body.get("url")}, timeout=15)
    return web.json_response(answer["drain"], status=201)


async def remove_log_drain(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    answer = await ask(request, "logger", "berth.logger.drains",
                       {"op": "remove", "app": app["name"], "drain": request.match_info["drain"]})
    return web.json_response(answer["drain"])


# Log sessions (Heroku's Platform API): a URL that reads an app's logs without a token,
# for a short while, e.g. to hand to curl or a browser.
LOG_SESSION_TTL_S = 300
LOG_SESSION_PURPOSE = "log-session"


async def create_log_session(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    body = await json_body(request) if request.can_read_body else {}
    unknown = set(body) - {"lines", "tail", "source", "dyno", "format"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}")
    params = log_params(app["name"], body)
    session_id = str(uuid.uuid4())
    token = sign_for(LOG_SESSION_PURPOSE, json.dumps({**params, "id": session_id}))
    now = datetime.now(timezone.utc).isoformat()
    return web.json_response({"id": session_id, "logplex_url": f"{request.url.origin()}/log-sessions/{token}",
                              "created_at": now, "updated_at": now, "expires_in": LOG_SESSION_TTL_S}, status=201)


async def read_log_session(request: web.Request) -> web.StreamResponse:
    """GET on a log session's URL (no token: the URL is the credential, good for
    LOG_SESSION_TTL_S from its creation)."""
    try:
        params = json.loads(verify_for(LOG_SESSION_PURPOSE, request.match_info["session"], LOG_SESSION_TTL_S))
    except ValueError:
        raise NotFound("this log session does not exist or has expired: make a new one", id="log_session_not_found")
    if await q.app_or_none(request.app[POOL], params["app"]) is None:
        raise NotFound(f"app {params['app']!r} not found", id="app_not_found")
    return await stream_logs(request, params)


# --- account ---------------------------------------------------------------------------

async def account(request: web.Request) -> web.Response:
    user = request[USER]
    return web.json_response({"id": str(user["user_id"]), "email": user["email"], "is_admin": user["is_admin"]})
