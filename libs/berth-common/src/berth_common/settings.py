"""Settings every service reads from the environment (each service adds its own)."""
import os
from dataclasses import dataclass


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise RuntimeError(f"environment variable {name} is required")
    return value


@dataclass(frozen=True)
class CommonSettings:
    service: str
    nats_url: str
    database_url: str
    health_port: int
    health_host: str
    traces_file: str | None
    platform_id: str = "berth"  # BERTH_PLATFORM_ID: which installation's containers are ours (berth_common.labels)

    @classmethod
    def from_env(cls, service: str, default_health_port: int) -> "CommonSettings":
        return cls(
            service=service,
            nats_url=env("BERTH_NATS_URL", "nats://127.0.0.1:4222"),
            database_url=env("BERTH_DATABASE_URL"),
            health_port=int(env(f"BERTH_{service.upper()}_PORT", str(default_health_port))),
            health_host=env("BERTH_BIND_HOST", "127.0.0.1"),
            traces_file=os.environ.get("BERTH_TRACES_FILE") or None,
            platform_id=env("BERTH_PLATFORM_ID", "berth"),
        )
