"""The benchmark's quick run, as a smoke test: every section runs and reports numbers.

No timing assertions: CI machines differ. Redis (``CSP_TEST_REDIS_URL``) is needed for the
HTTP sections and the sagas, as in the saga tests: skipped locally without it, failed in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _positive(section: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = section
        for part in key.split("."):
            value = value[part]
        assert isinstance(value, int | float), (key, value)
        assert value > 0, (key, value)


@pytest.mark.timeout(180)
def test_the_quick_benchmark_reports_every_section_with_positive_numbers(tmp_path: Path, redis_url: str) -> None:
    # given a fresh work folder, when the quick benchmark runs on SQLite
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--no-pgbench",
            "--workdir",
            str(tmp_path / "work"),
            "--redis-url",
            redis_url,
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    # then the JSON holds every section with positive numbers, and the table is printed
    r = json.loads(out.read_text())
    _positive(r["fill"], "events", "subscriptions", "events_per_second")
    _positive(r["rebuild"], "raw_scan.events_per_second", "catch_up.events_per_second", "rebuild.events_per_second")
    _positive(r["rebuild"], "catch_up.peak_rss_mb", "rebuild.peak_rss_mb")
    _positive(r["reads"], "max.per_second", "max.p50_ms", "max.p99_ms", "at_rate.per_second", "sql_alone.per_second")
    for row in r["writes"]["by_clients"]:
        _positive(row, "http.per_second", "http.p99_ms", "raw_save.per_second", "percent_of_raw")
    assert [row["clients"] for row in r["writes"]["by_clients"]] == [1, 4, 16]
    for key in ("at_rate", "at_sustained_rate"):
        _positive(r["writes"], f"{key}.per_second", f"{key}.p99_ms")
        _positive(r["lag"], f"{key}.samples", f"{key}.p99_ms")
    _positive(r["billing"], "subscriptions", "invoices", "seconds")
    _positive(r["sagas"], "finished", "seconds")
    assert r["sagas"]["finished"] == r["sagas"]["orders"]
    assert "| figure" in done.stdout
