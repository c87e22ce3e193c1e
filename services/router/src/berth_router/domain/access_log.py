"""HAProxy's access lines: the log-format the router configures and the parser that turns
a line into something for the app's log stream. Requests for unknown hosts belong to no app."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from .routes import app_of_backend

# client, backend, server, status, bytes, total ms, termination state, method, path, host, request id
LOG_FORMAT = "%ci %b %s %ST %B %Ta %tsc %HM %{+Q}HU %{+Q}[var(txn.host)] %ID"


@dataclass(frozen=True)
class AccessLine:
    client: str
    backend: str
    server: str
    status: int
    bytes: int
    total_ms: int
    termination: str
    method: str
    path: str
    host: str
    request_id: str

    @property
    def app(self) -> str | None:
        return app_of_backend(self.backend)

    def render(self) -> str:
        return (
            f"{self.method} {self.path} {self.status} {self.total_ms}ms {self.bytes}B "
            f"host={self.host} client={self.client} server={self.server} "
            f"request_id={self.request_id} term={self.termination}"
        )


def _int(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        return -1


def parse_access_line(raw: str) -> AccessLine | None:
    """Parse one line in LOG_FORMAT (syslog `format raw`: the message only); None if it is
    not an access line (e.g. an HAProxy alert also sent to the log target)."""
    try:
        fields = shlex.split(raw.strip())
    except ValueError:
        return None
    if len(fields) != 11:
        return None
    client, backend, server, status, size, total, term, method, path, host, rid = fields
    if not status.lstrip("-").isdigit():
        return None
    return AccessLine(client, backend, server, _int(status), _int(size), _int(total), term,
                      method, path, host, rid)
