"""Log drains (Heroku's): places an app's lines are forwarded to as they are stored. Pure:
URL rules and the wire format, no I/O.

    https://[user:pass@]host[:port]/path   batches POSTed as `application/logplex-1`
    http://...                             the same, for receivers inside an operator's network
    syslog+tls://host[:port]               RFC 5424 messages over TLS (port 6514 by default)
    syslog://host[:port]                   the same over plain TCP (port 514 by default)

Every message is framed by octet counting (RFC 6587), as Heroku frames them:

    83 <190>1 2026-11-22T10:00:00.123456+00:00 d.3f0c... app web.1 - GET / 200\\n

PRI is local7 with severity info (190), or err (187) for a process's stderr; HOSTNAME is
the drain's token (so a receiver can tell which drain a message came through); APP-NAME
is where the line came from (`app`, `router`, `berth`); PROCID the process (`web.1`).
An app's own output, its router access lines and platform messages are drained; build
output is not (as on Heroku)."""
from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from berth_common.egress import Target

SCHEMES = {"https": 443, "http": 80, "syslog+tls": 6514, "syslog": 514}
HTTP_SCHEMES = ("https", "http")
DRAINED_SOURCES = ("app", "router", "berth")
MAX_DRAINS_PER_APP = 5
MAX_URL_LENGTH = 2048
PRI_INFO = 8 * 23 + 6  # local7.info
PRI_ERR = 8 * 23 + 3  # local7.err


class InvalidDrain(ValueError):
    pass


@dataclass(frozen=True)
class DrainUrl:
    url: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def target(self) -> Target:
        """What the SSRF guard checks."""
        try:
            literal = ipaddress.ip_address(self.host)
        except ValueError:
            literal = None
        return Target(self.scheme, self.host, self.port, literal)

    @property
    def is_http(self) -> bool:
        return self.scheme in HTTP_SCHEMES


def parse_drain_url(url: object) -> DrainUrl:
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        raise InvalidDrain(f"a drain URL is a string of at most {MAX_URL_LENGTH} characters")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise InvalidDrain(f"drain URL {url!r} must start with https://, http://, syslog+tls:// or syslog://")
    if not parts.hostname:
        raise InvalidDrain(f"drain URL {url!r} has no host")
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError:
        raise InvalidDrain(f"drain URL {url!r} has an invalid port") from None
    if parts.scheme not in HTTP_SCHEMES and (parts.path not in ("", "/") or parts.query or parts.username):
        raise InvalidDrain(f"a syslog drain URL is only host and port: {parts.scheme}://host:port")
    return DrainUrl(url, parts.scheme, parts.hostname.lower().rstrip("."), port, parts.path or "/")


def new_token() -> str:
    return f"d.{uuid.uuid4()}"


_PRINTABLE = re.compile(r"[^\x21-\x7e]")


def _field(value: str | None, limit: int) -> str:
    """A RFC 5424 header field: printable US-ASCII without spaces, or the nil value."""
    cleaned = _PRINTABLE.sub("_", value or "")[:limit]
    return cleaned or "-"


def dyno_of(process: str | None, instance: str | None, source: str) -> str:
    """web.1 for instance web.1.a1b2c3; the source (router, berth) for lines of no process."""
    if instance:
        return ".".join(instance.split(".")[:2])
    return process or source


def syslog_message(token: str, time: datetime, source: str, process: str | None, instance: str | None,
                   stream: str | None, line: str) -> bytes:
    pri = PRI_ERR if stream == "stderr" else PRI_INFO
    stamp = time.astimezone(timezone.utc).isoformat(timespec="microseconds")
    text = line.replace("\r", "").replace("\n", " ")
    header = f"<{pri}>1 {stamp} {_field(token, 255)} {_field(source, 48)} " \
             f"{_field(dyno_of(process, instance, source), 128)} - "
    return header.encode() + text.encode("utf-8", errors="replace")


def frame(message: bytes) -> bytes:
    """Octet counting: the length (which counts the closing newline), a space, the message."""
    body = message + b"\n"
    return str(len(body)).encode() + b" " + body


def frames(token: str, rows) -> bytes:
    """Lines (with time, source, process, instance, stream, line) as one framed batch."""
    return b"".join(frame(syslog_message(token, r["time"], r["source"], r["process"], r["instance"],
                                         r["stream"], r["line"])) for r in rows)


def public_url(url: str) -> str:
    """The drain URL with a password hidden, for listings and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()
    return url
