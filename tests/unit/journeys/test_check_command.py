"""``mpp-gateway journeys check``: an MPP's journey folder checked as a start would check it, before any restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

GOOD = """
id: mpp.identity-check
title: {id: Cek identitas, en: Identity check}
visit_budget_seconds: 30
steps:
  - name: identity
    service: dukcapil.nik.lookup
result:
  full_name: "${steps.identity.result.full_name}"
"""


def test_a_valid_folder_lists_every_journey_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder whose journeys fit the installed services: each journey with its steps in order, then the count."""
    (tmp_path / "identity.yaml").write_text(GOOD, encoding="utf-8")
    assert main(["journeys", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"mpp.identity-check  ({tmp_path / 'identity.yaml'}): identity" in out
    assert "counter.membership-check  (gateway/journeys/definitions/counter.membership-check.yaml)" in out
    assert f"4 journeys valid (shipped and {tmp_path})" in out


def test_a_fault_exits_1_with_one_line_naming_file_journey_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reference to a field the service's result lacks: exit 1 and one line naming the file, journey and field."""
    bad = GOOD.replace("result.full_name", "result.nama_lengkap")
    (tmp_path / "identity.yaml").write_text(bad, encoding="utf-8")
    assert main(["journeys", "check", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"mpp-gateway journeys: {tmp_path / 'identity.yaml'}: journey mpp.identity-check, field result.full_name: "
        "${steps.identity.result.nama_lengkap}: the result of dukcapil.nik.lookup has no field 'nama_lengkap'"
    ]


def test_the_folder_defaults_to_mpp_journeys_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a folder argument the command checks the folder MPP_JOURNEYS_DIR names, as the gateway would."""
    (tmp_path / "identity.yaml").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("MPP_JOURNEYS_DIR", str(tmp_path))
    assert main(["journeys", "check"]) == 0
    assert "mpp.identity-check" in capsys.readouterr().out
