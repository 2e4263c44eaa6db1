"""What a person sees when starting csp: ``csp serve`` says the portal's address first, logs
text at a terminal and JSON otherwise, keeps request and vendor-call lines at DEBUG unless
asked for; ``csp demo`` never cuts its credentials at 80 columns."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from bench.common import free_port

from csp.api.observability import resolve_log_format
from csp.cli.serve import serving_banner

CSP = str(Path(sys.executable).parent / "csp")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_log_format_is_text_at_a_terminal_and_json_otherwise():
    assert resolve_log_format("auto", Tty()) == "text"
    assert resolve_log_format("auto", io.StringIO()) == "json"
    assert resolve_log_format("json", Tty()) == "json", "CSP_LOG_FORMAT wins"
    assert resolve_log_format("text", io.StringIO()) == "text"


def test_the_banner_gives_the_portals_address_first():
    banner = serving_banner("0.0.0.0", 8000, "SQLite var/csp.db", False)
    first = banner.splitlines()[0]
    assert first.startswith("csp: the portal is at http://127.0.0.1:8000")
    assert "http://127.0.0.1:8000/docs" in banner
    assert "/api/v1" in banner


def _serve(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    full = {
        **os.environ,
        "CSP_DATA_DIR": str(tmp_path / f"data-{port}"),
        "CSP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    if "CSP_LOG_FORMAT" not in env:
        full.pop("CSP_LOG_FORMAT", None)
    with log.open("wb") as out:
        p = subprocess.Popen(
            [CSP, "serve", "--port", str(port)], env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert p.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/api/v1/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        raise AssertionError(f"csp serve did not answer: {log.read_text()[-2000:]}")
    return p, url, log


def _stop(p: subprocess.Popen[bytes]) -> None:
    os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=5)


def _requests(url: str) -> None:
    for path in ("/catalog", "/api/v1/catalog/offers?limit=1", "/login"):
        assert httpx.get(f"{url}{path}", timeout=10).status_code == 200


def test_serve_logs_json_to_a_file_without_a_line_per_request_unless_asked(tmp_path: Path):
    p, url, log = _serve(tmp_path)
    try:
        _requests(url)
    finally:
        _stop(p)
    out = log.read_text()
    # the banner is the first line that is not a log record (the first start logs that it
    # wrote the secret key before it)
    assert next(line for line in out.splitlines() if not line.startswith("{")) == f"csp: the portal is at {url}"
    log_lines = [line for line in out.splitlines() if line.startswith("{")]
    assert all(json.loads(line) for line in log_lines), "not a terminal: JSON lines"
    assert "GET /catalog 200" not in out, "request lines are at DEBUG by default"
    # asked for, one line per request
    p, url, log = _serve(tmp_path, CSP_LOG_REQUESTS="true")
    try:
        _requests(url)
    finally:
        _stop(p)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    assert [x["message"] for x in lines if x.get("path") == "/catalog"] == ["GET /catalog 200"]


def test_demo_never_wraps_its_credentials(tmp_path: Path):
    long_url = "http://portal.a-rather-long-distributor-name.example.com:8443/with/a/path/that/goes/on"
    env = {**os.environ, "CSP_DATA_DIR": str(tmp_path / "demo"), "CSP_PUBLIC_URL": long_url, "COLUMNS": "80"}
    r = subprocess.run([CSP, "demo"], env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("Sign in at"))
    assert line == f"Sign in at {long_url} (API: POST {long_url}/api/v1/auth/login) with"
