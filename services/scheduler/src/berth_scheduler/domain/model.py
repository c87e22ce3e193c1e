"""Desired and actual state, and the pure decisions between them."""
from __future__ import annotations

from dataclasses import dataclass

LABEL_APP = "berth.app"
LABEL_RELEASE = "berth.release"
LABEL_VERSION = "berth.version"
LABEL_PROCESS = "berth.process"
LABEL_INSTANCE = "berth.instance"


@dataclass(frozen=True)
class ReleaseSpec:
    release_id: str
    version: int
    image: str
    process_types: dict[str, str | None]
    config: dict[str, str]

    @classmethod
    def from_json(cls, d: dict | None) -> "ReleaseSpec | None":
        return cls(**d) if d else None

    def to_json(self) -> dict:
        return {"release_id": self.release_id, "version": self.version, "image": self.image,
                "process_types": self.process_types, "config": self.config}


@dataclass(frozen=True)
class Desired:
    app: str
    target: ReleaseSpec | None
    deployed: ReleaseSpec | None
    failed_version: int | None
    formation: dict[str, int]
    announced: list[str] | None
    deleted: bool
    traceparent: str | None = None

    def scale(self, release: ReleaseSpec, process: str) -> int:
        """Heroku's default: one web instance when the release has a web type, else none."""
        if process not in release.process_types:
            return 0
        if process in self.formation:
            return self.formation[process]
        return 1 if process == "web" else 0

    @property
    def needs_rollout(self) -> bool:
        t = self.target
        return t is not None and t.version != self.failed_version and (
            self.deployed is None or self.deployed.version != t.version)


def instance_id(process: str, index: int, version: int) -> str:
    return f"{process}.{index}-v{version}"


@dataclass(frozen=True)
class InstanceSpec:
    app: str
    process: str
    index: int
    release: ReleaseSpec

    @property
    def instance(self) -> str:
        return instance_id(self.process, self.index, self.release.version)

    @property
    def command(self) -> str | None:
        return self.release.process_types.get(self.process)

    def labels(self) -> dict[str, str]:
        return {LABEL_APP: self.app, LABEL_RELEASE: self.release.release_id,
                LABEL_VERSION: str(self.release.version), LABEL_PROCESS: self.process,
                LABEL_INSTANCE: self.instance}


@dataclass
class Instance:
    """A container as the runtime reports it."""
    container_id: str
    app: str
    process: str
    instance: str
    version: int
    running: bool
    ip: str | None
    exit_code: int | None = None


def missing_instances(desired: Desired, release: ReleaseSpec, actual: list[Instance]) -> list[InstanceSpec]:
    """The release's instances that should run but do not (in formation order, web first)."""
    running = {i.instance for i in actual if i.running and i.version == release.version}
    out = []
    for process in sorted(release.process_types, key=lambda p: (p != "web", p)):
        for n in range(1, desired.scale(release, process) + 1):
            spec = InstanceSpec(desired.app, process, n, release)
            if spec.instance not in running:
                out.append(spec)
    return out


def wanted_instance_ids(desired: Desired, release: ReleaseSpec) -> set[str]:
    return {instance_id(p, n, release.version) for p in release.process_types
            for n in range(1, desired.scale(release, p) + 1)}
