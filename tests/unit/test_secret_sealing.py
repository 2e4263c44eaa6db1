"""Secrets sealed at rest: AES-GCM boxes, and the key from the settings or its file."""

from __future__ import annotations

import stat
from pathlib import Path
from uuid import uuid4

import pytest

from csp.application.sealing import SecretBox, SecretUnreadable, new_key, parse_key
from csp.errors import StartupError
from csp.keys import load_secret_key
from csp.settings import Settings


def test_a_sealed_secret_opens_only_with_its_key_and_for_its_owner() -> None:
    box, owner = SecretBox(parse_key(new_key())), uuid4().bytes
    sealed = box.seal("whsec_c2VjcmV0", owner)
    assert "whsec_" not in sealed
    assert "c2VjcmV0" not in sealed
    assert sealed.startswith(f"aesgcm1:{box.key_id}:")
    assert box.seal("whsec_c2VjcmV0", owner) != sealed  # a fresh nonce each time
    assert box.open(sealed, owner) == "whsec_c2VjcmV0"
    with pytest.raises(SecretUnreadable, match="another owner"):
        box.open(sealed, uuid4().bytes)
    other = SecretBox(parse_key(new_key()))
    with pytest.raises(SecretUnreadable, match="same CSP_SECRET_KEY") as e:
        other.open(sealed, owner)
    assert e.value.details["key_id"] == box.key_id
    # a value stored before sealing existed is plain text, and reads as it is
    assert other.open("whsec_b2xk", owner) == "whsec_b2xk"


@pytest.mark.parametrize("text", ["not base64!", "c2hvcnQ="])
def test_a_key_that_is_not_base64_of_32_bytes_stops_start_up(tmp_path: Path, text: str) -> None:
    with pytest.raises(StartupError, match="CSP_SECRET_KEY") as e:
        load_secret_key(Settings(data_dir=tmp_path, secret_key=text), is_postgres=False)
    assert "csp secret-key" in str(e.value)


def test_without_a_key_setting_a_private_key_file_is_made_once_and_shared(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_secret_key(settings, is_postgres=False)
    path = tmp_path / "secret.key"
    assert first.source == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # another process of the same data folder reads the same key
    again = load_secret_key(settings, is_postgres=False)
    assert again.box.key_id == first.box.key_id
    assert again.box.open(first.box.seal("whsec_eA==", b"x"), b"x") == "whsec_eA=="
    # the setting wins over the file
    key = new_key()
    configured = load_secret_key(Settings(data_dir=tmp_path, secret_key=key), is_postgres=True)
    assert (configured.source, configured.box.key_id) == ("CSP_SECRET_KEY", SecretBox(parse_key(key)).key_id)


def test_a_damaged_key_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "csp.key"
    path.parent.mkdir()
    path.write_text("garbage\n")
    with pytest.raises(StartupError, match=str(path)):
        load_secret_key(Settings(data_dir=tmp_path, secret_key_file=str(path)), is_postgres=False)


def test_on_postgresql_the_key_file_is_used_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="csp.keys")
    load_secret_key(Settings(data_dir=tmp_path), is_postgres=True)
    assert "CSP_SECRET_KEY is not set" in caplog.text
