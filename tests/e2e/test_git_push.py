"""End to end: `git push berth main` deploys like `berth deploy` — a real git client pushes
over smart HTTP to the api, whose pre-receive hook builds and releases, with the output on
the pushing terminal, and a failed build rejects the push."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests


def git(d: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=d, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def git_env(berth, **extra) -> dict:
    # No terminal prompts, and nothing from the user's or system's git config.
    return {**berth.env(), "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null", **extra}


def commit(d: Path, message: str) -> None:
    git(d, "add", "-A")
    git(d, "-c", "user.email=dev@example.com", "-c", "user.name=Dev", "commit", "-q", "-m", message)


def push(berth, d: Path, *args: str, **env) -> subprocess.CompletedProcess:
    return git(d, "push", "berth", *args, env=git_env(berth, **env), check=False)


def releases(berth, app: str) -> list[dict]:
    return berth.api("GET", f"/apps/{app}/releases").json()


@pytest.fixture
def repo(berth, workdir):
    def make(app: str) -> Path:
        d = workdir("static-site")
        git(d, "init", "-q", "--initial-branch=main")
        commit(d, "first")
        berth.cli("apps:create", app, cwd=d)
        result = berth.cli("git:remote", cwd=d)
        assert f"{berth.platform.api_url}/apps/{app}.git" in result.stdout
        return d
    return make


def test_git_push_deploys_and_a_second_push_deploys_again(berth, repo):
    d = repo("gitpushed")
    result = push(berth, d, "main")
    assert result.returncode == 0, result.stderr
    assert "remote: -----> Deploying main" in result.stderr
    assert "remote: " in result.stderr and "static" in result.stderr.lower()  # the build's own lines
    assert "Released v1" in result.stderr
    assert f"http://gitpushed.localhost:{berth.platform.router_port}" in result.stderr
    page = berth.get_app_page("gitpushed")
    assert page.status_code == 200 and "Hello from Berth (static)" in page.text
    head = git(d, "rev-parse", "HEAD").stdout.strip()
    assert git(d, "ls-remote", "berth", "main", env=git_env(berth)).stdout.split()[0] == head
    # The repository can be cloned back (upload-pack), with the same credential helper.
    helper = git(d, "config", "--get-all", f"credential.{berth.platform.api_url}.helper").stdout.split("\n")[1]
    git(d.parent, "-c", f"credential.helper={helper}", "clone", "-q", f"{berth.platform.api_url}/apps/gitpushed.git",
        "cloned", env=git_env(berth))
    assert git(d.parent / "cloned", "rev-parse", "HEAD").stdout.strip() == head

    index = d / "index.html"
    index.write_text(index.read_text().replace("Hello from Berth (static)", "Pushed again"))
    commit(d, "second")
    result = push(berth, d, "main")
    assert result.returncode == 0, result.stderr
    assert "Released v2" in result.stderr
    assert "Pushed again" in berth.get_app_page("gitpushed").text
    rels = releases(berth, "gitpushed")
    assert [(r["version"], r["status"]) for r in rels] == [(2, "succeeded"), (1, "succeeded")]
    builds = berth.api("GET", "/apps/gitpushed/builds").json()
    assert builds[0]["source_version"] == git(d, "rev-parse", "HEAD").stdout.strip()

    # Other branches are stored, not deployed; the deploy branch cannot be deleted.
    result = push(berth, d, "main:feature")
    assert result.returncode == 0, result.stderr
    assert "stored, not deployed" in result.stderr
    result = push(berth, d, ":main")
    assert result.returncode != 0 and "deleting the deploy branch main is not allowed" in result.stderr
    assert len(releases(berth, "gitpushed")) == 2


def test_failed_build_rejects_the_push(berth, repo):
    d = repo("gitfails")
    (d / "Dockerfile").write_text("FROM berth/static:bookworm\nRUN echo about to fail && exit 7\n")
    commit(d, "broken")
    result = push(berth, d, "main")
    assert result.returncode != 0
    assert "[remote rejected] main -> main (pre-receive hook declined)" in result.stderr
    assert "build failed" in result.stderr
    assert "about to fail" in result.stderr  # the build output reached the terminal
    assert releases(berth, "gitfails") == []
    # The rejected push moved no ref.
    assert git(d, "ls-remote", "berth", env=git_env(berth)).stdout.strip() == ""


def test_push_with_a_wrong_token_is_refused(berth, repo):
    d = repo("gitdenied")
    result = push(berth, d, "main", BERTH_TOKEN="berth_wrong")
    assert result.returncode != 0
    assert "Authentication failed" in result.stderr or "401" in result.stderr
    assert berth.api("GET", "/apps/gitdenied/builds").json() == []
    # Without credentials the api asks for them the way git understands.
    r = requests.get(f"{berth.platform.api_url}/apps/gitdenied.git/info/refs",
                     params={"service": "git-receive-pack"}, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="berth"'


def test_git_paths_are_checked(berth):
    auth = ("anyone", berth.token)
    url = berth.platform.api_url
    r = requests.get(f"{url}/apps/nosuchapp.git/info/refs", params={"service": "git-upload-pack"}, auth=auth, timeout=10)
    assert r.status_code == 404 and r.json()["id"] == "app_not_found"
    r = requests.get(f"{url}/apps/Bad_Name.git/info/refs", params={"service": "git-upload-pack"}, auth=auth, timeout=10)
    assert r.status_code == 404
    assert berth.api("POST", "/apps", json={"name": "gitpaths"}).status_code == 201
    for path in ("HEAD", "objects/info/packs", "../../etc/passwd", "info/refs"):  # dumb protocol, trickery
        r = requests.get(f"{url}/apps/gitpaths.git/{path}", auth=auth, timeout=10)
        assert r.status_code == 404, (path, r.status_code)
    r = requests.get(f"{url}/apps/gitpaths.git/info/refs", params={"service": "git-upload-pack"}, auth=auth, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
