"""An async client of HAProxy's Runtime API (the admin stats socket of the worker) and of
the master CLI (the master socket of `haproxy -W -S`). One connection per command: HAProxy
answers a non-interactive command and closes the connection."""
from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from ..domain.routes import DRAIN, MAINT, READY, LiveServer


class RuntimeApiError(RuntimeError):
    pass


class HAProxyUnavailable(RuntimeApiError):
    pass


# srv_admin_state bits (HAProxy's enum srv_admin): forced/inherited/config/resolution maint,
# forced/inherited drain.
_ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20
_ADMIN_DRAIN = 0x08 | 0x10


def server_state(op_state: int, admin_state: int) -> str:
    if admin_state & _ADMIN_MAINT or op_state == 0:
        return MAINT
    if admin_state & _ADMIN_DRAIN:
        return DRAIN
    return READY


def parse_servers_state(text: str) -> list[LiveServer]:
    """Parse `show servers state` (format version 1)."""
    servers = []
    columns: list[str] = []
    for line in text.splitlines():
        if line.startswith("# "):
            columns = line[2:].split()
            continue
        fields = line.split()
        if not columns or len(fields) < len(columns):
            continue
        row = dict(zip(columns, fields))
        servers.append(LiveServer(
            backend=row["be_name"], name=row["srv_name"],
            address=f"{row['srv_addr']}:{row['srv_port']}",
            state=server_state(int(row["srv_op_state"]), int(row["srv_admin_state"])),
        ))
    return servers


def parse_map(text: str) -> dict[str, str]:
    """Parse `show map <file>`: lines of `<ref> <key> <value>`."""
    entries = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            entries[parts[1]] = parts[2]
    return entries


def parse_server_sessions(text: str) -> dict[tuple[str, str], int]:
    """Current sessions per (backend, server) from `show stat` CSV."""
    text = text.lstrip("# ")
    out = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("svname") in (None, "FRONTEND", "BACKEND"):
            continue
        try:
            out[(row["pxname"], row["svname"])] = int(row["scur"] or 0)
        except (KeyError, ValueError):
            continue
    return out


async def _command(socket_path: Path, command: str, half_close: bool, timeout: float) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket_path)), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        raise HAProxyUnavailable(f"cannot reach {socket_path}: {e}") from e
    try:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        if half_close:
            writer.write_eof()
        return (await asyncio.wait_for(reader.read(), timeout)).decode(errors="replace")
    except (OSError, asyncio.TimeoutError) as e:
        raise HAProxyUnavailable(f"{command!r} on {socket_path}: {e}") from e
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


class RuntimeApi:
    def __init__(self, socket_path: Path, timeout: float = 5.0):
        self.socket_path = socket_path
        self.timeout = timeout

    async def command(self, command: str) -> str:
        return await _command(self.socket_path, command, half_close=False, timeout=self.timeout)

    async def _expect(self, command: str, *ok: str) -> str:
        out = (await self.command(command)).strip()
        if out not in ("", *ok):
            raise RuntimeApiError(f"{command!r}: {out}")
        return out

    async def info(self) -> dict[str, str]:
        out = await self.command("show info")
        return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)

    async def backends(self) -> set[str]:
        out = await self.command("show backend")
        return {line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")}

    async def servers(self, backend: str | None = None) -> list[LiveServer]:
        out = await self.command(f"show servers state {backend}" if backend else "show servers state")
        if not out.startswith("1"):
            if "backend" in out.lower():  # "Can't find backend."
                return []
            raise RuntimeApiError(f"show servers state: {out.strip()}")
        return parse_servers_state(out)

    async def server_sessions(self) -> dict[tuple[str, str], int]:
        return parse_server_sessions(await self.command("show stat -1 4 -1"))

    async def add_server(self, backend: str, server: str, address: str) -> None:
        await self._expect(f"add server {backend}/{server} {address}", "New server registered.")

    async def enable_server(self, backend: str, server: str) -> None:
        await self._expect(f"enable server {backend}/{server}")

    async def set_server_state(self, backend: str, server: str, state: str) -> None:
        await self._expect(f"set server {backend}/{server} state {state}")

    async def set_server_address(self, backend: str, server: str, host: str, port: int) -> None:
        out = (await self.command(f"set server {backend}/{server} addr {host} port {port}")).strip()
        if out and "changed" not in out and "no need to change" not in out.lower():
            raise RuntimeApiError(f"set server addr: {out}")

    async def shutdown_sessions(self, backend: str, server: str) -> None:
        await self._expect(f"shutdown sessions server {backend}/{server}")

    async def del_server(self, backend: str, server: str) -> None:
        await self._expect(f"del server {backend}/{server}", "Server deleted.")

    async def show_map(self, map_file: Path) -> dict[str, str]:
        return parse_map(await self.command(f"show map {map_file}"))

    async def set_map(self, map_file: Path, key: str, value: str, exists: bool) -> None:
        # `add map` on an existing key adds a second entry; `set map` changes it
        verb = "set" if exists else "add"
        await self._expect(f"{verb} map {map_file} {key} {value}")

    async def del_map(self, map_file: Path, key: str) -> None:
        await self._expect(f"del map {map_file} {key}", "Key not found.")


class MasterCli:
    def __init__(self, socket_path: Path, timeout: float = 30.0):
        self.socket_path = socket_path
        self.timeout = timeout

    async def command(self, command: str) -> str:
        # the master CLI answers once the client has closed its side
        return await _command(self.socket_path, command, half_close=True, timeout=self.timeout)

    async def reload(self) -> str:
        """Hitless reload: the master starts a new worker from the configuration file (the
        listening sockets are passed over), the old one finishes its connections. HAProxy
        2.7+ answers `Success=1` once the new worker has loaded."""
        out = await self.command("reload")
        if "Success=0" in out:  # (before 2.7 the answer is empty: the caller checks the worker pid)
            raise RuntimeApiError(f"reload failed: {out.strip()}")
        return out
