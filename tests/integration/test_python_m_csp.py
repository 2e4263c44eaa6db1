"""``python -m csp`` runs the command; PostgreSQL pool sizes are settings (the URL's win)."""

from __future__ import annotations

import os
import subprocess
import sys

from csp.persistence import parse_database_url


def test_python_m_csp_runs_the_csp_command(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CSP_")}, "CSP_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "csp", "vendor", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "reconcile" in out.stdout


def test_pool_sizes_come_from_the_settings_unless_the_url_gives_them():
    db = parse_database_url("postgresql://u@h/db", pool_size=2, max_overflow=3)
    assert (db.pool_size, db.max_overflow) == (2, 3)
    db = parse_database_url("postgresql://u@h/db?pool_size=4&max_overflow=0", pool_size=2, max_overflow=3)
    assert (db.pool_size, db.max_overflow) == (4, 0)
