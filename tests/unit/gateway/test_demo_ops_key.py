"""The demo's operations client: its key made once beside the database (or from MPP_DEMO_OPS_KEY), role ops."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from gateway import Settings
from gateway.cli import demo_clients
from gateway.security import ClientDirectory


def test_the_demo_ops_key_is_made_once_and_kept_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without MPP_DEMO_OPS_KEY the key is written beside the store (0600) and read back on a restart."""
    monkeypatch.delenv("MPP_DEMO_OPS_KEY", raising=False)
    settings = Settings(store_path=str(tmp_path / "gateway.sqlite3"))
    first, again = demo_clients(settings), demo_clients(settings)
    assert first.ops_key and first.ops_key == again.ops_key
    assert first.ops_key not in {first.key, first.mpp_key}
    kept = tmp_path / "gateway.sqlite3.demo-ops-key"
    assert kept.read_text().strip() == first.ops_key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_the_demo_ops_client_is_an_operations_client_without_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ops key authenticates demo-ops: role ops, no service granted; the counters' keys are not ops."""
    monkeypatch.setenv("MPP_DEMO_OPS_KEY", "mppk_demo-ops-console")
    demo = demo_clients(Settings(store_path=str(tmp_path / "gateway.sqlite3")))
    assert demo.ops_key == "mppk_demo-ops-console"
    assert not (tmp_path / "gateway.sqlite3.demo-ops-key").exists()
    directory = ClientDirectory(demo.clients)
    ops = directory.authenticate("Bearer mppk_demo-ops-console")
    assert ops is not None and ops.id == "demo-ops" and ops.is_ops
    assert ops.services == () and not ops.may_use("dukcapil.nik.verify")
    counter = directory.authenticate(f"Bearer {demo.key}")
    assert counter is not None and not counter.is_ops
