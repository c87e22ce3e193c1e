"""Custom domains: the router serves an app on a host name added to it, and stops when it
is removed; bad and taken names are refused."""
from __future__ import annotations

import requests


def page(berth, host: str) -> requests.Response:
    return requests.get(berth.platform.router_url, headers={"Host": host}, timeout=10)


def test_custom_domain_routes_to_the_app(berth, workdir):
    d = workdir("static-site")
    berth.cli("apps:create", "branded", cwd=d)
    berth.cli("deploy", cwd=d)
    assert page(berth, "www.branded.test").status_code == 404

    out = berth.cli("domains:add", "www.branded.test", cwd=d).stdout
    assert "Added www.branded.test" in out
    berth.wait_for(lambda: page(berth, "www.branded.test").status_code == 200, timeout=30,
                   what="the custom domain to be routed")
    assert "Hello from Berth (static)" in page(berth, "WWW.Branded.Test:80").text  # case and port do not matter
    listed = berth.cli("domains", cwd=d).stdout
    assert "branded.localhost" in listed and "www.branded.test  (custom)" in listed

    # One app per host name; names under the base domain are the apps' own; bad names are refused.
    assert berth.api("POST", "/apps", json={"name": "rival"}).status_code == 201
    r = berth.api("POST", "/apps/rival/domains", json={"hostname": "www.branded.test"})
    assert r.status_code == 409 and r.json()["id"] == "domain_taken"
    for bad in ("rival.localhost", "UPPER.example.com", "no_underscores.example.com", "single", ""):
        r = berth.api("POST", "/apps/rival/domains", json={"hostname": bad})
        assert r.status_code == 422 and r.json()["id"] == "invalid_hostname", bad

    berth.cli("domains:remove", "www.branded.test", cwd=d)
    berth.wait_for(lambda: page(berth, "www.branded.test").status_code == 404, timeout=30,
                   what="the custom domain to be unrouted")
    assert page(berth, "branded.localhost").status_code == 200
    assert berth.api("DELETE", "/apps/branded/domains/www.branded.test").status_code == 404


def test_maintenance_mode_shows_a_page_on_every_host_and_goes_away(berth, workdir):
    d = workdir("static-site")
    berth.cli("apps:create", "upkeep", cwd=d)
    berth.cli("deploy", cwd=d)
    berth.cli("domains:add", "www.upkeep.test", cwd=d)
    assert berth.cli("maintenance", cwd=d).stdout.strip() == "off"
    berth.cli("maintenance:on", cwd=d)
    assert berth.cli("maintenance", cwd=d).stdout.strip() == "on"
    for host in ("upkeep.localhost", "www.upkeep.test"):
        # (a Response is falsy when its status is an error: wait for a tuple)
        r, = berth.wait_for(lambda: (p := page(berth, host)).status_code == 503 and (p,), timeout=30,
                            what=f"the maintenance page on {host}")
        assert "Down for maintenance" in r.text and r.headers["Retry-After"] == "120"
    assert berth.containers("upkeep") == ["web.1@v1"]  # the processes keep running
    berth.cli("maintenance:off", cwd=d)
    berth.wait_for(lambda: page(berth, "upkeep.localhost").status_code == 200, timeout=30, what="the app again")
    r = berth.api("PATCH", "/apps/upkeep", json={"maintenance": "yes"})
    assert r.status_code == 422 and r.json()["id"] == "invalid_maintenance"
    assert berth.api("PATCH", "/apps/upkeep", json={"name": "x"}).status_code == 400
