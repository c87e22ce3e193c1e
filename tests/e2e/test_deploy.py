"""End to end: deploy the examples through the `berth` CLI onto the real platform (NATS,
Postgres, HAProxy, Docker), reach them through the router, read their logs, deploy again,
and follow one trace across the services."""
from __future__ import annotations

import json
import threading

import requests

from berth_common import events as ev


def deploy(berth, d, app):
    berth.cli("apps:create", app, cwd=d)
    return berth.cli("deploy", cwd=d)


def releases(berth, app):
    return berth.api("GET", f"/apps/{app}/releases").json()


def test_python_app_end_to_end(berth, workdir):
    d = workdir("python-app")
    result = deploy(berth, d, "pyapp")
    # The build output streamed live to the terminal (the stack, the docker build steps), then the URL.
    assert "Detected python app (requirements.txt)" in result.stdout
    assert "Step 1/" in result.stdout or "pip install" in result.stdout
    assert "Released v1" in result.stdout
    assert f"http://pyapp.localhost:{berth.platform.router_port}" in result.stdout

    page = berth.get_app_page("pyapp")
    assert page.status_code == 200
    assert "Hello from Berth (python)" in page.text
    assert "itsdangerous 2.2.0" in page.text

    # App stdout, build output, router access lines and platform lines all reach the logs.
    def logs_have_everything():
        text = berth.cli("logs", "-a", "pyapp", "-n", "1000").stdout
        return text if all(s in text for s in ("handled GET /", "app[web.1.", "build[build]",
                                                 "router[router]", "berth[")) else None
    text = berth.wait_for(logs_have_everything, timeout=60, what="app, build, router and berth lines in the logs")
    assert "Release v1 deployed" in text
    # --dyno keeps one process's lines: the app's own, not the build's or the router's.
    web1 = berth.cli("logs", "-a", "pyapp", "-n", "1000", "--dyno", "web.1").stdout
    assert "handled GET /" in web1 and "build[build]" not in web1 and "router[router]" not in web1
    bad = berth.cli("logs", "-a", "pyapp", "--dyno", "web one", check=False)
    assert bad.returncode == 1 and "dyno 'web one' is invalid" in bad.stderr
    # A log session (Heroku's API): a URL that reads the same lines without a token, for a while.
    session = berth.api("POST", "/apps/pyapp/log-sessions", json={"lines": 1000, "dyno": "web.1"})
    assert session.status_code == 201
    url = session.json()["logplex_url"]
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and "handled GET /" in r.text and "build[build]" not in r.text
    assert requests.get(url[:-6] + "AAAAAA", timeout=10).status_code == 404
    assert berth.api("POST", "/apps/pyapp/log-sessions", json={"lines": 0}).status_code == 400

    # A second release (a code change) is built, rolled out and served.
    app_py = d / "app.py"
    app_py.write_text(app_py.read_text().replace("Hello from Berth (python)", "Hello again from Berth"))
    result = berth.cli("deploy", cwd=d)
    assert "Released v2" in result.stdout
    assert "Hello again from Berth" in berth.get_app_page("pyapp").text
    rels = releases(berth, "pyapp")
    assert [(r["version"], r["status"]) for r in rels] == [(2, "succeeded"), (1, "succeeded")]
    assert rels[0]["description"].startswith("Deploy ")
    # The previous release's containers are gone once v2 serves.
    berth.wait_for(lambda: berth.containers("pyapp") == ["web.1@v2"], timeout=30, what="only v2 running")

    out = berth.cli("releases", "-a", "pyapp").stdout
    assert "v2" in out and "v1" in out and "succeeded" in out


def test_static_and_dockerfile_apps(berth, workdir):
    result = deploy(berth, workdir("static-site"), "site")
    assert "Released v1" in result.stdout
    page = berth.get_app_page("site", "/index.html")
    assert page.status_code == 200 and "Hello from Berth (static)" in page.text

    result = deploy(berth, workdir("dockerfile-app"), "dockerapp")
    assert "Released v1" in result.stdout
    assert "Hello from Berth (dockerfile)" in berth.get_app_page("dockerapp").text
    berth.wait_for(lambda: "handled GET /" in berth.cli("logs", "-a", "dockerapp").stdout,
                   what="the Dockerfile app's stdout in its logs")


def test_one_trace_spans_the_deploy(berth, workdir):
    d = workdir("static-site")
    berth.cli("apps:create", "traced", cwd=d)
    r = berth.api("POST", "/apps/traced/builds", data=_tgz(d), headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201
    trace_id = r.headers["X-Trace-Id"]
    assert len(trace_id) == 32
    berth.wait_for(lambda: [x for x in releases(berth, "traced") if x["status"] == "succeeded"],
                   timeout=120, what="the release to be deployed")

    def services_in_trace():
        spans = [json.loads(line) for line in berth.traces.read_text().splitlines() if line.strip()]
        mine = [s for s in spans if s["context"]["trace_id"] == "0x" + trace_id]
        return {(s["resource"]["attributes"]["service.name"], s["name"]) for s in mine}
    # The trace ends at the router's first request to the new release.
    assert berth.get_app_page("traced").status_code == 200
    want = {
        ("berth-api", "POST /apps/{app}/builds"),
        ("berth-builder", f"consume {ev.BuildRequested.type}"),
        ("berth-builder", "build"),
        ("berth-api", f"consume {ev.BuildCompleted.type}"),
        ("berth-api", "release"),
        ("berth-scheduler", f"consume {ev.ReleaseCreated.type}"),
        ("berth-scheduler", "rollout"),
        ("berth-router", f"consume {ev.EndpointsChanged.type}"),
    }
    got = berth.wait_for(lambda: want <= services_in_trace() and services_in_trace(), timeout=30,
                         what="spans of api, builder, api, scheduler and router in one trace")
    assert want <= got
    assert any(svc == "berth-router" and name.startswith("first request to web.1.") for svc, name in got), got


def _tgz(directory) -> bytes:
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for child in sorted(directory.iterdir()):
            tar.add(child, arcname=child.name)
    return buf.getvalue()


def test_release_that_never_comes_up_fails_and_previous_keeps_serving(berth, workdir):
    d = workdir("static-site")
    deploy(berth, d, "fragile")
    assert berth.get_app_page("fragile").status_code == 200
    # A web process that exits at once: the release fails with the reason, v1 keeps serving.
    (d / "Dockerfile").write_text("FROM berth/static:bookworm\nCMD [\"/bin/sh\", \"-c\", \"echo boom; exit 3\"]\n")
    result = berth.cli("deploy", cwd=d, check=False)
    assert result.returncode != 0
    assert "release v2 failed" in result.stderr and "exited with code 3" in result.stderr
    rels = releases(berth, "fragile")
    assert rels[0]["version"] == 2 and rels[0]["status"] == "failed" and "exited with code 3" in rels[0]["reason"]
    assert rels[1]["status"] == "succeeded"
    page = berth.get_app_page("fragile")
    assert page.status_code == 200 and "Hello from Berth (static)" in page.text
    assert berth.containers("fragile") == ["web.1@v1"]


def test_router_answers_unknown_hosts_and_apps_without_instances(berth):
    r = requests.get(berth.platform.router_url, headers={"Host": "nosuchapp.localhost"}, timeout=10)
    assert r.status_code == 404 and r.text.strip()
    assert berth.api("POST", "/apps", json={"name": "idle"}).status_code == 201

    def idle_503():
        r = requests.get(berth.platform.router_url, headers={"Host": "idle.localhost"}, timeout=10)
        return r.text if r.status_code == 503 else None  # (a Response with an error status is falsy)
    assert berth.wait_for(idle_503, timeout=30, what="503 for an app with no running instance").strip()


def test_logs_tail_streams_new_lines(berth, workdir):
    deploy(berth, workdir("dockerfile-app"), "tailed")
    got: list[str] = []
    seen = threading.Event()

    def follow():
        with berth.api("GET", "/apps/tailed/logs", params={"tail": 1, "lines": 1}, stream=True, timeout=60) as r:
            for line in r.iter_lines(decode_unicode=True):
                got.append(line)
                if "handled GET /tail-marker" in line:
                    seen.set()
                    return

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    berth.wait_for(lambda: got, timeout=20, what="the tail to start")
    assert berth.get_app_page("tailed", "/tail-marker").status_code == 200
    assert seen.wait(30), f"the new line did not arrive on the tail: {got}"


def test_deleting_an_app_stops_it_and_removes_its_route(berth, workdir):
    deploy(berth, workdir("static-site"), "doomed")
    assert berth.get_app_page("doomed").status_code == 200
    assert berth.cli("apps:destroy", "-a", "doomed", "--confirm", "doomed").returncode == 0
    berth.wait_for(lambda: berth.containers("doomed") == [], timeout=60, what="the app's containers to stop")
    berth.wait_for(lambda: berth.get_app_page("doomed").status_code == 404, timeout=30, what="404 after delete")
    assert berth.api("GET", "/apps/doomed").status_code == 404
