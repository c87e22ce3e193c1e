"""The docker-compose stack end to end: images built locally (deploy/offline/build-stack-images.sh),
`docker compose up` with a generated .env, a deploy through the stack with the `berth` CLI, every
container restarted without losing an app, a release or a route, the network and database
isolation the stack promises, and a `down` that leaves nothing of the project behind.

Runs in the normal suite when a Docker engine answers (skipped otherwise); `docker compose`
is installed on demand from the Python index (deploy/compose/install-compose.sh)."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "berthtest"
STACK_NAME = "berthtest"            # container-name prefix: berthtest-router, berthtest-scheduler
# The stack's platform id is its name: its app networks are berth-<id>-app-<app>.
APP_NETWORK = f"berth-{STACK_NAME}-app-{{app}}"
APP = f"ctest{secrets.token_hex(3)}"
OTHER_APP = APP + "b"                # a second app, which the first must not reach
SERVICES = ("api", "builder", "scheduler", "router", "logger")
SCHEMAS = SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.env_file = workdir / "stack.env"
        self.api_port, self.router_port, self.traces_port = free_port(), free_port(), free_port()
        self.token = "berth_" + secrets.token_urlsafe(32)
        self.db_passwords = {s: secrets.token_hex(16) for s in SERVICES}
        from cryptography.fernet import Fernet

        values = {
            "BERTH_PUBLISH_HOST": "127.0.0.1",
            "BERTH_API_PORT": self.api_port,
            "BERTH_ROUTER_PORT": self.router_port,
            "BERTH_BASE_DOMAIN": "localhost",
            "BERTH_STACK_NAME": STACK_NAME,
            "BERTH_ADMIN_TOKEN": self.token,
            "BERTH_SECRET_KEY": Fernet.generate_key().decode(),
            **{f"BERTH_DB_PASSWORD_{s.upper()}": p for s, p in self.db_passwords.items()},
            "BERTH_DOCKER_GID": os.stat("/var/run/docker.sock").st_gid,
            "BERTH_BUILD_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
            "BERTH_BOOT_TIMEOUT": 30,
            "BERTH_STOP_GRACE": 5,
            "BERTH_ROUTER_DRAIN_SECONDS": 2,
            # the optional trace viewer (profile `traces`), which the services send spans to
            "BERTH_OTLP_ENDPOINT": "http://traces:6006",
            "BERTH_TRACES_PORT": self.traces_port,
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.config = workdir / "cli-config.json"
        self.timings: dict[str, float] = {}

    # -- docker compose -------------------------------------------------------------------

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        return run("docker", "compose", "-p", PROJECT, "-f", str(ROOT / "docker-compose.yml"),
                   "--env-file", str(self.env_file), "--profile", "traces", *args, check=check, timeout=timeout, cwd=ROOT)

    def container(self, service: str) -> str:
        out = self.compose("ps", "-q", service).stdout.split()
        assert out, f"no container for {service}"
        return out[0]

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        state = {}
        while time.monotonic() < deadline:
            rows = [json.loads(line) for line in self.compose("ps", "--format", "json").stdout.splitlines() if line.strip()]
            state = {r["Service"]: (r["State"], r.get("Health", "")) for r in rows}
            if all(state.get(s, ("", ""))[1] == "healthy" for s in ("nats", "postgres", *SERVICES)):
                return
            time.sleep(1)
        logs = self.compose("logs", "--tail", "40", check=False).stdout[-6000:]
        raise AssertionError(f"stack not healthy within {timeout:.0f} s: {state}\n{logs}")

    # -- the CLI and the router -------------------------------------------------------------

    def cli(self, *args: str, check: bool = True, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "BERTH_CONFIG": str(self.config), "BERTH_API_URL": f"http://127.0.0.1:{self.api_port}",
               "BERTH_TOKEN": self.token}
        berth = Path(sys.executable).parent / "berth"
        return run(str(berth), *args, check=check, cwd=cwd or self.workdir, env=env, timeout=timeout)

    def page(self, app: str = APP) -> requests.Response | None:
        try:
            return requests.get(f"http://127.0.0.1:{self.router_port}/", headers={"Host": f"{app}.localhost"}, timeout=5)
        except requests.RequestException:
            return None

    def wait_for(self, predicate, what: str, timeout: float = 120, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")

    def app_containers(self, app: str = APP, running: bool = False) -> list[str]:
        return run("docker", "ps", *(() if running else ("-a",)), "-q", "--filter", f"label=berth.app={app}",
                   "--filter", f"label=berth.platform={STACK_NAME}").stdout.split()

    def psql_as(self, service: str, sql: str) -> subprocess.CompletedProcess:
        """Run SQL in the stack's database as a service's role, over TCP like the service."""
        return run("docker", "exec", "-e", f"PGPASSWORD={self.db_passwords[service]}", self.container("postgres"),
                   "psql", "-X", "-h", "127.0.0.1", "-U", f"berth_{service}", "-d", "berth", "-tAc", sql, check=False)


def _cleanup(stack: Stack) -> None:
    stack.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False, timeout=300)
    for app in (APP, OTHER_APP):
        for cid in stack.app_containers(app):
            run("docker", "rm", "-f", cid, check=False)
        run("docker", "network", "rm", APP_NETWORK.format(app=app), check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compose")
    run("bash", str(ROOT / "deploy/compose/install-compose.sh"), timeout=300)
    s = Stack(workdir)
    t0 = time.monotonic()
    run("bash", str(ROOT / "deploy/offline/build-stack-images.sh"), "--traces", timeout=1200)
    s.timings["images"] = time.monotonic() - t0
    _cleanup(s)  # leftovers of an interrupted run
    try:
        t0 = time.monotonic()
        s.compose("up", "-d", "--wait", "--wait-timeout", "240", timeout=400)
        s.wait_healthy()
        s.timings["up"] = time.monotonic() - t0
        yield s
    finally:
        if os.environ.get("BERTH_KEEP_STACK") != "1":
            for app in (APP, OTHER_APP):
                try:
                    s.cli("apps:destroy", "--app", app, "--confirm", app, check=False, timeout=60)
                except Exception:  # noqa: BLE001 - cleaning up anyway
                    pass
            _cleanup(s)
        print(f"compose stack timings: {s.timings}", file=sys.stderr)


def test_deploy_through_the_stack(stack: Stack):
    stack.cli("apps:create", APP, "--no-link")
    t0 = time.monotonic()
    out = stack.cli("deploy", "--app", APP, "--dir", str(ROOT / "examples/static-site"), timeout=600)
    stack.timings["deploy"] = time.monotonic() - t0
    assert "Released v1" in out.stdout + out.stderr
    expected = (ROOT / "examples/static-site/index.html").read_text()
    page = stack.wait_for(lambda: (r := stack.page()) is not None and r.status_code == 200 and r,
                          "the app's page through the router", timeout=60)
    assert page.text == expected


def test_the_deploy_is_one_trace_in_the_trace_viewer(stack: Stack):
    """The optional trace viewer (Arize Phoenix, OTLP) received the deploy as one trace, from
    the upload to the router's first request to the new release."""
    import requests

    def deploy_trace():
        r = requests.get(f"http://127.0.0.1:{stack.traces_port}/v1/projects/default/spans",
                         params={"limit": 1000}, timeout=10)
        if r.status_code != 200:
            return None
        spans = r.json()["data"]
        by_trace: dict[str, set[str]] = {}
        for span in spans:
            by_trace.setdefault(span["context"]["trace_id"], set()).add(span["name"])
        for names in by_trace.values():
            if {"POST /apps/{app}/builds", "build", "release", "rollout"} <= names and any(
                    n.startswith("first request to web.1.") for n in names):
                return names
        return None
    names = stack.wait_for(deploy_trace, "the deploy's trace in the viewer", timeout=90)
    assert "consume berth.release.created.v1" in names and "consume berth.build.requested.v1" in names


@pytest.mark.parametrize("service", ["nats", "postgres", *SERVICES])
def test_restart_loses_nothing(stack: Stack, service: str):
    t0 = time.monotonic()
    stack.compose("restart", service, timeout=300)
    stack.wait_healthy()
    stack.timings[f"restart {service}"] = time.monotonic() - t0
    stack.wait_for(lambda: (r := stack.page()) is not None and r.status_code == 200,
                   f"the page after restarting {service}", timeout=90)
    releases = stack.cli("releases", "--app", APP).stdout
    assert "v1" in releases and "succeeded" in releases, releases
    assert APP in stack.cli("apps").stdout


def test_deploys_after_the_restarts(stack: Stack):
    # the event pipeline (outbox relays, consumers, LISTEN connections) survived them all
    out = stack.cli("deploy", "--app", APP, "--dir", str(ROOT / "examples/static-site"), timeout=600)
    assert "Released v2" in out.stdout + out.stderr
    stack.wait_for(lambda: (r := stack.page()) is not None and r.status_code == 200, "the page of v2", timeout=60)


def test_app_cannot_reach_the_control_plane(stack: Stack):
    stack.cli("apps:create", OTHER_APP, "--no-link")
    stack.cli("deploy", "--app", OTHER_APP, "--dir", str(ROOT / "examples/static-site"), timeout=600)
    app_container = stack.app_containers(running=True)[0]
    targets = {}
    other = json.loads(run("docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}",
                           stack.app_containers(OTHER_APP, running=True)[0]).stdout)
    targets["another app"] = [(n["IPAddress"], 5000) for n in other.values() if n.get("IPAddress")]
    for service, port in (("nats", 4222), ("postgres", 5432), ("api", 5000)):
        nets = json.loads(run("docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", stack.container(service)).stdout)
        targets[service] = [(n["IPAddress"], port) for n in nets.values() if n.get("IPAddress")]
    # the peers on the app's network listen on nothing but the router's public port
    sched = json.loads(run("docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", f"{STACK_NAME}-scheduler").stdout)
    targets["scheduler health port"] = [(n["IPAddress"], 5002) for n in sched.values() if n.get("IPAddress")]
    assert targets["nats"] and targets["postgres"] and targets["another app"]

    def connects(ip: str, port: int) -> bool:
        r = run("docker", "exec", app_container, "busybox", "timeout", "3", "busybox", "nc", "-w", "2", ip, str(port),
                check=False, input="")
        return r.returncode == 0

    reachable = [(what, ip, port) for what, addrs in targets.items() for ip, port in addrs if connects(ip, port)]
    assert not reachable, f"the app container reaches {reachable}"
    # the probe itself works: the app reaches its own server
    assert connects("127.0.0.1", 5000) or connects("127.0.0.1", int(run(
        "docker", "exec", app_container, "printenv", "PORT").stdout.strip()))
    assert run("docker", "exec", app_container, "test", "-e", "/var/run/docker.sock", check=False).returncode != 0
    stack.cli("apps:destroy", "--app", OTHER_APP, "--confirm", OTHER_APP)


def test_each_role_reads_only_its_schema(stack: Stack):
    for service in SERVICES:
        own = stack.psql_as(service, f"SELECT count(*) FROM {service}.alembic_version")
        assert own.returncode == 0 and own.stdout.strip() == "1", (service, own.stdout, own.stderr)
        for other in SCHEMAS:
            if other == service:
                continue
            r = stack.psql_as(service, f"SELECT count(*) FROM {other}.alembic_version")
            assert r.returncode != 0 and "permission denied" in r.stderr, (service, other, r.stdout, r.stderr)


def test_down_leaves_nothing(stack: Stack):
    stack.cli("apps:destroy", "--app", APP, "--confirm", APP)
    for app in (APP, OTHER_APP):
        stack.wait_for(lambda: not stack.app_containers(app), f"the containers of {app} to go", timeout=90)
        stack.wait_for(lambda: not run("docker", "network", "ls", "-q", "--filter", f"name=^{APP_NETWORK.format(app=app)}$").stdout.strip(),
                       f"the network of {app} to go", timeout=60)
    stack.compose("down", "--timeout", "10", timeout=300)
    label = f"label=com.docker.compose.project={PROJECT}"
    assert not run("docker", "ps", "-aq", "--filter", label).stdout.strip()
    assert not run("docker", "network", "ls", "-q", "--filter", label).stdout.strip()
    stack.compose("down", "-v", timeout=300)
    assert not run("docker", "volume", "ls", "-q", "--filter", label).stdout.strip()
