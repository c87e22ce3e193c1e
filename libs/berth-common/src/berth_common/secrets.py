"""Sealing config vars: encrypted at rest and in transit between services, with a key that
lives outside the database (BERTH_SECRET_KEY, or the file BERTH_SECRET_KEY_FILE).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`): a sealed value cannot be read or
altered without the key."""
from __future__ import annotations

import base64
import hashlib
import hmac
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


def _key() -> str:
    key = os.environ.get("BERTH_SECRET_KEY")
    if not key and os.environ.get("BERTH_SECRET_KEY_FILE"):
        key = Path(os.environ["BERTH_SECRET_KEY_FILE"]).read_text().strip()
    if not key:
        raise SecretKeyMissing("set BERTH_SECRET_KEY or BERTH_SECRET_KEY_FILE: config vars are encrypted with it")
    return key


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    return Fernet(_key().encode())


@lru_cache(maxsize=8)
def _fernet_for(purpose: str) -> Fernet:
    """A key of its own for every other use of the secret key, derived from it with
    HMAC-SHA256, so that a token made for one purpose is never taken for another (a sealed
    config is not a log session)."""
    derived = hmac.new(base64.urlsafe_b64decode(_key()), purpose.encode(), hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def sign_for(purpose: str, value: str) -> str:
    """An opaque, tamper-proof, timestamped token carrying `value` (URL-safe)."""
    return _fernet_for(purpose).encrypt(value.encode()).decode()


def verify_for(purpose: str, token: str, max_age_s: float, now: float | None = None) -> str:
    """The value of a token made by sign_for for the same purpose, not older than max_age_s;
    else ValueError."""
    f = _fernet_for(purpose)
    try:
        data = f.decrypt(token.encode(), ttl=int(max_age_s)) if now is None else \
            f.decrypt_at_time(token.encode(), int(max_age_s), int(now))
    except (InvalidToken, ValueError) as e:
        raise ValueError("invalid or expired token") from e
    return data.decode()


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
