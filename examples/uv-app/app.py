"""A Berth example built from uv.lock: stdlib HTTP server on $PORT using one dependency from PyPI."""
import os
import socket
from importlib.metadata import version
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import itsdangerous  # noqa: F401 - the dependency from PyPI this example proves

MESSAGE = os.environ.get("MESSAGE", "Hello from Berth (python, uv)")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{MESSAGE}\nitsdangerous {version('itsdangerous')}\ninstance {socket.gethostname()}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print(f"handled GET {self.path}", flush=True)

    def log_message(self, format, *args):  # one line per request is printed above
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5000"))
    print(f"listening on port {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
