"""The Docker runtime backend: start, stop and list instances through the Engine API.

The docker SDK is synchronous, so every call runs in a thread, never on the event loop.
Each app gets its own bridge network (`berth-app-<app>`): containers of different apps
cannot reach each other; the host (the router, the scheduler's health checks) reaches them
by IP, and in the compose stack the named peer containers (router, scheduler) are attached
to each app network."""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import threading
from datetime import datetime
from typing import Callable, Iterator

import docker
from docker.errors import APIError, NotFound
from docker.utils.socket import STDERR, frames_iter

from berth_common.labels import DEFAULT_PLATFORM_ID, LABEL_PLATFORM, platform_filters

from ..domain.model import (LABEL_APP, LABEL_INDEX, LABEL_INSTANCE, LABEL_ONEOFF, LABEL_PROCESS, LABEL_SIZE, LABEL_VERSION,
                            Instance, InstanceSpec)
from .security import container_security_options

log = logging.getLogger(__name__)


def network_name(app: str, platform_id: str = DEFAULT_PLATFORM_ID) -> str:
    prefix = "berth" if platform_id == DEFAULT_PLATFORM_ID else f"berth-{platform_id}"
    return f"{prefix}-app-{app}"


def container_name(spec: InstanceSpec, platform_id: str = DEFAULT_PLATFORM_ID) -> str:
    prefix = "berth" if platform_id == DEFAULT_PLATFORM_ID else f"berth-{platform_id}"
    return f"{prefix}-{spec.app}-{spec.instance.replace('.', '-')}"


class Attached:
    """A connection attached to a container's stdin, stdout and stderr (blocking calls: run
    them in a thread)."""

    def __init__(self, sock, tty: bool):
        self.sock, self.tty = sock, tty
        self._raw = getattr(sock, "_sock", sock)  # socket.SocketIO wraps the socket

    def frames(self) -> Iterator[tuple[str, bytes]]:
        """("stdout" | "stderr", bytes) until the container's output ends (a terminal has
        only one stream: "stdout")."""
        for stream, data in frames_iter(self.sock, self.tty):
            if data:
                yield ("stderr" if stream == STDERR else "stdout"), data

    def write(self, data: bytes) -> None:
        self._raw.sendall(data)

    def close_stdin(self) -> None:
        """End of input: the container's stdin is closed (it was created with stdin_once)."""
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.close()


def _parse_time(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-"):
        return None
    # Docker gives nanoseconds: keep microseconds for fromisoformat.
    head, _, frac = value.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


class DockerRuntime:
    def __init__(self, client: docker.DockerClient | None = None, *, memory="512m", cpus=1.0, pids=512,
                 network_peers: tuple[str, ...] = (), platform_id: str = DEFAULT_PLATFORM_ID,
                 subnet_pool: str = "172.31.0.0/16"):
        self.client = client or docker.from_env()
        self.platform_id = platform_id
        self.subnet_pool = ipaddress.ip_network(subnet_pool)
        self.defaults = {"memory": memory, "cpus": cpus, "pids": pids}
        self.network_peers = network_peers
        self._network_lock = threading.Lock()

    # -- instances --------------------------------------------------------------------

    async def start(self, spec: InstanceSpec, port: int, env: dict[str, str], limits: dict | None = None) -> Instance:
        return await asyncio.to_thread(self._start, spec, port, env, {**self.defaults, **(limits or {})})

    def _start(self, spec: InstanceSpec, port: int, env: dict[str, str], limits: dict) -> Instance:
        container = self.client.containers.run(detach=True, **self._container_args(spec, port, env, limits))
        container.reload()
        return self._instance(container)

    def _container_args(self, spec: InstanceSpec, port: int, env: dict[str, str], limits: dict) -> dict:
        return dict(
            image=spec.release.image, command=["/bin/sh", "-c", spec.command] if spec.command else None,
            name=container_name(spec, self.platform_id), labels=spec.labels(self.platform_id),
            environment={**env, "PORT": str(port), "DYNO": f"{spec.process}.{spec.index}"},
            network=self._ensure_network(spec.app), hostname=spec.instance.replace(".", "-"),
            log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
            **container_security_options(**limits),
        )

    async def start_attached(self, spec: InstanceSpec, port: int, env: dict[str, str], limits: dict | None,
                             tty: bool) -> tuple[Instance, "Attached"]:
        """Start a one-off container with its stdin open and a connection attached to its
        stdin, stdout and stderr (a terminal when `tty`). Attached before it starts, so
        none of its output is missed."""
        def start():
            container = self.client.containers.create(
                stdin_open=True, tty=tty,  # stdin_open implies StdinOnce: our EOF closes its stdin
                **self._container_args(spec, port, env, {**self.defaults, **(limits or {})}))
            try:
                sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
                container.start()
                container.reload()
            except Exception:
                container.remove(force=True)
                raise
            return self._instance(container), Attached(sock, tty)
        return await asyncio.to_thread(start)

    async def resize(self, container_id: str, rows: int, cols: int) -> None:
        def resize():
            try:
                self.client.api.resize(container_id, height=rows, width=cols)
            except (NotFound, APIError) as e:  # exited meanwhile
                log.debug("resizing %s: %s", container_id[:12], e)
        await asyncio.to_thread(resize)

    async def stop(self, container_id: str, grace_s: float) -> None:
        await asyncio.to_thread(self._stop, container_id, grace_s)

    def _stop(self, container_id: str, grace_s: float) -> None:
        try:
            c = self.client.containers.get(container_id)
            if c.status == "running":
                c.stop(timeout=int(grace_s))  # SIGTERM, SIGKILL after the grace period
            c.remove(force=True)
        except NotFound:
            pass
        except APIError as e:
            if e.status_code != 409:  # removal already in progress
                raise

    async def get(self, container_id: str) -> Instance | None:
        def get():
            try:
                return self._instance(self.client.containers.get(container_id))
            except NotFound:
                return None
        return await asyncio.to_thread(get)

    async def list(self, app: str | None = None) -> list[Instance]:
        return await asyncio.to_thread(self._list, app)

    def _list(self, app: str | None) -> list[Instance]:
        out = []
        # ignore_removed: a container removed between the listing and its inspection is skipped.
        for c in self.client.containers.list(all=True, filters={"label": platform_filters(self.platform_id, app)},
                                             ignore_removed=True):
            try:
                out.append(self._instance(c))
            except (KeyError, ValueError):
                log.warning("container %s has incomplete berth labels; ignored", c.id[:12])
        return out

    async def logs_tail(self, container_id: str, lines: int = 20) -> str:
        def tail():
            try:
                return self.client.containers.get(container_id).logs(tail=lines).decode(errors="replace")
            except NotFound:
                return ""
        return await asyncio.to_thread(tail)

    async def wait(self, container_id: str, timeout_s: float) -> int:
        """Wait for a container to exit; its exit code (a timeout kills it and raises)."""
        def wait():
            c = self.client.containers.get(container_id)
            try:
                return c.wait(timeout=timeout_s)["StatusCode"]
            except Exception:  # requests' ReadTimeout: still running
                c.kill()
                raise TimeoutError(f"still running after {timeout_s:.0f} s")
        return await asyncio.to_thread(wait)

    def follow_output(self, container_id: str, on_line: Callable[[str], None]) -> threading.Thread:
        """Call on_line (from a thread) for each output line until the container exits."""
        def run():
            try:
                buf = b""
                for chunk in self.client.containers.get(container_id).logs(stream=True, follow=True):
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        on_line(line.decode(errors="replace"))
                if buf:
                    on_line(buf.decode(errors="replace"))
            except NotFound:
                pass
        t = threading.Thread(target=run, daemon=True, name=f"output-{container_id[:12]}")
        t.start()
        return t

    def watch_exits(self, on_exit: Callable[[str], None]) -> threading.Thread:
        """Call on_exit(app) (from a thread) whenever a Berth container dies, so crashes are
        handled at once rather than at the next timer pass."""
        def run():
            while True:
                try:
                    for e in self.client.events(decode=True, filters={"type": "container", "event": "die",
                                                                       "label": platform_filters(self.platform_id)}):
                        app = e.get("Actor", {}).get("Attributes", {}).get(LABEL_APP)
                        if app:
                            on_exit(app)
                except Exception:  # noqa: BLE001 - engine restarted: watch again
                    log.warning("docker events stream ended; watching again")
                    threading.Event().wait(1)
        t = threading.Thread(target=run, daemon=True, name="docker-exits")
        t.start()
        return t

    def _instance(self, c) -> Instance:
        labels = c.labels
        nets = c.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
        net = nets.get(network_name(labels[LABEL_APP], self.platform_id)) or next(iter(nets.values()), {})
        state = c.attrs.get("State", {})
        return Instance(
            container_id=c.id, app=labels[LABEL_APP], process=labels[LABEL_PROCESS],
            index=int(labels.get(LABEL_INDEX, "0")), instance=labels[LABEL_INSTANCE],
            version=int(labels[LABEL_VERSION]),
            running=state.get("Running", False) and not state.get("Restarting", False),
            ip=net.get("IPAddress") or None, exit_code=state.get("ExitCode"),
            started_at=_parse_time(state.get("StartedAt")), oneoff=labels.get(LABEL_ONEOFF) == "true",
            size=labels.get(LABEL_SIZE, ""),
        )

    # -- networks ---------------------------------------------------------------------

    def _networks_named(self, name: str) -> list:
        # Docker's name filter also matches names that merely contain it (berth-app-web
        # would find berth-app-webshop): keep the exact ones.
        return [n for n in self.client.networks.list(names=[name]) if n.name == name]

    def _ensure_network(self, app: str):
        name = network_name(app, self.platform_id)
        # Instances of an app start in parallel threads: one of them creates the network.
        with self._network_lock:
            found = self._networks_named(name)
            network = found[0] if found else self._create_network(name, app)
        if self.network_peers:
            network.reload()
            attached = {c.get("Name") for c in (network.attrs.get("Containers") or {}).values()}
            for peer in self.network_peers:
                if peer not in attached:
                    try:
                        network.connect(peer)
                    except APIError as e:
                        if "already exists" not in str(e):
                            log.warning("could not attach %s to %s: %s", peer, name, e)
        return name

    def _create_network(self, name: str, app: str):
        """An app network on a /24 of Berth's own pool. Docker's default pools hand out a /16
        per network and run out after about thirty; a PaaS has more apps than that."""
        used = []
        for n in self.client.networks.list():
            for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Subnet"):
                    try:
                        used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
                    except ValueError:
                        pass
        for subnet in self.subnet_pool.subnets(new_prefix=24):
            if any(subnet.overlaps(u) for u in used):
                continue
            pool = docker.types.IPAMPool(subnet=str(subnet), gateway=str(next(subnet.hosts())))
            try:
                return self.client.networks.create(
                    name, driver="bridge", check_duplicate=True, ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                    labels={LABEL_APP: app, LABEL_PLATFORM: self.platform_id})
            except APIError as e:
                if e.status_code == 409 or "already exists" in str(e):
                    return self._networks_named(name)[0]
                if "overlap" in str(e).lower():  # taken meanwhile by someone else: next one
                    used.append(subnet)
                    continue
                raise
        raise RuntimeError(f"no free /24 left in the app subnet pool {self.subnet_pool} (BERTH_APP_SUBNET_POOL)")

    async def remove_network(self, app: str) -> None:
        def remove():
            for n in self._networks_named(network_name(app, self.platform_id)):
                try:
                    n.reload()
                    for cid in (n.attrs.get("Containers") or {}):
                        n.disconnect(cid, force=True)  # peers (router, scheduler) let go first
                    n.remove()
                except (NotFound, APIError) as e:
                    log.warning("could not remove network %s: %s", n.name, e)
        await asyncio.to_thread(remove)
