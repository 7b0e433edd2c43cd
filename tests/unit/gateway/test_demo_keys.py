"""The demo's keys: made once beside its database, kept across restarts, never over configured ones."""

from __future__ import annotations

import stat
from pathlib import Path

from gateway import Settings
from gateway.audit import load_private_key
from gateway.cli import with_demo_keys
from gateway.store import KeyRing


def test_demo_keys_are_made_once_and_kept_owner_only(tmp_path: Path) -> None:
    """A first start writes the data, audit and signing keys beside the store; a restart reads the same ones."""
    settings = Settings(store_path=str(tmp_path / "var" / "gateway.sqlite3"))
    first = with_demo_keys(settings)
    again = with_demo_keys(settings)
    assert (first.data_keys, first.audit_key, first.audit_signing_key) == (
        again.data_keys, again.audit_key, again.audit_signing_key,
    )  # fmt: skip
    assert first.data_keys and KeyRing.parse(first.data_keys).kids
    assert first.audit_key and len(first.audit_key) >= 16
    assert first.audit_signing_key and load_private_key(first.audit_signing_key) is not None
    for suffix in (".data-keys", ".audit-key", ".audit-signing-key"):
        mode = (tmp_path / "var" / f"gateway.sqlite3{suffix}").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600


def test_configured_keys_are_left_alone(tmp_path: Path) -> None:
    """Keys given in the environment win; nothing is written for them."""
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys_file="/run/secrets/data-keys",
        audit_key="k" * 32,
        audit_signing_key_file="/run/secrets/audit-signing-key",
    )
    assert with_demo_keys(settings) == settings
    assert list(tmp_path.iterdir()) == []
