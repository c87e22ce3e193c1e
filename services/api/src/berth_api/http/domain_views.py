"""Custom domains (Heroku's domains): the router serves the app on them as well."""
from __future__ import annotations

from aiohttp import web

from berth_common import bus, events as ev
from berth_common.names import InvalidHostname, validate_hostname
from berth_common.service import POOL

from ..adapters import queries as q
from ..domain.errors import ApiError, Conflict, NotFound
from .views import SETTINGS, app_or_404, json_body, locked_app_or_404, record


async def list_domains(request: web.Request) -> web.Response:
    app = await app_or_404(request)
    rows = await request.app[POOL].fetch(q.DOMAINS_OF_APP, app["id"])
    own = {"hostname": request.app[SETTINGS].web_url(app["name"]).split("://", 1)[1].split(":")[0], "kind": "default"}
    return web.json_response([own, *(record(r, kind="custom") for r in rows)])


async def add_domain(request: web.Request) -> web.Response:
    body = await json_body(request)
    unknown = set(body) - {"hostname"}
    if unknown:
        raise ApiError(f"unknown field(s): {', '.join(sorted(unknown))}")
    try:
        hostname = validate_hostname(body.get("hostname"), request.app[SETTINGS].base_domain)
    except InvalidHostname as e:
        raise ApiError(str(e), id="invalid_hostname", status=422)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        owner = await conn.fetchval(q.DOMAIN_OWNER, hostname)
        if owner is not None:
            raise Conflict(f"{hostname} is already a domain of {owner}", id="domain_taken")
        row = await conn.fetchrow(q.INSERT_DOMAIN, hostname, app["id"])
        await bus.add_to_outbox(conn, ev.DomainAdded(app=app["name"], hostname=hostname))
    return web.json_response(record(row, kind="custom"), status=201)


async def remove_domain(request: web.Request) -> web.Response:
    hostname = request.match_info["hostname"].lower().rstrip(".")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        app = await locked_app_or_404(conn, request.match_info["app"])
        if await conn.fetchval(q.DELETE_DOMAIN, hostname, app["id"]) is None:
            raise NotFound(f"{hostname} is not a domain of {app['name']}", id="domain_not_found")
        await bus.add_to_outbox(conn, ev.DomainRemoved(app=app["name"], hostname=hostname))
    return web.json_response({"hostname": hostname, "removed": True})
