"""Sealing config vars: encrypted at rest and in transit between services, with a key that
lives outside the database (BERTH_SECRET_KEY, or the file BERTH_SECRET_KEY_FILE).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`): a sealed value cannot be read or
altered without the key."""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyMissing(RuntimeError):
    pass


def generate_key() -> str:
    return Fernet.generate_key().decode()


def ensure_key_file(path: Path) -> Path:
    """Create a key file (mode 600) if there is none; used by `berth up` on first start."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_key())
    return path


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    key = os.environ.get("BERTH_SECRET_KEY")
    if not key and os.environ.get("BERTH_SECRET_KEY_FILE"):
        key = Path(os.environ["BERTH_SECRET_KEY_FILE"]).read_text().strip()
    if not key:
        raise SecretKeyMissing("set BERTH_SECRET_KEY or BERTH_SECRET_KEY_FILE: config vars are encrypted with it")
    return Fernet(key.encode())


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as e:
        raise ValueError("cannot decrypt: wrong BERTH_SECRET_KEY or altered data") from e


def seal_config(config: dict[str, str]) -> str:
    return seal(json.dumps(config, sort_keys=True))


def unseal_config(token: str) -> dict[str, str]:
    return json.loads(unseal(token))
