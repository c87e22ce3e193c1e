"""`berth run` attached: the one-off's stdin, stdout and stderr over the API's WebSocket
(/apps/<app>/dynos/attach), with the local terminal in raw mode when it is a terminal, so
keys, Ctrl-C and window size changes reach the remote process as they would a local one."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import sys
import threading

import aiohttp


class AttachError(Exception):
    pass


@contextlib.contextmanager
def raw_terminal(fd: int):
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_input(fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    """Blocking reads of local stdin in a daemon thread (pipes, files and terminals alike);
    b"" is the end of input."""
    def run():
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(queue.put_nowait, data)
            if not data:
                return
    threading.Thread(target=run, daemon=True, name="stdin").start()


async def attach(url: str, token: str | None, app: str, command: str, tty: bool,
                 announce=lambda instance: None) -> int:
    """Run `command` attached; returns its exit code."""
    params = {"command": command, "tty": "1" if tty else "0"}
    if tty:
        cols, rows = os.get_terminal_size(sys.stdout.fileno())
        params.update(rows=str(rows), cols=str(cols))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(headers=headers) as session:
        try:
            ws = await session.ws_connect(f"{url.rstrip('/')}/apps/{app}/dynos/attach", params=params,
                                          heartbeat=30, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            if e.status == 401:
                raise AttachError("the API refused the token: run `berth login`")
            raise AttachError(f"the API refused the connection: {e.status} {e.message}")
        except aiohttp.ClientConnectionError:
            raise AttachError(f"cannot reach the Berth API at {url} (is `berth up` running?)")
        async with ws:
            first = await ws.receive()
            if first.type != aiohttp.WSMsgType.TEXT:
                raise AttachError("the API closed the connection before the process started")
            item = json.loads(first.data)
            if "error" in item:
                raise AttachError(item["error"])
            announce(item["instance"])

            stdin: asyncio.Queue = asyncio.Queue()
            _read_input(sys.stdin.fileno(), loop, stdin)

            async def send_input():
                while data := await stdin.get():
                    await ws.send_bytes(data)
                if not tty:  # a terminal ends input with its own ^D
                    await ws.send_json({"eof": True})

            def on_resize():
                cols, rows = os.get_terminal_size(sys.stdout.fileno())
                asyncio.ensure_future(ws.send_json({"resize": [rows, cols]}))

            if tty:
                loop.add_signal_handler(signal.SIGWINCH, on_resize)
            sender = asyncio.create_task(send_input())
            code, ended = None, False
            try:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        sys.stdout.buffer.write(msg.data)
                        sys.stdout.buffer.flush()
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        item = json.loads(msg.data)
                        if "stderr" in item:
                            sys.stderr.buffer.write(base64.b64decode(item["stderr"]))
                            sys.stderr.buffer.flush()
                        elif "exit_code" in item:
                            code, ended = item["exit_code"], True
                            break
                        elif "error" in item:
                            raise AttachError(item["error"])
            finally:
                sender.cancel()
                if tty:
                    loop.remove_signal_handler(signal.SIGWINCH)
            if not ended:
                raise AttachError("the connection to the Berth API was lost before the process ended")
            return code if code is not None else 1
