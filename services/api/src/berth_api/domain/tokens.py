"""Bearer tokens: random, shown once, stored only as a SHA-256 hash (they carry 256 bits of
entropy, so a fast hash is enough; there is nothing to brute-force)."""
import hashlib
import secrets

PREFIX = "berth_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
