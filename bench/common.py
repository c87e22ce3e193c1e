"""What the benchmarks share: an embedded Berth of their own, deploying an example, and a
steady load through the router with latencies recorded (on loopback only)."""
from __future__ import annotations

import asyncio
import io
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli" / "src"))


def tgz(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for child in sorted(directory.iterdir()):
            tar.add(child, arcname=child.name)
    return buf.getvalue()


@contextmanager
def platform(**extra_env):
    from berth_cli.platform import Platform, free_port

    data = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    pid = f"bench{uuid.uuid4().hex[:6]}"
    p = Platform(data_dir=data, api_port=free_port(), router_port=free_port(),
                 extra_env={"BERTH_BUILD_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
                            "BERTH_PLATFORM_ID": pid, **extra_env})
    p.start()
    try:
        yield p
    finally:
        p.stop()
        p.remove_app_runtime()
        shutil.rmtree(data, ignore_errors=True)


class Api:
    def __init__(self, p):
        self.url, self.h = p.api_url, {"Authorization": f"Bearer {p.admin_token}"}

    def __call__(self, method: str, path: str, **kw):
        r = requests.request(method, self.url + path, headers={**self.h, **kw.pop("headers", {})}, timeout=300, **kw)
        r.raise_for_status()
        return r.json()

    def wait_release(self, app: str, version: int, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rel = next((r for r in self("GET", f"/apps/{app}/releases") if r["version"] == version), None)
            if rel and rel["status"] != "pending":
                return rel
            time.sleep(0.2)
        raise SystemExit(f"v{version} of {app} did not finish")

    def latest(self, app: str) -> int:
        rels = self("GET", f"/apps/{app}/releases", params={"limit": 1})
        return rels[0]["version"] if rels else 0

    def deploy(self, app: str, src: Path) -> dict:
        before = self.latest(app)
        self("POST", f"/apps/{app}/builds", data=tgz(src), headers={"Content-Type": "application/gzip"})
        deadline = time.monotonic() + 900
        while self.latest(app) == before:
            if time.monotonic() > deadline:
                raise SystemExit("no release from the build")
            time.sleep(0.2)
        return self.wait_release(app, before + 1)


def python_app_copy() -> Path:
    src = Path(tempfile.mkdtemp()) / "app"
    shutil.copytree(ROOT / "examples" / "python-app", src)
    return src


@dataclass
class Window:
    name: str
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    instances: set[str] = field(default_factory=set)

    def row(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return f"{self.name:<28}{self.sent:>8}{self.failed:>8}{p50:>10.1f}{p99:>10.1f}"


HEADER = f"{'window':<28}{'sent':>8}{'failed':>8}{'p50 ms':>10}{'p99 ms':>10}"


class Load:
    """A constant request rate through the router (open loop: one request every 1/rate s)."""

    def __init__(self, router_url: str, host: str, rate: float = 150):
        self.router_url, self.host, self.rate = router_url, host, rate
        self.window = Window("warm-up")
        self._stopped = False

    def stop(self) -> None:
        """End the load after the requests in flight have finished (none is cut off)."""
        self._stopped = True

    def start_window(self, name: str) -> Window:
        self.window = Window(name)
        return self.window

    async def _one(self, session: aiohttp.ClientSession) -> None:
        w = self.window
        w.sent += 1
        t0 = time.perf_counter()
        try:
            async with session.get(self.router_url, headers={"Host": self.host}) as r:
                body = await r.text()
                if r.status != 200:
                    w.failed += 1
                    w.errors.append(f"{r.status}")
                    return
                w.latencies.append(time.perf_counter() - t0)
                if "instance " in body:
                    w.instances.add(body.split("instance ")[1].strip())
        except Exception as e:  # noqa: BLE001 - a failed request is what we count
            w.failed += 1
            w.errors.append(repr(e)[:100])

    async def run(self, duration_s: float) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=64)) as session:
            tasks = set()
            interval = 1 / self.rate
            start = time.perf_counter()
            n = 0
            while time.perf_counter() - start < duration_s and not self._stopped:
                t = asyncio.create_task(self._one(session))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                n += 1
                delay = start + n * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*tasks)


def run_load_until(load: Load, done) -> None:
    """Run the load on this thread's event loop until `done` (a threading.Event) is set."""
    async def run():
        runner = asyncio.create_task(load.run(3600))
        while not done.is_set():
            await asyncio.sleep(0.2)
        load.stop()
        await runner
    asyncio.run(run())
