"""What the benchmark's sections share: the stores, the separate processes, percentiles."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DEFAULT_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/csp_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"


def log(message: str) -> None:
    """Progress, on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 99) * 1000, 2),
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


@dataclass
class Stores:
    """Where a run keeps its data: SQLite files under ``var/`` or schemas of one PostgreSQL database."""

    kind: str  # "sqlite" | "postgres"
    workdir: Path
    postgres_url: str = DEFAULT_POSTGRES_URL
    created: list[str] = field(default_factory=list)

    def url(self, name: str, pool_size: int = 5, max_overflow: int = 10) -> str:
        """A fresh, empty store called ``name`` (the old one of that name is removed)."""
        if self.kind == "sqlite":
            folder = self.workdir / name
            if folder.exists():
                for f in folder.iterdir():
                    f.unlink()
            folder.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{folder / 'csp.db'}"
        schema = f"bench_{name}"
        with self._connect() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.created.append(schema)
        sep = "&" if "?" in self.postgres_url else "?"
        return f"{self.postgres_url}{sep}schema={schema}&pool_size={pool_size}&max_overflow={max_overflow}"

    def _connect(self) -> Any:
        import psycopg

        from csp.persistence import parse_database_url

        db = parse_database_url(self.postgres_url)
        admin = {"host": db.host, "port": db.port, "user": db.user or None, "password": db.password or None}
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **admin) as conn:  # type: ignore[arg-type]
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.dbname,)).fetchone():
                conn.execute(f'CREATE DATABASE "{db.dbname}"')
        return psycopg.connect(dbname=db.dbname, autocommit=True, **admin)  # type: ignore[arg-type]

    def drop(self) -> None:
        """Remove the schemas of this run (SQLite files stay under var/ for a look)."""
        if self.kind != "postgres":
            return
        with self._connect() as conn:
            for schema in self.created:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.created.clear()


def csp_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``csp`` process of the benchmark (no CSP_ variable inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSP_")}
    env.update({"CSP_DATA_DIR": str(data_dir), "CSP_DATABASE_URL": database_url, "CSP_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


class Processes:
    """The ``csp`` processes a section starts, each ended by its own pid."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.logdir.mkdir(parents=True, exist_ok=True)
        out = open(self.logdir / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115
        p = subprocess.Popen([sys.executable, "-m", "csp.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(p)
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs.clear()


@contextlib.contextmanager
def processes(logdir: Path) -> Iterator[Processes]:
    ps = Processes(logdir)
    try:
        yield ps
    finally:
        ps.stop_all()


def redis_namespace() -> str:
    return f"csp-bench-{uuid.uuid4().hex[:10]}"


def drop_redis_keys(url: str, prefix: str) -> None:
    """Delete this run's keys only (never a flush: the server is shared)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    client.close()
