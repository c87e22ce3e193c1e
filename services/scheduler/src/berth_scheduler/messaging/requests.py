"""Questions that need an answer now (core NATS request/reply): `ps` and one-off runs."""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone

from berth_common import bus
from berth_common.names import InvalidAppName, InvalidDyno, dyno_matches, validate_app_name, validate_dyno

from ..adapters import queries as q
from ..domain.model import ONEOFF, InstanceSpec
from ..reconciler import Reconciler
from . import oneoff

log = logging.getLogger("berth.scheduler")

PS_SUBJECT = "berth.scheduler.ps"
RUN_SUBJECT = "berth.scheduler.run"
STOP_SUBJECT = "berth.scheduler.stop"


async def serve(reconciler: Reconciler) -> None:
    nc = reconciler.nc

    async def reply(msg, handler):
        try:
            body = json.loads(msg.data)
            validate_app_name(body.get("app"))
            answer = await handler(reconciler, body)
        except (ValueError, InvalidAppName) as e:
            answer = {"error": str(e)}
        except Exception as e:  # noqa: BLE001 - answer rather than leave the caller waiting
            log.exception("request on %s failed", msg.subject)
            answer = {"error": f"scheduler error: {e}"}
        await msg.respond(json.dumps(answer, default=str).encode())

    async def on_ps(msg):
        await reply(msg, ps)

    async def on_run(msg):
        await reply(msg, run)

    async def on_stop(msg):
        await reply(msg, stop)

    subs = [
        await bus.serve(nc, PS_SUBJECT, on_ps, queue="scheduler"),
        await bus.serve(nc, RUN_SUBJECT, on_run, queue="scheduler"),
        await bus.serve(nc, STOP_SUBJECT, on_stop, queue="scheduler"),
    ]
    try:
        await asyncio.Event().wait()
    finally:
        for s in subs:
            await s.unsubscribe()


async def ps(r: Reconciler, body: dict) -> dict:
    """Every instance of the app with its type, release, state, uptime and restart count."""
    app = body["app"]
    now = datetime.now(timezone.utc)
    crashes = {(c["process"], c["index"]): c for c in await r.pool.fetch(q.CRASHES_OF_APP, app)}
    out, running_slots = [], set()
    for i in sorted(await r.runtime.list(app), key=lambda i: (i.process != "web", i.process, i.index, i.version)):
        if i.running and not i.oneoff:
            running_slots.add((i.process, i.index))
        state = ("starting" if i.instance in r.starting or i.instance in r.unrouted else "stopping" if i.instance in r.stopping
                 else "up" if i.running else "complete" if i.oneoff and i.exit_code == 0 else "crashed")
        crash = crashes.get((i.process, i.index))
        out.append({"instance": i.instance, "type": i.process, "release": i.version, "state": state,
                    "started_at": i.started_at, "uptime_s": int((now - i.started_at).total_seconds()) if i.running and i.started_at else None,
                    "restarts": crash["restarts"] if crash else 0,
                    "exit_code": i.exit_code if not i.running else (crash["last_exit_code"] if crash else None)})
    for (process, index), c in sorted(crashes.items()):
        if (process, index) not in running_slots:  # waiting out its backoff
            out.append({"instance": f"{process}.{index}", "type": process, "release": None, "state": "crashed",
                        "started_at": None, "uptime_s": None, "restarts": c["restarts"],
                        "exit_code": c["last_exit_code"], "next_start_at": c["next_start_at"]})
    return {"instances": out}


async def run(r: Reconciler, body: dict) -> dict:
    """Start a one-off container of the deployed release; its output and exit code go to
    `berth.run.<run_id>` as {"line": ...} then {"exit_code": N}. With "attach": true, its
    stdin is open too and the session speaks oneoff.py's protocol; with "detach": true
    nothing is relayed (its output is in the logs)."""
    app, command, run_id = body["app"], body.get("command"), body.get("run_id")
    if not isinstance(command, str) or not command.strip() or not isinstance(run_id, str) or not run_id.isalnum():
        raise ValueError("a command and an alphanumeric run_id are required")
    attach = body.get("attach") is True
    size = oneoff.parse_size(body.get("size")) if attach else None
    row = await r.pool.fetchrow(q.SELECT_APP, app)
    desired = q.to_desired(row) if row else None
    if desired is None or desired.deployed is None:
        raise ValueError(f"{app} has no deployed release to run a command in")
    release = desired.deployed
    existing = [i.index for i in await r.runtime.list(app) if i.process == ONEOFF]
    spec = InstanceSpec(app, ONEOFF, max(existing, default=0) + 1, release, command_override=command)
    if attach:
        inst, io = await r.runtime.start_attached(spec, r.settings.container_port, release.config(),
                                                  desired.limits(ONEOFF), tty=body.get("tty") is True)
        session = oneoff.Session(r, inst.container_id, io, run_id, size)
        try:
            await session.listen()
        except BaseException:
            io.close()
            await r.runtime.stop(inst.container_id, 0)
            raise
        _keep(session.run())
        return {"instance": spec.instance}
    inst = await r.runtime.start(spec, r.settings.container_port, release.config(), desired.limits(ONEOFF))
    if body.get("detach") is not True:
        _keep(_relay_output(r, inst.container_id, f"berth.run.{run_id}"))
    # Detached: its output reaches the app's logs like any process's; once it has exited
    # the reconciler removes the container (reconciler._remove_finished_oneoffs).
    return {"instance": spec.instance}


async def stop(r: Reconciler, body: dict) -> dict:
    """Stop one-off processes (`berth ps:stop run.2`): SIGTERM, SIGKILL after the grace
    period. Processes of the formation are the formation's: restart or scale them."""
    app = body["app"]
    try:
        dyno = validate_dyno(body.get("dyno"))
    except InvalidDyno as e:
        raise ValueError(str(e)) from None
    running = [i for i in await r.runtime.list(app) if i.running and dyno_matches(dyno, i.process, i.instance)]
    formation = [i for i in running if not i.oneoff]
    if formation:
        kind = formation[0].process
        raise ValueError(f"{formation[0].instance} is part of the formation: `berth ps:restart {kind}` restarts "
                         f"it, `berth ps:scale {kind}=N` changes how many run")
    if not running:
        raise ValueError(f"{app} has no running process {dyno}")
    await asyncio.gather(*(r.runtime.stop(i.container_id, r.settings.stop_grace_s) for i in running))
    return {"stopped": sorted(i.instance for i in running)}


_RUNNING: set[asyncio.Task] = set()


def _keep(coro) -> None:
    """Run a one-off's relay in the background, holding a reference until it ends."""
    task = asyncio.create_task(coro)
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)


async def _relay_output(r: Reconciler, container_id: str, subject: str) -> None:
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue = asyncio.Queue()
    thread = r.runtime.follow_output(container_id, lambda line: loop.call_soon_threadsafe(lines.put_nowait, line))
    waiter = asyncio.create_task(asyncio.to_thread(thread.join))
    try:
        while not (waiter.done() and lines.empty()):
            try:
                line = await asyncio.wait_for(lines.get(), 0.2)
            except asyncio.TimeoutError:
                continue
            await r.nc.publish(subject, json.dumps({"line": line}).encode())
        try:
            code = await r.runtime.wait(container_id, 5)
        except Exception:  # noqa: BLE001
            code = None
        await r.nc.publish(subject, json.dumps({"exit_code": code}).encode())
    finally:
        await r.runtime.stop(container_id, 0)
