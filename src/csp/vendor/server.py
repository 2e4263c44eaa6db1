"""Serve the vendor simulator on a local port from a background thread (embedded default)."""

from __future__ import annotations

import threading
import time

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
