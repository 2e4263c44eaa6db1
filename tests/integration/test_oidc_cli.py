"""``csp oidc check`` against the loopback provider, and with a provider that does not answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.oidc import MicrosoftIdp, free_port


def csp_oidc_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSP_")}
    return subprocess.run(
        [sys.executable, "-m", "csp.cli", "oidc", "check"],
        env={**base, "CSP_DATA_DIR": str(tmp_path), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_check_reads_each_provider_and_names_the_redirect_uri(idp: MicrosoftIdp, tmp_path: Path):
    r = csp_oidc_check(
        tmp_path,
        CSP_PUBLIC_URL="https://portal.example.com",
        CSP_OIDC_PERSONAL_CLIENT_ID="personal-app",
        CSP_OIDC_PERSONAL_DISCOVERY_URL=idp.discovery_url("consumers"),
        CSP_OIDC_WORK_CLIENT_ID="work-app",
        CSP_OIDC_WORK_DISCOVERY_URL=f"{idp.url}/organizations/v2.0",  # an issuer-style address works too
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"microsoft_personal: ok issuer {idp.url}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0" in r.stdout
    assert "microsoft_work: ok issuer " + idp.url + "/{tenantid}/v2.0" in r.stdout
    assert "https://portal.example.com/api/v1/auth/oidc/microsoft_work/callback" in r.stdout


def test_check_fails_clearly_when_the_provider_does_not_answer_or_the_settings_are_wrong(tmp_path: Path):
    r = csp_oidc_check(
        tmp_path,
        CSP_OIDC_WORK_CLIENT_ID="work-app",
        CSP_OIDC_WORK_DISCOVERY_URL=f"http://127.0.0.1:{free_port()}/organizations/v2.0",
    )
    assert r.returncode == 1
    assert "microsoft_work: failed the identity provider cannot be reached" in r.stdout
    r = csp_oidc_check(tmp_path, CSP_OIDC_WORK_CLIENT_ID="work-app", CSP_OIDC_WORK_TENANTS="contoso")
    assert r.returncode == 2
    assert "CSP_OIDC_WORK_TENANTS: 'contoso' is not the id" in r.stderr
    assert "Traceback" not in r.stderr
