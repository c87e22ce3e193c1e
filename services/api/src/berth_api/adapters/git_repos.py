"""The apps' bare git repositories, one per app under the git data dir (BERTH_GIT_DIR):
`<git dir>/<app>.git`, created on first use, with the pre-receive hook (git_hook.py) that
deploys a push of the deploy branch.

A repository remembers the id of the app it belongs to (`berth-app-id`): an app deleted and
created again under the same name starts with an empty repository, not the old history.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from berth_common.names import validate_app_name

HOOK_SOURCE = Path(__file__).resolve().parent.parent / "git_hook.py"
APP_ID_FILE = "berth-app-id"
# Checked on every receive: pushed objects are untrusted input.
REPO_CONFIG = {"http.receivepack": "true", "receive.fsckObjects": "true", "http.uploadpack": "true"}

_lock = threading.Lock()


def hook_text() -> str:
    source = HOOK_SOURCE.read_text()
    if source.startswith("#!"):
        source = source.split("\n", 1)[1]
    # -I: the hook needs only the standard library; ignore PYTHON* variables and user site-packages.
    return f"#!{sys.executable} -I\n{source}"


def repo_path(root: Path, app: str) -> Path:
    return root / f"{validate_app_name(app)}.git"


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                                       "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"})


def _install_hook(repo: Path) -> None:
    hook = repo / "hooks" / "pre-receive"
    text = hook_text()
    try:
        if hook.read_text() == text:
            return
    except FileNotFoundError:
        pass
    tmp = hook.with_name(f".pre-receive.{uuid.uuid4().hex}")
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(hook)


def _ensure(root: Path, app: str, app_id: str) -> Path:
    repo = repo_path(root, app)
    with _lock:
        root.mkdir(parents=True, exist_ok=True)
        if repo.exists():
            try:
                owner = (repo / APP_ID_FILE).read_text().strip()
            except FileNotFoundError:
                owner = None
            if owner != app_id:  # left over from a deleted app of the same name
                trash = root / f".deleted-{app}-{uuid.uuid4().hex}"
                repo.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
        if not repo.exists():
            tmp = root / f".new-{app}-{uuid.uuid4().hex}"
            _git("init", "--quiet", "--bare", "--initial-branch=main", str(tmp))
            for key, value in REPO_CONFIG.items():
                _git("--git-dir", str(tmp), "config", key, value)
            (tmp / APP_ID_FILE).write_text(app_id + "\n")
            _install_hook(tmp)
            try:
                tmp.rename(repo)  # atomic: no request ever sees a half-made repository
            except OSError:  # another process made it first
                shutil.rmtree(tmp, ignore_errors=True)
        _install_hook(repo)  # a newer api brings a newer hook
    return repo


async def ensure(root: Path, app: str, app_id: str) -> Path:
    """Return the app's bare repository, creating it (or replacing a stale one) if needed."""
    return await asyncio.to_thread(_ensure, root.resolve(), app, app_id)
