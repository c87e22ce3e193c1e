"""The scheduler's settings, read from the environment in one place."""
import os
from dataclasses import dataclass

from berth_common.settings import CommonSettings


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    boot_timeout_s: float          # how long a new instance has to accept connections on PORT
    stop_grace_s: float            # SIGTERM, then SIGKILL after this long
    route_confirm_timeout_s: float  # how long to wait for the router to take new instances
    reconcile_interval_s: float
    memory: str                    # default per-instance memory limit (docker syntax, e.g. 512m)
    cpus: float
    pids: int
    container_port: int
    release_phase_timeout_s: float
    backoff_start_s: float
    backoff_cap_s: float
    network_peers: tuple[str, ...]  # containers to attach to every app network (compose: router, scheduler)
    subnet_pool: str  # app networks get a /24 each from it

    @classmethod
    def from_env(cls) -> "Settings":
        e = os.environ.get
        return cls(
            common=CommonSettings.from_env("scheduler", default_health_port=5002),
            boot_timeout_s=float(e("BERTH_BOOT_TIMEOUT", "60")),
            stop_grace_s=float(e("BERTH_STOP_GRACE", "30")),
            route_confirm_timeout_s=float(e("BERTH_ROUTE_CONFIRM_TIMEOUT", "20")),
            reconcile_interval_s=float(e("BERTH_RECONCILE_INTERVAL", "10")),
            memory=e("BERTH_DEFAULT_MEMORY", "512m"),
            cpus=float(e("BERTH_DEFAULT_CPUS", "1")),
            pids=int(e("BERTH_DEFAULT_PIDS", "512")),
            container_port=int(e("BERTH_CONTAINER_PORT", "5000")),
            release_phase_timeout_s=float(e("BERTH_RELEASE_PHASE_TIMEOUT", "900")),
            backoff_start_s=float(e("BERTH_RESTART_BACKOFF_START", "1")),
            backoff_cap_s=float(e("BERTH_RESTART_BACKOFF_CAP", "300")),
            subnet_pool=e("BERTH_APP_SUBNET_POOL", "172.31.0.0/16"),
            network_peers=tuple(p.strip() for p in e("BERTH_APP_NETWORK_PEERS", "").split(",") if p.strip()),
        )
