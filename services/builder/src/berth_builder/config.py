"""The builder's settings, all read from the environment here and nowhere else.

BERTH_PYTHON_IMAGE              base image for Python builds       (berth/python:bookworm)
BERTH_STATIC_IMAGE              base image for static sites        (berth/static:bookworm)
BERTH_NODE_IMAGE                base image for Node.js builds      (berth/node:bookworm)
BERTH_GO_IMAGE                  image Go builds compile on         (berth/go:bookworm)
BERTH_GO_RUNTIME_IMAGE          image Go binaries run on           (berth/static:bookworm)
BERTH_BUILD_CA_BUNDLE           CA bundle (a path) for build-time downloads; unset = none
BERTH_BUILD_MAX_ARCHIVE_BYTES   cap on a source archive's unpacked size   (500 MiB)
BERTH_BUILD_MAX_ARCHIVE_ENTRIES cap on a source archive's entry count     (20000)
BERTH_BUILD_CONCURRENCY         builds run at the same time               (1)
BERTH_BUILD_POLL_SECONDS        how often queued builds are looked for without a wake-up (10)
BERTH_BUILD_WORKDIR             where sources are unpacked (the system temp dir)
plus the common ones (BERTH_NATS_URL, BERTH_DATABASE_URL, BERTH_BUILDER_PORT (5001), ...).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from berth_common.settings import CommonSettings

from .adapters.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES
from .domain.stacks import BaseImages

SERVICE = "builder"
DEFAULT_HEALTH_PORT = 5001


@dataclass(frozen=True)
class BuilderSettings:
    images: BaseImages = field(default_factory=BaseImages)
    ca_bundle: Path | None = None
    max_archive_bytes: int = DEFAULT_MAX_BYTES
    max_archive_entries: int = DEFAULT_MAX_ENTRIES
    concurrency: int = 1
    poll_seconds: float = 10.0
    workdir: Path | None = None

    @classmethod
    def from_env(cls) -> "BuilderSettings":
        e = os.environ.get
        ca = e("BERTH_BUILD_CA_BUNDLE") or None
        workdir = e("BERTH_BUILD_WORKDIR") or None
        return cls(
            images=BaseImages(
                python=e("BERTH_PYTHON_IMAGE") or BaseImages.python,
                static=e("BERTH_STATIC_IMAGE") or BaseImages.static,
                node=e("BERTH_NODE_IMAGE") or BaseImages.node,
                go=e("BERTH_GO_IMAGE") or BaseImages.go,
                go_runtime=e("BERTH_GO_RUNTIME_IMAGE") or BaseImages.go_runtime,
            ),
            ca_bundle=Path(ca) if ca else None,
            max_archive_bytes=int(e("BERTH_BUILD_MAX_ARCHIVE_BYTES") or DEFAULT_MAX_BYTES),
            max_archive_entries=int(e("BERTH_BUILD_MAX_ARCHIVE_ENTRIES") or DEFAULT_MAX_ENTRIES),
            concurrency=max(1, int(e("BERTH_BUILD_CONCURRENCY") or 1)),
            poll_seconds=float(e("BERTH_BUILD_POLL_SECONDS") or 10),
            workdir=Path(workdir) if workdir else None,
        )


def load() -> tuple[CommonSettings, BuilderSettings]:
    return CommonSettings.from_env(SERVICE, default_health_port=DEFAULT_HEALTH_PORT), BuilderSettings.from_env()
