"""``csp serve --workers N`` (N > 1): N API processes on one port, and beside them, as
supervised processes of their own, what one ``csp serve`` runs in threads.

uvicorn's process manager runs the API processes (``worker_app``: each built by the
composition root with its projections and sagas elsewhere) and restarts one that dies.
``Fleet`` runs the others, each a plain ``csp`` command, restarting one that exits
unexpectedly (with a growing pause, one log line each time):

- ``csp vendor-sim`` on a free loopback port when ``CSP_VENDOR_URL`` is empty (the
  embedded default), its address given to every other process;
- ``csp project`` when the projections would run in ``csp serve`` (the default without
  a broker); the API processes wait on its position signal for read-your-writes;
- ``csp sagas run`` when the sagas would (likewise): relay, workers and scheduler on
  the in-process broker, with a control port (loopback, a bearer token made for this
  run) the API processes ask to drain and to run due work.

With ``CSP_BROKER_URL`` set those run as the deployment's own processes (compose.yaml)
and only the API processes are started here.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger("csp.serve")

RESTART_PAUSE_SECONDS = 1.0
MAX_RESTART_PAUSE_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 60.0


def die_with_parent() -> None:
    """Ask the kernel to end this process when its parent ends, even by SIGKILL (Linux):
    no API process or sidecar outlives a killed ``csp serve``, holding its port or its work."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl here
        return
    if os.getppid() == 1:  # the parent ended before we asked
        os._exit(0)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, child: subprocess.Popen[bytes], what: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    from csp.errors import StartupError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise StartupError(f"{what} exited at start-up with {child.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StartupError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")


@dataclass
class Child:
    name: str
    argv: list[str]
    port: int | None = None  # where it listens, checked at start-up
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    pause: float = RESTART_PAUSE_SECONDS
    restart_at: float | None = None


@dataclass
class Fleet:
    """The supervised processes beside the API processes."""

    env: dict[str, str]
    children: list[Child] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def add(self, name: str, args: list[str], port: int | None = None) -> None:
        self.children.append(Child(name, [sys.executable, "-m", "csp", *args], port))

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env, preexec_fn=die_with_parent)

    def start(self) -> None:
        """Start every child and wait until those with a port listen."""
        for child in self.children:
            self._spawn(child)
            if child.port is not None:
                assert child.process is not None
                wait_for_port(child.port, child.process, child.name)
        self._thread = threading.Thread(target=self._watch, name="fleet", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            for child in self.children:
                p = child.process
                if child.restart_at is not None:
                    if now >= child.restart_at and not self._stop.is_set():
                        child.restart_at = None
                        child.restarts += 1
                        self._spawn(child)
                    continue
                if p is not None and p.poll() is not None:
                    log.warning(
                        "%s (pid %d) exited with %s; restarting it in %.0f s",
                        child.name,
                        p.pid,
                        p.returncode,
                        child.pause,
                    )
                    child.restart_at = now + child.pause
                    child.pause = min(child.pause * 2, MAX_RESTART_PAUSE_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                child.process.terminate()
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.process.kill()

    def pids(self) -> dict[str, int]:
        return {c.name: c.process.pid for c in self.children if c.process is not None}


def plan(
    settings_env: Mapping[str, str], vendor_url: str, projections: bool, sagas: bool, sim_port: int = 0
) -> tuple[Fleet, dict[str, str]]:
    """The fleet to start and the environment of the API processes (``sim_port``: the
    simulator's, when it is started; 0: a free one)."""
    env = dict(settings_env)
    fleet = Fleet(env)
    if not vendor_url:
        port = sim_port or free_port()
        env["CSP_VENDOR_URL"] = f"http://127.0.0.1:{port}"
        fleet.add("vendor simulator", ["vendor-sim", "--port", str(port)], port)
    if projections:
        fleet.add("projections", ["project"])
    api_env = dict(env)
    api_env["CSP_PROJECTIONS_IN_PROCESS"] = "false"
    api_env["CSP_SAGAS_IN_PROCESS"] = "false"
    if sagas:
        port = free_port()
        token = secrets.token_urlsafe(24)
        env["CSP_SAGAS_CONTROL_TOKEN"] = token
        fleet.add("sagas", ["sagas", "run", "--control-port", str(port)], port)
        api_env["CSP_SAGAS_CONTROL_URL"] = f"http://127.0.0.1:{port}"
        api_env["CSP_SAGAS_CONTROL_TOKEN"] = token
    return fleet, api_env


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
