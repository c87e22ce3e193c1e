"""Level-triggered convergence of what runs to what is desired, one app at a time.

Events wake an app; a timer wakes every app. Each pass reads desired state from the
scheduler's tables and actual state from the runtime (container labels), so a missed event,
a killed container or a scheduler killed mid-rollout all heal on the next pass."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict

import asyncpg
from opentelemetry import trace

from berth_common import bus, events as ev
from berth_common.telemetry import context_from_traceparent, tracer

from .adapters import queries as q
from .adapters.docker_runtime import DockerRuntime
from .config import Settings
from .domain.model import Desired, Instance, InstanceSpec, ReleaseSpec, missing_instances, wanted_instance_ids

log = logging.getLogger("berth.scheduler")


class RolloutFailed(Exception):
    pass


class Reconciler:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, nc, runtime: DockerRuntime):
        self.settings = settings
        self.pool = pool
        self.nc = nc
        self.js = nc.jetstream()
        self.runtime = runtime
        self._tasks: dict[str, asyncio.Task] = {}
        self._dirty: set[str] = set()
        self._wake_all = asyncio.Event()

    # -- scheduling of passes ---------------------------------------------------------

    def wake(self, app: str) -> None:
        self._dirty.add(app)
        task = self._tasks.get(app)
        if task is None or task.done():
            self._tasks[app] = asyncio.create_task(self._run_app(app), name=f"reconcile-{app}")

    async def _run_app(self, app: str) -> None:
        while app in self._dirty:
            self._dirty.discard(app)
            try:
                await self.reconcile(app)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling %s failed; the next pass retries", app)

    async def run(self) -> None:
        try:
            while True:
                names = {r["name"] for r in await self.pool.fetch(q.SELECT_APP_NAMES)}
                names |= {i.app for i in await self.runtime.list()}
                for name in names:
                    self.wake(name)
                await asyncio.sleep(self.settings.reconcile_interval_s)
        finally:
            for t in self._tasks.values():
                t.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    # -- one pass ---------------------------------------------------------------------

    async def reconcile(self, app: str) -> None:
        row = await self.pool.fetchrow(q.SELECT_APP, app)
        actual = await self.runtime.list(app)
        if row is None or row["deleted"]:
            await self._remove_everything(app, actual)
            if row is not None:
                await self.pool.execute(q.DELETE_APP, app)
            return
        desired = q.to_desired(row)
        if desired.needs_rollout:
            with tracer().start_as_current_span(
                "rollout", context=context_from_traceparent(desired.traceparent), kind=trace.SpanKind.INTERNAL,
                attributes={"berth.app": app, "berth.release.version": desired.target.version},
            ):
                await self.rollout(desired, actual)
        elif desired.deployed:
            await self.heal(desired, desired.deployed, actual)

    async def _remove_everything(self, app: str, actual: list[Instance]) -> None:
        if actual:
            log.info("stopping %d instance(s) of %s, which has no desired state", len(actual), app)
        await asyncio.gather(*(self.runtime.stop(i.container_id, self.settings.stop_grace_s) for i in actual))
        await self.runtime.remove_network(app)

    # -- rollout of a new release -----------------------------------------------------

    async def rollout(self, desired: Desired, actual: list[Instance]) -> None:
        target = desired.target
        app = desired.app
        await self.say(app, f"Deploying v{target.version}")
        try:
            started = await self._start_all(desired, target, actual)
        except RolloutFailed as e:
            reason = str(e)
            # Leave nothing of the failed release behind; the previous release keeps serving.
            for i in await self.runtime.list(app):
                if i.version == target.version:
                    await self.runtime.stop(i.container_id, 0)
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(q.SET_FAILED, app, target.version)
                await bus.add_to_outbox(conn, ev.ReleaseFailed(
                    app=app, release_id=target.release_id, version=target.version, reason=reason))
            await self.say(app, f"Release v{target.version} failed: {reason}")
            return

        now = await self.runtime.list(app)
        new = [i for i in now if i.version == target.version and i.running]
        old = [i for i in now if i.version != target.version]
        # New instances take traffic before any old one is taken out of the router.
        addresses = await self._announce(desired, new, target.version)
        await self._wait_routed(app, addresses)
        for i in old:
            await self.say(app, f"Stopping {i.instance}", process=i.process)
        await asyncio.gather(*(self.runtime.stop(i.container_id, self.settings.stop_grace_s) for i in old))
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(q.LOCK_APP, app)
            if row is None or row["deleted"]:
                return
            await conn.execute(q.SET_DEPLOYED, app, target.to_json())
            for spec in started:
                await bus.add_to_outbox(conn, ev.ProcessStarted(
                    app=app, instance=spec.instance, process=spec.process, release_version=target.version))
            for i in old:
                await bus.add_to_outbox(conn, ev.ProcessStopped(
                    app=app, instance=i.instance, process=i.process, release_version=i.version))
            await bus.add_to_outbox(conn, ev.ReleaseDeployed(app=app, release_id=target.release_id, version=target.version))
        await self.say(app, f"Release v{target.version} deployed")

    async def _start_all(self, desired: Desired, release: ReleaseSpec, actual: list[Instance]) -> list[InstanceSpec]:
        specs = missing_instances(desired, release, actual)
        # Exited leftovers of this release (a scheduler killed mid-rollout) are replaced.
        for i in actual:
            if i.version == release.version and not i.running:
                await self.runtime.stop(i.container_id, 0)
        results = await asyncio.gather(*(self._start_one(s) for s in specs), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise RolloutFailed("; ".join(str(e) for e in errors))
        return specs

    async def _start_one(self, spec: InstanceSpec) -> Instance:
        port = self.settings.container_port
        await self.say(spec.app, f"Starting {spec.instance}" + (f": {spec.command}" if spec.command else ""),
                       process=spec.process)
        try:
            inst = await self.runtime.start(spec, port)
        except Exception as e:  # noqa: BLE001 - the engine refused: report it as the reason
            raise RolloutFailed(f"{spec.instance} could not start: {e}") from e
        if spec.process == "web":
            await self._wait_accepting(spec, inst, port)
        await self.say(spec.app, f"{spec.instance} is up", process=spec.process)
        return inst

    async def _wait_accepting(self, spec: InstanceSpec, inst: Instance, port: int) -> None:
        """Default health check: the instance accepts TCP connections on PORT within the boot timeout."""
        deadline = time.monotonic() + self.settings.boot_timeout_s
        while time.monotonic() < deadline:
            current = await self.runtime.get(inst.container_id)
            if current is None or not current.running:
                tail = (await self.runtime.logs_tail(inst.container_id, 5)).strip().splitlines()
                last = f" (last output: {tail[-1]})" if tail else ""
                code = current.exit_code if current else "unknown"
                raise RolloutFailed(f"{spec.instance} exited with code {code} before accepting connections{last}")
            if current.ip:
                try:
                    _, writer = await asyncio.wait_for(asyncio.open_connection(current.ip, port), 1)
                    writer.close()
                    return
                except (OSError, asyncio.TimeoutError):
                    pass
            await asyncio.sleep(0.25)
        raise RolloutFailed(f"{spec.instance} did not accept connections on PORT {port} "
                            f"within {self.settings.boot_timeout_s:.0f} s")

    # -- routing ----------------------------------------------------------------------

    async def _announce(self, desired: Desired, instances: list[Instance], version: int) -> list[str]:
        web = sorted((i for i in instances if i.process == "web" and i.running and i.ip), key=lambda i: i.instance)
        endpoints = [ev.Endpoint(instance=i.instance, host=i.ip, port=self.settings.container_port) for i in web]
        addresses = [f"{e.host}:{e.port}" for e in endpoints]
        async with self.pool.acquire() as conn, conn.transaction():
            await bus.add_to_outbox(conn, ev.EndpointsChanged(app=desired.app, endpoints=endpoints, release_version=version))
            await conn.execute(q.SET_ANNOUNCED, desired.app, addresses)
        return addresses

    async def _wait_routed(self, app: str, addresses: list[str]) -> None:
        """Ask the router (request/reply) until exactly these endpoints take traffic."""
        want = set(addresses)
        deadline = time.monotonic() + self.settings.route_confirm_timeout_s
        while time.monotonic() < deadline:
            try:
                reply = await self.nc.request("berth.router.routes", json.dumps({"app": app}).encode(), timeout=2)
                servers = json.loads(reply.data).get("servers", [])
                ready = {s["address"] for s in servers if s.get("state") == "ready"}
                if ready == want:
                    return
            except Exception:  # noqa: BLE001 - router not answering yet
                pass
            await asyncio.sleep(0.25)
        log.warning("%s: the router did not confirm %s within %.0f s; going on", app, sorted(want),
                    self.settings.route_confirm_timeout_s)

    # -- steady state -----------------------------------------------------------------

    async def heal(self, desired: Desired, release: ReleaseSpec, actual: list[Instance]) -> None:
        """Keep the deployed release's formation running; remove anything else."""
        app = desired.app
        wanted = wanted_instance_ids(desired, release)
        keep = [i for i in actual if i.version == release.version and i.instance in wanted and i.running]
        extra = [i for i in actual if i not in keep]
        for i in extra:
            if i.version == release.version and i.instance in wanted:
                await self.say(app, f"{i.instance} exited with code {i.exit_code}; restarting", process=i.process)
                async with self.pool.acquire() as conn, conn.transaction():
                    await bus.add_to_outbox(conn, ev.ProcessCrashed(
                        app=app, instance=i.instance, process=i.process, release_version=i.version,
                        exit_code=i.exit_code))
        await asyncio.gather(*(self.runtime.stop(i.container_id, self.settings.stop_grace_s) for i in extra))
        for spec in missing_instances(desired, release, keep):
            try:
                await self._start_one(spec)
            except RolloutFailed as e:
                await self.say(app, f"could not restart {spec.instance}: {e}")
        running = [i for i in await self.runtime.list(app) if i.version == release.version and i.running]
        web = sorted(f"{i.ip}:{self.settings.container_port}" for i in running if i.process == "web" and i.ip)
        if web != sorted(desired.announced or []):
            await self._announce(desired, running, release.version)

    # -- platform log lines -----------------------------------------------------------

    async def say(self, app: str, line: str, process: str = "scheduler") -> None:
        log.info("%s: %s", app, line)
        try:
            await bus.publish_log(self.js, ev.LogLine(app=app, source="berth", process=process, line=line))
        except Exception:  # noqa: BLE001 - a lost platform line must not stop a rollout
            log.warning("could not publish a log line for %s", app)
