"""The deploy's trace ends at the router: the first request an instance serves after an
`endpoints.changed` added it becomes a span in that event's trace, timed by HAProxy's own
measurement of the request (its access line). Requests never pass through Python; the span
is made from the access line afterwards."""
from __future__ import annotations

import time

from opentelemetry import trace

from berth_common.telemetry import context_from_traceparent, tracer

from .access_log import AccessLine


class FirstRequests:
    def __init__(self, ttl_s: float = 900):
        self._ttl_s = ttl_s
        self._pending: dict[tuple[str, str], tuple[str, float]] = {}  # (app, server) -> (traceparent, deadline)

    def expect(self, app: str, server: str, traceparent: str | None) -> None:
        if traceparent:
            self._pending[(app, server)] = (traceparent, time.monotonic() + self._ttl_s)

    def observe(self, line: AccessLine, received_ns: int | None = None) -> bool:
        """Record the span if this is the first request to an expected server; True if so."""
        now = time.monotonic()
        for key in [k for k, (_, deadline) in self._pending.items() if deadline < now]:
            del self._pending[key]  # an instance that never got traffic: forget it
        found = self._pending.pop((line.app or "", line.server), None)
        if found is None:
            return False
        end_ns = received_ns or time.time_ns()
        start_ns = end_ns - max(line.total_ms, 0) * 1_000_000
        span = tracer().start_span(
            f"first request to {line.server}", context=context_from_traceparent(found[0]),
            kind=trace.SpanKind.SERVER, start_time=start_ns,
            attributes={"berth.app": line.app or "", "http.request.method": line.method, "url.path": line.path,
                        "http.response.status_code": line.status, "server.instance": line.server,
                        "http.request.header.x-request-id": line.request_id},
        )
        span.end(end_time=end_ns)
        return True
