"""Events only change desired state; the reconciler makes it so."""
from __future__ import annotations

import asyncpg

from berth_common import bus, events as ev
from berth_common.telemetry import current_traceparent

from ..adapters import queries as q
from ..domain.model import ReleaseSpec


async def on_release_created(conn: asyncpg.Connection, env: ev.Envelope, data: ev.ReleaseCreated) -> None:
    target = ReleaseSpec(release_id=data.release_id, version=data.version, image=data.image,
                         process_types=data.process_types, config_sealed=data.config_sealed,
                         healthchecks=data.healthchecks, description=data.description)
    # The consume span is current here: the rollout continues the deploy's trace from it.
    await conn.execute(q.SET_TARGET, data.app, target.to_json(), current_traceparent())


async def on_formation_changed(conn: asyncpg.Connection, env: ev.Envelope, data: ev.FormationChanged) -> None:
    await conn.execute(q.SET_FORMATION, data.app, {k: v.model_dump() for k, v in data.formation.items()})


async def on_restart_requested(conn: asyncpg.Connection, env: ev.Envelope, data: ev.RestartRequested) -> None:
    await conn.execute(q.ADD_RESTART, data.app, data.process or "*")


async def on_app_deleted(conn: asyncpg.Connection, env: ev.Envelope, data: ev.AppDeleted) -> None:
    await conn.execute(q.MARK_DELETED, data.app)


def subscriptions(wake) -> list[bus.Subscription]:
    after = lambda data: wake(data.app)  # noqa: E731
    return [
        bus.Subscription("release-created", ev.ReleaseCreated.type, on_release_created, after_commit=after),
        bus.Subscription("formation-changed", ev.FormationChanged.type, on_formation_changed, after_commit=after),
        bus.Subscription("restart-requested", ev.RestartRequested.type, on_restart_requested, after_commit=after),
        bus.Subscription("app-deleted", ev.AppDeleted.type, on_app_deleted, after_commit=after),
    ]
