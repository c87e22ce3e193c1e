"""The `berth` command."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import archive, config
from .client import ApiError, Client, is_transient

err = Console(stderr=True)
out = Console()


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)


def client() -> Client:
    return Client(config.api_url(), config.token())


def resolve_app(app: str | None) -> str:
    name = app or os.environ.get("BERTH_APP") or config.linked_app(Path.cwd())
    if not name:
        fail("no app given: pass --app NAME, or run `berth apps:create NAME` in this directory to link it")
    return name


class Group(click.Group):
    """Turns API errors into one clear line and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ApiError as e:
            fail(e.message)


@click.group(cls=Group)
@click.version_option(package_name="berth-cli")
def cli():
    """Berth: deploy apps from source to your own servers."""


app_option = click.option("--app", "-a", "app", help="app name (default: the app linked to this directory)")


# --- the embedded platform ---------------------------------------------------------------

def default_data_dir() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "berth"


@cli.command("up")
@click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir, show_default="~/.local/share/berth")
@click.option("--api-port", type=int, default=5000, show_default=True)
@click.option("--router-port", type=int, default=8080, show_default=True)
@click.option("--base-domain", default="localhost", show_default=True)
@click.option("--database-url", envvar="BERTH_DATABASE_URL", help="an external Postgres instead of the embedded one")
def up(data_dir: Path, api_port: int, router_port: int, base_domain: str, database_url: str | None):
    """Start Berth here: NATS, Postgres and the five services, with Docker as the runtime."""
    from .platform import Platform, PlatformError

    extra = {}
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if "BERTH_BUILD_CA_BUNDLE" not in os.environ and ca.exists():
        extra["BERTH_BUILD_CA_BUNDLE"] = str(ca)  # builds trust what this host trusts
    platform = Platform(data_dir=data_dir, api_port=api_port, router_port=router_port,
                        base_domain=base_domain, database_url=database_url, extra_env=extra)
    with err.status("Starting Berth (NATS, Postgres, api, builder, scheduler, router, logger)…"):
        try:
            platform.start()
        except PlatformError as e:
            fail(str(e))
    if platform.admin_token:
        config.login(platform.api_url, platform.admin_token)
        out.print(f"Admin token (shown once; the CLI is logged in with it): [bold]{platform.admin_token}[/bold]")
    elif not config.token():
        config.login(platform.api_url, "")
    out.print(f"Berth is up.\n  API:    {platform.api_url}\n  Router: http://<app>.{base_domain}:{router_port}\n"
              f"  Data:   {data_dir}\n  Logs:   {data_dir / 'logs'}\nPress Ctrl-C to stop.")
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        restarts: dict[str, list[float]] = {}
        while not stop["now"]:
            for name, proc in list(platform.procs.items()):
                if proc.poll() is None:
                    continue
                # A service that exits is started again (it resumes from its tables and its
                # durable consumers); one that keeps exiting stops Berth with a pointer to its log.
                recent = [t for t in restarts.get(name, []) if time.monotonic() - t < 60] + [time.monotonic()]
                restarts[name] = recent
                err.print(f"[yellow]{name} exited with code {proc.returncode}; see {platform.log_path(name)}[/yellow]")
                if name == "nats" or len(recent) > 5:
                    err.print(f"[red]{name} keeps exiting: stopping Berth[/red]")
                    stop["now"] = True
                    break
                try:
                    platform.start_service(name)
                    err.print(f"{name} restarted")
                except Exception as e:  # noqa: BLE001 - reported, then the loop decides
                    err.print(f"[red]could not restart {name}: {e}[/red]")
            time.sleep(0.5)
    finally:
        with err.status("Stopping Berth…"):
            platform.stop()
        out.print("Berth stopped.")


# --- auth ------------------------------------------------------------------------------

@cli.command("login")
@click.option("--api-url", default=lambda: config.api_url(), show_default="the configured one")
@click.option("--token", prompt=True, hide_input=True, help="an API token")
def login(api_url: str, token: str):
    """Log the CLI in to a Berth API with a token."""
    who = Client(api_url, token).get("/account")
    config.login(api_url, token)
    out.print(f"Logged in to {api_url} as {who['email']}")


@cli.command("auth:token")
def auth_token():
    """Print the API token in use."""
    token = config.token()
    if not token:
        fail("not logged in: run `berth login`")
    click.echo(token)


# --- apps ------------------------------------------------------------------------------

@cli.command("apps")
def apps_list():
    """List apps."""
    apps = client().get("/apps")
    if not apps:
        out.print("No apps yet: `berth apps:create NAME`")
        return
    table = Table("name", "url", "created")
    for a in apps:
        table.add_row(a["name"], a["web_url"], a["created_at"][:19])
    out.print(table)


@cli.command("apps:create")
@click.argument("name")
@click.option("--no-link", is_flag=True, help="do not link the current directory to the app")
def apps_create(name: str, no_link: bool):
    """Create an app (and link the current directory to it)."""
    app = client().post("/apps", json={"name": name})
    if not no_link:
        config.link(Path.cwd(), name)
    out.print(f"Created {name}: {app['web_url']}")


@cli.command("apps:info")
@app_option
def apps_info(app):
    """Show an app."""
    a = client().get(f"/apps/{resolve_app(app)}")
    for k in ("name", "web_url", "owner", "created_at"):
        out.print(f"{k:>11}: {a.get(k)}", highlight=False)
    out.print(f"{'maintenance':>11}: {'on' if a.get('maintenance') else 'off'}", highlight=False)


@cli.command("apps:destroy")
@app_option
@click.option("--confirm", help="the app name again, to confirm")
def apps_destroy(app, confirm):
    """Delete an app, its releases and its running processes."""
    name = resolve_app(app)
    if confirm != name:
        fail(f"this deletes {name} and everything it runs: pass --confirm {name}")
    client().delete(f"/apps/{name}")
    out.print(f"Destroyed {name}")


@cli.command("maintenance")
@app_option
def maintenance(app):
    """Whether the app is in maintenance mode."""
    a = client().get(f"/apps/{resolve_app(app)}")
    click.echo("on" if a["maintenance"] else "off")


def _set_maintenance(app, on: bool, said: str) -> None:
    name = resolve_app(app)
    client().request("PATCH", f"/apps/{name}", json={"maintenance": on})
    out.print(said.format(name=name))


@cli.command("maintenance:on")
@app_option
def maintenance_on(app):
    """Answer every request with 503 and a maintenance page (the processes keep running)."""
    _set_maintenance(app, True, "Maintenance mode on for {name}: requests get a 503 maintenance page")


@cli.command("maintenance:off")
@app_option
def maintenance_off(app):
    """Serve requests again."""
    _set_maintenance(app, False, "Maintenance mode off for {name}")


# --- deploy ----------------------------------------------------------------------------

@cli.command("deploy")
@app_option
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
@click.option("--timeout", type=float, default=900, show_default=True, help="seconds to wait for the release")
def deploy(app, directory: Path, timeout: float):
    """Build and release the current directory (git archive of HEAD in a git checkout)."""
    name = resolve_app(app)
    api = client()
    data, version = archive.pack(directory)
    err.print(f"-----> Uploading {len(data) / 1024:.0f} KB of source" + (f" ({version[:7]})" if version else ""))
    build = api.post(f"/apps/{name}/builds", data=data, params={"version": version} if version else {},
                     headers={"Content-Type": "application/gzip"}, timeout=300)
    build = follow_build(api, name, build["id"])
    if build["status"] != "succeeded":
        fail(f"build failed: {build.get('reason') or build['status']}")
    deadline = time.monotonic() + timeout
    with err.status("-----> Releasing…"):
        release = None
        while time.monotonic() < deadline:
            releases = api.get(f"/apps/{name}/releases", retry_for=API_OUTAGE_S)
            release = next((r for r in releases if r["build_id"] == build["id"]), None)
            if release and release["status"] != "pending":
                break
            time.sleep(0.5)
    if not release or release["status"] == "pending":
        fail(f"the release did not finish within {timeout:.0f} s; see `berth releases` and `berth logs`")
    if release["status"] == "failed":
        fail(f"release v{release['version']} failed: {release.get('reason')}")
    app_info = api.get(f"/apps/{name}", retry_for=API_OUTAGE_S)
    out.print(f"-----> Released v{release['version']}: {app_info['web_url']}")


# How long `deploy` waits out an API that went away (restarting) before giving up.
API_OUTAGE_S = 120.0


def follow_build(api: Client, name: str, build_id: str) -> dict:
    """Print a build's output until it has finished and return the build. A connection
    to the API that breaks (the api restarting) is made again; the output starts over
    from the beginning on the server, so the lines already printed are skipped."""
    printed = 0
    lost_at: float | None = None
    while True:
        try:
            for i, line in enumerate(api.stream_lines(f"/apps/{name}/builds/{build_id}/output")):
                if i >= printed:
                    click.echo(line)
                    printed += 1
            build = api.get(f"/apps/{name}/builds/{build_id}")
            if build["status"] in ("succeeded", "failed"):
                return build
            lost_at = None  # the stream ended early but the API answers: follow again
        except Exception as e:  # noqa: BLE001 - only transient errors are waited out
            if not is_transient(e):
                raise
            if lost_at is None:
                lost_at = time.monotonic()
                err.print("-----> Lost the connection to the Berth API; reconnecting (the build goes on)…")
            elif time.monotonic() - lost_at > API_OUTAGE_S:
                fail(f"the Berth API has been unreachable for {API_OUTAGE_S:.0f} s; the build goes on: "
                     f"see `berth releases` and `berth logs --source build`")
        time.sleep(1)


@cli.command("releases")
@app_option
@click.option("--limit", default=20, show_default=True)
def releases(app, limit: int):
    """List an app's releases, newest first."""
    rows = client().get(f"/apps/{resolve_app(app)}/releases", params={"limit": limit})
    table = Table("version", "description", "status", "by", "created")
    for r in rows:
        table.add_row(f"v{r['version']}", r["description"], r["status"] + (f" ({r['reason']})" if r.get("reason") else ""),
                      r.get("created_by") or "", r["created_at"][:19])
    out.print(table)


@cli.command("logs")
@app_option
@click.option("--num", "-n", "lines", default=100, show_default=True, help="recent lines to show")
@click.option("--tail", "-t", is_flag=True, help="keep streaming new lines")
@click.option("--source", type=click.Choice(["app", "build", "router", "berth"]))
@click.option("--dyno", "-d", help="only this process type (web), slot (web.1) or instance")
def logs(app, lines: int, tail: bool, source: str | None, dyno: str | None):
    """Show an app's logs: its processes, builds, router access lines and platform messages."""
    params = {"lines": lines, **({"tail": 1} if tail else {}), **({"source": source} if source else {}),
              **({"dyno": dyno} if dyno else {})}
    try:
        for line in client().stream_lines(f"/apps/{resolve_app(app)}/logs", **params):
            click.echo(line)
    except KeyboardInterrupt:
        pass


# --- git push --------------------------------------------------------------------------

def _git(*args: str, check: bool = True):
    import subprocess

    try:
        proc = subprocess.run(["git", *args], capture_output=True, text=True)
    except FileNotFoundError:
        fail("git is not installed")
    if check and proc.returncode != 0:
        fail(f"git {' '.join(args)}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc


def _berth_command() -> str:
    """How git should run this CLI again (for the credential helper)."""
    import shlex
    import shutil

    me = Path(sys.argv[0])
    path = me.resolve() if me.is_file() and me.name == "berth" else shutil.which("berth")
    return shlex.quote(str(path)) if path else "berth"


@cli.command("git:remote")
@app_option
@click.option("--remote", "-r", default="berth", show_default=True, help="the git remote's name")
def git_remote(app, remote: str):
    """Add (or update) a git remote of the app, so that `git push berth main` deploys it."""
    name = resolve_app(app)
    if _git("rev-parse", "--is-inside-work-tree", check=False).stdout.strip() != "true":
        fail("not in a git checkout: run `git init` (and commit) first")
    client().get(f"/apps/{name}")  # the app exists and the token works
    base = config.api_url()
    url = f"{base}/apps/{name}.git"
    if _git("remote", "get-url", remote, check=False).returncode == 0:
        _git("remote", "set-url", remote, url)
    else:
        _git("remote", "add", remote, url)
    # Git asks `berth git:credentials` for the token (no token in .git/config); the empty
    # helper first drops helpers configured elsewhere for this URL.
    key = f"credential.{base}.helper"
    _git("config", "--local", "--unset-all", key, check=False)
    _git("config", "--local", "--add", key, "")
    _git("config", "--local", "--add", key, f"!{_berth_command()} git:credentials")
    out.print(f"Git remote [bold]{remote}[/bold] → {url}\nDeploy with: git push {remote} main")


@cli.command("git:credentials", hidden=True)
@click.argument("action", default="get")
def git_credentials(action: str):
    """A git credential helper: answers git with the CLI's token for the Berth API."""
    from urllib.parse import urlsplit

    if action != "get":
        return  # store / erase: the token lives in the CLI's config, not with git
    asked = dict(line.split("=", 1) for line in sys.stdin.read().splitlines() if "=" in line)
    api = urlsplit(config.api_url())
    token = config.token()
    if token and asked.get("protocol") == api.scheme and asked.get("host") == api.netloc:
        click.echo(f"username=berth\npassword={token}")

from . import lifecycle  # noqa: E402,F401  (registers the release lifecycle commands)
from . import integrations  # noqa: E402,F401  (registers the webhook and event commands)
from . import access  # noqa: E402,F401  (registers the user and collaborator commands)
