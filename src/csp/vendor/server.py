"""Serve the vendor simulator on a local port from a background thread (embedded default)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from csp.errors import StartupError


class BackgroundServer:
    """A uvicorn server for an ASGI app in a daemon thread, on 127.0.0.1 (port 0: any free port)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(target=self._server.run, name="vendor-simulator", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 10.0) -> str:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StartupError(f"the vendor simulator could not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def remembered_port(state_db: Path | None, host: str = "127.0.0.1") -> int:
    """The simulator's port for the state in ``state_db``: the one it had last time when it
    is free, else a free one, remembered beside the state (``vendor-sim.db.port``). So the
    links the vendor gave (a GDAP approval page, say) still lead somewhere after a restart,
    as the real vendor's do. 0 (any free port) without a state file."""
    if state_db is None or str(state_db) == ":memory:":
        return 0
    memo = state_db.with_name(state_db.name + ".port")
    with contextlib.suppress(OSError, ValueError):
        port = int(memo.read_text().strip())
        if 0 < port < 65536 and _free(host, port):
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(f"{port}\n")
    return port


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
