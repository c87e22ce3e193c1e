"""Sending framed lines to a drain: HTTP(S) POSTs (Heroku's logplex format) and syslog over
TCP or TLS, both behind the SSRF guard (berth_common.egress): a drain URL that resolves to
an internal address is refused at creation and at every connection."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid

import aiohttp

from berth_common.egress import Guard, GuardedResolver, RefusedAddress, resolve_addresses, url_refusal

from ..domain.drains import DrainUrl

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/logplex-1"
USER_AGENT = "Berth-Logplex/1"


class DrainError(Exception):
    """A batch did not reach the drain; the message says why (kept as its last_error)."""


class DrainSenders:
    def __init__(self, guard: Guard, timeout_s: float = 10.0):
        self.guard = guard
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._syslog: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def refusal(self, url: DrainUrl) -> str | None:
        return await url_refusal(url.target, self.guard)

    async def send(self, url: DrainUrl, token: str, body: bytes, count: int) -> None:
        reason = await self.refusal(url) if url.target.literal_ip is not None else None
        if reason:
            raise DrainError(f"refused: {reason}")
        if url.is_http:
            await self._post(url, token, body, count)
        else:
            await self._write_syslog(url, token, body)

    async def _post(self, url: DrainUrl, token: str, body: bytes, count: int) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.guard), use_dns_cache=False, limit=50)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                  timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        headers = {"Content-Type": CONTENT_TYPE, "Logplex-Msg-Count": str(count),
                   "Logplex-Frame-Id": str(uuid.uuid4()), "Logplex-Drain-Token": token, "User-Agent": USER_AGENT}
        try:
            async with self._session.post(url.url, data=body, headers=headers, allow_redirects=False) as resp:
                await resp.content.read(64 * 1024)
                if not 200 <= resp.status < 300:
                    raise DrainError(f"HTTP {resp.status}")
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, RefusedAddress):
                raise DrainError(f"refused: {e.os_error}") from e
            raise DrainError(f"cannot connect: {e.os_error or e}") from e
        except RefusedAddress as e:
            raise DrainError(f"refused: {e}") from e
        except asyncio.TimeoutError as e:
            raise DrainError(f"timed out after {self.timeout_s:.0f} s") from e
        except aiohttp.ClientError as e:
            raise DrainError(f"{e.__class__.__name__}: {e}") from e

    async def _write_syslog(self, url: DrainUrl, token: str, body: bytes) -> None:
        try:
            _, writer = await self._connection(url, token)
            writer.write(body)
            await asyncio.wait_for(writer.drain(), self.timeout_s)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as e:
            await self._close(token)
            raise DrainError(f"{url.scheme} {url.host}:{url.port}: {e.__class__.__name__}: {e}") from e

    async def _connection(self, url: DrainUrl, token: str):
        conn = self._syslog.get(token)
        if conn and not conn[1].is_closing():
            return conn
        if url.target.literal_ip is not None:
            address = str(url.target.literal_ip)
        else:  # connect to the address the guard checked, not to a second answer
            addresses = await resolve_addresses(url.host, url.port)
            reason = self.guard.refusal(url.target, addresses)
            if reason:
                raise DrainError(f"refused: {reason}")
            address = str(addresses[0])
        tls = ssl.create_default_context() if url.scheme == "syslog+tls" else None
        conn = await asyncio.wait_for(asyncio.open_connection(
            address, url.port, ssl=tls, server_hostname=url.host if tls else None), self.timeout_s)
        self._syslog[token] = conn
        return conn

    async def _close(self, token: str) -> None:
        conn = self._syslog.pop(token, None)
        if conn:
            conn[1].close()
            with contextlib.suppress(Exception):
                await conn[1].wait_closed()

    async def forget(self, token: str) -> None:
        """A drain was removed: close its connection."""
        await self._close(token)

    async def close(self) -> None:
        for token in list(self._syslog):
            await self._close(token)
        if self._session:
            await self._session.close()
