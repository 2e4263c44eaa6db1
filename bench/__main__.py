"""The benchmark: one command that measures the service beside the raw ceilings of the same
machine, prints a table and writes JSON.

    python -m bench --quick                       # tiny sizes, < 2 minutes (the CI smoke test)
    python -m bench --store postgres --json bench/results/postgres.json

Sections: fill (the generator), rebuild, reads, writes, projection lag, billing, sagas.
Progress goes to stderr; the table to stdout. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    Stores,
    csp_env,
    drop_redis_keys,
    free_port,
    log,
    processes,
    redis_namespace,
    wait_http,
)

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("fill", "rebuild", "reads", "writes", "billing", "sagas")


@dataclass(frozen=True)
class Sizes:
    events: int
    seconds: float  # length of each timed load phase
    read_rate: float
    write_rate: float
    sustained_write_rate: float
    client_counts: tuple[int, ...]
    saga_orders: int


FULL = Sizes(
    events=1_000_000,
    seconds=15,
    read_rate=500,
    write_rate=100,
    sustained_write_rate=15,
    client_counts=(1, 4, 16),
    saga_orders=1000,
)
QUICK = Sizes(
    events=3_000,
    seconds=2,
    read_rate=50,
    write_rate=10,
    sustained_write_rate=5,
    client_counts=(1, 4, 16),
    saga_orders=20,
)

TARGETS = {
    "writes_percent_of_raw": 60.0,
    "writes_p99_ms_at_rate": 50.0,
    "reads_p99_ms_at_rate": 15.0,
    "rebuild_events_per_second": 20_000.0,
    "sagas_seconds": 20.0,
    "billing_seconds_per_100k": 60.0,
    "lag_p99_ms": 100.0,
}


def fill(db_url: str, sizes: Sizes, seed: int, reuse: bool) -> dict[str, Any]:
    from bench.generate import START, generate
    from csp.application import CspApplication
    from csp.clock import SettableClock
    from csp.persistence import eventsourcing_env, parse_database_url

    db = parse_database_url(db_url)
    clock = SettableClock(START)
    app = CspApplication(env=eventsourcing_env(db), clock=clock)
    try:
        head = app.recorder.max_notification_id() or 0
        if reuse and head >= sizes.events:
            log(f"fill: reusing the store ({head:,} events)")
            return {"events": head, "reused": True, "subscriptions": sum(1 for _ in app.subscriptions_by_reseller())}
        last = [0.0]

        def report(done: int, total: int, seconds: float) -> None:
            if time.monotonic() - last[0] > 10:
                last[0] = time.monotonic()
                log(f"fill: {done:,}/{total:,} events, {done / seconds:,.0f} events/s")

        started = time.monotonic()
        head = generate(app, clock, sizes.events, seed=seed, report=report)
        seconds = time.monotonic() - started
        subs = sum(1 for _ in app.subscriptions_by_reseller())
        log(f"fill: {head:,} events, {subs:,} subscriptions in {seconds:.0f}s")
        return {
            "events": head,
            "subscriptions": subs,
            "seconds": round(seconds, 1),
            "events_per_second": round(head / seconds),
        }
    finally:
        app.close()


def rebuild(db_url: str, workdir: Path) -> dict[str, Any]:
    """In a process of its own, so that its peak memory is the read side's alone."""
    out = workdir / "rebuild.json"
    subprocess.run([sys.executable, "-m", "bench.rebuild", "--database-url", db_url, "--json", str(out)], check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def billing(db_url: str, period: str = "2026-03") -> dict[str, Any]:
    """The monthly run for ``period`` (default: the month after the generated history; a
    later month re-measures on a store whose March is billed already)."""
    from csp.application import CspApplication
    from csp.clock import SettableClock
    from csp.persistence import eventsourcing_env, parse_database_url

    db = parse_database_url(db_url)
    year, month = (int(x) for x in period.split("-"))
    clock = SettableClock(datetime(year + month // 12, month % 12 + 1, 1, 0, 5, tzinfo=UTC))
    app = CspApplication(env=eventsourcing_env(db), clock=clock)
    try:
        subs = sum(1 for _ in app.subscriptions_by_reseller())
        log(f"billing: {period} over {subs:,} subscriptions")
        started, cpu = time.monotonic(), time.process_time()
        invoices = app.run_billing(period)
        seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    finally:
        app.close()
    per_100k = seconds * 100_000 / subs if subs else 0
    return {
        "period": period,
        "subscriptions": subs,
        "invoices": len(invoices),
        "seconds": round(seconds, 2),
        "subscriptions_per_second": round(subs / seconds) if seconds else 0,
        "cpu_seconds": round(cpu, 2),  # this process's CPU: steadier than the wall clock on a busy machine
        "seconds_per_100k": round(per_100k, 1),
    }


def http_sections(
    db_url: str,
    workdir: Path,
    sizes: Sizes,
    seed: int,
    redis_url: str,
    postgres_url: str | None,
    which: set[str],
    workers: int = 1,
) -> dict[str, Any]:
    from bench import http
    from csp.application import CspApplication
    from csp.persistence import eventsourcing_env, parse_database_url
    from csp.projections import ReadModels

    db = parse_database_url(db_url)
    namespace = redis_namespace()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = csp_env(
        db_url,
        workdir,
        CSP_BROKER_URL=redis_url,
        CSP_BROKER_NAMESPACE=namespace,
        CSP_REDIS_PREFIX=f"{namespace}:",
        CSP_PROJECTIONS_IN_PROCESS="true",
        CSP_PUBLIC_URL=base,
    )
    out: dict[str, Any] = {"api_processes": workers}
    app = CspApplication(env=eventsourcing_env(db))
    read = ReadModels(database=db, app=app)
    try:
        with processes(workdir / "logs") as procs:
            # --workers N > 1: N API processes on the port, the projections in a process of their own
            procs.start("serve", ["serve", "--port", str(port), "--workers", str(workers)], env)
            wait_http(f"{base}/api/v1/healthz", timeout=120)
            session = http.sign_in(base, seed)
            if "reads" in which:
                out["reads"] = http.run_reads(session, read, sizes.seconds, sizes.read_rate, 8, postgres_url)
            if "writes" in which:
                raw_sqlite = str(workdir / "raw.db") if db.is_sqlite else None
                out["writes"], out["lag"] = http.run_writes(
                    session,
                    db,
                    raw_sqlite,
                    read,
                    sizes.seconds,
                    sizes.client_counts,
                    sizes.write_rate,
                    sizes.sustained_write_rate,
                )
    finally:
        read.close()
        app.close()
        drop_redis_keys(redis_url, namespace)
    return out


def verdicts(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, measured, baseline, target, met) rows of the table."""
    rows: list[tuple[str, str, str, str, str]] = []

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    if "fill" in r:
        f = r["fill"]
        rows.append(
            (
                "fill: events / subscriptions",
                f"{f['events']:,} / {f['subscriptions']:,}",
                f"{f.get('events_per_second', 0):,} ev/s" if "events_per_second" in f else "reused",
                "1M / 100k",
                met(f["events"] >= 1_000_000 and f["subscriptions"] >= 100_000)
                if f["events"] >= 1_000_000
                else "n/a (size)",
            )
        )
    if "writes" in r:
        for row in r["writes"]["by_clients"]:
            h, raw = row["http"], row["raw_save"]
            rows.append(
                (
                    f"writes, {row['clients']} clients: orders/s (p50/p99 ms)",
                    f"{h['per_second']:,} ({h['p50_ms']}/{h['p99_ms']}) err {h['errors']}",
                    f"raw save {raw['per_second']:,} ({raw['p50_ms']}/{raw['p99_ms']})",
                    "≥ 60 % of raw",
                    f"{row['percent_of_raw']} % " + met((row["percent_of_raw"] or 0) >= 60),
                )
            )
        for key in ("at_rate", "at_sustained_rate"):
            a = r["writes"].get(key)
            if a is None:
                continue
            rows.append(
                (
                    f"writes at {a['target_per_second']:g} orders/s: p50/p99 ms",
                    f"{a['p50_ms']} / {a['p99_ms']} ({a['per_second']}/s, err {a['errors']}, unfinished {a['unfinished']})",
                    "",
                    "p99 ≤ 50 ms at 100/s" if key == "at_rate" else "(below the ceiling)",
                    ""
                    if key != "at_rate"
                    else met(a["p99_ms"] <= 50 and a["errors"] == 0 and a["unfinished"] == 0)
                    if a["target_per_second"] >= 100
                    else "n/a (size)",
                )
            )
    if "reads" in r:
        rd = r["reads"]
        pg = rd.get("pgbench_select_only")
        rows.append(
            (
                "reads: pages/s, 8 clients (p50/p99 ms)",
                f"{rd['max']['per_second']:,} ({rd['max']['p50_ms']}/{rd['max']['p99_ms']})",
                f"SQL alone {rd['sql_alone']['per_second']:,}/s; pgbench -S {pg['tps']:,} tps"
                if pg
                else f"SQL alone {rd['sql_alone']['per_second']:,}/s",
                "",
                "",
            )
        )
        a = rd["at_rate"]
        rows.append(
            (
                f"reads at {a['target_per_second']:g} req/s: p50/p99 ms",
                f"{a['p50_ms']} / {a['p99_ms']} ({a['per_second']}/s, err {a['errors']}, unfinished {a['unfinished']})",
                "",
                "p99 ≤ 15 ms",
                met(a["p99_ms"] <= 15 and a["errors"] == 0 and a["unfinished"] == 0)
                if a["target_per_second"] >= 500
                else "n/a (size)",
            )
        )
    if "rebuild" in r:
        rb = r["rebuild"]
        for key, label in (("catch_up", "catch-up"), ("rebuild", "rebuild --all")):
            if key in rb:
                x = rb[key]
                others = x.get("processes", 1) - 1
                rss = f"{x['peak_rss_mb']} MB" + (
                    f" + {others} × {x['child_peak_rss_mb']} MB" if others and "child_peak_rss_mb" in x else ""
                )
                rows.append(
                    (
                        f"{label}: events/s (peak RSS)",
                        f"{x['events_per_second']:,} ({rss})",
                        f"raw scan {rb['raw_scan']['events_per_second']:,} ev/s",
                        "≥ 20k ev/s, flat",
                        met(x["events_per_second"] >= 20_000),
                    )
                )
    if "lag" in r:
        for key, lg in r["lag"].items():
            rows.append(
                (
                    f"projection lag at {lg['orders_per_second']:g} orders/s: p50/p99 ms",
                    f"{lg['p50_ms']} / {lg['p99_ms']} ({lg['samples']} samples)",
                    "",
                    "p99 ≤ 100 ms at 100/s" if key == "at_rate" else "(below the ceiling)",
                    ""
                    if key != "at_rate"
                    else met(lg["p99_ms"] <= 100)
                    if lg["orders_per_second"] >= 100
                    else "n/a (size)",
                )
            )
    if "billing" in r:
        b = r["billing"]
        rows.append(
            (
                "billing: monthly run",
                f"{b['seconds']} s / {b['subscriptions']:,} subs",
                f"{b['seconds_per_100k']} s per 100k",
                "≤ 60 s per 100k",
                met(b["seconds_per_100k"] <= 60) if b["subscriptions"] >= 10_000 else "n/a (size)",
            )
        )
    if "sagas" in r:
        s = r["sagas"]
        rows.append(
            (
                f"sagas: {s['orders']:,} orders end to end",
                f"{s['seconds']} s ({s['finished']} ok, {s['failed']} failed)",
                f"{s['worker_processes']} workers, {s['vendor_latency_ms']} ms vendor",
                "≤ 20 s for 1,000",
                met(s["seconds"] <= 20 and s["failed"] == 0) if s["orders"] >= 1000 else "n/a (size)",
            )
        )
    return rows


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    head = ("figure", "measured", "baseline (same run)", "target", "met")
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(5)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test (< 2 minutes)")
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--json", type=Path, default=None, help="results (default bench/results/<store>[-quick].json)")
    p.add_argument("--events", type=int, default=None, help="events to generate (default 1M; quick 3k)")
    p.add_argument("--seconds", type=float, default=None, help="length of each timed load phase")
    p.add_argument("--saga-orders", type=int, default=None)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--reuse", action="store_true", help="keep the filled store of an earlier run if it is big enough")
    p.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench")
    p.add_argument(
        "--postgres-url", default=os.environ.get("CSP_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL), help="PostgreSQL"
    )
    p.add_argument("--redis-url", default=os.environ.get("CSP_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--no-pgbench", action="store_true", help="skip the pgbench baseline")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workers", type=int, default=1, help="API processes of the served reads and writes (csp serve --workers)"
    )
    p.add_argument("--billing-period", default="2026-03", help="the month the billing section invoices")
    args = p.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    sizes = Sizes(
        events=args.events or sizes.events,
        seconds=args.seconds or sizes.seconds,
        read_rate=sizes.read_rate,
        write_rate=sizes.write_rate,
        sustained_write_rate=sizes.sustained_write_rate,
        client_counts=sizes.client_counts,
        saga_orders=args.saga_orders or sizes.saga_orders,
    )
    which = {s.strip() for s in args.sections.split(",") if s.strip()}
    unknown = which - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections: {', '.join(sorted(unknown))}")
    workdir = args.workdir / (args.store + ("-quick" if args.quick else ""))
    workdir.mkdir(parents=True, exist_ok=True)
    stores = Stores(args.store, workdir, args.postgres_url)
    main_url = _main_store(stores, (args.reuse and "fill" in which) or "fill" not in which)
    results: dict[str, Any] = {
        "store": args.store,
        "quick": args.quick,
        "sizes": sizes.__dict__ | {"client_counts": list(sizes.client_counts)},
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "targets": TARGETS,
    }
    started = time.monotonic()
    if "fill" in which:
        results["fill"] = fill(main_url, sizes, args.seed, args.reuse)
    if "rebuild" in which:
        log("rebuild: catch-up then rebuild --all, in a process of its own")
        results["rebuild"] = rebuild(main_url, workdir)
    if which & {"reads", "writes"}:
        pg = None if args.no_pgbench else args.postgres_url
        results |= http_sections(main_url, workdir, sizes, args.seed, args.redis_url, pg, which, args.workers)
    if "billing" in which:
        results["billing"] = billing(main_url, args.billing_period)
    if "sagas" in which:
        log(f"sagas: {sizes.saga_orders} orders, 2 worker processes, 50 ms vendor latency")
        saga_url = stores.url("sagas", pool_size=4, max_overflow=8)
        results["sagas"] = run_sagas_(saga_url, workdir)(sizes.saga_orders, args.redis_url)
    results["seconds"] = round(time.monotonic() - started, 1)
    rows = verdicts(results)
    results["table"] = table(rows)
    path = args.json or ROOT / "bench" / "results" / f"{args.store}{'-quick' if args.quick else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\ncsp benchmark: {args.store}, {'quick' if args.quick else 'full'}, {results['seconds']:.0f}s\n")
    print(results["table"])
    print(f"\nJSON: {path}")
    return 0


def _main_store(stores: Stores, keep: bool) -> str:
    """The filled store: kept as it is when reused, else fresh."""
    if keep:
        if stores.kind == "sqlite":
            return f"sqlite:///{stores.workdir / 'main' / 'csp.db'}"
        with stores._connect() as conn:
            conn.execute('CREATE SCHEMA IF NOT EXISTS "bench_main"')
        sep = "&" if "?" in stores.postgres_url else "?"
        return f"{stores.postgres_url}{sep}schema=bench_main"
    return stores.url("main")


def run_sagas_(url: str, workdir: Path) -> Any:
    from bench.sagas import run_sagas

    saga_dir = workdir / "sagas-run"
    saga_dir.mkdir(parents=True, exist_ok=True)
    return lambda orders, redis_url: run_sagas(url, saga_dir, redis_url, orders)


if __name__ == "__main__":
    sys.exit(main())
