"""The HAProxy process: started by the router in master-worker mode (`-W -S <master
socket>`), its output forwarded to the router's log, stopped with the router. A master left
behind by a router that was killed is found through the pid file and stopped first, so the
public port is free again."""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger("berth.router.haproxy")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class HAProxyError(RuntimeError):
    pass


async def check_config(binary: str, config: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        binary, "-c", "-q", "-f", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise HAProxyError(f"invalid HAProxy configuration {config}: {out.decode(errors='replace').strip()}")


def _is_our_haproxy(pid: int, config: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(b"haproxy" in part for part in cmdline[:1]) and str(config).encode() in cmdline


async def stop_stale(pid_file: Path, config: Path) -> None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not _is_our_haproxy(pid, config):
        return
    log.warning("stopping HAProxy master %d left behind by an earlier router", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _is_our_haproxy(pid, config):
            return
        await asyncio.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class HAProxyProcess:
    def __init__(self, binary: str, config: Path, master_socket: Path, pid_file: Path):
        self.binary = binary
        self.config = config
        self.master_socket = master_socket
        self.pid_file = pid_file
        self.proc: asyncio.subprocess.Process | None = None
        self._output: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        await stop_stale(self.pid_file, self.config)
        with contextlib.suppress(FileNotFoundError):
            self.master_socket.unlink()
        self.proc = await asyncio.create_subprocess_exec(
            self.binary, "-W", "-S", f"{self.master_socket},mode,600", "-f", str(self.config),
            "-p", str(self.pid_file),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, preexec_fn=_die_with_parent,
        )
        self._output = asyncio.create_task(self._forward_output(self.proc.stderr))
        log.info("HAProxy master started (pid %d)", self.proc.pid)

    async def _forward_output(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            level = logging.WARNING if ("[ALERT]" in text or "[WARNING]" in text) else logging.INFO
            log.log(level, "%s", text)

    async def wait(self) -> int:
        assert self.proc
        return await self.proc.wait()

    async def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()  # the master stops its workers
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._output:
            self._output.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._output
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
