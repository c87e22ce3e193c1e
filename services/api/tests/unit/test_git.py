"""The apps' git repositories and their pre-receive hook, against a fake API."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from berth_api.adapters import git_repos

ZERO = "0" * 40


async def test_repository_is_created_with_the_hook_and_replaced_for_a_new_app_of_the_same_name(tmp_path):
    repo = await git_repos.ensure(tmp_path, "web", "id-1")
    assert repo == tmp_path / "web.git" and (repo / "HEAD").read_text().strip() == "ref: refs/heads/main"
    hook = repo / "hooks" / "pre-receive"
    assert hook.read_text().startswith(f"#!{sys.executable} -I\n") and hook.stat().st_mode & 0o111
    (repo / "marker").write_text("old history")
    assert await git_repos.ensure(tmp_path, "web", "id-1") == repo and (repo / "marker").exists()
    assert await git_repos.ensure(tmp_path, "web", "id-2") == repo and not (repo / "marker").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web.git"]
    with pytest.raises(ValueError):
        await git_repos.ensure(tmp_path, "../etc", "id-3")


class FakeApi(BaseHTTPRequestHandler):
    build_status = "succeeded"
    seen: list[str] = []

    def log_message(self, *args):
        pass

    def reply(self, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200 if self.command == "GET" else 201)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        assert self.headers["Authorization"] == "Bearer tok" and self.headers["Content-Type"] == "application/gzip"
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert body[:2] == b"\x1f\x8b"
        self.seen.append(self.path)
        self.reply({"id": "b1"})

    def do_GET(self):
        self.seen.append(self.path)
        if self.path == "/apps/web/builds/b1/output":
            self.reply(b"-----> Building\nStep 1/2\n", "text/plain")
        elif self.path == "/apps/web/builds/b1":
            self.reply({"id": "b1", "status": self.build_status, "reason": "exit 7"})
        elif self.path == "/apps/web/releases":
            self.reply([{"build_id": "b1", "version": 3, "status": "succeeded"}])
        elif self.path == "/apps/web":
            self.reply({"web_url": "http://web.localhost:8080"})


@pytest.fixture
def fake_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeApi.seen = []
    yield server
    server.shutdown()


@pytest.fixture
async def pushed(tmp_path):
    """A bare app repository holding one commit, as during a push."""
    repo = await git_repos.ensure(tmp_path / "git", "web", "id")
    work = tmp_path / "work"
    work.mkdir()
    (work / "index.html").write_text("hi")
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "x"]):
        subprocess.run(["git", *args], cwd=work, check=True, env=env)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, check=True, capture_output=True, text=True,
                         env=env).stdout.strip()
    # (a fetch into the bare repository: a push would run the hook)
    subprocess.run(["git", "--git-dir", str(repo), "fetch", "-q", str(work), "HEAD:refs/heads/scratch"], check=True,
                   env=env, capture_output=True)
    return repo, rev


def run_hook(repo, updates: str, api_url: str | None):
    env = {"PATH": "/usr/bin:/bin", "GIT_DIR": str(repo)}
    if api_url:
        env.update(BERTH_GIT_APP="web", BERTH_GIT_API_URL=api_url, BERTH_GIT_TOKEN="tok")
    return subprocess.run([str(repo / "hooks" / "pre-receive")], input=updates, env=env, capture_output=True,
                          text=True, timeout=30)


def test_hook_deploys_the_deploy_branch(pushed, fake_api):
    repo, rev = pushed
    url = f"http://127.0.0.1:{fake_api.server_port}"
    result = run_hook(repo, f"{ZERO} {rev} refs/heads/main\n", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Step 1/2" in result.stdout and "Released v3: http://web.localhost:8080" in result.stdout
    assert FakeApi.seen[0] == f"/apps/web/builds?version={rev}"


def test_hook_rejects_a_failed_build(pushed, fake_api, monkeypatch):
    repo, rev = pushed
    monkeypatch.setattr(FakeApi, "build_status", "failed")
    result = run_hook(repo, f"{ZERO} {rev} refs/heads/master\n", f"http://127.0.0.1:{fake_api.server_port}")
    assert result.returncode == 1 and "build failed: exit 7" in result.stdout


def test_hook_stores_other_branches_and_refuses_deleting_the_deploy_branch(pushed):
    repo, rev = pushed
    result = run_hook(repo, f"{ZERO} {rev} refs/heads/feature\n{ZERO} {rev} refs/tags/v1\n", "http://127.0.0.1:9")
    assert result.returncode == 0 and "stored, not deployed" in result.stdout
    result = run_hook(repo, f"{rev} {ZERO} refs/heads/main\n", "http://127.0.0.1:9")
    assert result.returncode == 1 and "deleting the deploy branch main is not allowed" in result.stdout
    result = run_hook(repo, f"{ZERO} {rev} refs/heads/main\n", None)
    assert result.returncode == 1 and "did not come through the Berth API" in result.stdout
    result = run_hook(repo, f"{ZERO} {rev} refs/heads/main\n", "http://127.0.0.1:9")
    assert result.returncode == 1 and "cannot reach the Berth API" in result.stdout
