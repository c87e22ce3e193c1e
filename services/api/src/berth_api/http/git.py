"""`git push berth main`: each app's repository over git's smart HTTP protocol at
`/apps/{app}.git`, served by `git http-backend` (CGI) run as a subprocess per request,
with request and response bodies streamed. Authentication is the auth middleware's: the
API token as the HTTP Basic password (401s on these paths carry `WWW-Authenticate: Basic`,
so git asks its credential helper, see `berth git:remote`).

A push's pre-receive hook (git_hook.py) deploys the deploy branch through the public API
with the pusher's token, which it gets, with the app name and the API's URL, from the CGI
environment that git passes on to hooks.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import zlib
from pathlib import Path

from aiohttp import web

from berth_common.names import InvalidAppName, validate_app_name
from berth_common.service import POOL

from ..adapters import git_repos
from ..adapters import queries as q
from ..domain.errors import ApiError, NotFound
from .middleware import USER
from .views import SETTINGS

log = logging.getLogger(__name__)

SERVICES = ("git-upload-pack", "git-receive-pack")
CHUNK = 1 << 16
SMART_ONLY = "only git's smart HTTP protocol is served here (git 1.6.6 or newer)"


def add_git_routes(router: web.UrlDispatcher) -> None:
    router.add_route("*", "/apps/{app}.git/{path:.*}", serve)


def request_token(request: web.Request) -> str:
    """The token the auth middleware accepted: Bearer, or the Basic password."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        return base64.b64decode(value).decode().partition(":")[2].strip()
    return value.strip()


def internal_api_url(request: web.Request) -> str:
    """Where the hook, on this host, reaches this api."""
    common = request.app[SETTINGS].common
    host = common.health_host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{common.health_port}"


def check_request(request: web.Request) -> str:
    """Allow exactly the smart-protocol requests; return the git service asked for."""
    path, method = request.match_info["path"], request.method
    if path == "info/refs" and method == "GET":
        service = request.query.get("service")
        if service not in SERVICES:
            raise NotFound(SMART_ONLY)
        return service
    if path in SERVICES and method == "POST":
        if request.content_type != f"application/x-{path}-request":
            raise ApiError(f"Content-Type must be application/x-{path}-request", status=415)
        return path
    raise NotFound(f"no such resource: {method} {request.path} ({SMART_ONLY})")


async def serve(request: web.Request) -> web.StreamResponse:
    name = request.match_info["app"]
    try:
        validate_app_name(name)
    except InvalidAppName:
        raise NotFound(f"app {name!r} not found", id="app_not_found")
    service = check_request(request)
    app = await q.app_or_none(request.app[POOL], name)
    if app is None:
        raise NotFound(f"app {name!r} not found", id="app_not_found")
    settings = request.app[SETTINGS]
    root = Path(settings.git_dir)
    await git_repos.ensure(root, name, str(app["id"]))

    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROJECT_ROOT": str(root.resolve()),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{name}.git/{request.match_info['path']}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "REMOTE_USER": request[USER]["email"],
        "REMOTE_ADDR": request.remote or "",
        "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
        "GATEWAY_INTERFACE": "CGI/1.1",
        # The body reaches http-backend decompressed and without a length: it reads to EOF.
        **({"GIT_PROTOCOL": request.headers["Git-Protocol"]} if "Git-Protocol" in request.headers else {}),
    }
    if service == "git-receive-pack":
        env.update(BERTH_GIT_APP=name, BERTH_GIT_API_URL=internal_api_url(request),
                   BERTH_GIT_TOKEN=request_token(request))
    proc = await asyncio.create_subprocess_exec(
        "git", "http-backend", env=env, cwd=str(root),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    feeder = asyncio.create_task(feed_body(request, proc.stdin))
    errors = asyncio.create_task(proc.stderr.read(CHUNK * 4))
    try:
        status, headers = await read_cgi_headers(proc.stdout)
        resp = web.StreamResponse(status=status, headers=headers)
        await resp.prepare(request)
        while chunk := await proc.stdout.read(CHUNK):
            await resp.write(chunk)
        await feeder
        code = await proc.wait()
        if code:
            log.warning("git http-backend %s %s exited %s: %s", request.method, request.path, code,
                        (await errors).decode(errors="replace").strip())
        await resp.write_eof()
        return resp
    finally:
        feeder.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        errors.cancel()


async def feed_body(request: web.Request, stdin: asyncio.StreamWriter) -> None:
    """Copy the request body to http-backend, inflating a gzip body if aiohttp has not."""
    gzipped = request.headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip")
    inflate = None
    first = True
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            if first:
                first = False
                if gzipped and chunk[:2] == b"\x1f\x8b":  # (a git request body starts with a pkt-line)
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if inflate is None:
                stdin.write(chunk)
                await stdin.drain()
                continue
            data = inflate.decompress(chunk, CHUNK * 16)
            while True:
                stdin.write(data)
                await stdin.drain()
                if not inflate.unconsumed_tail:
                    break
                data = inflate.decompress(inflate.unconsumed_tail, CHUNK * 16)
        if inflate is not None:
            stdin.write(inflate.flush())
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # http-backend stopped reading (it answered already, or failed: its status says so)
    except zlib.error as e:
        log.warning("bad gzip request body for %s: %s", request.path, e)
    finally:
        stdin.close()


async def read_cgi_headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status, headers = 200, {}
    while True:
        line = (await stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        key, _, value = line.partition(":")
        if key.strip().lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers[key.strip()] = value.strip()
    if not headers and status == 200:
        raise ApiError("git http-backend gave no answer", id="git_failed", status=500)
    return status, headers
