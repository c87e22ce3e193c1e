"""The whole platform, started once for the end-to-end tests exactly as `berth up` starts it,
plus a `berth` CLI runner configured against it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from berth_cli.platform import Platform, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@dataclass
class Berth:
    platform: Platform
    config: Path
    traces: Path

    @property
    def token(self) -> str:
        return self.platform.admin_token

    def env(self) -> dict:
        return {**os.environ, "BERTH_CONFIG": str(self.config), "BERTH_API_URL": self.platform.api_url,
                "BERTH_TOKEN": self.token}

    @property
    def cli_path(self) -> Path:
        return Path(sys.executable).parent / "berth"

    def cli(self, *args: str, cwd: Path | None = None, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.cli_path), *args], cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return requests.request(method, self.platform.api_url + path, headers=headers, timeout=kw.pop("timeout", 30), **kw)

    @property
    def platform_id(self) -> str:
        return self.platform.platform_id

    def containers(self, app: str) -> list[str]:
        """The app's running containers as process.index@vVersion, sorted."""
        out = subprocess.run(["docker", "ps", "--filter", f"label=berth.app={app}", "--filter",
                              f"label=berth.platform={self.platform_id}", "--format",
                              '{{.Label "berth.process"}}.{{.Label "berth.index"}}@v{{.Label "berth.version"}}'],
                             capture_output=True, text=True).stdout
        return sorted(out.split())

    def get_app_page(self, app: str, path: str = "/") -> requests.Response:
        return requests.get(self.platform.router_url + path, headers={"Host": f"{app}.localhost"}, timeout=10)

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.5, what: str = "condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def berth(tmp_path_factory):
    data = tmp_path_factory.mktemp("berth-data")
    traces = data / "traces.jsonl"
    platform = Platform(
        data_dir=data, api_port=free_port(), router_port=free_port(),
        extra_env={
            "BERTH_TRACES_FILE": str(traces),
            "BERTH_PLATFORM_ID": f"e2e{os.getpid()}",  # apart from any other Berth on this engine
            "BERTH_BUILD_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
            "BERTH_BOOT_TIMEOUT": "20",
            "BERTH_STOP_GRACE": "5",
            "BERTH_ROUTER_DRAIN_SECONDS": "2",
            "BERTH_WEBHOOK_ALLOW_HOSTS": "127.0.0.1/32",  # the tests' webhook receivers
            "BERTH_LOG_DRAIN_ALLOW_HOSTS": "127.0.0.1/32",  # and log drain receivers
            "BERTH_WEBHOOK_RETRY_BASE_SECONDS": "1", "BERTH_WEBHOOK_RETRY_MAX_SECONDS": "3",
        },
    )
    platform.start()
    try:
        yield Berth(platform, data / "cli-config.json", traces)
    finally:
        platform.stop()
        platform.remove_app_runtime()


@pytest.fixture
def workdir(tmp_path):
    """A copy of an example app, as a user's working directory."""
    def copy(example: str) -> Path:
        dest = tmp_path / example
        shutil.copytree(EXAMPLES / example, dest)
        return dest
    return copy
