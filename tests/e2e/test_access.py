"""End to end: users and collaborators. An admin adds a user; the user sees, deploys to and
hears the events of only the apps they own or collaborate on; a collaborator cannot delete
the app or manage who may use it; a removed user's token stops working."""
from __future__ import annotations

import subprocess

import requests

from .test_webhooks import read_until, sse_events


def as_user(berth, token: str):
    env = {**berth.env(), "BERTH_TOKEN": token}

    def cli(*args, check=True, cwd=None):
        proc = subprocess.run([str(berth.cli_path), *args], env=env, capture_output=True, text=True, timeout=300, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def api(method, path, **kw):
        return requests.request(method, berth.platform.api_url + path, headers={
            "Authorization": f"Bearer {token}", **kw.pop("headers", {})}, timeout=kw.pop("timeout", 30), **kw)
    return cli, api


def test_users_see_and_use_only_their_apps(berth, workdir):
    added = berth.cli("users:add", "bob@example.com").stdout
    token = added.strip().splitlines()[-1]
    assert token.startswith("berth_") and "shown only now" in added
    bob, bob_api = as_user(berth, token)
    assert bob("auth:whoami").stdout.strip() == "bob@example.com"
    assert "bob@example.com" in berth.cli("users").stdout

    # An admin's app is invisible to bob: not listed, 404 everywhere, git refuses him.
    d = workdir("static-site")
    berth.cli("apps:create", "guarded", cwd=d)
    berth.cli("deploy", cwd=d)
    assert "guarded" not in bob("apps").stdout
    r = bob("apps:info", "-a", "guarded", check=False)
    assert r.returncode == 1 and "app 'guarded' not found" in r.stderr
    assert bob_api("GET", "/apps/guarded/config-vars").status_code == 404
    assert bob_api("GET", "/apps/guarded/logs").status_code == 404
    git = subprocess.run(["git", "ls-remote", f"http://x:{token}@127.0.0.1:{berth.platform.api_port}/apps/guarded.git"],
                         capture_output=True, text=True, timeout=60)
    assert git.returncode != 0

    # Bob's event stream carries his apps' events only.
    resp = bob_api("GET", "/events", stream=True, timeout=(5, 60))
    lines = resp.iter_lines(decode_unicode=True)
    assert next(lines).startswith(": berth events from")
    assert berth.api("POST", "/apps", json={"name": "not-for-bob"}).status_code == 201
    assert bob_api("POST", "/apps", json={"name": "bobs-app"}).status_code == 201
    seen: list = []
    read_until(sse_events(lines), lambda e: e["subject"] == "bobs-app", seen)
    resp.close()
    assert "not-for-bob" not in {e["subject"] for _, e in seen}
    assert bob_api("GET", "/events", params={"app": "guarded"}).status_code == 404
    # An admin sees every app, bob's too.
    assert "bobs-app" in berth.cli("apps").stdout

    # As a collaborator bob deploys, configures and reads the app ...
    berth.cli("access:add", "bob@example.com", "-a", "guarded")
    assert "bob@example.com" in berth.cli("access", "-a", "guarded").stdout
    assert "guarded" in bob("apps").stdout
    bob("config:set", "-a", "guarded", "SET_BY=bob")
    (d / "index.html").write_text("<h1>deployed by bob</h1>")
    out = bob("deploy", "-a", "guarded", cwd=d).stdout
    assert "Released v3" in out
    assert "deployed by bob" in berth.get_app_page("guarded").text
    # ... but may not delete it or decide who else may use it.
    r = bob("apps:destroy", "-a", "guarded", "--confirm", "guarded", check=False)
    assert r.returncode == 1 and "only the owner of guarded or an admin may delete it" in r.stderr
    r = bob("access:add", "eve@example.com", "-a", "guarded", check=False)
    assert r.returncode == 1 and "only the owner of guarded or an admin" in r.stderr
    r = bob("users", check=False)
    assert r.returncode == 1 and "only an admin may manage users" in r.stderr

    # Access taken away: invisible again. User removed: the token no longer works.
    berth.cli("access:remove", "bob@example.com", "-a", "guarded")
    assert bob_api("GET", "/apps/guarded").status_code == 404
    berth.cli("users:remove", "bob@example.com")
    assert bob_api("GET", "/account").status_code == 401
    assert berth.api("GET", "/apps/bobs-app").json()["owner"] is None  # his app stays, for the admins

    # Bad input is named.
    r = berth.cli("users:add", "not-an-email", check=False)
    assert r.returncode == 1 and "email" in r.stderr
    r = berth.cli("access:add", "nobody@example.com", "-a", "guarded", check=False)
    assert r.returncode == 1 and "no user 'nobody@example.com'" in r.stderr
    assert berth.api("POST", "/users", json={"email": "x@example.com", "admin": "yes"}).status_code == 422
