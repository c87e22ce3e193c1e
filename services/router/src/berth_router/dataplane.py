"""The control loop of the HAProxy data plane: start HAProxy from the router's tables and
restart it if it dies; converge what it runs to the tables on every wake-up and every few
seconds (level-triggered: a missed event or an HAProxy restart heals by itself).

Endpoint changes go through the Runtime API without a reload: new servers are added and
enabled first, then removed ones are drained (no new requests, in-flight ones finish),
put in maintenance and deleted. Only a new app needs a new backend, which the Runtime API
cannot create: then the configuration is regenerated and HAProxy reloaded hitlessly."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import asyncpg

from berth_common.tasks import cancel_all

from .adapters import routes_repo
from .adapters.haproxy_process import HAProxyProcess, check_config
from .adapters.runtime_api import HAProxyUnavailable, MasterCli, RuntimeApi, RuntimeApiError
from .config import RouterSettings
from .domain.haproxy_config import DataPlaneLayout, render_config, render_map
from .domain.routes import (
    BACKEND_PREFIX, Route, backend_name, host_map, missing_backends, plan_map, plan_servers,
)

log = logging.getLogger("berth.router.dataplane")


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic: HAProxy never reads half a file
    return True


class DataPlane:
    def __init__(self, settings: RouterSettings, wake: asyncio.Event):
        self.settings = settings
        self.wake = wake
        d = settings.data_dir
        self.config_file = d / "haproxy.cfg"
        self.map_file = d / "hosts.map"
        self.admin_socket = d / "haproxy-admin.sock"
        self.master_socket = d / "haproxy-master.sock"
        self.pid_file = d / "haproxy.pid"
        self.api = RuntimeApi(self.admin_socket)
        self.master = MasterCli(self.master_socket)
        self.process = HAProxyProcess(settings.haproxy_binary, self.config_file, self.master_socket, self.pid_file)
        self.log_address: str | None = None
        self.pool: asyncpg.Pool | None = None
        self.ready = asyncio.Event()       # HAProxy runs and has converged once
        self.converged = asyncio.Event()   # set after each successful converge pass
        self.reloads = 0
        # (backend, server) -> instance id, for answers about servers being drained after
        # their endpoint row is gone
        self._instances: dict[tuple[str, str], str] = {}
        self._drains: dict[tuple[str, str], asyncio.Task] = {}

    # --- lifecycle -----------------------------------------------------------------------

    async def run(self, pool: asyncpg.Pool, log_address: str | None) -> None:
        """Supervise HAProxy for the router's lifetime."""
        self.pool, self.log_address = pool, log_address
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        backoff = 1.0
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._start()
                    code = await self._converge_until_exit()
                    log.error("HAProxy exited with code %s; restarting", code)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("HAProxy data plane failed; restarting")
                self.ready.clear()
                await self._cancel_drains()
                await self.process.stop()
                backoff = 1.0 if time.monotonic() - started > 30 else min(backoff * 2, 30)
                await asyncio.sleep(backoff)
        finally:
            self.ready.clear()
            await self._cancel_drains()
            await self.process.stop()

    async def _converge_until_exit(self) -> int:
        converge = asyncio.create_task(self._converge_loop())
        exited = asyncio.create_task(self.process.wait())
        try:
            await asyncio.wait({converge, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                converge.result()  # the loop never ends by itself: re-raise what stopped it
            return exited.result()
        finally:
            # also when the router stops: neither task may outlive this one
            await cancel_all([converge, exited])

    async def _start(self) -> None:
        # The configuration comes from the tables, so a (re)started HAProxy serves every
        # route and endpoint at once, before any event arrives.
        routes = await routes_repo.load_routes(self.pool, self.settings.base_domain)
        await self._write_files(routes)
        await self.process.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                await self.api.info()
                break
            except HAProxyUnavailable:
                if self.process.proc is None or self.process.proc.returncode is not None:
                    raise RuntimeError("HAProxy exited during start-up")
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self._remember(routes)

    async def _write_files(self, routes: list[Route]) -> None:
        layout = DataPlaneLayout(
            bind=self.settings.bind, http_port=self.settings.http_port,
            admin_socket=self.admin_socket, map_file=self.map_file, log_address=self.log_address,
        )
        _write_if_changed(self.map_file, render_map(routes))
        new = self.config_file.with_suffix(".cfg.new")
        new.write_text(render_config(routes, layout))
        await check_config(self.settings.haproxy_binary, new)
        new.replace(self.config_file)

    # --- converging ----------------------------------------------------------------------

    async def _converge_loop(self) -> None:
        while True:
            self.wake.clear()
            try:
                await self.converge_once()
                self.ready.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("converge failed; retrying")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.converge_seconds)

    async def converge_once(self) -> None:
        self.converged.clear()
        routes = await routes_repo.load_routes(self.pool, self.settings.base_domain)
        self._remember(routes)
        live_backends = await self.api.backends()
        if missing_backends(routes, live_backends):
            await self.reload(routes)
            live_backends = await self.api.backends()
        else:
            # keep the file current so that a restart or reload keeps runtime map changes
            _write_if_changed(self.map_file, render_map(routes))

        # Servers first, map second: a host is pointed at a backend once it has servers.
        live = {}
        for server in await self.api.servers():
            live.setdefault(server.backend, []).append(server)
        for route in routes:
            await self._converge_servers(route, live.get(route.backend, []))
        desired_map = host_map(routes)
        live_map = await self.api.show_map(self.map_file)
        plan = plan_map(desired_map, live_map)
        for host, backend in plan.set.items():
            await self.api.set_map(self.map_file, host, backend, exists=host in live_map)
        for host in plan.delete:
            await self.api.del_map(self.map_file, host)
        if plan:
            log.info("map: set %s, deleted %s", sorted(plan.set), plan.delete)

        # Backends of deleted apps stay until the next reload; their hosts are already
        # gone from the map, so their servers only finish what is in flight.
        wanted = {r.backend for r in routes}
        for backend in live_backends:
            if backend.startswith(BACKEND_PREFIX) and backend not in wanted:
                for server in live.get(backend, []):
                    self._start_drain(backend, server.name)
        self.converged.set()

    async def _converge_servers(self, route: Route, live) -> None:
        plan = plan_servers(route.servers, live)
        if not plan:
            return
        b = route.backend
        # Order matters for zero downtime: new instances take traffic before old ones stop.
        for server in plan.add:
            await self._cancel_drain(b, server.name)
            await self.api.add_server(b, server.name, server.address)
            await self.api.enable_server(b, server.name)
            log.info("%s: added server %s (%s)", b, server.name, server.address)
        for server in plan.readdress:
            await self._cancel_drain(b, server.name)
            await self.api.set_server_address(b, server.name, server.host, server.port)
        for server in plan.make_ready:
            await self._cancel_drain(b, server.name)
            await self.api.set_server_state(b, server.name, "ready")
            log.info("%s: server %s ready again", b, server.name)
        for name in plan.remove:
            self._start_drain(b, name)

    async def reload(self, routes: list[Route]) -> None:
        await self._write_files(routes)
        before = (await self.api.info()).get("Pid")
        await self.master.reload()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(HAProxyUnavailable):
                if (await self.api.info()).get("Pid") != before:
                    break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeApiError("no new HAProxy worker after reload")
        self.reloads += 1
        # servers being drained were not in the new configuration: nothing left to delete
        await self._cancel_drains()
        log.info("HAProxy reloaded for new backends")

    # --- draining ------------------------------------------------------------------------

    def _start_drain(self, backend: str, server: str) -> None:
        key = (backend, server)
        if key not in self._drains:
            self._drains[key] = asyncio.create_task(self._drain(backend, server), name=f"drain {backend}/{server}")

    async def _cancel_drain(self, backend: str, server: str) -> None:
        task = self._drains.pop((backend, server), None)
        if task:
            await cancel_all([task])

    async def _cancel_drains(self) -> None:
        for key in list(self._drains):
            await self._cancel_drain(*key)

    async def _drain(self, backend: str, server: str) -> None:
        """No new requests, in-flight ones finish (or the drain time runs out), then the
        server is put in maintenance, its sessions shut and it is deleted; HAProxy deletes
        only a server in maintenance without connections."""
        try:
            await self.api.set_server_state(backend, server, "drain")
            log.info("%s: draining server %s", backend, server)
            deadline = time.monotonic() + self.settings.drain_seconds
            while time.monotonic() < deadline:
                if (await self.api.server_sessions()).get((backend, server), 0) == 0:
                    break
                await asyncio.sleep(0.2)
            await self.api.set_server_state(backend, server, "maint")
            await self.api.shutdown_sessions(backend, server)
            for attempt in range(50):
                try:
                    await self.api.del_server(backend, server)
                    break
                except RuntimeApiError as e:
                    if "No such server" in str(e):
                        break
                    if attempt == 49:
                        raise
                    await asyncio.sleep(0.2)
            log.info("%s: deleted server %s", backend, server)
            self._instances.pop((backend, server), None)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: draining server %s failed; the converge loop retries", backend, server)
        finally:
            if self._drains.get((backend, server)) is asyncio.current_task():
                del self._drains[(backend, server)]

    # --- queries ------------------------------------------------------------------------

    def _remember(self, routes: list[Route]) -> None:
        for r in routes:
            for s in r.servers:
                self._instances[(r.backend, s.name)] = s.instance

    async def live_servers(self, app: str) -> list[dict]:
        """The servers HAProxy runs for an app right now, as the scheduler sees them."""
        backend = backend_name(app)
        servers = await self.api.servers(backend)
        return [
            {"instance": self._instances.get((backend, s.name), s.name), "address": s.address, "state": s.state}
            for s in servers
        ]
