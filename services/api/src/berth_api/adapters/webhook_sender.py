"""Sending one webhook delivery over HTTP, behind the SSRF guard.

The host name is resolved once, every address is checked, and the connection goes to the
checked address: aiohttp asks our resolver (GuardedResolver) for the addresses it then
connects to, so a DNS answer that changes between the check and the connection (DNS
rebinding) cannot slip an internal address in. IP literals never reach a resolver in aiohttp,
so they are checked before the request."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

from ..domain.errors import ApiError
from ..domain.webhooks import AllowList, IPAddress, Target, check_addresses, parse_url

log = logging.getLogger(__name__)


class RefusedAddress(OSError):
    """The webhook's host resolves to an address it may not reach."""


def platform_addresses() -> frozenset[IPAddress]:
    """The addresses of this host (so a webhook cannot call the platform back through a
    public address of its own): every local interface address Linux lists, and what the
    host's own name resolves to."""
    found: set[IPAddress] = set()
    try:  # IPv4: /proc/net/fib_trie lists each local address as "/32 host LOCAL"
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for prev, line in zip(lines, lines[1:]):
            if "/32 host LOCAL" in line:
                found.add(ipaddress.ip_address(prev.split()[-1]))
    except (OSError, ValueError):
        pass
    try:  # IPv6: /proc/net/if_inet6, 32 hex digits per address
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            found.add(ipaddress.ip_address(":".join(raw[i:i + 4] for i in range(0, 32, 4))))
    except (OSError, ValueError, IndexError):
        pass
    for name in {socket.gethostname(), socket.getfqdn()}:
        try:
            for info in socket.getaddrinfo(name, None):
                found.add(ipaddress.ip_address(info[4][0].split("%")[0]))
        except (OSError, ValueError):
            pass
    return frozenset(found)


@dataclass(frozen=True)
class Guard:
    allow: AllowList
    own: frozenset[IPAddress]

    def refusal(self, target: Target, addresses) -> str | None:
        return check_addresses(target, addresses, self.allow, self.own)


class GuardedResolver(AbstractResolver):
    def __init__(self, guard: Guard):
        self._guard = guard
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET):
        results = await self._inner.resolve(host, port, family)
        target = Target("http", host.lower().rstrip("."), port, None)
        reason = self._guard.refusal(target, [ipaddress.ip_address(r["host"].split("%")[0]) for r in results])
        if reason:
            raise RefusedAddress(reason)
        return results

    async def close(self) -> None:
        await self._inner.close()


async def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(i[4][0].split("%")[0]) for i in infos]


async def check_url(url: str, guard: Guard) -> str:
    """Refuse (422, naming the reason) a webhook URL that may not be reached; return it normalised."""
    target = parse_url(url)
    if target.literal_ip is not None:
        addresses = [target.literal_ip]
    elif guard.allow.admits_host(target.host):
        addresses = []
    else:
        try:
            addresses = await resolve_addresses(target.host, target.port)
        except OSError as e:
            raise ApiError(f"cannot resolve {target.host}: {e}", id="webhook_url_refused", status=422)
    reason = guard.refusal(target, addresses)
    if reason:
        raise ApiError(f"webhook URL refused: {reason}", id="webhook_url_refused", status=422)
    return url.strip()


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    status_code: int | None
    duration_ms: int
    error: str | None


class Sender:
    """One aiohttp session for every delivery; a try is one POST, no redirects followed."""

    def __init__(self, guard: Guard, timeout_s: float):
        self.guard = guard
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(guard), use_dns_cache=False, limit=200)
        self.session = aiohttp.ClientSession(connector=connector, trust_env=False)

    async def close(self) -> None:
        await self.session.close()

    async def post(self, url: str, headers: dict[str, str], body: str) -> AttemptResult:
        started = time.monotonic()

        def result(status: int | None, error: str | None) -> AttemptResult:
            ok = status is not None and 200 <= status < 300 and error is None
            return AttemptResult(ok, status, int((time.monotonic() - started) * 1000), error)

        try:
            target = parse_url(url)
        except ApiError as e:
            return result(None, e.message)
        if target.literal_ip is not None:
            reason = self.guard.refusal(target, [target.literal_ip])
            if reason:
                return result(None, f"refused: {reason}")
        try:
            async with self.session.post(url, data=body.encode(), headers=headers, allow_redirects=False,
                                         timeout=self.timeout) as resp:
                await resp.content.read(64 * 1024)  # the receiver's answer is not kept
                if 300 <= resp.status < 400:
                    return result(resp.status, f"redirect to {resp.headers.get('Location', '?')} not followed")
                if resp.status >= 400:
                    return result(resp.status, f"HTTP {resp.status}")
                return result(resp.status, None)
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, RefusedAddress) or isinstance(e.__cause__, RefusedAddress):
                return result(None, f"refused: {e.os_error}")
            return result(None, f"cannot connect: {e.os_error or e}")
        except RefusedAddress as e:
            return result(None, f"refused: {e}")
        except asyncio.TimeoutError:
            return result(None, f"timed out after {self.timeout.total:.0f} s")
        except aiohttp.ClientError as e:
            return result(None, f"{e.__class__.__name__}: {e}")
