"""Labels on every container Berth starts. `berth.platform` tells apart the containers of
several Berth installations sharing one Docker engine (a test run beside `berth up`, the
compose stack beside the embedded one): each installation only ever lists, follows or
stops its own."""

LABEL_PLATFORM = "berth.platform"
LABEL_APP = "berth.app"
DEFAULT_PLATFORM_ID = "berth"


def platform_filters(platform_id: str, app: str | None = None) -> list[str]:
    """Docker `label` filters (all must match) for this installation's app containers."""
    return [f"{LABEL_PLATFORM}={platform_id}", f"{LABEL_APP}={app}" if app else LABEL_APP]
