"""JSON errors with a stable id, and bearer-token authentication."""
from __future__ import annotations

import json
import logging

from aiohttp import web

from berth_common.service import POOL

from ..adapters import queries as q
from ..domain.errors import ApiError, NotFound, Unauthorized
from ..domain.tokens import hash_token

log = logging.getLogger(__name__)
USER = "berth_user"
PUBLIC = {"/healthz", "/openapi.json", "/events/catalogue"}
# The event catalogue is documentation; a log session's URL is its own credential.
PUBLIC_PREFIXES = ("/events/schemas/", "/log-sessions/")


def error_response(status: int, id: str, message: str) -> web.Response:
    return web.json_response({"id": id, "message": message}, status=status)


@web.middleware
async def errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as e:
        resp = error_response(e.status, e.id, e.message)
        if e.status == 401 and ".git/" in request.path:  # git asks its credential helper only after this
            resp.headers["WWW-Authenticate"] = 'Basic realm="berth"'
        return resp
    except web.HTTPException as e:
        if e.status < 400:
            raise
        ids = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return error_response(e.status, ids.get(e.status, "bad_request"), e.reason if e.status != 404 else
                              f"no such resource: {request.method} {request.path}")
    except json.JSONDecodeError as e:
        return error_response(400, "bad_request", f"request body is not valid JSON: {e}")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the api service log")


@web.middleware
async def auth(request: web.Request, handler):
    if request.path in PUBLIC or request.path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "basic":  # git and curl -u send the token as the password
        import base64
        try:
            token = base64.b64decode(token).decode().partition(":")[2]
        except Exception:  # noqa: BLE001
            token = ""
    elif scheme.lower() != "bearer":
        token = ""
    if not token:
        raise Unauthorized("missing credentials: send 'Authorization: Bearer <token>' (see `berth login`)")
    user = await request.app[POOL].fetchrow(q.USER_BY_TOKEN, hash_token(token.strip()))
    if user is None:
        raise Unauthorized("invalid token")
    request[USER] = user
    # The one place that decides who may use an app: every /apps/{app}... route (git's too)
    # passes here. An app the user may not use is one they cannot see: 404, as for no app.
    app_name = request.match_info.get("app")
    if app_name is not None and not user["is_admin"]:
        if not await request.app[POOL].fetchval(q.MAY_USE_APP, app_name, user["user_id"]):
            raise NotFound(f"app {app_name!r} not found", id="app_not_found")
    return await handler(request)
