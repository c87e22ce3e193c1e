"""End to end: an app's output, router lines and platform messages reach a log drain (an
HTTP receiver in Heroku's logplex format), from the container through the logger."""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from berth_cli.platform import free_port


class DrainReceiver:
    def __init__(self):
        self.messages: list[str] = []
        self.headers: list[dict] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.headers.append(dict(self.headers))
                while body:
                    length, _, rest = body.partition(b" ")
                    n = int(length)
                    received.messages.append(rest[:n].decode().rstrip("\n"))
                    body = rest[n:]
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_a_drain_gets_the_apps_output_router_and_platform_lines(berth, workdir):
    receiver = DrainReceiver()
    try:
        d = workdir("python-app")
        berth.cli("apps:create", "drained", cwd=d)
        berth.cli("deploy", cwd=d)
        url = f"http://127.0.0.1:{receiver.port}/logs"
        out = berth.cli("drains:add", url, cwd=d).stdout
        token = re.search(r"\((d\.[0-9a-f-]+)\)", out).group(1)
        assert berth.get_app_page("drained").status_code == 200
        berth.cli("ps:restart", cwd=d)  # platform lines about the restart

        def drained():
            text = "\n".join(receiver.messages)
            return text if all(s in text for s in (f"{token} app web.1 - handled GET /",
                                                    f"{token} router router - ", f"{token} berth ")) else None
        berth.wait_for(drained, timeout=90, what="app, router and platform lines at the drain")
        assert all(h["Content-Type"] == "application/logplex-1" and h["Logplex-Drain-Token"] == token
                   for h in receiver.headers)
        assert not any(" build " in m.split(" - ")[0] for m in receiver.messages)  # no build output
        listed = berth.cli("drains", cwd=d).stdout
        assert url in listed and token in listed and "sent " in listed

        refused = berth.cli("drains:add", "http://10.1.2.3/logs", cwd=d, check=False)
        assert refused.returncode == 1 and "a private address" in refused.stderr
        berth.cli("drains:remove", url, cwd=d)
        assert "No log drains" in berth.cli("drains", cwd=d).stdout
    finally:
        receiver.close()
