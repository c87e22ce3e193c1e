"""Routes as the router sees them: an app, the host names it answers on and the servers
(endpoints) that take its traffic; the names HAProxy knows them by; and the plan that turns
what HAProxy runs into what the tables say. Pure: no I/O."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

BACKEND_PREFIX = "app_"
NO_APP_BACKEND = "berth_no_app"  # cannot collide: app backends all start with BACKEND_PREFIX
MAINTENANCE_BACKEND = "berth_maintenance"  # where the hosts of an app in maintenance mode go

# HAProxy identifiers allow letters, digits, '-', '_', '.' and ':'; ':' is left out so that a
# name never looks like an address, and '/' (the backend/server separator) is never allowed.
_SERVER_NAME_OK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SERVER_NAME_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def backend_name(app: str) -> str:
    return f"{BACKEND_PREFIX}{app}"


def app_of_backend(backend: str) -> str | None:
    """The app a backend serves, or None for the router's own backends (unknown host)."""
    if backend.startswith(BACKEND_PREFIX) and len(backend) > len(BACKEND_PREFIX):
        return backend[len(BACKEND_PREFIX):]
    return None


def app_host(app: str, base_domain: str) -> str:
    return f"{app}.{base_domain}".lower()


def normalize_host(host_header: str) -> str:
    """What HAProxy looks up in the map: the Host header lowercased, port stripped (the same
    rule as `req.hdr(host),field(1,:),lower` in the generated frontend)."""
    return host_header.split(":", 1)[0].lower()


def server_name(instance: str) -> str:
    """The HAProxy server name of an instance. Deterministic, so the converge loop can match
    what runs with what the tables say; an instance id that is not already a valid
    identifier gets its invalid characters replaced and a hash suffix, so two different
    instance ids never end up with the same name."""
    if _SERVER_NAME_OK.match(instance):
        return instance
    digest = hashlib.sha256(instance.encode()).hexdigest()[:10]
    cleaned = _SERVER_NAME_BAD_CHARS.sub("_", instance)[:48] or "instance"
    return f"{cleaned}-{digest}"


@dataclass(frozen=True)
class Server:
    instance: str
    host: str
    port: int

    @property
    def name(self) -> str:
        return server_name(self.instance)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Route:
    app: str
    hostnames: tuple[str, ...]
    servers: tuple[Server, ...] = ()
    maintenance: bool = False  # its hosts answer 503 with a maintenance page; its servers stay

    @property
    def backend(self) -> str:
        return backend_name(self.app)


def build_routes(apps: list[str], endpoints: list[tuple[str, str, str, int]], base_domain: str,
                 domains: list[tuple[str, str]] = (), maintenance: set[str] | frozenset[str] = frozenset()) -> list[Route]:
    """Routes from the router's tables: every app gets `<app>.<base domain>` and its custom
    domains; endpoints and domains of apps that have no route (deleted, or not created yet)
    are ignored."""
    by_app: dict[str, list[Server]] = {a: [] for a in apps}
    for app, instance, host, port in endpoints:
        if app in by_app:
            by_app[app].append(Server(instance, host, port))
    custom: dict[str, list[str]] = {}
    for app, hostname in domains:
        custom.setdefault(app, []).append(hostname)
    return [
        Route(app, (app_host(app, base_domain), *sorted(custom.get(app, ()))),
              tuple(sorted(servers, key=lambda s: s.name)), app in maintenance)
        for app, servers in sorted(by_app.items())
    ]


def host_map(routes: list[Route]) -> dict[str, str]:
    """host name -> backend: the content of the HAProxy map file. Maintenance mode is a map
    entry (the app's hosts point at the maintenance backend), so turning it on and off
    goes through the Runtime API, without a reload."""
    return {host: MAINTENANCE_BACKEND if r.maintenance else r.backend for r in routes for host in r.hostnames}


def backend_for_host(routes: list[Route], host_header: str) -> str:
    """The backend a request with this Host header goes to (the unknown-host backend if none)."""
    return host_map(routes).get(normalize_host(host_header), NO_APP_BACKEND)


# --- what runs vs. what should run ----------------------------------------------------

READY, DRAIN, MAINT = "ready", "drain", "maint"


@dataclass(frozen=True)
class LiveServer:
    backend: str
    name: str
    address: str
    state: str  # ready | drain | maint


@dataclass
class ServerPlan:
    add: list[Server] = field(default_factory=list)          # not in HAProxy: add server + enable
    readdress: list[Server] = field(default_factory=list)    # same name, new address
    make_ready: list[Server] = field(default_factory=list)   # wanted again while draining / in maint
    remove: list[str] = field(default_factory=list)          # not wanted: drain, maint, delete

    def __bool__(self) -> bool:
        return bool(self.add or self.readdress or self.make_ready or self.remove)


def plan_servers(desired: tuple[Server, ...], live: list[LiveServer]) -> ServerPlan:
    plan = ServerPlan()
    live_by_name = {s.name: s for s in live}
    wanted = {s.name: s for s in desired}
    for name, server in wanted.items():
        running = live_by_name.get(name)
        if running is None:
            plan.add.append(server)
            continue
        if running.address != server.address:
            plan.readdress.append(server)
        if running.state != READY:
            plan.make_ready.append(server)
    plan.remove = sorted(name for name in live_by_name if name not in wanted)
    return plan


@dataclass
class MapPlan:
    set: dict[str, str] = field(default_factory=dict)  # host -> backend to add or change
    delete: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.set or self.delete)


def plan_map(desired: dict[str, str], live: dict[str, str]) -> MapPlan:
    return MapPlan(
        set={h: b for h, b in desired.items() if live.get(h) != b},
        delete=sorted(h for h in live if h not in desired),
    )


def missing_backends(routes: list[Route], live_backends: set[str]) -> list[str]:
    """Backends the tables need but HAProxy does not have: the Runtime API cannot add a
    backend, so these call for a new configuration and a hitless reload."""
    return [r.backend for r in routes if r.backend not in live_backends]
