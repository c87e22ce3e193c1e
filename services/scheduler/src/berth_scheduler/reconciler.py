"""Level-triggered convergence of what runs to what is desired, one app at a time.

Events wake an app; a timer wakes every app; a container that dies wakes its app. Each pass
reads desired state from the scheduler's tables and actual state from the runtime
(container labels), so a missed event, a killed container or a scheduler killed in the
middle of a rollout all heal on the next pass."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import asyncpg
from opentelemetry import trace

from berth_common import bus, events as ev
from berth_common.telemetry import context_from_traceparent, tracer
from berth_common.tasks import cancel_all

from .adapters import queries as q
from .adapters.docker_runtime import DockerRuntime
from .config import Settings
from .domain.model import (BACKOFF_RESET_AFTER_S, backoff_seconds, RELEASE_PHASE, Desired, Instance, InstanceSpec, ReleaseSpec,
                           plan_slots, slot)

log = logging.getLogger("berth.scheduler")


class RolloutFailed(Exception):
    pass


async def _record_processes(conn: asyncpg.Connection, app: str, started: list[Instance] = (),
                            stopped: list[Instance] = ()) -> None:
    """process.started / process.stopped events, in the caller's transaction."""
    for i in started:
        await bus.add_to_outbox(conn, ev.ProcessStarted(app=app, instance=i.instance, process=i.process,
                                                        release_version=i.version))
    for i in stopped:
        await bus.add_to_outbox(conn, ev.ProcessStopped(app=app, instance=i.instance, process=i.process,
                                                        release_version=i.version))


class Reconciler:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, nc, runtime: DockerRuntime):
        self.settings = settings
        self.pool = pool
        self.nc = nc
        self.js = nc.jetstream()
        self.runtime = runtime
        self._tasks: dict[str, asyncio.Task] = {}
        self._dirty: set[str] = set()
        self.starting: set[str] = set()   # instance ids being started and checked
        self.stopping: set[str] = set()   # instance ids taken out of the router, being stopped
        self.unrouted: set[str] = set()   # web instances up and checked, not yet taking traffic

    # -- scheduling of passes ---------------------------------------------------------

    def wake(self, app: str) -> None:
        self._dirty.add(app)
        task = self._tasks.get(app)
        if task is None or task.done():
            self._tasks[app] = asyncio.create_task(self._run_app(app), name=f"reconcile-{app}")

    def wake_later(self, app: str, delay_s: float) -> None:
        asyncio.get_running_loop().call_later(max(delay_s, 0.05), self.wake, app)

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
        loop = asyncio.get_running_loop()
        self.runtime.watch_exits(lambda app: loop.call_soon_threadsafe(self.wake, app))
        try:
            while True:
                try:
                    names = {r["name"] for r in await self.pool.fetch(q.SELECT_APP_NAMES)}
                    names |= {i.app for i in await self.runtime.list()}
                except asyncio.CancelledError:
                    raise
                except Exception:  # the engine or the database is briefly away: the next tick retries
                    log.exception("listing apps to reconcile failed")
                    names = set()
                for name in names:
                    self.wake(name)
                await asyncio.sleep(self.settings.reconcile_interval_s)
        finally:
            await cancel_all(list(self._tasks.values()))

    # -- one pass ---------------------------------------------------------------------

    async def reconcile(self, app: str) -> None:
        row = await self.pool.fetchrow(q.SELECT_APP, app)
        everything = await self.runtime.list(app)
        if row is None or row["deleted"]:
            await self._remove_everything(app, everything)
            if row is not None:
                async with self.pool.acquire() as conn, conn.transaction():
                    await conn.execute(q.CLEAR_CRASHES, app)
                    await conn.execute(q.DELETE_APP, app)
            return
        await self._remove_finished_oneoffs(everything)
        actual = [i for i in everything if not i.oneoff]
        desired = q.to_desired(row)
        if desired.needs_rollout:
            with tracer().start_as_current_span(
                "rollout", context=context_from_traceparent(desired.traceparent), kind=trace.SpanKind.INTERNAL,
                attributes={"berth.app": app, "berth.release.version": desired.target.version},
            ):
                await self.rollout(desired, everything, actual)
        elif desired.deployed and (desired.restart_pending or self._resized(desired, actual)):
            await self.restart(desired, desired.deployed, actual)
        elif desired.deployed:
            await self.converge(desired, desired.deployed, actual)

    async def _remove_everything(self, app: str, actual: list[Instance]) -> None:
        if actual:
            log.info("stopping %d instance(s) of %s, which has no desired state", len(actual), app)
        await asyncio.gather(*(self.runtime.stop(i.container_id, self.settings.stop_grace_s) for i in actual))
        await self.runtime.remove_network(app)

    async def _remove_finished_oneoffs(self, everything: list[Instance]) -> None:
        # Exited one-off containers stay a minute, so the logger reads their output to the end.
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=60)
        for i in everything:
            if i.oneoff and not i.running and (i.started_at is None or i.started_at < cutoff):
                await self.runtime.stop(i.container_id, 0)

    # -- rollout of a new release -----------------------------------------------------

    async def rollout(self, desired: Desired, everything: list[Instance], actual: list[Instance]) -> None:
        target = desired.target
        app = desired.app
        await self.say(app, f"Deploying v{target.version}" + (f" ({target.description})" if target.description else ""))
        try:
            if RELEASE_PHASE in target.process_types and desired.release_phase_version != target.version:
                await self.release_phase(desired, target, everything)
                await self.pool.execute(q.SET_RELEASE_PHASE_DONE, app, target.version)
            new, started = await self._start_slots(desired, target, plan_slots(desired, target), actual, reuse=True)
        except RolloutFailed as e:
            reason = str(e)
            # Leave nothing of the failed release behind; the previous release keeps serving.
            for i in await self.runtime.list(app):
                if i.version == target.version and not i.oneoff:
                    self.unrouted.discard(i.instance)
                    await self.runtime.stop(i.container_id, 0)
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(q.SET_FAILED, app, target.version)
                await bus.add_to_outbox(conn, ev.ReleaseFailed(
                    app=app, release_id=target.release_id, version=target.version, reason=reason))
            await self.say(app, f"Release v{target.version} failed: {reason}")
            return

        old = [i for i in actual if i.version != target.version]
        await self._switch(desired, target.version, new, old)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(q.LOCK_APP, app)
            if row is None or row["deleted"]:
                return
            await conn.execute(q.SET_DEPLOYED, app, target.to_json())
            await conn.execute(q.CLEAR_CRASHES, app)  # a new release resets crash backoff
            await conn.execute(q.CLEAR_RESTARTS, app)
            await _record_processes(conn, app, started=started, stopped=old)
            await bus.add_to_outbox(conn, ev.ReleaseDeployed(app=app, release_id=target.release_id, version=target.version))
        await self.say(app, f"Release v{target.version} deployed")

    async def release_phase(self, desired: Desired, release: ReleaseSpec, everything: list[Instance]) -> None:
        """Run the Procfile's `release:` command once, in a one-off container of the new image,
        before the release takes traffic. A scheduler restarted meanwhile waits for the same
        container instead of running the command twice."""
        app = desired.app
        mine = [i for i in everything if i.oneoff and i.process == RELEASE_PHASE and i.version == release.version]
        if mine:
            container_id = mine[0].container_id
        else:
            spec = InstanceSpec(app, RELEASE_PHASE, 1, release)
            await self.say(app, f"Running release command: {spec.command}", process=RELEASE_PHASE)
            try:
                inst = await self.runtime.start(spec, self.settings.container_port, release.config())
            except Exception as e:  # noqa: BLE001 - the engine refused
                raise RolloutFailed(f"the release command could not start: {e}") from e
            container_id = inst.container_id
        try:
            code = await self.runtime.wait(container_id, self.settings.release_phase_timeout_s)
        except TimeoutError as e:
            raise RolloutFailed(f"the release command timed out: {e}") from e
        if code != 0:
            raise RolloutFailed(f"the release command exited with code {code}; its output is in the logs")
        await self.say(app, "Release command succeeded", process=RELEASE_PHASE)

    async def _start_slots(self, desired: Desired, release: ReleaseSpec, slots: list[tuple[str, int]],
                           actual: list[Instance], reuse: bool) -> tuple[list[Instance], list[Instance]]:
        """Start (and check) an instance of `release` for each slot; with `reuse`, a running
        instance of the release already in the slot (a scheduler killed mid-rollout) counts.
        Returns (all instances for the slots, the ones started now)."""
        have: dict[tuple[str, int], Instance] = {}
        if reuse:
            for i in actual:
                if i.version == release.version and i.running and slot(i) in slots:
                    have.setdefault(slot(i), i)
        specs = [InstanceSpec(desired.app, p, n, release, size=desired.size(p)) for (p, n) in slots if (p, n) not in have]
        results = await asyncio.gather(*(self._start_one(desired, s) for s in specs), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise RolloutFailed("; ".join(str(e) for e in errors))
        return [*have.values(), *results], list(results)

    async def _start_one(self, desired: Desired, spec: InstanceSpec) -> Instance:
        port = self.settings.container_port
        await self.say(spec.app, f"Starting {spec.instance}" + (f": {spec.command}" if spec.command else ""),
                       process=spec.process)
        self.starting.add(spec.instance)
        inst = None
        try:
            try:
                inst = await self.runtime.start(spec, port, spec.release.config(), desired.limits(spec.process))
            except Exception as e:  # noqa: BLE001 - the engine refused: report it as the reason
                raise RolloutFailed(f"{spec.instance} could not start: {e}") from e
            if spec.process == "web":
                await self._wait_accepting(spec, inst, port)
                await self._http_checks(spec, inst, port)
                self.unrouted.add(spec.instance)  # `up` in ps once the router takes it
            else:
                await asyncio.sleep(1)  # a worker that exits at once is not up
                current = await self.runtime.get(inst.container_id)
                if current is None or not current.running:
                    raise RolloutFailed(f"{spec.instance} exited with code {current.exit_code if current else '?'} at start")
        except RolloutFailed:
            if inst is not None:
                await self.runtime.stop(inst.container_id, 0)
            raise
        finally:
            self.starting.discard(spec.instance)
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
                    inst.ip = current.ip
                    return
                except (OSError, asyncio.TimeoutError):
                    pass
            await asyncio.sleep(0.25)
        raise RolloutFailed(f"{spec.instance} did not accept connections on PORT {port} "
                            f"within {self.settings.boot_timeout_s:.0f} s")

    async def _http_checks(self, spec: InstanceSpec, inst: Instance, port: int) -> None:
        """app.json health checks (Dokku's format) for the process type, after the TCP check."""
        checks = [c for c in spec.release.healthchecks.get(spec.process, [])
                  if c.get("type", "startup") in ("startup", "readiness")]
        if not checks:
            return
        async with aiohttp.ClientSession() as http:
            for check in checks:
                path = check.get("path", "/")
                name = check.get("name") or path
                attempts, timeout = int(check.get("attempts", 3)), float(check.get("timeout", 5))
                wait, content = float(check.get("wait", 1)), check.get("content")
                await asyncio.sleep(float(check.get("initialDelay", 0)))
                problem = "no attempt made"
                for attempt in range(1, attempts + 1):
                    try:
                        async with http.get(f"http://{inst.ip}:{port}{path}", allow_redirects=False,
                                            timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                            body = await r.text(errors="replace")
                            if r.status >= 400:
                                problem = f"answered {r.status}"
                            elif content and content not in body:
                                problem = f"answer does not contain {content!r}"
                            else:
                                problem = None
                    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                        problem = f"{e.__class__.__name__} {e}".strip()
                    if problem is None:
                        break
                    await self.say(spec.app, f"{spec.instance} health check {name!r} attempt {attempt}/{attempts}: "
                                             f"{problem}", process=spec.process)
                    if attempt < attempts:
                        await asyncio.sleep(wait)
                if problem is not None:
                    raise RolloutFailed(f"{spec.instance} failed health check {name!r} on {path}: {problem}")

    # -- routing ----------------------------------------------------------------------

    def _address(self, i: Instance) -> str:
        return f"{i.ip}:{self.settings.container_port}"

    async def _switch(self, desired: Desired, version: int, new: list[Instance], old: list[Instance]) -> None:
        """Move traffic from old instances to new ones one at a time — add a new one to the
        router, then take an old one out, let its requests finish, and stop it — so the app
        never has fewer routed instances than it had. Old non-web instances stop after all
        new ones are up."""
        web_new = sorted((i for i in new if i.process == "web" and i.ip), key=lambda i: i.index)
        web_old = sorted((i for i in old if i.process == "web" and i.running and i.ip), key=lambda i: i.index)
        routed = list(web_old)
        stops = []
        if not web_old:
            routed = list(web_new)
            if routed or desired.announced:
                await self._announce(desired.app, routed, version)
        else:
            for k in range(max(len(web_new), len(web_old))):
                if k < len(web_new):
                    routed.append(web_new[k])
                    await self._announce(desired.app, routed, version)
                if k < len(web_old):
                    routed.remove(web_old[k])
                    self.stopping.add(web_old[k].instance)
                    await self._announce(desired.app, routed, version)
                    stops.append(asyncio.create_task(self._stop(desired.app, web_old[k])))
        others = [i for i in old if i not in web_old]
        stops += [asyncio.create_task(self._stop(desired.app, i)) for i in others]
        await asyncio.gather(*stops)

    async def _stop(self, app: str, i: Instance) -> None:
        if i.running:
            await self.say(app, f"Stopping {i.instance}", process=i.process)
        self.stopping.add(i.instance)
        self.unrouted.discard(i.instance)
        try:
            await self.runtime.stop(i.container_id, self.settings.stop_grace_s)
        finally:
            self.stopping.discard(i.instance)

    async def _announce(self, app: str, instances: list[Instance], version: int) -> None:
        """Tell the router the complete set of endpoints, and wait until it serves exactly them."""
        endpoints = [ev.Endpoint(instance=i.instance, host=i.ip, port=self.settings.container_port)
                     for i in instances]
        addresses = [f"{e.host}:{e.port}" for e in endpoints]
        async with self.pool.acquire() as conn, conn.transaction():
            await bus.add_to_outbox(conn, ev.EndpointsChanged(app=app, endpoints=endpoints, release_version=version))
            await conn.execute(q.SET_ANNOUNCED, app, addresses)
        await self._wait_routed(app, addresses)
        self.unrouted.difference_update(i.instance for i in instances)

    async def _wait_routed(self, app: str, addresses: list[str]) -> None:
        """Ask the router (request/reply) until its servers for the app are exactly these:
        new ones ready, old ones drained of their requests and removed."""
        want = set(addresses)
        deadline = time.monotonic() + self.settings.route_confirm_timeout_s
        while time.monotonic() < deadline:
            try:
                reply = await self.nc.request("berth.router.routes", json.dumps({"app": app}).encode(), timeout=2)
                servers = json.loads(reply.data).get("servers", [])
                ready = {s["address"] for s in servers if s.get("state") == "ready"}
                if ready == want and len(servers) == len(want):
                    return
            except Exception:  # noqa: BLE001 - router not answering yet
                pass
            await asyncio.sleep(0.1)
        log.warning("%s: the router did not confirm %s within %.0f s; going on", app, sorted(want),
                    self.settings.route_confirm_timeout_s)

    # -- steady state -----------------------------------------------------------------

    async def converge(self, desired: Desired, release: ReleaseSpec, actual: list[Instance]) -> None:
        """Keep the deployed release's formation running: restart crashed instances with
        exponential backoff, scale up and down, remove anything else."""
        app = desired.app
        now = datetime.now(timezone.utc)
        wanted = plan_slots(desired, release)
        crashes = {(r["process"], r["index"]): r for r in await self.pool.fetch(q.CRASHES_OF_APP, app)}

        in_slot: dict[tuple[str, int], Instance] = {}
        extra: list[Instance] = []
        for i in sorted(actual, key=lambda i: i.started_at or now, reverse=True):  # newest first
            ours = i.version == release.version and slot(i) in wanted
            if ours and i.running and slot(i) not in in_slot:
                in_slot[slot(i)] = i
                continue
            if ours and not i.running:
                crashes[slot(i)] = await self._record_crash(app, i)
            extra.append(i)

        for s in wanted:
            running = in_slot.get(s)
            crash = crashes.get(s)
            if running is not None:
                up_for = (now - running.started_at).total_seconds() if running.started_at else 0
                if crash and up_for >= BACKOFF_RESET_AFTER_S:
                    await self.pool.execute(q.CLEAR_CRASH, app, *s)
                continue
            if crash and crash["next_start_at"] > now:
                self.wake_later(app, (crash["next_start_at"] - now).total_seconds())
                continue
            try:
                inst = await self._start_one(desired, InstanceSpec(app, s[0], s[1], release, size=desired.size(s[0])))
            except RolloutFailed as e:
                await self.say(app, f"could not start {s[0]}.{s[1]}: {e}", process=s[0])
                row = await self._count_crash(app, s[0], s[1], None)
                self.wake_later(app, (row["next_start_at"] - datetime.now(timezone.utc)).total_seconds())
                continue
            in_slot[s] = inst
            async with self.pool.acquire() as conn, conn.transaction():
                await _record_processes(conn, app, started=[inst])

        web = sorted((i for s, i in in_slot.items() if s[0] == "web" and i.ip), key=lambda i: i.index)
        if sorted(self._address(i) for i in web) != sorted(desired.announced or []):
            await self._announce(app, web, release.version)
        if extra:
            await asyncio.gather(*(self._stop(app, i) for i in extra))
            async with self.pool.acquire() as conn, conn.transaction():
                await _record_processes(conn, app, stopped=[i for i in extra if i.running])

    async def _count_crash(self, app: str, process: str, index: int, exit_code: int | None) -> asyncpg.Record:
        """One more crash of the slot; the next start waits out the backoff for that count."""
        async with self.pool.acquire() as conn, conn.transaction():
            restarts = (await conn.fetchval(q.CRASH_COUNT, app, process, index) or 0) + 1
            delay = backoff_seconds(restarts, self.settings.backoff_start_s, self.settings.backoff_cap_s)
            return await conn.fetchrow(q.RECORD_CRASH, app, process, index, exit_code, restarts, delay)

    async def _record_crash(self, app: str, i: Instance) -> asyncpg.Record:
        row = await self._count_crash(app, i.process, i.index, i.exit_code)
        delay = max((row["next_start_at"] - datetime.now(timezone.utc)).total_seconds(), 0)
        async with self.pool.acquire() as conn, conn.transaction():
            await bus.add_to_outbox(conn, ev.ProcessCrashed(app=app, instance=i.instance, process=i.process,
                                                            release_version=i.version, exit_code=i.exit_code))
        await self.say(app, f"{i.instance} crashed (exit code {i.exit_code}); restart #{row['restarts']} "
                            f"in {delay:.0f} s", process=i.process)
        return row

    def _resized(self, desired: Desired, actual: list[Instance]) -> list[str]:
        """Process types with a running instance started at another size than the formation's."""
        release = desired.deployed
        return sorted({i.process for i in actual if i.running and i.version == release.version
                       and i.process in release.formation_types() and i.size != desired.size(i.process)})

    async def restart(self, desired: Desired, release: ReleaseSpec, actual: list[Instance]) -> None:
        """`ps:restart` and `ps:resize`: replace instances with fresh ones of the same
        release (at the formation's size), rolling."""
        wanted = set(desired.restart_pending) | set(self._resized(desired, actual))
        types = release.formation_types() if "*" in wanted else [p for p in release.formation_types() if p in wanted]
        await self.say(desired.app, f"Restarting {', '.join(types) or 'nothing'}")
        slots = [s for s in plan_slots(desired, release) if s[0] in types]
        try:
            new, started = await self._start_slots(desired, release, slots, actual, reuse=False)
        except RolloutFailed as e:
            await self.say(desired.app, f"restart failed, the running instances keep serving: {e}")
            await self.pool.execute(q.CLEAR_RESTARTS, desired.app)
            return
        old = [i for i in actual if i.process in types and i not in new]
        await self._switch(desired, release.version, new, old)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(q.CLEAR_RESTARTS, desired.app)
            await _record_processes(conn, desired.app, started=started, stopped=old)
        await self.say(desired.app, "Restart done")

    # -- platform log lines -----------------------------------------------------------

    async def say(self, app: str, line: str, process: str = "scheduler") -> None:
        log.info("%s: %s", app, line)
        try:
            await bus.publish_log(self.js, ev.LogLine(app=app, source="berth", process=process, line=line))
        except Exception:  # noqa: BLE001 - a lost platform line must not stop a rollout
            log.warning("could not publish a log line for %s", app)
