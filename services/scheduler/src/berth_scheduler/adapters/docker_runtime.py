"""The Docker runtime backend: start, stop and list instances through the Engine API.

The docker SDK is synchronous, so every call runs in a thread, never on the event loop.
Each app gets its own bridge network (`berth-app-<app>`): containers of different apps
cannot reach each other, and the host (the router) reaches them by IP."""
from __future__ import annotations

import asyncio
import logging

import docker
from docker.errors import APIError, NotFound

from ..domain.model import (LABEL_APP, LABEL_INSTANCE, LABEL_PROCESS, LABEL_VERSION, Instance, InstanceSpec)
from .security import container_security_options

log = logging.getLogger(__name__)


def network_name(app: str) -> str:
    return f"berth-app-{app}"


def container_name(spec: InstanceSpec) -> str:
    return f"berth-{spec.app}-{spec.instance.replace('.', '-')}"


class DockerRuntime:
    def __init__(self, client: docker.DockerClient | None = None, *, memory="512m", cpus=1.0, pids=512):
        self.client = client or docker.from_env()
        self.limits = {"memory": memory, "cpus": cpus, "pids": pids}

    # -- instances --------------------------------------------------------------------

    async def start(self, spec: InstanceSpec, port: int) -> Instance:
        return await asyncio.to_thread(self._start, spec, port)

    def _start(self, spec: InstanceSpec, port: int) -> Instance:
        net = self._ensure_network(spec.app)
        name = container_name(spec)
        try:  # a leftover of a killed scheduler with the same name: replace it
            self.client.containers.get(name).remove(force=True)
        except NotFound:
            pass
        command = ["/bin/sh", "-c", spec.command] if spec.command else None
        container = self.client.containers.run(
            spec.release.image, command=command, name=name, detach=True, labels=spec.labels(),
            environment={**spec.release.config, "PORT": str(port), "DYNO": spec.instance},
            network=net, hostname=spec.instance.replace(".", "-"),
            log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
            **container_security_options(**self.limits),
        )
        container.reload()
        return self._instance(container)

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
        label = f"{LABEL_APP}={app}" if app else LABEL_APP
        out = []
        for c in self.client.containers.list(all=True, filters={"label": label}):
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

    def _instance(self, c) -> Instance:
        labels = c.labels
        nets = c.attrs.get("NetworkSettings", {}).get("Networks", {}) or {}
        net = nets.get(network_name(labels[LABEL_APP])) or next(iter(nets.values()), {})
        state = c.attrs.get("State", {})
        return Instance(
            container_id=c.id, app=labels[LABEL_APP], process=labels[LABEL_PROCESS],
            instance=labels[LABEL_INSTANCE], version=int(labels[LABEL_VERSION]),
            running=state.get("Running", False) and not state.get("Restarting", False),
            ip=net.get("IPAddress") or None, exit_code=state.get("ExitCode"),
        )

    # -- networks ---------------------------------------------------------------------

    def _ensure_network(self, app: str) -> str:
        name = network_name(app)
        if not self.client.networks.list(names=[name]):
            try:
                self.client.networks.create(name, driver="bridge", labels={LABEL_APP: app}, check_duplicate=True)
            except APIError as e:
                if e.status_code != 409:
                    raise
        return name

    async def remove_network(self, app: str) -> None:
        def remove():
            for n in self.client.networks.list(names=[network_name(app)]):
                try:
                    n.remove()
                except (NotFound, APIError) as e:
                    log.warning("could not remove network %s: %s", n.name, e)
        await asyncio.to_thread(remove)
