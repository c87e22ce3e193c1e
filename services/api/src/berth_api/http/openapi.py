"""The OpenAPI document of the HTTP API."""
from aiohttp import web

_ERR = {"$ref": "#/components/responses/Error"}
_APP = {"name": "app", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, *, params=(), body=None, ok="200", extra=()):
    op = {"summary": summary, "parameters": [_APP, *params] if "{app}" in summary else list(params),
          "responses": {ok: {"description": "OK"}, "401": _ERR, "404": _ERR, **{c: _ERR for c in extra}}}
    if body:
        op["requestBody"] = body
    return op


_EMAIL = {"name": "email", "in": "path", "required": True, "schema": {"type": "string"}}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Berth API", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "responses": {"Error": {"description": "Error", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id", "message"],
            "properties": {"id": {"type": "string"}, "message": {"type": "string"}}}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/account": {"get": _op("The user the token belongs to")},
        "/users": {
            "get": _op("List users (admins only)", extra=("403",)),
            "post": _op("Add a user; their first token is in this response only (admins only)", ok="201",
                        extra=("403", "409", "422"), body={"required": True, "content": {"application/json": {
                            "schema": {"type": "object", "required": ["email"], "properties": {
                                "email": {"type": "string"}, "admin": {"type": "boolean"}}}}}}),
        },
        "/users/{email}": {"delete": _op("Remove a user and their tokens (admins only)", extra=("403", "409"),
                                         params=[_EMAIL])},
        "/apps/{app}/collaborators": {
            "get": _op("The owner and collaborators of {app}"),
            "post": _op("Let a user use {app} (its owner or an admin)", ok="201", extra=("403", "422"), body={
                "required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}}}}),
        },
        "/apps/{app}/collaborators/{email}": {"delete": _op(
            "Take a collaborator's access to {app} away (its owner or an admin)", extra=("403",), params=[_EMAIL])},
        "/apps": {
            "get": _op("List apps"),
            "post": _op("Create an app", ok="201", extra=("409", "422"), body={"required": True, "content": {
                "application/json": {"schema": {"type": "object", "required": ["name"],
                                                "properties": {"name": {"type": "string"}}}}}}),
        },
        "/apps/{app}": {"get": _op("Get app {app}"), "delete": _op("Delete app {app} (its owner or an admin)", extra=("403",)),
                        "patch": _op("Maintenance mode of {app}: the router answers 503 with a maintenance page",
                                     extra=("422",), body={"required": True, "content": {"application/json": {
                                         "schema": {"type": "object", "required": ["maintenance"], "properties": {
                                             "maintenance": {"type": "boolean"}}}}}})},
        "/apps/{app}/builds": {
            "get": _op("List builds of {app}"),
            "post": _op("Upload a tar.gz source archive to build {app}", ok="201", extra=("400", "413", "415"),
                        params=[{"name": "version", "in": "query", "schema": {"type": "string"}}],
                        body={"required": True, "content": {"application/gzip": {"schema": {
                            "type": "string", "format": "binary"}}}}),
        },
        "/apps/{app}/builds/{build}": {"get": _op("Get a build of {app}", params=[
            {"name": "build", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}])},
        "/apps/{app}/builds/{build}/output": {"get": _op("Stream a build's output of {app} (text) until it ends", params=[
            {"name": "build", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}])},
        "/apps/{app}/releases": {
            "get": _op("List releases of {app}, newest first"),
            "post": _op("Roll {app} back: a new release copying a release's image and config", ok="201",
                        extra=("422",), body={"required": True, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["release"],
                            "properties": {"release": {"type": ["string", "integer"]}}}}}}),
        },
        "/apps/{app}/domains": {
            "get": _op("Host names {app} answers on: its own and custom domains"),
            "post": _op("Add a custom domain to {app}", ok="201", extra=("409", "422"), body={"required": True, "content": {
                "application/json": {"schema": {"type": "object", "required": ["hostname"],
                                                "properties": {"hostname": {"type": "string"}}}}}}),
        },
        "/apps/{app}/domains/{hostname}": {"delete": _op("Remove a custom domain of {app}", params=[
            {"name": "hostname", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/apps/{app}/config-vars": {
            "get": _op("Config vars of {app}"),
            "patch": _op("Set (string) or unset (null) config vars of {app}: a new release", extra=("422",),
                         body={"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "additionalProperties": {"type": ["string", "null"]}}}}}),
        },
        "/apps/{app}/formation": {
            "get": _op("Formation of {app}: quantity and size per process type"),
            "patch": _op("Scale or resize process types of {app}", extra=("409", "422"),
                         body={"required": True, "content": {"application/json": {"schema": {
                             "type": "object", "required": ["updates"], "properties": {"updates": {
                                 "type": "array", "items": {"type": "object", "required": ["type"], "properties": {
                                     "type": {"type": "string"}, "quantity": {"type": "integer", "minimum": 0},
                                     "memory": {"type": "string"}, "cpus": {"type": "number"}}}}}}}}}),
        },
        "/apps/{app}/dynos": {
            "get": _op("Instances of {app}: type, release, state, uptime, restarts"),
            "post": _op("Run a one-off command in {app}'s current release; NDJSON output, then the exit code "
                        "(attach: false answers at once, 201, and the output goes to the logs)",
                        extra=("422",), body={"required": True, "content": {"application/json": {"schema": {
                            "type": "object", "required": ["command"], "properties": {
                                "command": {"type": "string"}, "attach": {"type": "boolean", "default": True}}}}}}),
        },
        "/apps/{app}/dynos/attach": {"get": _op(
            "WebSocket: run a one-off command in {app}'s current release with stdin attached (binary frames in: "
            "stdin; out: stdout; text frames: {\"resize\": [rows, cols]}, {\"eof\": true} in; {\"instance\"}, "
            "{\"stderr\": base64}, {\"exit_code\"}, {\"error\", \"id\"} out)", ok="101", params=[
                {"name": "command", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "tty", "in": "query", "schema": {"type": "boolean"}},
                {"name": "rows", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "cols", "in": "query", "schema": {"type": "integer", "minimum": 1}}])},
        "/apps/{app}/dynos/restart": {"post": _op("Rolling restart of {app} (all, or one process type)", ok="202")},
        "/apps/{app}/dynos/{dyno}/actions/stop": {"post": _op(
            "Stop one-off processes of {app} (a name run.2.x, a slot run.2 or the type run)", ok="202", params=[
                {"name": "dyno", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/apps/{app}.git/info/refs": {"get": _op("git smart HTTP: refs of {app}'s repository (Basic auth, token as password)")},
        "/apps/{app}.git/git-receive-pack": {"post": _op("git push to {app}: the deploy branch builds and releases")},
        "/apps/{app}/releases/{version}": {"get": _op("Get a release of {app}", params=[
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/apps/{app}/log-sessions": {"post": _op(
            "A URL that streams {app}'s logs without a token for 5 minutes (Heroku's log-sessions); "
            "body fields as the logs query: lines, tail, source, dyno, format", ok="201", extra=("422",))},
        "/apps/{app}/log-drains": {
            "get": _op("{app}'s log drains: id, URL (password hidden), token, last delivery and last error"),
            "post": _op("Forward {app}'s lines to a drain: https:// (logplex batches), syslog+tls:// or syslog://",
                        ok="201", extra=("409", "422"), body={"required": True, "content": {"application/json": {
                            "schema": {"type": "object", "required": ["url"], "properties": {
                                "url": {"type": "string"}}}}}}),
        },
        "/apps/{app}/log-drains/{drain}": {"delete": _op("Remove a drain of {app} (by id, token or URL)", params=[
            {"name": "drain", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/log-sessions/{session}": {"get": _op(
            "Read a log session (no Authorization: the URL is the credential)", params=[
                {"name": "session", "in": "path", "required": True, "schema": {"type": "string"}}])},
        "/apps/{app}/logs": {"get": _op("Recent log lines of {app}; tail=1 streams new ones", params=[
            {"name": "lines", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
            {"name": "tail", "in": "query", "schema": {"type": "boolean"}},
            {"name": "source", "in": "query", "schema": {"enum": ["app", "build", "router", "berth"]}},
            {"name": "dyno", "in": "query", "schema": {"type": "string"},
             "description": "a process type (web), slot (web.1) or instance (web.1.a1b2c3)"},
            {"name": "format", "in": "query", "schema": {"enum": ["text", "json"]}}])},
    },
}


# --- integrations: webhooks, the event stream, the event catalogue (http/webhook_views.py) ---
_WEBHOOK = {"name": "webhook", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_WEBHOOK_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["url", "include"], "properties": {
        "url": {"type": "string", "format": "uri"},
        "include": {"type": "array", "items": {"enum": ["app", "build", "release", "formation", "domain",
                                                        "process", "dyno"]}},
        "secret": {"type": "string", "description": "whsec_ + base64 of 24-64 bytes; generated if left out"}}}}}}
DOCUMENT["paths"].update({
    "/apps/{app}/webhooks": {
        "get": _op("Webhooks of {app}"),
        "post": _op("Subscribe a URL to {app}'s events (the secret is in this response only)", ok="201",
                    extra=("422",), body=_WEBHOOK_BODY),
    },
    "/apps/{app}/webhooks/{webhook}": {"get": _op("Get a webhook of {app}", params=[_WEBHOOK]),
                                       "delete": _op("Delete a webhook of {app}", params=[_WEBHOOK])},
    "/apps/{app}/webhooks/{webhook}/rotate-secret": {"post": _op(
        "New secret for a webhook of {app}; the old one also signs for overlap_hours", params=[_WEBHOOK],
        extra=("422",), body={"content": {"application/json": {"schema": {"type": "object", "properties": {
            "overlap_hours": {"type": "number"}, "secret": {"type": "string"}}}}}})},
    "/apps/{app}/webhook-deliveries": {"get": _op("Webhook deliveries of {app}, newest first, with attempts", params=[
        {"name": "webhook", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"name": "status", "in": "query", "schema": {"enum": ["pending", "delivered", "failed"]}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}])},
    "/apps/{app}/webhook-deliveries/{delivery}/retry": {"post": _op("Send a webhook delivery of {app} again now", ok="202",
        params=[{"name": "delivery", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}])},
    "/events": {"get": _op("Server-Sent Events: every event from now, or after Last-Event-ID", params=[
        {"name": "app", "in": "query", "schema": {"type": "string"}},
        {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
        {"name": "last_event_id", "in": "query", "schema": {"type": "string"}}])},
    "/events/catalogue": {"get": {**_op("The event catalogue: type, producer, fields, example"), "security": []}},
    "/events/schemas/{type}.json": {"get": {**_op("JSON Schema of an event type's envelope", params=[
        {"name": "type", "in": "path", "required": True, "schema": {"type": "string"}}]), "security": []}},
})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)
