"""Users and collaborators. An admin manages users (each new user gets a token, shown once)
and may use every app; a user may use the apps they own or collaborate on (the check is
in middleware.auth); an app's owner or an admin manages its collaborators and may delete it."""
from __future__ import annotations

import re

import asyncpg
from aiohttp import web

from berth_common.service import POOL

from ..adapters import queries as q
from ..domain.errors import ApiError, Conflict, Forbidden, NotFound
from ..domain.tokens import hash_token, new_token
from .middleware import USER
from .views import app_or_404, json_body, record, require_owner_or_admin

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def require_admin(request: web.Request) -> None:
    if not request[USER]["is_admin"]:
        raise Forbidden("only an admin may manage users")


def _email(body: dict) -> str:
    email = body.get("email")
    if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()) or len(email) > 254:
        raise ApiError('send {"email": "name@example.com"}', id="invalid_email", status=422)
    return email.strip().lower()


async def _user_or_404(conn, email: str) -> asyncpg.Record:
    user = await conn.fetchrow(q.USER_BY_EMAIL, email.lower())
    if user is None:
        raise NotFound(f"no user {email!r}: an admin adds users with `berth users:add`", id="user_not_found")
    return user


# --- users (admin) -------------------------------------------------------------------------

async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    rows = await request.app[POOL].fetch(q.SELECT_USERS)
    return web.json_response([record(r) for r in rows])


async def add_user(request: web.Request) -> web.Response:
    """A new user and their first token (in this response only)."""
    require_admin(request)
    body = await json_body(request)
    unknown = set(body) - {"email", "admin"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}")
    email = _email(body)
    admin = body.get("admin", False)
    if not isinstance(admin, bool):
        raise ApiError("admin must be true or false", status=422)
    token = new_token()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        user_id = await conn.fetchval(q.INSERT_USER_IF_NEW, q.new_id(), email, admin)
        if user_id is None:
            raise Conflict(f"user {email!r} already exists", id="user_exists")
        await conn.execute(q.INSERT_TOKEN, q.new_id(), user_id, hash_token(token),
                           f"created by {request[USER]['email']}")
    return web.json_response({"id": str(user_id), "email": email, "is_admin": admin, "token": token}, status=201)


async def remove_user(request: web.Request) -> web.Response:
    """Remove a user and their tokens; the apps they own stay (without an owner: admins
    and collaborators keep using them)."""
    require_admin(request)
    email = request.match_info["email"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        user = await _user_or_404(conn, email)
        if user["id"] == request[USER]["user_id"]:
            raise Conflict("you cannot remove yourself", id="cannot_remove_self")
        await conn.execute(q.DELETE_USER, user["id"])
    return web.json_response({"email": user["email"], "removed": True})


# --- collaborators (owner or admin) ------------------------------------------------------

async def list_collaborators(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    rows = await request.app[POOL].fetch(q.SELECT_COLLABORATORS, app["id"])
    return web.json_response({"owner": app["owner"], "collaborators": [record(r) for r in rows]})


async def add_collaborator(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    await require_owner_or_admin(request.app[POOL], request, app, "add collaborators")
    email = _email(await json_body(request))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        user = await _user_or_404(conn, email)
        created = await conn.fetchval(q.INSERT_COLLABORATOR, app["id"], user["id"])
    return web.json_response({"app": app["name"], "email": user["email"], "added": created is not None},
                             status=201 if created is not None else 200)


async def remove_collaborator(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    await require_owner_or_admin(request.app[POOL], request, app, "remove collaborators")
    email = request.match_info["email"]
    async with request.app[POOL].acquire() as conn, conn.transaction():
        user = await _user_or_404(conn, email)
        status = await conn.execute(q.DELETE_COLLABORATOR, app["id"], user["id"])
    if status.endswith(" 0"):
        raise NotFound(f"{email} is not a collaborator of {app['name']}", id="collaborator_not_found")
    return web.json_response({"app": app["name"], "email": user["email"], "removed": True})
