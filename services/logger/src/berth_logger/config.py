"""The logger's settings, read from the environment in one place."""
from __future__ import annotations

import os
from dataclasses import dataclass

from berth_common.settings import CommonSettings

from .domain.retention import Retention

DEFAULT_HEALTH_PORT = 5004


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    try:
        return float(raw) if raw not in (None, "") else default
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class LoggerSettings:
    common: CommonSettings
    # BERTH_LOG_MAX_LINES_PER_APP / BERTH_LOG_MAX_AGE_HOURS: what the periodic sweep keeps.
    retention: Retention
    # BERTH_LOG_RETENTION_INTERVAL_S: how often the sweep runs.
    retention_interval_s: float = 60.0
    # BERTH_LOGGER_DOCKER=0 turns off container log collection (e.g. the Kubernetes backend,
    # or a host without a Docker engine); stream-ingested lines still work.
    collect_docker: bool = True
    # BERTH_LOGGER_BATCH: lines fetched from the logs stream and stored per transaction.
    batch: int = 200
    # BERTH_LOG_DRAIN_ALLOW_HOSTS: internal hosts or CIDRs log drains may reach (the SSRF
    # guard refuses loopback, private and link-local addresses otherwise).
    drain_allow_hosts: str = ""

    @classmethod
    def from_env(cls) -> "LoggerSettings":
        return cls(
            common=CommonSettings.from_env("logger", default_health_port=DEFAULT_HEALTH_PORT),
            retention=Retention(
                max_lines_per_app=_int("BERTH_LOG_MAX_LINES_PER_APP", 10_000),
                max_age_hours=_float("BERTH_LOG_MAX_AGE_HOURS", 168),
            ),
            retention_interval_s=_float("BERTH_LOG_RETENTION_INTERVAL_S", 60.0),
            collect_docker=os.environ.get("BERTH_LOGGER_DOCKER", "1").lower() not in ("0", "false", "no", "off"),
            batch=_int("BERTH_LOGGER_BATCH", 200),
            drain_allow_hosts=os.environ.get("BERTH_LOG_DRAIN_ALLOW_HOSTS", ""),
        )
