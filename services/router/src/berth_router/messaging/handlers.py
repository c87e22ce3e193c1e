"""One handler per consumed event: each writes the router's own tables in the inbox
transaction; once committed, the converge loop is woken to apply the change to HAProxy."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import asyncpg

from berth_common import bus, events
from berth_common.names import validate_app_name, validate_hostname
from berth_common.telemetry import current_traceparent

from ..adapters import routes_repo
from ..domain.first_requests import FirstRequests
from ..domain.routes import server_name


def _event_time(env: events.Envelope) -> datetime:
    try:
        t = datetime.fromisoformat(env.time)
    except ValueError:
        return datetime.now(timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


async def on_app_created(conn: asyncpg.Connection, env: events.Envelope, data: events.AppCreated) -> None:
    """The app gets its route `<app>.<base domain>`: 503 until endpoints arrive."""
    await routes_repo.add_app(conn, validate_app_name(data.app))


async def on_app_deleted(conn: asyncpg.Connection, env: events.Envelope, data: events.AppDeleted) -> None:
    """The route goes away: its host answers 404 again."""
    await routes_repo.delete_app(conn, validate_app_name(data.app), _event_time(env))


async def on_app_updated(conn: asyncpg.Connection, env: events.Envelope, data: events.AppUpdated) -> None:
    """Maintenance mode on or off: the app's hosts go to the maintenance page or back."""
    await routes_repo.set_maintenance(conn, validate_app_name(data.app), data.maintenance)


async def on_domain_added(conn: asyncpg.Connection, env: events.Envelope, data: events.DomainAdded) -> None:
    """The app is served on a custom domain too."""
    await routes_repo.add_domain(conn, validate_app_name(data.app), validate_hostname(data.hostname))


async def on_domain_removed(conn: asyncpg.Connection, env: events.Envelope, data: events.DomainRemoved) -> None:
    await routes_repo.remove_domain(conn, validate_app_name(data.app), validate_hostname(data.hostname))


async def on_endpoints_changed(conn: asyncpg.Connection, env: events.Envelope, data: events.EndpointsChanged,
                               first_requests: FirstRequests | None = None) -> None:
    """The event carries the complete set of endpoints for the app: replace ours with it."""
    app = validate_app_name(data.app)
    before = {r["instance"] for r in await conn.fetch(routes_repo.SELECT_APP_INSTANCES, app)}
    await routes_repo.replace_endpoints(
        conn, app, _event_time(env),
        [(e.instance, e.host, e.port) for e in data.endpoints],
    )
    if first_requests is not None:
        for e in data.endpoints:
            if e.instance not in before:  # the deploy's trace ends at the new instance's first request
                first_requests.expect(app, server_name(e.instance), current_traceparent())


def subscriptions(wake: Callable[[], None], first_requests: FirstRequests | None = None) -> list[bus.Subscription]:
    after = lambda _data: wake()  # noqa: E731

    async def endpoints_changed(conn, env, data):
        await on_endpoints_changed(conn, env, data, first_requests)

    return [
        bus.Subscription("app-created", events.AppCreated.type, on_app_created, after_commit=after),
        bus.Subscription("app-deleted", events.AppDeleted.type, on_app_deleted, after_commit=after),
        bus.Subscription("app-updated", events.AppUpdated.type, on_app_updated, after_commit=after),
        bus.Subscription("domain-added", events.DomainAdded.type, on_domain_added, after_commit=after),
        bus.Subscription("domain-removed", events.DomainRemoved.type, on_domain_removed, after_commit=after),
        bus.Subscription("endpoints-changed", events.EndpointsChanged.type, endpoints_changed, after_commit=after),
    ]
