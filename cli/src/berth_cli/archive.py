"""Packing the current directory for `berth deploy`: `git archive` of HEAD in a git
checkout (what Heroku deploys), else the directory minus version-control and caches."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

SKIP = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".pytest_cache", ".mypy_cache"}


def git_head(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "--verify", "HEAD"],
                             capture_output=True, text=True, check=True)
        inside = subprocess.run(["git", "-C", str(directory), "rev-parse", "--show-prefix"],
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() if inside.stdout.strip() == "" else None  # only at the top of a checkout


def pack(directory: Path) -> tuple[bytes, str | None]:
    """Return (tar.gz bytes, source version)."""
    head = git_head(directory)
    if head:
        data = subprocess.run(["git", "-C", str(directory), "archive", "--format=tar.gz", "HEAD"],
                              capture_output=True, check=True).stdout
        return data, head
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def keep(info: tarfile.TarInfo):
            parts = Path(info.name).parts
            return None if any(p in SKIP for p in parts) else info
        for child in sorted(directory.iterdir()):
            if child.name not in SKIP:
                tar.add(child, arcname=child.name, filter=keep)
    return buf.getvalue(), None
