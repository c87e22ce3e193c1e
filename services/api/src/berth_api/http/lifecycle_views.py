"""Config vars, rollbacks, formation and processes: every change is a release or an event."""
from __future__ import annotations

import asyncio
import base64
import json
import uuid

from aiohttp import WSMsgType, web

from berth_common import bus, events as ev
from berth_common.secrets import seal, seal_config, unseal_config
from berth_common.service import NC, POOL
from berth_common.tasks import cancel_all

from ..adapters import queries as q
from ..domain.config_vars import describe_change, validate_changes
from ..domain.errors import ApiError, Conflict, NotFound
from ..domain.formation import NOT_SCALABLE, parse_updates
from ..messaging.handlers import announce_formation, create_release, current_config, formation_of
from .middleware import USER
from .views import app_or_404, ask, json_body, locked_app_or_404, record


# --- config vars -----------------------------------------------------------------------

async def get_config_vars(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    async with request.app[POOL].acquire() as conn:
        return web.json_response(await current_config(conn, app["id"]))


async def patch_config_vars(request: web.Request) -> web.Response:
    """Set ({K: "v"}) and unset ({K: null}) config vars. When the app has a release, the
    change is a new release with the same image and the new config, rolled out like a deploy."""
    changes = validate_changes(await json_body(request))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        before = await current_config(conn, app["id"])
        description = describe_change(before, changes)
        if description is None:
            return web.json_response(before)  # nothing changes: no new release
        for key, value in changes.items():
            if value is None:
                await conn.execute(q.DELETE_CONFIG_VAR, app["id"], key)
            else:
                await conn.execute(q.UPSERT_CONFIG_VAR, app["id"], key, seal(value))
        after = await current_config(conn, app["id"])
        current = await conn.fetchrow(q.CURRENT_RELEASE, app["id"])
        if current is not None:
            await create_release(conn, app, image=current["image"], process_types=current["process_types"],
                                 config_sealed=seal_config(after), healthchecks=current["healthchecks"],
                                 build_id=current["build_id"], description=description,
                                 created_by=request[USER]["user_id"])
    return web.json_response(after)


# --- rollback --------------------------------------------------------------------------

def _version(value) -> int:
    raw = str(value).lstrip("v") if value is not None else ""
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(f'release must be a version like 3 or "v3", not {value!r}', id="invalid_release", status=422)
    return int(raw)


async def create_rollback(request: web.Request) -> web.Response:
    """Heroku's POST /apps/{app}/releases {"release": "v3"}: a new release copying v3's image
    and config (the config vars become v3's again)."""
    body = await json_body(request)
    unknown = set(body) - {"release"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}")
    target = _version(body.get("release"))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        old = await conn.fetchrow(q.RELEASE_BY_VERSION, app["id"], target)
        if old is None:
            raise NotFound(f"release v{target} of {app['name']!r} not found", id="release_not_found")
        config = unseal_config(old["config_sealed"])
        await conn.execute(q.DELETE_ALL_CONFIG_VARS, app["id"])
        for key, value in config.items():
            await conn.execute(q.UPSERT_CONFIG_VAR, app["id"], key, seal(value))
        version = await create_release(
            conn, app, image=old["image"], process_types=old["process_types"], config_sealed=old["config_sealed"],
            healthchecks=old["healthchecks"], build_id=old["build_id"], description=f"Rollback to v{target}",
            created_by=request[USER]["user_id"])
        row = await conn.fetchrow(q.SELECT_RELEASE, app["name"], version)
    return web.json_response(record(row), status=201)


# --- formation -------------------------------------------------------------------------

async def get_formation(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    async with request.app[POOL].acquire() as conn:
        current = await conn.fetchrow(q.CURRENT_RELEASE, app["id"])
        return web.json_response(await formation_of(conn, app["id"], current["process_types"] if current else {}))


async def patch_formation(request: web.Request) -> web.Response:
    body = await json_body(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        current = await conn.fetchrow(q.CURRENT_RELEASE, app["id"])
        if current is None:
            raise Conflict(f"{app['name']} has no release yet: deploy it first", id="no_release")
        updates = parse_updates(body, set(current["process_types"]))
        existing = {f["type"]: f for f in await formation_of(conn, app["id"], current["process_types"])}
        for u in updates:
            f = {**existing[u["type"]], **u}
            await conn.execute(q.UPSERT_FORMATION, app["id"], f["type"], f["quantity"], f["memory"], f["cpus"])
        formation = await announce_formation(conn, app, current["process_types"])
    return web.json_response(formation)


# --- processes -------------------------------------------------------------------------

async def list_dynos(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    answer = await ask(request, "scheduler", "berth.scheduler.ps", {"app": app["name"]})
    return web.json_response(answer["instances"])


async def restart_dynos(request: web.Request) -> web.Response:
    body = await json_body(request) if request.can_read_body else {}
    process = body.get("type")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        current = await conn.fetchrow(q.CURRENT_RELEASE, app["id"])
        if current is None:
            raise Conflict(f"{app['name']} has no release yet: deploy it first", id="no_release")
        if process is not None and (process not in current["process_types"] or process in NOT_SCALABLE):
            raise ApiError(f"no process type {process!r} in the current release", id="invalid_formation", status=422)
        await bus.add_to_outbox(conn, ev.RestartRequested(app=app["name"], process=process))
    return web.json_response({"app": app["name"], "restarting": process or "all"}, status=202)


async def stop_dyno(request: web.Request) -> web.Response:
    """Stop a one-off process (Heroku's dyno stop action): by name (run.2.x), slot (run.2)
    or type (run)."""
    app = await app_or_404(request)
    answer = await ask(request, "scheduler", "berth.scheduler.stop",
                       {"app": app["name"], "dyno": request.match_info["dyno"]}, timeout=60)
    return web.json_response({"app": app["name"], "stopped": answer["stopped"]}, status=202)


async def run_dyno(request: web.Request) -> web.StreamResponse:
    """A one-off process of the current release: its output streams back as NDJSON lines
    ({"line": ...}), then {"exit_code": N}. With "attach": false (Heroku's run:detached)
    the answer comes at once ({"name": "run.N.x", ...}) and the output goes to the logs."""
    app = await app_or_404(request)
    body = await json_body(request)
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ApiError('send {"command": "..."}', id="invalid_command", status=422)
    attach = body.get("attach", True)
    if not isinstance(attach, bool):
        raise ApiError("attach must be true or false", id="invalid_command", status=422)
    run_id = uuid.uuid4().hex[:12]
    if not attach:
        answer = await ask(request, "scheduler", "berth.scheduler.run",
                           {"app": app["name"], "command": command, "run_id": run_id, "detach": True}, timeout=30)
        return web.json_response({"app": app["name"], "name": answer["instance"], "command": command,
                                  "attach": False, "state": "starting"}, status=201)
    nc = request.app[NC]
    queue: asyncio.Queue = asyncio.Queue()

    async def on_msg(msg):
        queue.put_nowait(json.loads(msg.data))

    # Subscribe before asking, so no output line can come before we listen.
    sub = await nc.subscribe(f"berth.run.{run_id}", cb=on_msg)
    try:
        await ask(request, "scheduler", "berth.scheduler.run",
                  {"app": app["name"], "command": command, "run_id": run_id}, timeout=30)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        while True:
            item = await queue.get()
            await resp.write((json.dumps(item) + "\n").encode())
            if "exit_code" in item:
                break
    finally:
        await sub.unsubscribe()
    await resp.write_eof()
    return resp


# Attached one-offs: the api's half of the protocol in berth_scheduler/messaging/oneoff.py.
ALIVE_EVERY_S = 5.0
MAX_SIZE = 10_000


def _size(rows, cols) -> list[int] | None:
    if rows is None and cols is None:
        return None
    try:
        size = [int(rows), int(cols)]
    except (TypeError, ValueError):
        raise ApiError("rows and cols must be positive integers", id="invalid_size", status=422)
    if not all(0 < v <= MAX_SIZE for v in size):
        raise ApiError("rows and cols must be positive integers", id="invalid_size", status=422)
    return size


async def attach_dyno(request: web.Request) -> web.WebSocketResponse:
    """A one-off process of the current release attached over a WebSocket, as `berth run`
    uses it: query `command`, `tty=1` for a terminal, `rows` and `cols` for its size.

    client → api: binary frames are stdin; text {"resize": [rows, cols]} and {"eof": true}.
    api → client: text {"instance": "run.N"} first; binary frames are stdout (all output
    with a terminal); text {"stderr": base64}; finally text {"exit_code": N} and the close.
    A failure is text {"error": message, "id": id}, then the close. The process is stopped
    when the client goes away."""
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    nc = request.app[NC]
    run_id = uuid.uuid4().hex[:12]
    out: asyncio.Queue = asyncio.Queue()

    async def on_out(msg):
        out.put_nowait(json.loads(msg.data))

    sub = await nc.subscribe(f"berth.run.{run_id}", cb=on_out)  # before asking: no output is missed
    in_subject = f"berth.run.{run_id}.in"
    try:
        try:
            app = await app_or_404(request)
            command = request.query.get("command", "")
            if not command.strip():
                raise ApiError("give the command to run: ?command=...", id="invalid_command", status=422)
            tty = request.query.get("tty", "0") in ("1", "true")
            answer = await ask(request, "scheduler", "berth.scheduler.run", {
                "app": app["name"], "command": command, "run_id": run_id, "attach": True, "tty": tty,
                "size": _size(request.query.get("rows"), request.query.get("cols"))}, timeout=30)
        except ApiError as e:
            await ws.send_json({"error": e.message, "id": e.id})
            return ws
        await ws.send_json({"instance": answer["instance"]})

        async def to_client() -> None:
            while "exit_code" not in (item := await out.get()):
                if item.get("stream") == "stderr":
                    await ws.send_json({"stderr": item["data"]})
                else:
                    await ws.send_bytes(base64.b64decode(item["data"]))
            await ws.send_json({"exit_code": item["exit_code"]})

        async def from_client() -> None:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await nc.publish(in_subject, json.dumps({"data": base64.b64encode(msg.data).decode()}).encode())
                elif msg.type == WSMsgType.TEXT:
                    try:
                        item = json.loads(msg.data)
                        if not isinstance(item, dict):
                            raise ValueError
                        if "resize" in item:
                            forward = {"resize": _size(*item["resize"])}
                        elif item.get("eof") is True:
                            forward = {"eof": True}
                        else:
                            raise ValueError
                    except (ValueError, TypeError, ApiError):
                        await ws.send_json({"warning": 'send {"resize": [rows, cols]} or {"eof": true}'})
                        continue
                    await nc.publish(in_subject, json.dumps(forward).encode())

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(ALIVE_EVERY_S)
                await nc.publish(in_subject, b'{"alive": true}')

        sender = asyncio.create_task(to_client())
        tasks = [sender, asyncio.create_task(from_client()), asyncio.create_task(keep_alive())]
        await asyncio.wait(tasks[:2], return_when=asyncio.FIRST_COMPLETED)
        if not sender.done() or sender.exception() is not None:
            await nc.publish(in_subject, b'{"kill": true}')  # the client left before the process ended
        await cancel_all(tasks)
    finally:
        await sub.unsubscribe()
        await ws.close()
    return ws
