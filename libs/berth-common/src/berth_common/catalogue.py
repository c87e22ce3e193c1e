"""The event catalogue, generated from the schemas in `events`: what each event type means,
who produces it, its fields, an example, and a JSON Schema of its whole envelope.

The API serves it (`GET /events/catalogue`, `GET /events/schemas/<type>.json`) and
`python -m berth_common.catalogue > docs/events.md` writes the docs page."""
from __future__ import annotations

import copy
import json
from typing import Any

from . import events as ev

DESCRIPTIONS = {
    ev.AppCreated.type: "An app was created.",
    ev.AppDeleted.type: "An app was deleted, with its releases, config and subscriptions; its processes stop.",
    ev.DomainAdded.type: "A custom domain was added to the app; the router serves the app on it too.",
    ev.DomainRemoved.type: "A custom domain was removed from the app; the router answers 404 on it.",
    ev.RestartRequested.type: "A restart of the app's processes (all, or one process type) was asked for.",
    ev.BuildRequested.type: "Source was uploaded (`berth deploy`, `git push`) and waits to be built.",
    ev.BuildStarted.type: "The builder started building the source.",
    ev.BuildCompleted.type: "The image was built; a release follows.",
    ev.BuildFailed.type: "The build failed; `reason` says why (the build output has the details).",
    ev.ReleaseCreated.type: "Release vN (image + config) was made: by a build, a config change or a rollback. "
                            "It is rolled out next.",
    ev.FormationChanged.type: "The app's formation (process types, quantities, sizes) changed.",
    ev.EndpointsChanged.type: "The set of web instances that should get traffic changed (the router follows it).",
    ev.ReleaseDeployed.type: "Release vN serves all traffic; the previous release's processes are stopped.",
    ev.ReleaseFailed.type: "Release vN could not be rolled out; the previous release keeps serving.",
    ev.ProcessStarted.type: "A process (dyno) of the app started.",
    ev.ProcessStopped.type: "A process (dyno) of the app was stopped by the platform.",
    ev.ProcessCrashed.type: "A process (dyno) of the app exited on its own; it is restarted with a backoff.",
}

# Example values by field name; other fields get one made up from their JSON Schema type.
_FIELD_EXAMPLES: dict[str, Any] = {
    "app": "hello",
    "build_id": "5f0c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f",
    "release_id": "0e9d8c7b-6a5f-4e3d-8c1b-2a3f4e5d6c7b",
    "source_object": "hello/5f0c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f.tar.gz",
    "source_version": "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    "version": 3, "release_version": 3,
    "image": "berth/hello:5f0c1d2e",
    "stack": "python",
    "process_types": {"web": "python app.py"},
    "config_sealed": "gAAAAABm…(sealed with the platform's key)",
    "healthchecks": {},
    "description": "Deploy 3f2a1c9",
    "reason": "web process exited with code 1 before listening on $PORT",
    "formation": {"web": {"quantity": 2, "memory": "512m", "cpus": 1.0}},
    "initial_formation": {"web": 2, "worker": 1},
    "endpoints": [{"instance": "hello.web.1.a1b2c3", "host": "172.18.0.5", "port": 5000}],
    "instance": "hello.web.1.a1b2c3",
    "process": "web",
    "hostname": "www.example.com",
    "exit_code": 1,
}


def _resolve(schema: dict, defs: dict) -> dict:
    ref = schema.get("$ref")
    return defs[ref.rsplit("/", 1)[-1]] if ref else schema


def _type_name(schema: dict, defs: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type_name(s, defs) for s in schema["anyOf"])
    t = schema.get("type", "any")
    if t == "array":
        return f"list[{_type_name(schema.get('items', {}), defs)}]"
    if t == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[str, {_type_name(schema['additionalProperties'], defs)}]"
    return {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "null",
            "object": "object"}.get(t, str(t))


def _made_up(schema: dict, defs: dict) -> Any:
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return _made_up(options[0], defs)
    t = schema.get("type")
    if t == "object" and "properties" in schema:
        return {k: _made_up(v, defs) for k, v in schema["properties"].items() if k in schema.get("required", [])}
    return {"string": "string", "integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {},
            "null": None}.get(t, None)


def example_data(event_type: str) -> dict:
    schema = ev.EVENT_TYPES[event_type].model_json_schema()
    defs = schema.get("$defs", {})
    return {name: copy.deepcopy(_FIELD_EXAMPLES[name]) if name in _FIELD_EXAMPLES else _made_up(prop, defs)
            for name, prop in schema["properties"].items()}


def example_envelope(event_type: str) -> dict:
    cls = ev.EVENT_TYPES[event_type]
    data = cls.model_validate(example_data(event_type))
    env = ev.envelope(data, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    env.id = "7d3e1c2b-9a8f-4e6d-b5c4-3a2b1c0d9e8f"
    env.time = "2025-01-01T12:00:00+00:00"
    return env.model_dump(mode="json")


def json_schema(event_type: str) -> dict:
    """JSON Schema (2020-12) of the whole CloudEvents envelope of one event type."""
    cls = ev.EVENT_TYPES[event_type]
    data = cls.model_json_schema()
    defs = data.pop("$defs", {})
    schema = ev.Envelope.model_json_schema()
    schema.pop("description", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = event_type
    schema["description"] = DESCRIPTIONS.get(event_type, "")
    schema["properties"]["type"] = {"const": event_type, "title": "Type"}
    schema["properties"]["source"] = {"const": f"berth/{cls.producer}", "title": "Source"}
    schema["properties"]["subject"] = {"type": "string", "title": "Subject", "description": "the app's name"}
    schema["properties"]["data"] = data
    if defs:
        schema["$defs"] = defs
    return schema


def fields(event_type: str) -> list[dict]:
    schema = ev.EVENT_TYPES[event_type].model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    return [{"name": name, "type": _type_name(prop, defs), "required": name in required,
             **({"default": prop["default"]} if "default" in prop else {})}
            for name, prop in schema["properties"].items()]


def catalogue() -> list[dict]:
    out = []
    for event_type in sorted(ev.EVENT_TYPES):
        cls = ev.EVENT_TYPES[event_type]
        out.append({
            "type": event_type,
            "description": DESCRIPTIONS.get(event_type, (cls.__doc__ or "").strip()),
            "producer": cls.producer,
            "stream": ev.stream_name(cls.producer),
            "nats_subject": event_type,
            "subject": "the app's name (CloudEvents `subject`)",
            "fields": fields(event_type),
            "example": example_envelope(event_type),
            "schema": f"/events/schemas/{event_type}.json",
        })
    return out


def markdown() -> str:
    lines = [
        "# Berth events",
        "",
        "<!-- generated by `python -m berth_common.catalogue > docs/events.md`; do not edit by hand -->",
        "",
        "Every state change in Berth is an event: a CloudEvents 1.0 JSON envelope (`specversion`, `id`,",
        "`source` = `berth/<service>`, `type`, `subject` = the app's name, `time`, `data`, and the W3C",
        "`traceparent`). The `type` is also the NATS subject, `berth.<aggregate>.<event>.v<major>`;",
        "a breaking change is a new major version, and consumers must ignore fields they do not know.",
        "",
        "The same envelopes reach integrations three ways (see [integrations.md](integrations.md)):",
        "webhooks (`POST /apps/{app}/webhooks`, grouped by aggregate: `app`, `build`, `release`,",
        "`formation`, `domain`, `process`), the Server-Sent Events stream `GET /events`, and, inside the",
        "cluster, the JetStream streams themselves. Outside the platform `data.config_sealed` is",
        "replaced by `\"[redacted]\"`.",
        "",
        "The API serves this catalogue as JSON (`GET /events/catalogue`) and a JSON Schema of each",
        "type's envelope (`GET /events/schemas/<type>.json`).",
        "",
        "| type | producer (stream) | meaning |",
        "| --- | --- | --- |",
    ]
    entries = catalogue()
    for e in entries:
        lines.append(f"| [`{e['type']}`](#{e['type'].replace('.', '')}) | {e['producer']} (`{e['stream']}`) "
                     f"| {e['description']} |")
    for e in entries:
        lines += ["", f"## {e['type']}", "", e["description"], "",
                  f"Produced by **{e['producer']}** into the stream `{e['stream']}` on the subject `{e['nats_subject']}`;",
                  "`subject` is the app's name. Schema: `GET " + e["schema"] + "`.", "",
                  "| field | type | required |", "| --- | --- | --- |"]
        for f in e["fields"]:
            lines.append(f"| `{f['name']}` | `{f['type']}` | {'yes' if f['required'] else 'no'} |")
        lines += ["", "```json", json.dumps(e["example"], indent=2), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
