"""The demo's keys: made once beside its database, kept across restarts, never over configured ones."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway import Settings
from gateway.audit import load_private_key
from gateway.cli import DEMO_MPP, demo_clients, with_demo_keys
from gateway.security import ClientDirectory
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


def test_demo_clients_keep_their_keys_and_webhook_secret_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without MPP_DEMO_* variables the demo's keys and webhook secret are made once, owner-only, and reused."""
    for name in ("MPP_DEMO_KEY", "MPP_DEMO_MPP_KEY", "MPP_DEMO_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(store_path=str(tmp_path / "gateway.sqlite3"))
    first, again = demo_clients(settings), demo_clients(settings)
    assert (first.key, first.mpp_key, first.webhook_secret) == (again.key, again.mpp_key, again.webhook_secret)
    assert first.key != first.mpp_key
    for suffix in (".demo-key", ".demo-mpp-key", ".demo-webhook-secret"):
        assert stat.S_IMODE((tmp_path / f"gateway.sqlite3{suffix}").stat().st_mode) == 0o600
    directory = ClientDirectory(first.clients)
    regional = directory.authenticate(f"Bearer {first.key}")
    desk = directory.authenticate(f"Bearer {first.mpp_key}")
    assert regional is not None and regional.webhook_secret == first.webhook_secret
    assert regional.may_act_for("mpp-lain")
    assert desk is not None and desk.may_act_for(DEMO_MPP) and not desk.may_act_for("mpp-lain")


def test_demo_client_secrets_from_the_environment_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MPP_DEMO_KEY, MPP_DEMO_MPP_KEY, MPP_DEMO_OPS_KEY and MPP_DEMO_WEBHOOK_SECRET are used as given; nothing is
    written for them."""
    monkeypatch.setenv("MPP_DEMO_KEY", "mppk_demo-regional")
    monkeypatch.setenv("MPP_DEMO_MPP_KEY", "mppk_demo-desk")
    monkeypatch.setenv("MPP_DEMO_WEBHOOK_SECRET", "whsec-demo")
    monkeypatch.setenv("MPP_DEMO_OPS_KEY", "mppk_demo-ops")
    demo = demo_clients(Settings(store_path=str(tmp_path / "gateway.sqlite3")))
    assert (demo.key, demo.mpp_key, demo.webhook_secret) == ("mppk_demo-regional", "mppk_demo-desk", "whsec-demo")
    assert list(tmp_path.iterdir()) == []
