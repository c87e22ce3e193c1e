"""OpenTelemetry set-up: one tracer provider per service, W3C trace context carried in HTTP
headers, NATS headers and outbox rows, so a deploy is one trace across services.

Spans are exported as JSON lines to BERTH_TRACES_FILE when set (all services may append to
the same file), and over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set and the exporter is
installed."""
from __future__ import annotations

import os
import threading
from typing import Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult


class JsonLinesSpanExporter(SpanExporter):
    def __init__(self, path: str):
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        with self._lock, open(self._path, "a", encoding="utf-8") as f:
            f.write(lines)
        return SpanExportResult.SUCCESS


def setup_tracing(service: str, traces_file: str | None = None) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": f"berth-{service}"}))
    if traces_file:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(traces_file)))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:  # optional extra
            pass
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def tracer(name: str = "berth") -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def trace_id_hex() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
