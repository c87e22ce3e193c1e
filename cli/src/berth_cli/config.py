"""Where the CLI finds the API and its token: BERTH_API_URL / BERTH_TOKEN, else the config
file (BERTH_CONFIG, default ~/.config/berth/config.json), which also links directories to apps."""
from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:5000"


def config_path() -> Path:
    if os.environ.get("BERTH_CONFIG"):
        return Path(os.environ["BERTH_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "berth" / "config.json"


def load() -> dict:
    try:
        return json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}


def save(cfg: dict) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cfg, indent=2))
    tmp.chmod(0o600)  # it holds a token
    tmp.replace(path)


def api_url() -> str:
    return (os.environ.get("BERTH_API_URL") or load().get("api_url") or DEFAULT_API_URL).rstrip("/")


def token() -> str | None:
    return os.environ.get("BERTH_TOKEN") or load().get("token")


def login(url: str, token_value: str) -> None:
    cfg = load()
    cfg.update(api_url=url.rstrip("/"), token=token_value)
    save(cfg)


def link(directory: Path, app: str) -> None:
    cfg = load()
    cfg.setdefault("links", {})[str(directory.resolve())] = app
    save(cfg)


def linked_app(directory: Path) -> str | None:
    links = load().get("links", {})
    d = directory.resolve()
    for candidate in (d, *d.parents):
        if str(candidate) in links:
            return links[str(candidate)]
    return None
