"""What a build is and how it moves: states, the failure type, the image name."""
from __future__ import annotations

import re
import uuid

QUEUED = "queued"
BUILDING = "building"
SUCCEEDED = "succeeded"
FAILED = "failed"
STATUSES = (QUEUED, BUILDING, SUCCEEDED, FAILED)
FINAL = (SUCCEEDED, FAILED)


class BuildError(Exception):
    """A build that cannot succeed: its message is the reason shown to the user and sent in
    BuildFailed. Anything else raised during a build is an internal error."""


def image_tag(app: str, build_id: str) -> str:
    """`berth/app-<app>:<build id>`; the app name is validated before (berth_common.names)."""
    try:
        version = uuid.UUID(build_id).hex
    except ValueError:
        version = re.sub(r"[^a-z0-9_.-]", "-", build_id.lower())[:128] or "latest"
    return f"berth/app-{app}:{version}"
