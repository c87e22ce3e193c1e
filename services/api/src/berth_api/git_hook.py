"""The pre-receive hook of every app repository (`git push berth main`).

git runs it during receive-pack, after the pushed objects arrived and before any ref
moves; what it prints reaches the pushing terminal as `remote: ...` lines, and a non-zero
exit rejects the whole push (`! [remote rejected] main -> main (pre-receive hook declined)`).

For a push to the deploy branch (`main` or `master`) it deploys exactly as `berth deploy`
does, through the api's own public HTTP API with the pusher's token: upload
`git archive <newrev>`, stream the build output, wait for the release. Other branches and
tags are stored, not deployed (Heroku: "pushing to another branch has no effect");
deleting the deploy branch is refused.

The api installs this file into each bare repository (git_repos.py) with a shebang to its
own interpreter. It runs as a separate program, so it uses the standard library only.
Its inputs come from the CGI environment the api gives `git http-backend`, which git
passes on to hooks: BERTH_GIT_APP, BERTH_GIT_API_URL, BERTH_GIT_TOKEN.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEPLOY_BRANCHES = ("main", "master")
RELEASE_TIMEOUT = 900  # seconds, as `berth deploy --timeout`


class HookError(Exception):
    pass


def say(message: str = "") -> None:
    sys.stdout.buffer.write((message + "\n").encode("utf-8", "replace"))
    sys.stdout.flush()


class Api:
    def __init__(self, url: str, token: str, app: str):
        self.url, self.token, self.app = url.rstrip("/"), token, app

    def open(self, method: str, path: str, *, data: bytes | None = None, params: dict | None = None,
             headers: dict | None = None, timeout: float = 60):
        url = f"{self.url}/apps/{urllib.parse.quote(self.app)}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}", **(headers or {})})
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            try:
                message = json.loads(body).get("message") or body
            except ValueError:
                message = body.strip() or e.reason
            raise HookError(f"{method} {path or '/'}: {e.code} {message}")
        except OSError as e:
            raise HookError(f"cannot reach the Berth API at {self.url}: {e}")

    def json(self, method: str, path: str, **kw):
        with self.open(method, path, **kw) as r:
            return json.loads(r.read())


def is_zero(rev: str) -> bool:
    return set(rev) == {"0"}


def deploy(api: Api, branch: str, rev: str) -> None:
    try:
        data = subprocess.run(["git", "archive", "--format=tar.gz", rev], capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise HookError(f"git archive {rev[:7]} failed: {e.stderr.decode(errors='replace').strip()}")
    say(f"-----> Deploying {branch} ({rev[:7]}): uploading {len(data) / 1024:.0f} KB of source")
    build = api.json("POST", "/builds", data=data, params={"version": rev},
                     headers={"Content-Type": "application/gzip"}, timeout=300)
    with api.open("GET", f"/builds/{build['id']}/output", timeout=3600) as r:
        for line in iter(r.readline, b""):
            say(line.decode(errors="replace").rstrip("\n"))
    build = api.json("GET", f"/builds/{build['id']}")
    if build["status"] != "succeeded":
        raise HookError(f"build failed: {build.get('reason') or build['status']}")
    say("-----> Releasing...")
    deadline = time.monotonic() + RELEASE_TIMEOUT
    release = None
    while time.monotonic() < deadline:
        release = next((r for r in api.json("GET", "/releases") if r["build_id"] == build["id"]), None)
        if release and release["status"] != "pending":
            break
        time.sleep(0.5)
    if not release or release["status"] == "pending":
        raise HookError(f"the release did not finish within {RELEASE_TIMEOUT} s; see `berth releases` and `berth logs`")
    if release["status"] == "failed":
        raise HookError(f"release v{release['version']} failed: {release.get('reason')}")
    web_url = api.json("GET", "")["web_url"]
    say(f"-----> Released v{release['version']}: {web_url}")


def main() -> int:
    app, url, token = (os.environ.get(k, "") for k in ("BERTH_GIT_APP", "BERTH_GIT_API_URL", "BERTH_GIT_TOKEN"))
    if not (app and url and token):
        say("-----> Push rejected: it did not come through the Berth API")
        return 1
    updates = [line.split() for line in sys.stdin.read().splitlines() if line.strip()]
    deploys = []
    for _old, new, ref in updates:
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        if branch in DEPLOY_BRANCHES:
            if is_zero(new):
                say(f"-----> Push rejected: deleting the deploy branch {branch} is not allowed")
                return 1
            deploys.append((branch, new))
        elif branch is not None and not is_zero(new):
            say(f"-----> Pushed to {branch}: stored, not deployed (only {' or '.join(DEPLOY_BRANCHES)} deploys)")
    api = Api(url, token, app)
    for branch, rev in deploys:
        try:
            deploy(api, branch, rev)
        except HookError as e:
            say(f"-----> Push rejected: {e}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
