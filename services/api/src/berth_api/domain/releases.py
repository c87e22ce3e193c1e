"""Release rules that need no I/O."""

BUILD_FINAL = ("succeeded", "failed")
BUILD_ORDER = {"pending": 0, "building": 1, "succeeded": 2, "failed": 2}


def deploy_description(build_id: str, source_version: str | None) -> str:
    ref = (source_version or build_id.replace("-", ""))[:7]
    return f"Deploy {ref}"


def may_move_build(current: str, new: str) -> bool:
    """Build events may arrive out of order (one consumer per type): never move backwards."""
    return BUILD_ORDER[new] > BUILD_ORDER[current]
