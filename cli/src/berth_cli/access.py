"""Users (an admin's) and collaborators (an app owner's): who may use what."""
from __future__ import annotations

from urllib.parse import quote

import click
from rich.table import Table

from .main import app_option, cli, client, out, resolve_app


@cli.command("auth:whoami")
def whoami():
    """The user the token in use belongs to."""
    me = client().get("/account")
    click.echo(f"{me['email']}{' (admin)' if me['is_admin'] else ''}")


@cli.command("users")
def users_list():
    """List users (admins only)."""
    table = Table("email", "admin", "apps owned", "created")
    for u in client().get("/users"):
        table.add_row(u["email"], "yes" if u["is_admin"] else "", str(u["apps_owned"]), u["created_at"][:19])
    out.print(table)


@cli.command("users:add")
@click.argument("email")
@click.option("--admin", is_flag=True, help="may manage users and use every app")
def users_add(email: str, admin: bool):
    """Add a user and print their token, once (admins only). They log in with
    `berth login --token TOKEN`."""
    u = client().post("/users", json={"email": email, "admin": admin})
    out.print(f"Added {u['email']}{' (admin)' if u['is_admin'] else ''}. Their token (shown only now):")
    click.echo(u["token"])


@cli.command("users:remove")
@click.argument("email")
def users_remove(email: str):
    """Remove a user and their tokens (admins only); the apps they own stay."""
    client().delete(f"/users/{quote(email, safe='')}")
    out.print(f"Removed {email}")


@cli.command("access")
@app_option
def access_list(app):
    """Who may use the app: its owner and collaborators (admins may use every app)."""
    data = client().get(f"/apps/{resolve_app(app)}/collaborators")
    table = Table("email", "role")
    if data["owner"]:
        table.add_row(data["owner"], "owner")
    for c in data["collaborators"]:
        table.add_row(c["email"], "collaborator")
    out.print(table)


@cli.command("access:add")
@app_option
@click.argument("email")
def access_add(app, email: str):
    """Let a user deploy, configure, scale and read the app (the owner or an admin)."""
    name = resolve_app(app)
    r = client().post(f"/apps/{name}/collaborators", json={"email": email})
    out.print(f"{r['email']} {'may now use' if r['added'] else 'could already use'} {name}")


@cli.command("access:remove")
@app_option
@click.argument("email")
def access_remove(app, email: str):
    """Take a collaborator's access to the app away (the owner or an admin)."""
    name = resolve_app(app)
    client().delete(f"/apps/{name}/collaborators/{quote(email, safe='')}")
    out.print(f"{email} may no longer use {name}")
