"""Release lifecycle commands: config vars, rollback, processes, one-off runs."""
from __future__ import annotations

import asyncio
import json
import shlex
import sys

import click
from rich.table import Table

from . import config as cli_config
from .main import app_option, cli, client, fail, out, resolve_app


# --- config vars -----------------------------------------------------------------------

@cli.command("config")
@app_option
@click.option("--shell", is_flag=True, help="print KEY=value lines for a shell or .env file")
def config_list(app, shell: bool):
    """Show the app's config vars."""
    config = client().get(f"/apps/{resolve_app(app)}/config-vars")
    if not config:
        out.print("No config vars: `berth config:set KEY=value`")
        return
    width = max(len(k) for k in config)
    for key in sorted(config):
        click.echo(f"{key}={shlex.quote(config[key])}" if shell else f"{key + ':':<{width + 1}} {config[key]}")


@cli.command("config:get")
@app_option
@click.argument("key")
def config_get(app, key: str):
    """Print one config var's value."""
    config = client().get(f"/apps/{resolve_app(app)}/config-vars")
    if key not in config:
        fail(f"config var {key} is not set")
    click.echo(config[key])


def _patch_config(app: str, changes: dict) -> None:
    name = resolve_app(app)
    before = client().get(f"/apps/{name}/releases", params={"limit": 1})
    client().request("PATCH", f"/apps/{name}/config-vars", json=changes)
    after = client().get(f"/apps/{name}/releases", params={"limit": 1})
    if after and (not before or after[0]["version"] != before[0]["version"]):
        out.print(f"Releasing v{after[0]['version']} ({after[0]['description']})")


@cli.command("config:set")
@app_option
@click.argument("pairs", nargs=-1, required=True)
def config_set(app, pairs: tuple[str, ...]):
    """Set config vars: KEY=value … (a new release rolls out)."""
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{pair!r} is not KEY=value")
        changes[key] = value
    _patch_config(app, changes)
    out.print("Set " + ", ".join(sorted(changes)))


@cli.command("config:unset")
@app_option
@click.argument("keys", nargs=-1, required=True)
def config_unset(app, keys: tuple[str, ...]):
    """Unset config vars (a new release rolls out)."""
    _patch_config(app, {k: None for k in keys})
    out.print("Unset " + ", ".join(sorted(keys)))


# --- rollback --------------------------------------------------------------------------

@cli.command("rollback")
@app_option
@click.argument("version", required=False)
def rollback(app, version: str | None):
    """Roll back to a release (default: the one before the current one): a new release
    with that release's image and config."""
    name = resolve_app(app)
    if version is None:
        succeeded = [r for r in client().get(f"/apps/{name}/releases", params={"limit": 100})
                     if r["status"] == "succeeded"]
        if len(succeeded) < 2:
            fail("there is no earlier release to roll back to")
        version = str(succeeded[1]["version"])
    release = client().post(f"/apps/{name}/releases", json={"release": version})
    out.print(f"Rolling back to v{version.lstrip('v')}: releasing v{release['version']}")


# --- processes -------------------------------------------------------------------------

def _uptime(seconds) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


@cli.command("ps")
@app_option
def ps(app):
    """List the app's processes: type, release, state, uptime, restarts."""
    name = resolve_app(app)
    rows = client().get(f"/apps/{name}/dynos")
    if not rows:
        out.print(f"No processes are running for {name}")
        return
    table = Table("instance", "type", "release", "state", "uptime", "restarts", "exit code")
    for r in rows:
        table.add_row(r["instance"], r["type"], f"v{r['release']}" if r["release"] else "", r["state"],
                      _uptime(r.get("uptime_s")), str(r.get("restarts") or 0),
                      "" if r.get("exit_code") is None else str(r["exit_code"]))
    out.print(table)


def _formation_updates(pairs: tuple[str, ...], field: str | None = None) -> list[dict]:
    updates = []
    for pair in pairs:
        ptype, sep, value = pair.partition("=")
        if not sep or not ptype or not value:
            fail(f"{pair!r} is not TYPE=VALUE (e.g. web=3)")
        if field is None:
            if not value.isdigit():
                fail(f"{pair!r}: the quantity must be a whole number")
            updates.append({"type": ptype, "quantity": int(value)})
        else:
            updates.append({"type": ptype, field: value})
    return updates


@cli.command("ps:scale")
@app_option
@click.argument("pairs", nargs=-1, required=True)
def ps_scale(app, pairs):
    """Scale process types: web=3 worker=2."""
    formation = client().request("PATCH", f"/apps/{resolve_app(app)}/formation",
                                 json={"updates": _formation_updates(pairs)}).json()
    out.print("Scaling to " + ", ".join(f"{f['type']}={f['quantity']}" for f in formation))


@cli.command("ps:resize")
@app_option
@click.option("--memory", help="per instance, e.g. 256m or 1g")
@click.option("--cpus", type=float, help="per instance, e.g. 0.5")
@click.argument("types", nargs=-1, required=True)
def ps_resize(app, memory, cpus, types):
    """Set the memory and CPU limits of process types: ps:resize web --memory 256m --cpus 0.5."""
    if memory is None and cpus is None:
        fail("give --memory and/or --cpus")
    updates = [{"type": t, **({"memory": memory} if memory else {}), **({"cpus": cpus} if cpus is not None else {})}
               for t in types]
    formation = client().request("PATCH", f"/apps/{resolve_app(app)}/formation", json={"updates": updates}).json()
    for f in formation:
        out.print(f"{f['type']}: memory {f['memory'] or 'default'}, cpus {f['cpus'] or 'default'}")


@cli.command("ps:restart")
@app_option
@click.argument("ptype", required=False)
def ps_restart(app, ptype):
    """Restart the app's processes (or one type), rolling."""
    client().post(f"/apps/{resolve_app(app)}/dynos/restart", json={"type": ptype} if ptype else {})
    out.print(f"Restarting {ptype or 'all processes'} (rolling)")


@cli.command("ps:stop")
@app_option
@click.argument("dyno")
def ps_stop(app, dyno: str):
    """Stop one-off processes: a name (run.2.a1b2c3), a slot (run.2) or all of them (run)."""
    r = client().post(f"/apps/{resolve_app(app)}/dynos/{dyno}/actions/stop")
    out.print("Stopped " + ", ".join(r["stopped"]), highlight=False)


@cli.command("run", context_settings={"ignore_unknown_options": True})
@app_option
@click.option("--no-tty", is_flag=True, help="no terminal, even when this one is (output as plain streams)")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(app, no_tty: bool, command):
    """Run a one-off command in a new container of the current release: berth run -- CMD.

    Interactive like a local command: with a terminal here, it gets one (`berth run bash`
    is a shell; Ctrl-C and window size reach it); piped input reaches its stdin (`berth run
    -- python manage.py shell < script.py`). Its exit code becomes berth's."""
    from .attach import AttachError, attach

    name = resolve_app(app)
    tty = not no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    line = shlex.join(command)

    def announce(instance: str) -> None:
        # In raw mode a newline does not return the carriage: say both.
        sys.stderr.write(f"Running `{line}` on {name}: {instance}" + ("\r\n" if tty else "\n"))
        sys.stderr.flush()

    try:
        if tty:
            from .attach import raw_terminal
            with raw_terminal(sys.stdin.fileno()):
                code = asyncio.run(attach(cli_config.api_url(), cli_config.token(), name, line, True, announce))
        else:
            code = asyncio.run(attach(cli_config.api_url(), cli_config.token(), name, line, False, announce))
    except AttachError as e:
        fail(str(e))
    except KeyboardInterrupt:  # without a terminal, Ctrl-C ends the session (and the process)
        code = 130
    sys.exit(code)


@cli.command("run:detached", context_settings={"ignore_unknown_options": True})
@app_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_detached(app, command):
    """Start a one-off command in the background: berth run:detached -- CMD. Its output goes
    to the app's logs (`berth logs --dyno <its name>`)."""
    name = resolve_app(app)
    line = shlex.join(command)
    d = client().post(f"/apps/{name}/dynos", json={"command": line, "attach": False})
    out.print(f"Running `{line}` on {name}: {d['name']} (detached). Its output: berth logs --dyno {d['name']}",
              highlight=False, soft_wrap=True)


# --- domains ---------------------------------------------------------------------------

@cli.command("domains")
@app_option
def domains(app):
    """The host names the app answers on: its own and custom domains."""
    for d in client().get(f"/apps/{resolve_app(app)}/domains"):
        click.echo(f"{d['hostname']}  ({d['kind']})")


@cli.command("domains:add")
@app_option
@click.argument("hostname")
def domains_add(app, hostname: str):
    """Serve the app on a custom domain too (point its DNS at the router)."""
    d = client().post(f"/apps/{resolve_app(app)}/domains", json={"hostname": hostname})
    out.print(f"Added {d['hostname']}: point its DNS (A/CNAME) at this Berth's router")


@cli.command("domains:remove")
@app_option
@click.argument("hostname")
def domains_remove(app, hostname: str):
    """Stop serving the app on a custom domain."""
    client().delete(f"/apps/{resolve_app(app)}/domains/{hostname}")
    out.print(f"Removed {hostname}")
