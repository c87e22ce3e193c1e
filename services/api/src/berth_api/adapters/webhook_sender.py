"""Sending one webhook delivery over HTTP, behind the SSRF guard (berth_common.egress:
the connection goes to the addresses the guard checked)."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp

from berth_common.egress import Guard, GuardedResolver, RefusedAddress, url_refusal

from ..domain.errors import ApiError
from ..domain.webhooks import parse_url

log = logging.getLogger(__name__)


async def check_url(url: str, guard: Guard) -> str:
    """Refuse (422, naming the reason) a webhook URL that may not be reached; return it normalised."""
    reason = await url_refusal(parse_url(url), guard)
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
