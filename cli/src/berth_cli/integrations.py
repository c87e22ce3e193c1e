"""Integration commands: webhooks, their deliveries, the live event stream, log drains."""
from __future__ import annotations

import json
import sys

import click
from .main import app_option, cli, client, fail, out, resolve_app


# --- webhooks --------------------------------------------------------------------------

@cli.command("webhooks")
@app_option
def webhooks_list(app):
    """List the app's webhooks."""
    hooks = client().get(f"/apps/{resolve_app(app)}/webhooks")
    if not hooks:
        out.print("No webhooks: `berth webhooks:add URL --include release,build`")
        return
    # Plain lines, never cut to the terminal's width: ids and URLs are there to be copied.
    for h in hooks:
        click.echo(f"{h['id']}  {h['url']}  {','.join(h['include'])}  created {h['created_at'][:19]}")


@cli.command("webhooks:add")
@app_option
@click.argument("url")
@click.option("--include", "-i", required=True,
              help="event groups, comma-separated: app, build, release, formation, domain, process (dyno)")
@click.option("--secret", "-s", help="a Standard Webhooks secret (whsec_…); default: one is generated")
def webhooks_add(app, url: str, include: str, secret: str | None):
    """Send the app's events to URL, signed (Standard Webhooks)."""
    body = {"url": url, "include": [i.strip() for i in include.split(",") if i.strip()]}
    if secret:
        body["secret"] = secret
    hook = client().post(f"/apps/{resolve_app(app)}/webhooks", json=body)
    out.print(f"Added webhook {hook['id']} → {hook['url']} ({', '.join(hook['include'])})", highlight=False)
    out.print("Signing secret (shown only now; verify deliveries with any Standard Webhooks library):")
    click.echo(hook["secret"])


@cli.command("webhooks:remove")
@app_option
@click.argument("webhook_id")
def webhooks_remove(app, webhook_id: str):
    """Remove a webhook (its pending deliveries are dropped)."""
    hook = client().delete(f"/apps/{resolve_app(app)}/webhooks/{webhook_id}")
    out.print(f"Removed webhook {hook['id']} → {hook['url']}", highlight=False)


@cli.command("webhooks:rotate")
@app_option
@click.argument("webhook_id")
@click.option("--overlap-hours", type=float, help="how long the old secret still signs (default: the platform's)")
def webhooks_rotate(app, webhook_id: str, overlap_hours: float | None):
    """Give a webhook a new secret; the old one keeps signing during the overlap."""
    body = {} if overlap_hours is None else {"overlap_hours": overlap_hours}
    hook = client().post(f"/apps/{resolve_app(app)}/webhooks/{webhook_id}/rotate-secret", json=body)
    out.print(f"New secret for {hook['id']} (the old one also signs until {hook['previous_expires_at']}):")
    click.echo(hook["secret"])


@cli.command("webhooks:deliveries")
@app_option
@click.option("--webhook", "webhook_id", help="only this webhook's deliveries")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--limit", default=50, show_default=True)
def webhooks_deliveries(app, webhook_id: str | None, status: str | None, limit: int):
    """The app's webhook deliveries, newest first, with their last attempt."""
    params = {"limit": limit, **({"webhook": webhook_id} if webhook_id else {}), **({"status": status} if status else {})}
    rows = client().get(f"/apps/{resolve_app(app)}/webhook-deliveries", params=params)
    if not rows:
        out.print("No deliveries yet")
        return
    for d in rows:
        last = d["last_error"] or (f"HTTP {d['last_status_code']}" if d["last_status_code"] else "-")
        tries = f"{d['attempts']} {'try' if d['attempts'] == 1 else 'tries'}"
        line = f"{d['id']}  {d['event_type'].removeprefix('berth.')}  {d['status']}  {tries}  last: {last}"
        if d["status"] == "pending":
            line += f"  next try {d['next_attempt_at'][:19]}"
        click.echo(line)


@cli.command("webhooks:retry")
@app_option
@click.argument("delivery_id")
def webhooks_retry(app, delivery_id: str):
    """Send a delivery again now."""
    client().post(f"/apps/{resolve_app(app)}/webhook-deliveries/{delivery_id}/retry")
    out.print(f"Retrying delivery {delivery_id}")


# --- the live event stream ---------------------------------------------------------------

def _summary(env: dict) -> str:
    data = env.get("data") or {}
    keys = ("version", "process", "instance", "reason", "build_id", "exit_code")
    return " ".join(f"{k}={data[k]}" for k in keys if data.get(k) is not None)


@cli.command("events")
@click.option("--app", "-a", "app", help="only this app's events (default: every app)")
@click.option("--json", "as_json", is_flag=True, help="print each CloudEvents envelope as one JSON line")
@click.option("--since", help="resume after this stream position (an event's SSE id)")
def events(app: str | None, as_json: bool, since: str | None):
    """Print the platform's events live (Ctrl-C stops)."""
    params = {"app": app} if app else {}
    headers = {"Last-Event-ID": since} if since else {}
    r = client().request("GET", "/events", params=params, headers=headers, stream=True, timeout=(10, None))
    data: list[str] = []
    try:
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                env = json.loads("\n".join(data))
                data = []
                if as_json:
                    click.echo(json.dumps(env))
                else:
                    click.echo(f"{env['time'][:19]} {env['type']} {env['subject']} {_summary(env)}".rstrip())
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass


# --- log drains --------------------------------------------------------------------------

@cli.command("drains")
@app_option
def drains_list(app):
    """List the app's log drains, with their token and how delivery goes."""
    drains = client().get(f"/apps/{resolve_app(app)}/log-drains")
    if not drains:
        out.print("No log drains: `berth drains:add https://logs.example.com/in` (or syslog+tls://host:port)")
        return
    for d in drains:
        state = f"error {d['last_error_at'][:19]}: {d['last_error']}" if d["last_error"] else \
            (f"sent {d['last_sent_at'][:19]}" if d["last_sent_at"] else "nothing sent yet")
        click.echo(f"{d['url']}  ({d['token']})  {state}")


@cli.command("drains:add")
@app_option
@click.argument("url")
def drains_add(app, url: str):
    """Forward the app's logs (its processes, router and platform lines) to URL: https://
    (logplex batches, as Heroku's HTTPS drains), syslog+tls://host:port or syslog://host:port."""
    d = client().post(f"/apps/{resolve_app(app)}/log-drains", json={"url": url})
    out.print(f"Added drain {d['url']} ({d['token']}); lines from now on are forwarded", highlight=False)


@cli.command("drains:remove")
@app_option
@click.argument("drain")
def drains_remove(app, drain: str):
    """Stop forwarding to a drain, given by its URL or token."""
    name = resolve_app(app)
    api = client()
    if "://" in drain:  # a URL: find its drain (ids and tokens are path-safe, URLs are not)
        found = [d for d in api.get(f"/apps/{name}/log-drains") if d["url"] == drain]
        if not found:
            fail(f"{name} has no drain {drain}; `berth drains` lists them")
        drain = found[0]["id"]
    d = api.delete(f"/apps/{name}/log-drains/{drain}")
    out.print(f"Removed drain {d['url']}", highlight=False)
