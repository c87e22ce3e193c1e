"""What the api does with the events it consumes: keep its read model of builds, turn a
completed build into the next release, and record how each release's rollout ended."""
from __future__ import annotations

import uuid

import asyncpg

from berth_common import bus, events as ev
from berth_common.secrets import seal_config, unseal
from berth_common.telemetry import tracer

from ..adapters import queries as q
from ..domain.formation import NOT_SCALABLE
from ..domain.releases import deploy_description, may_move_build


async def _move_build(conn: asyncpg.Connection, build_id: str, status: str, **fields) -> asyncpg.Record | None:
    build = await conn.fetchrow(q.LOCK_BUILD, uuid.UUID(build_id))
    if build is None or not may_move_build(build["status"], status):
        return None
    await conn.execute(
        q.UPDATE_BUILD, build["id"], status, fields.get("stack"), fields.get("image"),
        fields.get("process_types"), fields.get("reason"),
    )
    return build


async def on_build_started(conn: asyncpg.Connection, env: ev.Envelope, data: ev.BuildStarted) -> None:
    await _move_build(conn, data.build_id, "building")


async def on_build_failed(conn: asyncpg.Connection, env: ev.Envelope, data: ev.BuildFailed) -> None:
    await _move_build(conn, data.build_id, "failed", reason=data.reason)


async def on_build_completed(conn: asyncpg.Connection, env: ev.Envelope, data: ev.BuildCompleted) -> None:
    build = await _move_build(conn, data.build_id, "succeeded", stack=data.stack, image=data.image,
                              process_types=data.process_types)
    if build is None:
        return
    app = await conn.fetchrow(q.LOCK_APP_BY_ID, build["app_id"])  # serialises version numbers per app
    if app is None or await conn.fetchval(q.RELEASE_FOR_BUILD, build["id"]):
        return
    # The release is a step of the deploy's trace: the scheduler's rollout continues from it.
    with tracer().start_as_current_span("release", attributes={"berth.app": app["name"]}):
        if data.initial_formation:
            await apply_initial_formation(conn, app, data.process_types, data.initial_formation)
        await create_release(
            conn, app, image=data.image, process_types=data.process_types,
            config_sealed=seal_config(await current_config(conn, app["id"])), healthchecks=data.healthchecks,
            build_id=build["id"], description=deploy_description(data.build_id, build["source_version"]),
            created_by=build["created_by"],
        )


async def formation_of(conn: asyncpg.Connection, app_id, process_types: dict) -> list[dict]:
    """The scale of each process type of a release: as set (ps:scale, app.json), else web=1
    and every other type 0."""
    stored = {r["type"]: r for r in await conn.fetch(q.FORMATION_OF_APP, app_id)}
    out = []
    for ptype in sorted(set(process_types) - NOT_SCALABLE):
        r = stored.get(ptype)
        out.append({"type": ptype, "command": process_types.get(ptype),
                    "quantity": r["quantity"] if r else (1 if ptype == "web" else 0),
                    "memory": r["memory"] if r else None, "cpus": float(r["cpus"]) if r and r["cpus"] is not None else None})
    return out


async def announce_formation(conn: asyncpg.Connection, app: asyncpg.Record, process_types: dict) -> list[dict]:
    """Emit formation.changed with the whole formation; returns it."""
    formation = await formation_of(conn, app["id"], process_types)
    await bus.add_to_outbox(conn, ev.FormationChanged(app=app["name"], formation={
        f["type"]: ev.ProcessSize(quantity=f["quantity"], memory=f["memory"], cpus=f["cpus"]) for f in formation}))
    return formation


async def apply_initial_formation(conn: asyncpg.Connection, app: asyncpg.Record, process_types: dict,
                                  initial: dict[str, int]) -> None:
    """app.json's formation: the quantity of each process type that has no scale yet (a
    first deploy, a new type). A scale already set (ps:scale, an earlier app.json) stays."""
    stored = {r["type"] for r in await conn.fetch(q.FORMATION_OF_APP, app["id"])}
    added = False
    for ptype, quantity in initial.items():
        if ptype in process_types and ptype not in NOT_SCALABLE and ptype not in stored:
            await conn.execute(q.UPSERT_FORMATION, app["id"], ptype, quantity, None, None)
            added = True
    if added:
        await announce_formation(conn, app, process_types)


async def current_config(conn: asyncpg.Connection, app_id) -> dict[str, str]:
    return {r["key"]: unseal(r["value_sealed"]) for r in await conn.fetch(q.CONFIG_OF_APP, app_id)}


async def create_release(conn: asyncpg.Connection, app: asyncpg.Record, *, image: str, process_types: dict,
                         config_sealed: str, healthchecks: dict, build_id, description: str, created_by) -> int:
    """Make the app's next release and announce it. The caller holds the app row lock, so
    versions are handed out one at a time (and the unique (app, version) backs that up)."""
    version = await conn.fetchval(q.NEXT_VERSION, app["id"])
    release_id = q.new_id()
    await conn.execute(q.INSERT_RELEASE, release_id, app["id"], version, image, process_types, config_sealed,
                       healthchecks, build_id, description, created_by)
    await bus.add_to_outbox(conn, ev.ReleaseCreated(
        app=app["name"], release_id=str(release_id), version=version, image=image,
        process_types=process_types, config_sealed=config_sealed, healthchecks=healthchecks,
        build_id=str(build_id) if build_id else None, description=description,
    ))
    return version


async def on_release_deployed(conn: asyncpg.Connection, env: ev.Envelope, data: ev.ReleaseDeployed) -> None:
    await conn.execute(q.SET_RELEASE_STATUS, uuid.UUID(data.release_id), "succeeded", None)


async def on_release_failed(conn: asyncpg.Connection, env: ev.Envelope, data: ev.ReleaseFailed) -> None:
    await conn.execute(q.SET_RELEASE_STATUS, uuid.UUID(data.release_id), "failed", data.reason)


SUBSCRIPTIONS = [
    bus.Subscription("build-started", ev.BuildStarted.type, on_build_started),
    bus.Subscription("build-completed", ev.BuildCompleted.type, on_build_completed),
    bus.Subscription("build-failed", ev.BuildFailed.type, on_build_failed),
    bus.Subscription("release-deployed", ev.ReleaseDeployed.type, on_release_deployed),
    bus.Subscription("release-failed", ev.ReleaseFailed.type, on_release_failed),
]
