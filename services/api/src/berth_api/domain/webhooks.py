"""Webhook rules, no I/O: which events a subscription gets, how a delivery is signed
(Standard Webhooks), when a failed delivery is tried again, and which addresses a webhook
may reach (the SSRF guard itself is berth_common.egress)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets as _secrets
from typing import Iterable
from urllib.parse import urlsplit

from berth_common.egress import Target

from .errors import ApiError

# --- what a subscription includes --------------------------------------------------------
# Heroku's webhook entities, named by the aggregate of Berth's event types
# (`berth.<aggregate>.<event>.v<major>`); `dyno` is Heroku's word for a process.
GROUPS = ("app", "build", "release", "formation", "domain", "process")
ALIASES = {"dyno": "process", "api:app": "app", "api:build": "build", "api:release": "release",
           "api:formation": "formation", "api:domain": "domain", "api:dyno": "process"}


def group_of(event_type: str) -> str:
    """`berth.release.created.v1` -> `release`."""
    return event_type.split(".")[1]


def parse_include(value) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ApiError(f"include must be a non-empty list of event groups: {', '.join(GROUPS)}",
                       id="invalid_webhook", status=422)
    groups = []
    for raw in value:
        name = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if name not in GROUPS:
            raise ApiError(f"unknown event group {raw!r} in include: use {', '.join(GROUPS)}",
                           id="invalid_webhook", status=422)
        if name not in groups:
            groups.append(name)
    return groups


def includes(groups: Iterable[str], event_type: str) -> bool:
    return group_of(event_type) in set(groups)


# --- what is sent ------------------------------------------------------------------------
# Fields that must not leave the platform, even sealed.
REDACTED_FIELDS = ("config_sealed",)
REDACTED = "[redacted]"


def external_envelope(envelope: dict) -> dict:
    """The CloudEvents envelope as integrations see it (webhooks, the SSE stream): sealed
    secrets replaced, so the document still validates against the event's schema."""
    data = dict(envelope.get("data") or {})
    for name in REDACTED_FIELDS:
        if name in data:
            data[name] = REDACTED
    return {**envelope, "data": data}


# --- signing: Standard Webhooks ----------------------------------------------------------
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode()


def parse_secret(value) -> str:
    """Check a secret given by the user: `whsec_` + base64 of 24 to 64 random bytes, the
    format every Standard Webhooks library reads."""
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX):
        raise ApiError("secret must be 'whsec_' followed by base64 (Standard Webhooks format); "
                       "leave it out to have one generated", id="invalid_webhook", status=422)
    try:
        key = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except ValueError:
        raise ApiError("secret is not valid base64 after 'whsec_'", id="invalid_webhook", status=422)
    if not 24 <= len(key) <= 64:
        raise ApiError("secret must encode 24 to 64 bytes", id="invalid_webhook", status=422)
    return value


def _key(secret: str) -> bytes:
    return base64.b64decode(secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret)


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: str) -> str:
    """One signature per valid secret, space-separated: during a rotation's overlap the
    receiver may still hold the old secret or already the new one."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def delivery_headers(secrets: Iterable[str], msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "Berth-Webhooks/1",
    }


# --- retries -----------------------------------------------------------------------------

def backoff_seconds(attempt: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Delay before the try after `attempt` failed tries (1, 2, …): exponential (base·2^(n-1))
    up to `cap`, with "equal jitter" (half fixed, half random) so that endpoints coming back
    are not hit by every delivery at once."""
    if attempt < 1:
        return 0.0
    ceiling = min(cap, base * 2 ** min(attempt - 1, 40))
    r = (rand or random).random()
    return ceiling / 2 + r * ceiling / 2


# --- the URL of a webhook (the guard itself: berth_common.egress) ---------------------

def parse_url(url) -> Target:
    if not isinstance(url, str) or len(url) > 2048:
        raise ApiError("url must be an http(s) URL of at most 2048 characters", id="invalid_webhook", status=422)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(f"url must be an http:// or https:// URL with a host, not {url!r}",
                       id="invalid_webhook", status=422)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ApiError(f"url has an invalid port: {url!r}", id="invalid_webhook", status=422)
    host = parts.hostname.lower().rstrip(".")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    return Target(parts.scheme, host, port, literal)
