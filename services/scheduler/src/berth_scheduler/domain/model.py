"""Desired and actual state, and the pure decisions between them."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from berth_common.labels import LABEL_APP, LABEL_PLATFORM
from berth_common.secrets import unseal_config

LABEL_RELEASE = "berth.release"
LABEL_VERSION = "berth.version"
LABEL_PROCESS = "berth.process"
LABEL_INDEX = "berth.index"
LABEL_INSTANCE = "berth.instance"
LABEL_ONEOFF = "berth.oneoff"
LABEL_SIZE = "berth.size"  # the memory/cpus an instance was started with: a resize replaces it

RELEASE_PHASE = "release"  # the Procfile entry run once per release, before it takes traffic
ONEOFF = "run"             # `berth run`
NOT_FORMATION = {RELEASE_PHASE, ONEOFF}

DEFAULT_BACKOFF_START_S = 1
DEFAULT_BACKOFF_CAP_S = 300
BACKOFF_RESET_AFTER_S = 600


@dataclass(frozen=True)
class ReleaseSpec:
    release_id: str
    version: int
    image: str
    process_types: dict[str, str | None]
    config_sealed: str
    healthchecks: dict[str, list[dict]] = field(default_factory=dict)
    description: str = ""

    @classmethod
    def from_json(cls, d: dict | None) -> "ReleaseSpec | None":
        return cls(**d) if d else None

    def to_json(self) -> dict:
        return {"release_id": self.release_id, "version": self.version, "image": self.image,
                "process_types": self.process_types, "config_sealed": self.config_sealed,
                "healthchecks": self.healthchecks, "description": self.description}

    def config(self) -> dict[str, str]:
        return unseal_config(self.config_sealed)

    def formation_types(self) -> list[str]:
        """Process types that run as instances, web first."""
        return sorted((p for p in self.process_types if p not in NOT_FORMATION), key=lambda p: (p != "web", p))


@dataclass(frozen=True)
class Desired:
    app: str
    target: ReleaseSpec | None
    deployed: ReleaseSpec | None
    failed_version: int | None
    formation: dict[str, dict]
    announced: list[str] | None
    deleted: bool
    traceparent: str | None = None
    release_phase_version: int | None = None
    restart_pending: list[str] = field(default_factory=list)

    def scale(self, release: ReleaseSpec, process: str) -> int:
        """Heroku's default: one web instance when the release has a web type, else none."""
        if process not in release.process_types or process in NOT_FORMATION:
            return 0
        if process in self.formation and self.formation[process].get("quantity") is not None:
            return int(self.formation[process]["quantity"])
        return 1 if process == "web" else 0

    def limits(self, process: str) -> dict:
        f = self.formation.get(process) or {}
        return {k: f[k] for k in ("memory", "cpus") if f.get(k) is not None}

    def size(self, process: str) -> str:
        return size_label(self.limits(process))

    @property
    def needs_rollout(self) -> bool:
        t = self.target
        return t is not None and t.version != self.failed_version and (
            self.deployed is None or self.deployed.version != t.version)


def size_label(limits: dict) -> str:
    return f"memory={limits.get('memory', 'default')},cpus={limits.get('cpus', 'default')}"


def new_token() -> str:
    return secrets.token_hex(3)


@dataclass(frozen=True)
class InstanceSpec:
    app: str
    process: str
    index: int
    release: ReleaseSpec
    token: str = field(default_factory=new_token)
    command_override: str | None = None
    size: str = field(default_factory=lambda: size_label({}))

    @property
    def instance(self) -> str:
        return f"{self.process}.{self.index}.{self.token}"

    @property
    def command(self) -> str | None:
        return self.command_override or self.release.process_types.get(self.process)

    def labels(self, platform_id: str) -> dict[str, str]:
        labels = {LABEL_PLATFORM: platform_id, LABEL_APP: self.app, LABEL_RELEASE: self.release.release_id,
                  LABEL_VERSION: str(self.release.version), LABEL_PROCESS: self.process,
                  LABEL_INDEX: str(self.index), LABEL_INSTANCE: self.instance, LABEL_SIZE: self.size}
        if self.process in NOT_FORMATION:
            labels[LABEL_ONEOFF] = "true"
        return labels


@dataclass
class Instance:
    """A container as the runtime reports it."""
    container_id: str
    app: str
    process: str
    index: int
    instance: str
    version: int
    running: bool
    ip: str | None
    exit_code: int | None = None
    started_at: datetime | None = None
    oneoff: bool = False
    size: str = ""


def slot(i: Instance) -> tuple[str, int]:
    return (i.process, i.index)


def backoff_seconds(restarts: int, start: float = DEFAULT_BACKOFF_START_S, cap: float = DEFAULT_BACKOFF_CAP_S) -> float:
    """Exponential restart delay: start, 2×start, 4×start … capped (1 s … 5 min by default)."""
    return min(start * 2 ** max(restarts - 1, 0), cap)


def plan_slots(desired: Desired, release: ReleaseSpec) -> list[tuple[str, int]]:
    """Every instance slot the formation wants for the release, web first."""
    return [(p, n) for p in release.formation_types() for n in range(1, desired.scale(release, p) + 1)]
