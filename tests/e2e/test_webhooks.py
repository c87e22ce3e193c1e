"""End to end: webhooks verified by a receiver built on the reference `standardwebhooks`
package, retries, deliveries across an api kill, the SSE event stream with resume, the SSRF
guard, and the event contract (every event emitted validates against its schema)."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest
import requests
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from berth_cli.platform import free_port
from berth_common import catalogue, events as ev


class Receiver:
    """A webhook receiver on 127.0.0.1 (aiohttp, in its own thread) that verifies every
    delivery with `standardwebhooks` and, like a careful receiver, processes each
    `webhook-id` once."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.secret: str | None = None
        self.statuses: deque[int] = deque()  # answers to give before 200s
        self.requests: list[dict] = []  # everything that arrived
        self.processed: dict[str, dict] = {}  # webhook-id -> verified envelope
        self.rejected: list[str] = []
        self._loop = None
        self._runner = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        self.requests.append({"headers": headers, "body": body, "at": time.time()})
        if self.statuses:
            return web.Response(status=self.statuses.popleft())
        try:
            envelope = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as e:
            self.rejected.append(str(e))
            return web.Response(status=400, text=str(e))
        msg_id = headers["webhook-id"]
        if msg_id in self.processed:
            return web.Response(status=200, text="duplicate")  # seen: acknowledge, do nothing
        self.processed[msg_id] = envelope
        return web.Response(status=204)

    def start(self) -> "Receiver":
        started = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/hook", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            started.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert started.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def types(self) -> list[str]:
        return [e["type"] for e in self.processed.values()]


@pytest.fixture
def receivers():
    made = []

    def make(port=None, start=True):
        r = Receiver(port)
        made.append(r)
        return r.start() if start else r
    yield make
    for r in made:
        r.stop()


def add_webhook(berth, app, url, include):
    r = berth.api("POST", f"/apps/{app}/webhooks", json={"url": url, "include": include})
    assert r.status_code == 201, r.text
    return r.json()


def deliveries(berth, app, **params):
    r = berth.api("GET", f"/apps/{app}/webhook-deliveries", params=params)
    assert r.status_code == 200, r.text
    return r.json()


# --- signed deliveries -------------------------------------------------------------------

def test_a_deploy_is_delivered_signed(berth, workdir, receivers):
    d = workdir("static-site")
    berth.cli("apps:create", "hooked", cwd=d)
    receiver = receivers()
    out = berth.cli("webhooks:add", receiver.url, "--include", "release,build", "-a", "hooked").stdout
    hook = berth.api("GET", "/apps/hooked/webhooks").json()[0]
    assert hook["url"] == receiver.url and hook["include"] == ["release", "build"]
    assert "secret" not in hook  # shown once, at creation
    receiver.secret = next(w for w in out.split() if w.startswith("whsec_"))

    berth.cli("deploy", cwd=d)
    wanted = {ev.BuildRequested.type, ev.BuildStarted.type, ev.BuildCompleted.type, ev.ReleaseCreated.type,
              ev.ReleaseDeployed.type}
    berth.wait_for(lambda: wanted <= set(receiver.types()), timeout=60, what="the deploy's events at the receiver")
    assert not receiver.rejected
    assert set(receiver.types()) <= wanted  # nothing of other groups (process, formation …)
    for msg_id, envelope in receiver.processed.items():
        assert envelope["subject"] == "hooked" and envelope["specversion"] == "1.0"
        ev.Envelope.model_validate(envelope).payload()
    release = next(e for e in receiver.processed.values() if e["type"] == ev.ReleaseCreated.type)
    assert release["data"]["config_sealed"] == "[redacted]" and release["data"]["version"] == 1

    # The deliveries and their attempts are listed; the CLI shows them.
    listed = deliveries(berth, "hooked")
    assert {d["event_type"] for d in listed} == wanted
    assert all(d["status"] == "delivered" and d["attempts"] == 1 and d["attempts_log"][0]["status_code"] == 204
               for d in listed)
    assert {f"msg_{d['id'].replace('-', '')}" for d in listed} == set(receiver.processed)
    assert "release.deployed" in berth.cli("webhooks:deliveries", "-a", "hooked").stdout
    assert receiver.url in berth.cli("webhooks", "-a", "hooked").stdout

    # What the reference verifier refuses, built from a real delivery.
    real = next(r for r in receiver.requests if b"release.deployed" in r["body"])
    body, headers = real["body"].decode(), real["headers"]
    verifier = Webhook(receiver.secret)
    verifier.verify(body, headers)  # the real one passes
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace('"hooked"', '"other"'), headers)  # tampered body
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(body, headers)  # wrong secret
    old = datetime.now(timezone.utc) - timedelta(minutes=10)
    resigned = {**headers, "webhook-timestamp": str(int(old.timestamp())),
                "webhook-signature": verifier.sign(headers["webhook-id"], old, body)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(body, resigned)  # correctly signed, but old
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, {**headers, "webhook-id": "msg_replayed"})  # the signature binds the id
    # An exact replay verifies, so the receiver drops it by webhook-id: processed once.
    before = len(receiver.processed)
    r = requests.post(receiver.url, data=real["body"], headers=headers, timeout=5)
    assert r.status_code == 200 and r.text == "duplicate" and len(receiver.processed) == before

    # Rotation: for the overlap both secrets sign; the receiver may switch whenever it likes.
    rotated = berth.api("POST", f"/apps/hooked/webhooks/{hook['id']}/rotate-secret").json()
    assert rotated["secret"] != receiver.secret and rotated["previous_expires_at"]
    old_secret, receiver.secret = receiver.secret, rotated["secret"]
    assert berth.api("PATCH", "/apps/hooked/formation", json={"updates": [{"type": "web", "quantity": 1}]}).ok
    berth.api("POST", "/apps/hooked/dynos/restart")
    berth.cli("deploy", cwd=d)
    berth.wait_for(lambda: sum(t == ev.ReleaseDeployed.type for t in receiver.types()) == 2, timeout=60,
                   what="v2's release.deployed")
    last = receiver.requests[-1]
    assert len(last["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(last["body"], last["headers"])
    Webhook(rotated["secret"]).verify(last["body"], last["headers"])


def test_a_failed_delivery_is_retried_and_recorded(berth, receivers):
    receiver = receivers()
    receiver.statuses.append(500)
    hook = add_webhook(berth, "hooked", receiver.url, ["formation"])
    receiver.secret = hook["secret"]
    r = berth.api("PATCH", "/apps/hooked/formation", json={"updates": [{"type": "web", "quantity": 1}]})
    assert r.status_code == 200, r.text
    berth.wait_for(lambda: ev.FormationChanged.type in receiver.types(), timeout=30, what="the retried delivery")
    [delivery] = deliveries(berth, "hooked", webhook=hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    first, second = delivery["attempts_log"]
    assert first["status_code"] == 500 and first["error"] == "HTTP 500" and second["status_code"] == 204
    assert all(isinstance(a["duration_ms"], int) for a in delivery["attempts_log"])

    # A retry by hand sends it again, with the same webhook-id: the receiver drops it.
    assert berth.api("POST", f"/apps/hooked/webhook-deliveries/{delivery['id']}/retry").status_code == 202
    berth.wait_for(lambda: deliveries(berth, "hooked", webhook=hook["id"])[0]["attempts"] == 3, timeout=20,
                   what="the manual retry")
    assert len(receiver.requests) == 3 and len(receiver.processed) == 1

    assert berth.api("DELETE", f"/apps/hooked/webhooks/{hook['id']}").status_code == 200
    assert berth.api("GET", f"/apps/hooked/webhooks/{hook['id']}").status_code == 404


# --- the SSRF guard ----------------------------------------------------------------------

@pytest.mark.parametrize("url, reason", [
    ("http://10.0.0.1/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://127.0.0.2:9/hook", "loopback"),  # the allow-list admits 127.0.0.1/32 only
    ("http://[::1]:9/hook", "loopback"),
    ("ftp://example.com/hook", "http"),
])
def test_internal_urls_are_refused_at_creation(berth, url, reason):
    r = berth.api("POST", "/apps/hooked/webhooks", json={"url": url, "include": ["release"]})
    assert r.status_code == 422, r.text
    assert reason in r.json()["message"]


# --- the live event stream ---------------------------------------------------------------

def sse_events(lines):
    """(id, envelope) per SSE event, from the lines of a streaming response."""
    event_id, data = None, []
    for line in lines:
        if line == "":
            if data:
                yield event_id, json.loads("\n".join(data))
            event_id, data = None, []
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def open_stream(berth, **headers):
    resp = berth.api("GET", "/events", headers=headers, stream=True, timeout=(5, 30))
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    lines = resp.iter_lines(decode_unicode=True)
    assert next(lines).startswith(": berth events from")  # subscribed from here on
    return resp, lines


def read_until(events, predicate, seen):
    for event_id, envelope in events:
        seen.append((event_id, envelope))
        if predicate(envelope):
            return event_id
    raise AssertionError("the stream ended")


def test_event_stream_resumes_after_a_disconnect_without_losing_or_repeating(berth):
    ours = lambda e: e["subject"].startswith("sse-")  # noqa: E731
    resp, lines = open_stream(berth)
    for n in (1, 2, 3):
        assert berth.api("POST", "/apps", json={"name": f"sse-{n}"}).status_code == 201
    first: list = []
    last_id = read_until(sse_events(lines), lambda e: e["subject"] == "sse-3", first)
    resp.close()

    # While disconnected:
    for n in (4, 5, 6):
        assert berth.api("POST", "/apps", json={"name": f"sse-{n}"}).status_code == 201
    assert berth.api("DELETE", "/apps/sse-1").status_code == 200

    resp, lines = open_stream(berth, **{"Last-Event-ID": last_id})
    second: list = []
    read_until(sse_events(lines), lambda e: e["type"] == ev.AppDeleted.type and e["subject"] == "sse-1", second)
    resp.close()
    assert [(e["type"], e["subject"]) for _, e in first if ours(e)] == \
        [(ev.AppCreated.type, f"sse-{n}") for n in (1, 2, 3)]
    assert [(e["type"], e["subject"]) for _, e in second if ours(e)] == \
        [(ev.AppCreated.type, f"sse-{n}") for n in (4, 5, 6)] + [(ev.AppDeleted.type, "sse-1")]
    assert not {e["id"] for _, e in first} & {e["id"] for _, e in second}

    # ?app= keeps one app's events; the CLI prints the stream.
    cli = subprocess.Popen([str(berth.cli_path), "events", "--app", "sse-2"], env=berth.env(),
                           stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        assert berth.api("DELETE", "/apps/sse-3").status_code == 200
        assert berth.api("DELETE", "/apps/sse-2").status_code == 200
        line = cli.stdout.readline()
        assert "berth.app.deleted.v1" in line and "sse-2" in line and "sse-3" not in line
    finally:
        cli.terminate()
        cli.wait(10)


def test_event_catalogue_and_schemas(berth):
    cat = requests.get(berth.platform.api_url + "/events/catalogue", timeout=10).json()  # public: documentation
    assert {e["type"] for e in cat} == set(ev.EVENT_TYPES)
    entry = next(e for e in cat if e["type"] == ev.ReleaseCreated.type)
    assert entry["producer"] == "api" and entry["stream"] == "BERTH_API"
    assert {"release_id", "version", "image"} <= {f["name"] for f in entry["fields"]}
    schema = requests.get(berth.platform.api_url + f"/events/schemas/{ev.ReleaseCreated.type}.json", timeout=10).json()
    jsonschema.validate(entry["example"], schema, cls=jsonschema.Draft202012Validator)
    assert requests.get(berth.platform.api_url + "/events/schemas/berth.nope.v1.json", timeout=10).status_code == 404


# --- a killed api loses no delivery ------------------------------------------------------

def test_deliveries_survive_an_api_kill(berth, workdir, receivers):
    d = workdir("static-site")
    berth.cli("apps:create", "hooked-kill", cwd=d)
    receiver = receivers(start=False)  # down: connections are refused
    hook = add_webhook(berth, "hooked-kill", receiver.url, ["build", "release"])
    receiver.secret = hook["secret"]
    berth.cli("deploy", cwd=d)
    berth.wait_for(lambda: ev.ReleaseDeployed.type in {x["event_type"] for x in deliveries(berth, "hooked-kill")},
                   timeout=30, what="release.deployed recorded as a delivery")
    berth.wait_for(lambda: all(x["attempts"] >= 1 for x in deliveries(berth, "hooked-kill")), timeout=30,
                   what="a failed try of every delivery")
    pending = deliveries(berth, "hooked-kill")
    assert all(x["status"] == "pending" and "cannot connect" in x["last_error"] for x in pending)

    berth.platform.stop_service("api", sig=signal.SIGKILL)
    berth.platform.start_service("api")
    receiver.start()

    def all_delivered():
        rows = deliveries(berth, "hooked-kill")
        return rows if all(x["status"] == "delivered" for x in rows) else None
    rows = berth.wait_for(all_delivered, timeout=60, what="every delivery delivered after the restart")
    assert len(rows) == len(pending) == 5
    assert set(receiver.processed) == {f"msg_{x['id'].replace('-', '')}" for x in rows}
    event_ids = [e["id"] for e in receiver.processed.values()]
    assert len(event_ids) == len(set(event_ids)) == 5  # each event processed exactly once
    assert not receiver.rejected


# --- the event contract ------------------------------------------------------------------

async def _all_events(nats_url: str) -> list[tuple[str, bytes]]:
    from berth_common import bus
    nc = await bus.connect(nats_url, "contract-test")
    js = nc.jetstream()
    out = []
    try:
        for producer in ev.PRODUCERS:
            stream = ev.stream_name(producer)
            last = (await js.stream_info(stream)).state.last_seq
            if not last:
                continue
            sub = await js.subscribe("berth.>", stream=stream, ordered_consumer=True)
            while True:
                msg = await sub.next_msg(timeout=5)
                out.append((stream, msg.data))
                if msg.metadata.sequence.stream >= last:
                    break
            await sub.unsubscribe()
    finally:
        await nc.close()
    return out


def test_every_event_emitted_validates_against_its_schema(berth):
    """Run last in this module: by then every service has emitted most of its event types."""
    messages = asyncio.run(_all_events(berth.platform.nats_url))
    assert len(messages) > 20
    schemas = {t: jsonschema.Draft202012Validator(catalogue.json_schema(t)) for t in ev.EVENT_TYPES}
    seen = set()
    for stream, raw in messages:
        envelope = ev.Envelope.model_validate_json(raw)
        envelope.payload()  # the pydantic schema
        assert ev.stream_for_type(envelope.type) == stream
        errors = list(schemas[envelope.type].iter_errors(json.loads(raw)))
        assert not errors, f"{envelope.type} does not match its JSON Schema: {errors[0].message}"
        seen.add(envelope.type)
    assert {ev.AppCreated.type, ev.BuildCompleted.type, ev.ReleaseCreated.type, ev.ReleaseDeployed.type,
            ev.ProcessStarted.type, ev.EndpointsChanged.type} <= seen
