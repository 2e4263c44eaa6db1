"""Measure the read side on a filled store (see ``bench.generate``): the batched catch-up
of a fresh read side, then ``rebuild --all`` (fresh tables, swap), in events per second,
with the process's peak memory after each.

    python -m bench.rebuild --database-url sqlite:///var/bench/csp.db

Beside them, the raw ceiling: reading and decoding the same notifications with nothing
projected. Results go to stdout and ``--json`` (default ``bench/results/rebuild-<store>.json``).
Run as its own process by ``python -m bench`` so that the peak memory is the read side's.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from csp.application import CspApplication
from csp.persistence import eventsourcing_env, parse_database_url
from csp.projections import Projector, ReadModels
from csp.projections.rebuild import RebuildResult


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (a rebuild's other
    processes): on a shared machine, steadier than the elapsed time."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def raw_scan(app: CspApplication, page: int = 1000) -> dict[str, float]:
    """Read and decode every notification, projecting nothing: the ceiling of any follower."""
    started = time.monotonic()
    start, n = 0, 0
    while True:
        found = app.recorder.select_notifications(start, page, inclusive_of_start=False)
        for notification in found:
            app.mapper.to_domain_event(notification)
        n += len(found)
        if len(found) < page:
            break
        start = found[-1].id
    seconds = time.monotonic() - started
    return {"events": n, "seconds": round(seconds, 1), "events_per_second": round(n / seconds) if seconds else 0}


def _processes(result: RebuildResult | None) -> dict[str, object]:
    """How many processes a replay shared (a fresh read side is built as a rebuild), and
    the largest peak memory of the others (``peak_rss_mb`` is this process's)."""
    if result is None:
        return {"processes": 1}
    out: dict[str, object] = {"processes": getattr(result, "processes", 1)}
    if getattr(result, "child_peak_rss_mb", None):
        out["child_peak_rss_mb"] = round(result.child_peak_rss_mb)  # type: ignore[union-attr]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--skip-catch-up", action="store_true", help="the read side is already current")
    p.add_argument("--json", type=Path, default=None, help="where to write the results")
    args = p.parse_args(argv)
    db = parse_database_url(args.database_url)
    app = CspApplication(env=eventsourcing_env(db))
    head = app.recorder.max_notification_id() or 0
    out: dict[str, object] = {"store": db.describe(), "events": head}
    out["raw_scan"] = raw_scan(app)
    print(f"raw scan: {out['raw_scan']}", file=sys.stderr)
    read = ReadModels(database=db, app=app)
    projector = Projector(read, run_in_process=False)
    if not args.skip_catch_up:
        before = read.position()
        started, cpu = time.monotonic(), cpu_seconds()
        projector.sync(timeout=3600)
        seconds = time.monotonic() - started
        out["catch_up"] = {
            "events": head - before,
            "seconds": round(seconds, 1),
            "events_per_second": round((head - before) / seconds),
            "peak_rss_mb": round(peak_rss_mb()),
            "cpu_seconds": round(cpu_seconds() - cpu, 1),
        } | _processes(getattr(projector, "last_build", None))
        print(f"catch-up: {head - before:,} events in {seconds:.1f}s", file=sys.stderr)

    last = [0.0]

    def progress(pr: object) -> None:
        now = time.monotonic()
        if now - last[0] > 5:
            last[0] = now
            print(f"  {pr.done:,}/{pr.total:,}  {pr.rate:,.0f} events/s", file=sys.stderr)  # type: ignore[attr-defined]

    cpu = cpu_seconds()
    result = projector.rebuild(read.model_names(), progress=progress)
    out["rebuild"] = {
        "models": list(result.models),
        "events": result.events,
        "seconds": round(result.seconds, 1),
        "events_per_second": round(result.rate),
        "peak_rss_mb": round(peak_rss_mb()),
        "cpu_seconds": round(cpu_seconds() - cpu, 1),
    } | _processes(result)
    print(json.dumps(out, indent=2))
    path = args.json or Path(__file__).parent / "results" / f"rebuild-{db.kind}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    read.close()
    app.close()


if __name__ == "__main__":
    main()
