"""The event contract between Berth's services: envelope, one schema per event type, streams.

Subjects are `berth.<aggregate>.<event>.v<major>`; the CloudEvents `type` is the same
string. Every schema tolerates unknown fields (a newer producer may add some); a breaking
change is a new major version, i.e. a new class.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: ClassVar[str]
    producer: ClassVar[str]  # the only service that may publish it
    app: str


class Envelope(BaseModel):
    """CloudEvents 1.0 structured-mode envelope, plus W3C `traceparent` (distributed tracing extension)."""

    model_config = ConfigDict(extra="allow")
    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str
    time: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    datacontenttype: str = "application/json"
    traceparent: str | None = None
    data: dict[str, Any]

    def payload(self) -> EventData:
        """The typed data of this event; raises InvalidEvent if it does not match its schema."""
        cls = EVENT_TYPES.get(self.type)
        if cls is None:
            raise InvalidEvent(f"unknown event type {self.type!r}")
        try:
            return cls.model_validate(self.data)
        except ValidationError as e:
            raise InvalidEvent(f"{self.type}: {e}") from e


class InvalidEvent(ValueError):
    pass


def envelope(data: EventData, traceparent: str | None = None) -> Envelope:
    return Envelope(
        source=f"berth/{data.producer}", type=data.type, subject=data.app,
        data=data.model_dump(mode="json"), traceparent=traceparent,
    )


class ProcessTypes(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- api -------------------------------------------------------------------------------

class AppCreated(EventData):
    type = "berth.app.created.v1"
    producer = "api"


class AppDeleted(EventData):
    type = "berth.app.deleted.v1"
    producer = "api"


class AppUpdated(EventData):
    """An app's settings changed: today, maintenance mode (the router answers 503 with a
    maintenance page instead of passing requests on)."""
    type = "berth.app.updated.v1"
    producer = "api"
    maintenance: bool


class BuildRequested(EventData):
    type = "berth.build.requested.v1"
    producer = "api"
    build_id: str
    source_object: str  # name in the `berth-sources` object store bucket
    source_version: str | None = None  # e.g. a git commit


class ReleaseCreated(EventData):
    type = "berth.release.created.v1"
    producer = "api"
    release_id: str
    version: int
    image: str
    process_types: dict[str, str | None]  # name -> command (None: the image's own CMD)
    # The config vars, sealed (berth_common.secrets): secrets never travel or rest in clear.
    config_sealed: str
    healthchecks: dict[str, list[dict]] = Field(default_factory=dict)
    build_id: str | None = None
    description: str = ""


class ProcessSize(BaseModel):
    model_config = ConfigDict(extra="allow")
    quantity: int
    memory: str | None = None  # docker syntax: 256m, 1g; None = the platform default
    cpus: float | None = None


class FormationChanged(EventData):
    type = "berth.formation.changed.v1"
    producer = "api"
    formation: dict[str, ProcessSize]  # the app's complete formation, by process type


class DomainAdded(EventData):
    type = "berth.domain.added.v1"
    producer = "api"
    hostname: str  # a custom domain the router now serves the app on


class DomainRemoved(EventData):
    type = "berth.domain.removed.v1"
    producer = "api"
    hostname: str


class RestartRequested(EventData):
    type = "berth.app.restart_requested.v1"
    producer = "api"
    process: str | None = None  # None: every process type


# --- builder ---------------------------------------------------------------------------

class BuildStarted(EventData):
    type = "berth.build.started.v1"
    producer = "builder"
    build_id: str


class BuildCompleted(EventData):
    type = "berth.build.completed.v1"
    producer = "builder"
    build_id: str
    image: str
    stack: str
    process_types: dict[str, str | None]  # a `release` entry is the release-phase command
    # From app.json (Dokku's format): {"web": [{"type": "startup", "path": "/", "content": "ok",
    # "attempts": 3, "timeout": 5, "wait": 2}, ...]} per process type.
    healthchecks: dict[str, list[dict]] = Field(default_factory=dict)
    # From app.json: the initial quantity per process type, {"web": 2, "worker": 1}; the api
    # applies it to types that have no scale yet.
    initial_formation: dict[str, int] = Field(default_factory=dict)


class BuildFailed(EventData):
    type = "berth.build.failed.v1"
    producer = "builder"
    build_id: str
    reason: str


# --- scheduler -------------------------------------------------------------------------

class Endpoint(BaseModel):
    model_config = ConfigDict(extra="allow")
    instance: str
    host: str
    port: int


class EndpointsChanged(EventData):
    type = "berth.endpoints.changed.v1"
    producer = "scheduler"
    endpoints: list[Endpoint]  # the complete set of web endpoints that should get traffic
    release_version: int | None = None


class ReleaseDeployed(EventData):
    type = "berth.release.deployed.v1"
    producer = "scheduler"
    release_id: str
    version: int


class ReleaseFailed(EventData):
    type = "berth.release.failed.v1"
    producer = "scheduler"
    release_id: str
    version: int
    reason: str


class ProcessStarted(EventData):
    type = "berth.process.started.v1"
    producer = "scheduler"
    instance: str
    process: str
    release_version: int


class ProcessStopped(EventData):
    type = "berth.process.stopped.v1"
    producer = "scheduler"
    instance: str
    process: str
    release_version: int


class ProcessCrashed(EventData):
    type = "berth.process.crashed.v1"
    producer = "scheduler"
    instance: str
    process: str
    release_version: int
    exit_code: int | None = None


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.type: cls for cls in EventData.__subclasses__()
}

# --- streams ---------------------------------------------------------------------------
# One JetStream stream per producing service; a service publishes only into its own.

PRODUCERS = ("api", "builder", "scheduler")


def stream_name(producer: str) -> str:
    return f"BERTH_{producer.upper()}"


def stream_subjects(producer: str) -> list[str]:
    return sorted(t for t, cls in EVENT_TYPES.items() if cls.producer == producer)


def stream_for_type(event_type: str) -> str:
    return stream_name(EVENT_TYPES[event_type].producer)


# Log lines: `berth.logs.<app>.<source>`, in their own stream with size and age limits.
LOGS_STREAM = "BERTH_LOGS"
LOG_SOURCES = ("app", "build", "router", "berth")


def log_subject(app: str, source: str) -> str:
    return f"berth.logs.{app}.{source}"


class LogLine(BaseModel):
    model_config = ConfigDict(extra="allow")
    time: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    app: str
    source: str  # app, build, router, berth
    process: str | None = None
    instance: str | None = None
    line: str


# Object store bucket for uploaded source archives.
SOURCES_BUCKET = "berth-sources"
