"""End to end: the release lifecycle on the real platform — config vars, rollback, scaling,
rolling restarts and deploys under load, one-off runs, the release phase, health checks,
self-healing and a service killed in the middle of a deploy."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time

import pytest
import requests


class Load:
    """Steady requests through the router in a background thread; counts failures."""

    def __init__(self, berth, app: str, interval: float = 0.01):
        self.berth, self.app, self.interval = berth, app, interval
        self.sent = self.failed = 0
        self.errors: list[str] = []
        self.bodies: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        session = requests.Session()
        while not self._stop.is_set():
            self.sent += 1
            try:
                r = session.get(self.berth.platform.router_url, headers={"Host": f"{self.app}.localhost"}, timeout=10)
                if r.status_code != 200:
                    self.failed += 1
                    self.errors.append(f"{r.status_code} {r.text[:80]!r}")
                else:
                    self.bodies.add(r.text)
            except requests.RequestException as e:
                self.failed += 1
                self.errors.append(repr(e))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(15)


def releases(berth, app):
    return berth.api("GET", f"/apps/{app}/releases").json()


def wait_release(berth, app, version, status="succeeded", timeout=120):
    def done():
        rel = next((r for r in releases(berth, app) if r["version"] == version), None)
        return rel if rel and rel["status"] != "pending" else None
    rel = berth.wait_for(done, timeout=timeout, what=f"v{version} of {app} to finish")
    assert rel["status"] == status, rel
    return rel


def ps(berth, app):
    return berth.api("GET", f"/apps/{app}/dynos").json()


@pytest.fixture(scope="module")
def pyapp(berth, tmp_path_factory):
    import shutil
    from pathlib import Path
    d = tmp_path_factory.mktemp("lifecycle") / "python-app"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "python-app", d)
    berth.cli("apps:create", "life", cwd=d)
    berth.cli("deploy", cwd=d)
    return d


def test_config_vars_make_releases_and_reach_the_app(berth, pyapp):
    r = berth.cli("config:set", "MESSAGE=Configured by Berth", "SECRET_TOKEN=s3cr3t-value-42", cwd=pyapp)
    assert "Releasing v2" in r.stdout
    rel = wait_release(berth, "life", 2)
    assert rel["description"] == "Set MESSAGE, SECRET_TOKEN" and rel["created_by"] == "admin@berth.local"
    berth.wait_for(lambda: "Configured by Berth" in berth.get_app_page("life").text, timeout=30, what="new config served")
    assert berth.cli("config:get", "MESSAGE", cwd=pyapp).stdout.strip() == "Configured by Berth"
    assert "SECRET_TOKEN" in berth.cli("config", cwd=pyapp).stdout
    assert berth.api("GET", "/apps/life/config-vars").json() == {"MESSAGE": "Configured by Berth",
                                                                 "SECRET_TOKEN": "s3cr3t-value-42"}

    # Encrypted at rest and never printed: not in the database, the event streams or any log.
    rows = _sql(berth, "SELECT value_sealed FROM api.config_vars UNION ALL SELECT config_sealed FROM api.releases "
                       "UNION ALL SELECT target::text FROM scheduler.apps")
    assert rows and all("s3cr3t-value-42" not in row for row in rows)
    for log in (berth.platform.data_dir / "logs").glob("*.log"):
        assert "s3cr3t-value-42" not in log.read_text(errors="replace"), log
    nats_store = b"".join(p.read_bytes() for p in (berth.platform.data_dir / "nats").rglob("*.blk"))
    assert b"s3cr3t-value-42" not in nats_store

    r = berth.cli("config:unset", "MESSAGE", cwd=pyapp)
    assert "Releasing v3" in r.stdout
    assert wait_release(berth, "life", 3)["description"] == "Unset MESSAGE"
    berth.wait_for(lambda: "Hello from Berth (python)" in berth.get_app_page("life").text, timeout=30,
                   what="default message back")

    # Bad input: a clear 422 and no release.
    for body in ({"PORT": "1"}, {"1BAD": "x"}, {"A": 5}, {}):
        resp = berth.api("PATCH", "/apps/life/config-vars", json=body)
        assert resp.status_code == 422 and resp.json()["id"] == "invalid_config_var", body
    assert releases(berth, "life")[0]["version"] == 3


def _sql(berth, query: str) -> list[str]:
    import asyncio

    import asyncpg

    async def run():
        conn = await asyncpg.connect(berth.platform.database_url)
        try:
            return [str(v) for r in await conn.fetch(query) for v in r.values()]
        finally:
            await conn.close()
    return asyncio.run(run())


def test_rollback_restores_image_and_config(berth, pyapp):
    version = releases(berth, "life")[0]["version"]
    r = berth.cli("rollback", "v2", cwd=pyapp)
    assert f"releasing v{version + 1}" in r.stdout
    rel = wait_release(berth, "life", version + 1)
    assert rel["description"] == "Rollback to v2"
    berth.wait_for(lambda: "Configured by Berth" in berth.get_app_page("life").text, timeout=30,
                   what="v2's config served again")
    assert berth.api("GET", "/apps/life/config-vars").json()["MESSAGE"] == "Configured by Berth"
    assert berth.api("POST", "/apps/life/releases", json={"release": "v99"}).status_code == 404
    assert berth.api("POST", "/apps/life/releases", json={"release": "latest"}).status_code == 422


def test_scale_out_serves_from_every_instance_and_back_in(berth, pyapp):
    r = berth.cli("ps:scale", "web=3", cwd=pyapp)
    assert "web=3" in r.stdout
    berth.wait_for(lambda: len([p for p in ps(berth, "life") if p["state"] == "up"]) == 3, timeout=60,
                   what="3 web instances up")
    instances = set()
    for _ in range(30):
        instances.add(berth.get_app_page("life").text.split("instance ")[1].strip())
    assert len(instances) == 3, instances  # round-robin across all three
    out = berth.cli("ps", cwd=pyapp).stdout
    assert out.count("web.") >= 3 and "up" in out

    berth.cli("ps:scale", "web=1", cwd=pyapp)
    berth.wait_for(lambda: [p["state"] for p in ps(berth, "life")] == ["up"], timeout=60, what="back to 1")
    assert berth.api("PATCH", "/apps/life/formation", json={"updates": [{"type": "nope", "quantity": 1}]}).status_code == 422
    assert berth.api("PATCH", "/apps/life/formation", json={"updates": [{"type": "web", "quantity": -1}]}).status_code == 422
    assert berth.cli("ps:scale", "web=x", cwd=pyapp, check=False).returncode != 0


def test_deploy_config_change_and_restart_under_load_drop_nothing(berth, pyapp):
    berth.cli("ps:scale", "web=3", cwd=pyapp)
    berth.wait_for(lambda: len([p for p in ps(berth, "life") if p["state"] == "up"]) == 3, timeout=60,
                   what="3 web instances up")
    with Load(berth, "life") as load:
        time.sleep(1)
        app_py = pyapp / "app.py"
        app_py.write_text(app_py.read_text().replace('"Hello from Berth (python)"', '"Rolled out under load"'))
        berth.cli("config:unset", "MESSAGE", cwd=pyapp)
        berth.cli("deploy", cwd=pyapp)
        berth.cli("config:set", "MESSAGE=Config under load", cwd=pyapp)
        wait_release(berth, "life", releases(berth, "life")[0]["version"])
        berth.cli("ps:restart", "web", cwd=pyapp)
        berth.wait_for(lambda: all(p["state"] == "up" for p in ps(berth, "life")) and len(ps(berth, "life")) == 3
                       and "Config under load" in berth.get_app_page("life").text, timeout=90, what="restart done")
        time.sleep(2)
    assert load.sent > 100
    assert load.failed == 0, (load.failed, load.sent, load.errors[:5])
    assert any("Config under load" in b for b in load.bodies)
    berth.cli("ps:scale", "web=1", cwd=pyapp)


def test_resize_replaces_instances_with_new_limits(berth, pyapp):
    berth.cli("ps:resize", "web", "--memory", "128m", "--cpus", "0.5", cwd=pyapp)

    def resized():
        ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=berth.app=life", "--filter",
                              f"label=berth.platform={berth.platform_id}", "--filter", "label=berth.process=web"],
                             capture_output=True, text=True).stdout.split()
        if len(ids) != 1:
            return None
        host = json.loads(subprocess.run(["docker", "inspect", ids[0]], capture_output=True, text=True).stdout)[0]["HostConfig"]
        return host["Memory"] == 128 * 2**20 and host["NanoCpus"] == 5 * 10**8
    berth.wait_for(resized, timeout=90, what="the web instance to run with 128m and 0.5 CPU")
    formation = berth.api("GET", "/apps/life/formation").json()
    assert formation == [{"type": "web", "command": "python app.py", "quantity": 1, "memory": "128m", "cpus": 0.5}]
    assert berth.get_app_page("life").status_code == 200


def test_run_streams_output_and_returns_the_exit_code(berth, pyapp):
    r = berth.cli("run", "--", "python", "-c", "import os; print('hello from', os.environ['MESSAGE'])", cwd=pyapp)
    assert "hello from Config under load" in r.stdout
    names = re.findall(r": (run\.\d+\.[a-z0-9]+)", r.stderr)
    r = berth.cli("run", "--", "sh", "-c", "echo failing; exit 3", cwd=pyapp, check=False)
    assert r.returncode == 3 and "failing" in r.stdout
    names += re.findall(r": (run\.\d+\.[a-z0-9]+)", r.stderr)
    assert len(names) == 2
    berth.wait_for(lambda: not {p["instance"] for p in ps(berth, "life")} & set(names), timeout=90,
                   what="one-off containers removed")


def test_run_passes_piped_input_and_keeps_stdout_and_stderr_apart(berth, pyapp):
    script = "import sys; data = sys.stdin.read(); print(data.upper(), end=''); print('to stderr', file=sys.stderr); sys.exit(len(data))"
    r = subprocess.run([str(berth.cli_path), "run", "--", "python", "-c", script], cwd=pyapp, env=berth.env(),
                       input="hello\nworld\n", capture_output=True, text=True, timeout=120)
    assert r.stdout == "HELLO\nWORLD\n" and r.returncode == 12, (r.stdout, r.stderr)
    assert "to stderr" in r.stderr and "to stderr" not in r.stdout
    assert "Running `python -c" in r.stderr and ": run." in r.stderr


def test_run_api_streams_ndjson(berth, pyapp):
    r = berth.api("POST", "/apps/life/dynos", json={"command": "echo from the api; exit 2"}, stream=True)
    items = [json.loads(line) for line in r.iter_lines() if line]
    assert {"line": "from the api"} in items and items[-1] == {"exit_code": 2}


def test_run_detached_answers_at_once_and_its_output_is_in_the_logs(berth, pyapp):
    out = berth.cli("run:detached", "--", "sh", "-c", "sleep 1; echo detached-$((40+2))", cwd=pyapp).stdout
    name = re.search(r": (run\.\d+\.[a-z0-9]+) \(detached\)", out).group(1)
    assert f"berth logs --dyno {name}" in out
    berth.wait_for(lambda: "detached-42" in berth.cli("logs", "--dyno", name, cwd=pyapp).stdout, timeout=60,
                   what="the detached run's output in the logs")
    # Once it has exited it shows as complete (exit 0), until the scheduler removes it.
    berth.wait_for(lambda: all(p["state"] == "complete" for p in ps(berth, "life") if p["instance"] == name),
                   timeout=30, what="the finished one-off to show as complete")
    r = berth.api("POST", "/apps/life/dynos", json={"command": "true", "attach": "no"})
    assert r.status_code == 422 and "attach must be true or false" in r.json()["message"]


def test_ps_stop_stops_a_one_off_but_not_the_formation(berth, pyapp):
    out = berth.cli("run:detached", "--", "sleep", "600", cwd=pyapp).stdout
    name = re.search(r": (run\.\d+\.[a-z0-9]+) \(detached\)", out).group(1)
    berth.wait_for(lambda: any(p["instance"] == name and p["state"] == "up" for p in ps(berth, "life")),
                   timeout=60, what="the detached one-off to run")
    assert f"Stopped {name}" in berth.cli("ps:stop", name, cwd=pyapp).stdout
    berth.wait_for(lambda: all(p["instance"] != name or p["state"] != "up" for p in ps(berth, "life")),
                   timeout=60, what="the one-off to stop")
    r = berth.cli("ps:stop", "web.1", cwd=pyapp, check=False)
    assert r.returncode == 1 and "is part of the formation" in r.stderr and "ps:restart web" in r.stderr
    r = berth.cli("ps:stop", "run.99", cwd=pyapp, check=False)
    assert r.returncode == 1 and "has no running process run.99" in r.stderr


class Terminal:
    """Reads what the far side of a pty writes; `expect` waits for a marker after the last one found."""

    def __init__(self, fd: int):
        self.fd, self.buf, self.pos = fd, b"", 0

    def expect(self, marker: bytes, timeout: float = 60) -> None:
        import os
        import select
        deadline = time.monotonic() + timeout
        while (found := self.buf.find(marker, self.pos)) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {marker!r} from the terminal; after the last match: {self.buf[self.pos:][-500:]!r}")
            if select.select([self.fd], [], [], left)[0]:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the terminal closed before {marker!r}: {self.buf[self.pos:][-500:]!r}")
                self.buf += chunk
        self.pos = found + len(marker)


def _set_size(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_run_with_a_terminal_is_an_interactive_shell(berth, pyapp):
    import os
    import pty
    master, slave = pty.openpty()
    _set_size(slave, 33, 101)
    proc = subprocess.Popen([str(berth.cli_path), "run", "--", "sh"], cwd=pyapp, env={**berth.env(), "TERM": "xterm"},
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    term = Terminal(master)
    try:
        term.expect(b": run.")  # the session is up
        term.expect(b"\r\n")
        name = re.search(rb": (run\.\d+\.[a-z0-9]+)\r\n", term.buf).group(1).decode()
        os.write(master, b"tty -s && echo is-a-$((6*7))-tty; stty size\n")
        term.expect(b"is-a-42-tty")
        term.expect(b"33 101")
        # The window changes size: the remote terminal follows.
        _set_size(master, 40, 120)
        proc.send_signal(signal.SIGWINCH)
        time.sleep(1)
        os.write(master, b"stty size\n")
        term.expect(b"40 120")
        # Ctrl-C interrupts the remote command, not the session.
        os.write(master, b"sleep 300\n")
        time.sleep(1)
        os.write(master, b"\x03")
        os.write(master, b"echo after-$((1+1))-interrupt\n")
        term.expect(b"after-2-interrupt")
        os.write(master, b"exit 4\n")
        assert proc.wait(60) == 4
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    berth.wait_for(lambda: all(p["instance"] != name for p in ps(berth, "life")), timeout=60,
                   what="the one-off container removed")


def test_a_run_whose_client_goes_away_is_stopped(berth, pyapp):
    proc = subprocess.Popen([str(berth.cli_path), "run", "--", "sleep", "600"], cwd=pyapp, env=berth.env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    announced = proc.stderr.readline()  # "Running `sleep 600` on life: run.N.x"
    name = re.search(r": (run\.\d+\.[a-z0-9]+)$", announced.strip()).group(1)
    berth.wait_for(lambda: any(p["instance"] == name and p["state"] == "up" for p in ps(berth, "life")),
                   timeout=60, what="the one-off to start")
    proc.kill()
    proc.wait()
    berth.wait_for(lambda: all(p["instance"] != name for p in ps(berth, "life")), timeout=60,
                   what="the one-off to be stopped once its client is gone")


def test_run_errors_are_clear(berth, pyapp):
    r = berth.cli("run", "--app", "no-such-app", "--", "true", cwd=pyapp, check=False)
    assert r.returncode == 1 and "no-such-app" in r.stderr and "not found" in r.stderr
    r = subprocess.run([str(berth.cli_path), "run", "--", "true"], cwd=pyapp, capture_output=True, text=True,
                       env={**berth.env(), "BERTH_TOKEN": "wrong"}, timeout=60)
    assert r.returncode == 1 and "token" in r.stderr


def test_self_healing_replaces_removed_and_crashed_instances(berth, pyapp):
    def web_container():
        ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=berth.app=life", "--filter",
                              f"label=berth.platform={berth.platform_id}", "--filter", "label=berth.process=web"],
                             capture_output=True, text=True).stdout.split()
        return ids[0] if len(ids) == 1 else None

    first = berth.wait_for(web_container, what="one web container")
    subprocess.run(["docker", "rm", "-f", first], check=True, capture_output=True)
    second = berth.wait_for(lambda: (c := web_container()) and c != first and c, timeout=60, what="a replacement")
    berth.wait_for(lambda: berth.get_app_page("life").status_code == 200, timeout=30, what="served again")

    subprocess.run(["docker", "kill", second], check=True, capture_output=True)  # a crash, from the app's view
    berth.wait_for(lambda: (c := web_container()) and c != second, timeout=60, what="a restart after the crash")
    web = berth.wait_for(lambda: [p for p in ps(berth, "life") if p["type"] == "web" and p["state"] == "up"],
                         timeout=30, what="web up")
    # A killed instance is a crash: counted, with its exit code (SIGKILL: 137).
    assert web[0]["restarts"] >= 1 and web[0]["exit_code"] == 137
    berth.wait_for(lambda: berth.get_app_page("life").status_code == 200, timeout=30, what="served again")


def test_crash_loop_backs_off_and_shows_as_crashed(berth, workdir):
    d = workdir("static-site")
    (d / "Procfile").write_text("web: busybox httpd -f -p $PORT -h /app\nworker: echo crashing; sleep 2; exit 4\n")
    berth.cli("apps:create", "loopy", cwd=d)
    berth.cli("deploy", cwd=d)
    berth.cli("ps:scale", "worker=1", cwd=d)

    def crashed():
        rows = [p for p in ps(berth, "loopy") if p["type"] == "worker" and p["state"] == "crashed"]
        return rows and rows[0]["restarts"] >= 3 and rows[0]
    row = berth.wait_for(crashed, timeout=90, what="the worker to crash-loop")
    assert row["exit_code"] in (4, None)
    assert "crashed" in berth.cli("ps", cwd=d).stdout
    logs = berth.cli("logs", "-n", "300", "--source", "berth", cwd=d).stdout
    assert "restart #" in logs or "could not start worker.1" in logs
    assert berth.get_app_page("loopy").status_code == 200  # the web process is unaffected
    berth.cli("apps:destroy", "--confirm", "loopy", cwd=d)


def test_release_phase_runs_before_traffic_and_a_failure_keeps_the_current_release(berth, workdir):
    d = workdir("static-site")
    (d / "Procfile").write_text("web: busybox httpd -f -p $PORT -h /app\nrelease: echo running migrations for $APP_ENV\n")
    berth.cli("apps:create", "phased", cwd=d)
    berth.cli("config:set", "APP_ENV=production", cwd=d)
    r = berth.cli("deploy", cwd=d)
    assert "Released v1" in r.stdout
    berth.wait_for(lambda: "running migrations for production" in berth.cli("logs", "-n", "200", cwd=d).stdout,
                   timeout=30, what="the release command's output in the logs")

    (d / "index.html").write_text("<h1>should never be served</h1>")
    (d / "Procfile").write_text("web: busybox httpd -f -p $PORT -h /app\nrelease: echo migration failed; exit 2\n")
    r = berth.cli("deploy", cwd=d, check=False)
    assert r.returncode != 0 and "release command exited with code 2" in r.stderr
    assert "Hello from Berth (static)" in berth.get_app_page("phased").text
    berth.wait_for(lambda: "migration failed" in berth.cli("logs", "-n", "200", cwd=d).stdout, timeout=30,
                   what="the failed release command's output in the logs")


def test_failing_health_check_fails_the_release_and_it_is_never_routed(berth, workdir):
    d = workdir("static-site")
    (d / "app.json").write_text(json.dumps({"healthchecks": {"web": [
        {"type": "startup", "name": "ready page", "path": "/ready.txt", "content": "ready", "attempts": 2, "wait": 1}]}}))
    (d / "ready.txt").write_text("ready\n")
    berth.cli("apps:create", "checked", cwd=d)
    assert "Released v1" in berth.cli("deploy", cwd=d).stdout

    (d / "ready.txt").write_text("not yet\n")
    (d / "index.html").write_text("<h1>broken release</h1>")
    with Load(berth, "checked", interval=0.05) as load:
        r = berth.cli("deploy", cwd=d, check=False)
    assert r.returncode != 0 and "failed health check 'ready page'" in r.stderr
    assert not any("broken release" in b for b in load.bodies) and load.failed == 0
    assert "Hello from Berth (static)" in berth.get_app_page("checked").text


def test_a_scheduler_killed_mid_deploy_completes_it_on_restart(berth, workdir):
    d = workdir("static-site")
    berth.cli("apps:create", "resilient", cwd=d)
    berth.cli("deploy", cwd=d)
    (d / "index.html").write_text("<h1>v2 after a scheduler crash</h1>")
    deploy = subprocess.Popen([str(berth.cli_path), "deploy"], cwd=d, env=berth.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Kill the scheduler as soon as it has started rolling out v2.
    berth.wait_for(lambda: "Deploying v2" in berth.cli("logs", "-n", "100", "--source", "berth", cwd=d).stdout,
                   timeout=120, interval=0.1, what="the rollout of v2 to start")
    berth.platform.stop_service("scheduler", sig=signal.SIGKILL)
    time.sleep(1)
    berth.platform.start_service("scheduler")
    out, err = deploy.communicate(timeout=300)
    assert deploy.returncode == 0, err
    assert "Released v2" in out
    assert "v2 after a scheduler crash" in berth.get_app_page("resilient").text
    rels = releases(berth, "resilient")
    assert [(r["version"], r["status"]) for r in rels] == [(2, "succeeded"), (1, "succeeded")]
    berth.wait_for(lambda: berth.containers("resilient") == ["web.1@v2"], timeout=60, what="no instance left over")


def test_an_orphan_container_is_stopped(berth):
    """A container labelled as this installation's, of an app Berth has no desired state for."""
    cid = subprocess.run(
        ["docker", "run", "-d", "--label", f"berth.platform={berth.platform_id}", "--label", "berth.app=ghost",
         "--label", "berth.process=web", "--label", "berth.index=1", "--label", "berth.instance=web.1.000000",
         "--label", "berth.version=1", "--label", "berth.release=r", "berth/static:bookworm", "sleep", "300"],
        check=True, capture_output=True, text=True).stdout.strip()
    gone = lambda: subprocess.run(["docker", "inspect", cid], capture_output=True).returncode != 0  # noqa: E731
    berth.wait_for(gone, timeout=60, what="the orphan to be stopped and removed")


def test_a_builder_killed_mid_build_builds_again_on_restart(berth, workdir):
    d = workdir("python-app")
    # A requirements file never built before: the build takes a few seconds of pip.
    (d / "requirements.txt").write_text(f"itsdangerous==2.2.0\n# {time.time()}\n")
    berth.cli("apps:create", "rebuilt", cwd=d)
    deploy = subprocess.Popen([str(berth.cli_path), "deploy"], cwd=d, env=berth.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    berth.wait_for(lambda: (b := berth.api("GET", "/apps/rebuilt/builds").json()) and b[0]["status"] == "building",
                   timeout=120, interval=0.1, what="the build to start")
    berth.platform.stop_service("builder", sig=signal.SIGKILL)
    time.sleep(1)
    berth.platform.start_service("builder")
    out, err = deploy.communicate(timeout=600)
    assert deploy.returncode == 0, err
    assert "Restarting this build" in out and "Released v1" in out
    assert [(r["version"], r["status"]) for r in releases(berth, "rebuilt")] == [(1, "succeeded")]
    assert "Hello from Berth (python)" in berth.get_app_page("rebuilt").text


@pytest.mark.parametrize("service, when", [
    ("api", "building"),      # the CLI is streaming the build output from it
    ("logger", "building"),   # the build's lines are on their way to it
    ("router", "deploying"),  # the scheduler is waiting for it to take the new instance
])
def test_a_service_killed_mid_deploy_does_not_stop_it(berth, workdir, service, when):
    app = f"killed-{service}"
    d = workdir("python-app")
    berth.cli("apps:create", app, cwd=d)
    berth.cli("deploy", cwd=d)
    # A requirements file never built before: the build takes a few seconds of pip.
    (d / "requirements.txt").write_text(f"itsdangerous==2.2.0\n# {app} {time.time()}\n")
    (d / "app.py").write_text((d / "app.py").read_text().replace("Hello from Berth (python)", f"v2 after the {service} was killed"))
    deploy = subprocess.Popen([str(berth.cli_path), "deploy"], cwd=d, env=berth.env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if when == "building":
        berth.wait_for(lambda: (b := berth.api("GET", f"/apps/{app}/builds").json()) and b[0]["status"] == "building",
                       timeout=120, interval=0.1, what="the build to start")
    else:
        berth.wait_for(lambda: "Deploying v2" in berth.cli("logs", "-n", "100", "--source", "berth", cwd=d).stdout,
                       timeout=300, interval=0.1, what="the rollout of v2 to start")
    berth.platform.stop_service(service, sig=signal.SIGKILL)
    time.sleep(2)
    berth.platform.start_service(service)
    out, err = deploy.communicate(timeout=600)
    assert deploy.returncode == 0, (out, err)
    assert "Released v2" in out
    if service == "api":
        assert "Lost the connection to the Berth API; reconnecting" in err
        assert out.count("Successfully installed") <= 1  # lines printed before the kill are not repeated
    assert [(r["version"], r["status"]) for r in releases(berth, app)] == [(2, "succeeded"), (1, "succeeded")]
    berth.wait_for(lambda: f"v2 after the {service} was killed" in berth.get_app_page(app).text,
                   timeout=60, what="v2 to serve")
    berth.wait_for(lambda: berth.containers(app) == ["web.1@v2"], timeout=60, what="no instance left over")
    if service == "logger":
        logs = berth.cli("logs", "-n", "500", "--source", "build", cwd=d).stdout
        assert "Successfully installed" in logs  # the build's lines were stored after all


def test_a_scheduler_killed_mid_scale_completes_it_on_restart(berth, workdir):
    d = workdir("static-site")
    berth.cli("apps:create", "rescaled", cwd=d)
    berth.cli("deploy", cwd=d)
    berth.cli("ps:scale", "web=4", cwd=d)
    berth.wait_for(lambda: len(berth.containers("rescaled")) >= 2, timeout=60, interval=0.05,
                   what="the scale-out to start")
    berth.platform.stop_service("scheduler", sig=signal.SIGKILL)
    time.sleep(1)
    berth.platform.start_service("scheduler")
    want = [f"web.{i}@v1" for i in range(1, 5)]
    berth.wait_for(lambda: berth.containers("rescaled") == want, timeout=120, what="exactly four instances")
    berth.wait_for(lambda: [p["state"] for p in ps(berth, "rescaled")] == ["up"] * 4, timeout=60,
                   what="four instances up and nothing else")
    assert berth.get_app_page("rescaled").status_code == 200
    assert [(r["version"], r["status"]) for r in releases(berth, "rescaled")] == [(1, "succeeded")]


def test_app_json_formation_sets_the_first_scale_and_ps_scale_wins_after(berth, workdir):
    d = workdir("static-site")
    (d / "Procfile").write_text("worker: sleep 1000000\n")
    (d / "app.json").write_text(json.dumps({"formation": {"web": {"quantity": 2}, "worker": {"quantity": 1}}}))
    berth.cli("apps:create", "formed", cwd=d)
    out = berth.cli("deploy", cwd=d).stdout
    assert "app.json: initial formation web=2 worker=1" in out
    berth.wait_for(lambda: berth.containers("formed") == ["web.1@v1", "web.2@v1", "worker.1@v1"], timeout=120,
                   what="web=2 worker=1 from app.json")
    formation = {f["type"]: f["quantity"] for f in berth.api("GET", "/apps/formed/formation").json()}
    assert formation == {"web": 2, "worker": 1}
    berth.cli("ps:scale", "web=1", "worker=0", cwd=d)
    berth.wait_for(lambda: berth.containers("formed") == ["web.1@v1"], timeout=120, what="the scale change")
    (d / "index.html").write_text("<h1>v2</h1>")
    berth.cli("deploy", cwd=d)
    berth.wait_for(lambda: berth.containers("formed") == ["web.1@v2"], timeout=120,
                   what="v2 at the scale set by ps:scale, not app.json's")
