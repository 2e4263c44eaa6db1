"""Position signals: the process applying the read models tells every other process,
at once, the notification position it has just committed (read-your-writes across
processes without polling).

``position_signal(db, name)`` returns one for a database:

- PostgreSQL: ``NOTIFY`` on a channel of the database and schema (``pg_notify`` on a
  connection of its own, after the commit); listeners ``LISTEN`` on a connection of
  their own and are told each position as the server delivers it.
- A SQLite file: a Unix datagram socket per listening process, in a folder of the
  system's temporary directory named after the file (``csp-<name>-<hash>``); the
  publisher sends the position to every socket there and removes those of processes
  that have gone.
- SQLite in memory (one process by construction): ``None``.

A listener is told ``None`` when it (re)connects: what was committed while it was not
listening must be read from the database once. Signals carry no data that matters
beyond a wake-up: a lost one costs a waiter its safety-net re-read, never a wrong answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from csp.persistence import Database

log = logging.getLogger("csp.persistence.signals")

OnPosition = Callable[[int | None], None]


class PositionSignal(Protocol):
    def publish(self, position: int) -> None: ...

    def listen(self, on_position: OnPosition) -> None: ...

    def close(self) -> None: ...


def position_signal(db: Database, name: str) -> PositionSignal | None:
    """The signal of ``name`` (e.g. ``read``: the read models' committed position) on ``db``."""
    if db.is_sqlite:
        if db.path is None:
            return None
        return SocketDirSignal(db.path, name)
    return PostgresSignal(db, name)


class PostgresSignal:
    """``NOTIFY`` / ``LISTEN`` on a channel of the database and schema."""

    def __init__(self, db: Database, name: str) -> None:
        digest = hashlib.sha256(f"{db.dbname}/{db.schema}/{name}".encode()).hexdigest()[:20]
        self.channel = f"csp_{name}_{digest}"
        self._kwargs: dict[str, Any] = {
            "host": db.host,
            "port": db.port,
            "user": db.user or None,
            "password": db.password or None,
            "dbname": db.dbname,
            "autocommit": True,
            "connect_timeout": 5,
        }
        self._publisher: Any = None
        self._publish_lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def publish(self, position: int) -> None:
        import psycopg

        with self._publish_lock:
            for attempt in (1, 2):
                try:
                    if self._publisher is None or self._publisher.closed:
                        self._publisher = psycopg.connect(**self._kwargs)
                    self._publisher.execute("SELECT pg_notify(%s, %s)", (self.channel, str(position)))
                    return
                except psycopg.Error as e:
                    self._drop_publisher()
                    if attempt == 2:  # listeners re-read on their safety net
                        log.warning("position signal not sent: %s", str(e).strip().splitlines()[0:1])

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                self._publisher.close()
            self._publisher = None

    def listen(self, on_position: OnPosition) -> None:
        if self._listener is not None:
            return
        self._listener = threading.Thread(
            target=self._listen_loop, args=(on_position,), name=f"signal-{self.channel}", daemon=True
        )
        self._listener.start()

    def _listen_loop(self, on_position: OnPosition) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(**self._kwargs) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    on_position(None)  # what was committed before we listened
                    while not self._stop.is_set():
                        for n in conn.notifies(timeout=0.25):
                            on_position(_as_position(n.payload))
            except psycopg.Error as e:
                if self._stop.is_set():
                    return
                log.warning("position signal: listening again after %s", type(e).__name__)
                self._stop.wait(0.5)

    def close(self) -> None:
        self._stop.set()
        with self._publish_lock:
            self._drop_publisher()
        if self._listener is not None:
            self._listener.join(timeout=1)  # it looks at the stop flag 4 times a second
            self._listener = None


class SocketDirSignal:
    """One Unix datagram socket per listening process, in a folder named after the file."""

    def __init__(self, path: Path, name: str) -> None:
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        self.folder = Path(tempfile.gettempdir()) / f"csp-{name}-{digest}"
        self._out: socket.socket | None = None
        self._in: socket.socket | None = None
        self._own: Path | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def publish(self, position: int) -> None:
        data = str(position).encode()
        with self._lock:
            try:
                names = os.listdir(self.folder)
            except FileNotFoundError:
                return  # nobody listens
            if self._out is None:
                self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._out.setblocking(False)
            for n in names:
                target = self.folder / n
                if not n.endswith(".sock") or target == self._own:
                    continue
                try:
                    self._out.sendto(data, str(target))
                except (ConnectionRefusedError, FileNotFoundError):
                    with contextlib.suppress(OSError):
                        target.unlink()  # its process has gone
                except (BlockingIOError, OSError):
                    pass  # a full queue: that listener is already awake

    def listen(self, on_position: OnPosition) -> None:
        with self._lock:
            if self._listener is not None:
                return
            self.folder.mkdir(mode=0o700, exist_ok=True)
            own = self.folder / f"{os.getpid()}-{secrets.token_hex(3)}.sock"
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(str(own))
            s.settimeout(1.0)
            self._in, self._own = s, own
            self._listener = threading.Thread(
                target=self._listen_loop, args=(s, on_position), name="signal-socket", daemon=True
            )
            self._listener.start()
        on_position(None)

    def _listen_loop(self, s: socket.socket, on_position: OnPosition) -> None:
        while not self._stop.is_set():
            try:
                data = s.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            if self._stop.is_set():
                return
            on_position(_as_position(data.decode(errors="replace")))

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._listener is not None:
                if self._own is not None:  # wake its recv now, not at its next timeout
                    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                        s.sendto(b"", str(self._own))
                self._listener.join(timeout=3)
                self._listener = None
            for s in (self._in, self._out):
                if s is not None:
                    s.close()
            self._in = self._out = None
            if self._own is not None:
                with contextlib.suppress(OSError):
                    self._own.unlink()
                self._own = None


def _as_position(payload: str) -> int | None:
    try:
        return int(payload)
    except ValueError:
        return None
