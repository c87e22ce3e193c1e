"""The api's settings, read from the environment in one place."""
import os
from dataclasses import dataclass

from berth_common.settings import CommonSettings


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    admin_token: str | None
    base_domain: str
    router_port: int
    max_upload_bytes: int
    git_dir: str = "data/git"  # the apps' bare repositories (`git push`)
    # Webhooks: which internal hosts/networks receivers may live on (hosts or CIDRs), how
    # long a delivery is retried, how long one try may take, the backoff between tries, and
    # how long a rotated-out secret still signs.
    webhook_allow_hosts: str = ""
    webhook_retry_hours: float = 24
    webhook_timeout_s: float = 10
    webhook_retry_base_s: float = 5
    webhook_retry_max_s: float = 3600
    webhook_secret_overlap_hours: float = 24
    webhook_concurrency: int = 50

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            common=CommonSettings.from_env("api", default_health_port=5000),
            admin_token=os.environ.get("BERTH_ADMIN_TOKEN") or None,
            base_domain=os.environ.get("BERTH_BASE_DOMAIN", "localhost"),
            router_port=int(os.environ.get("BERTH_ROUTER_HTTP_PORT", "8080")),
            max_upload_bytes=int(os.environ.get("BERTH_MAX_UPLOAD_MB", "200")) * 1024 * 1024,
            git_dir=os.path.abspath(os.environ.get("BERTH_GIT_DIR") or os.path.join("data", "git")),
            webhook_allow_hosts=os.environ.get("BERTH_WEBHOOK_ALLOW_HOSTS", ""),
            webhook_retry_hours=float(os.environ.get("BERTH_WEBHOOK_RETRY_HOURS", "24")),
            webhook_timeout_s=float(os.environ.get("BERTH_WEBHOOK_TIMEOUT_SECONDS", "10")),
            webhook_retry_base_s=float(os.environ.get("BERTH_WEBHOOK_RETRY_BASE_SECONDS", "5")),
            webhook_retry_max_s=float(os.environ.get("BERTH_WEBHOOK_RETRY_MAX_SECONDS", "3600")),
            webhook_secret_overlap_hours=float(os.environ.get("BERTH_WEBHOOK_SECRET_OVERLAP_HOURS", "24")),
            webhook_concurrency=int(os.environ.get("BERTH_WEBHOOK_CONCURRENCY", "50")),
        )

    def web_url(self, app: str) -> str:
        port = "" if self.router_port == 80 else f":{self.router_port}"
        return f"http://{app}.{self.base_domain}{port}"
