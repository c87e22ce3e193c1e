"""The SSRF guard: which addresses a URL that a user gives (a webhook, a log drain) may
reach, and an aiohttp resolver that enforces it at connection time.

A host name is resolved once, every address is checked, and the connection goes to the
checked address: aiohttp asks GuardedResolver for the addresses it then connects to, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot slip an
internal address in. IP literals never reach a resolver in aiohttp, so callers check them
before connecting (url_refusal does both)."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


@dataclass(frozen=True)
class AllowList:
    """Host names (matched exactly) and networks (CIDR) an operator admits although they
    are internal, from the setting named `setting` (BERTH_WEBHOOK_ALLOW_HOSTS, ...)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    setting: str = "BERTH_WEBHOOK_ALLOW_HOSTS"

    @classmethod
    def parse(cls, value: str | None, setting: str = "BERTH_WEBHOOK_ALLOW_HOSTS") -> "AllowList":
        hosts, networks = set(), []
        for item in (value or "").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), setting)

    def admits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def admits_ip(self, ip: IPAddress) -> bool:
        return any(ip in n for n in self.networks if n.version == ip.version)


def ip_refusal(ip: IPAddress, allow: AllowList, own: frozenset[IPAddress] = frozenset()) -> str | None:
    """Why a user's URL may not connect to `ip` (None: it may)."""
    if allow.admits_ip(ip):
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip_refusal(ip.ipv4_mapped, allow, own)
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or (ip.version == 4 and ip in _CGNAT) or not ip.is_global:
        return "a private address"
    if ip in own:  # a public address of this host: the platform would call itself
        return "an address of the platform itself"
    return None


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    literal_ip: IPAddress | None


def check_addresses(target: Target, addresses: Iterable[IPAddress], allow: AllowList,
                    own: frozenset[IPAddress] = frozenset()) -> str | None:
    """Why the URL's host, resolved to `addresses`, is refused (None: allowed). Every
    address must pass: a host name that resolves to one public and one internal address is
    a DNS-rebinding attempt as far as Berth can tell."""
    if allow.admits_host(target.host):
        return None
    addresses = list(addresses)
    if not addresses:
        return f"{target.host} does not resolve to any address"
    for ip in addresses:
        reason = ip_refusal(ip, allow, own)
        if reason:
            shown = target.host if target.literal_ip else f"{target.host} ({ip})"
            return f"{shown} is {reason}; an operator may admit it with {allow.setting}"
    return None


class RefusedAddress(OSError):
    """The URL's host resolves to an address it may not reach."""


def platform_addresses() -> frozenset[IPAddress]:
    """The addresses of this host (so a user's URL cannot call the platform back through a
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


async def url_refusal(target: Target, guard: Guard) -> str | None:
    """Why `target` may not be reached (None: it may), resolving its host name."""
    if target.literal_ip is not None:
        return guard.refusal(target, [target.literal_ip])
    if guard.allow.admits_host(target.host):
        return None
    try:
        addresses = await resolve_addresses(target.host, target.port)
    except OSError as e:
        return f"cannot resolve {target.host}: {e}"
    return guard.refusal(target, addresses)
