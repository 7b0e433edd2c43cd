"""Dukcapil behind the real dispatcher: a reply in Dukcapil's format that the adapter cannot read fails at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import respx

from adapters.dukcapil import DukcapilAdapter
from tests import fixtures

from .._dispatch import adapter_run
from ._support import INSTITUTION, NIK, VERIFY_PATH, reply, wire

VERIFY = "dukcapil.nik.verify"
LOOKUP = "dukcapil.nik.lookup"
NIK_PATH = f"/dukcapil/get_json/{INSTITUTION}/CALL_NIK"
RECORD: dict[str, Any] = fixtures.load("dukcapil", "nik_record")["content"][0]
PAYLOAD = {"full_name": "Siti Aminah", "birth_date": "1990-08-07"}
METRIC = "mpp_agency_protocol_errors_total"


def _json(document: object) -> Any:
    return wire(200, orjson.dumps(document), {"content-type": "application/json"})


async def test_an_unreadable_verdict_fails_on_the_first_attempt_and_is_counted(
    tmp_path: Path, router: respx.Router, adapter: DukcapilAdapter
) -> None:
    """A verdict that is none of Sesuai/Tidak Sesuai: agency-protocol-error after one call, no retry, metric +1."""
    content = {**fixtures.load("dukcapil", "verify_match")["content"][0], "NAMA_LGKP": "Mirip SITI AMINAH"}
    route = router.post(VERIFY_PATH).mock(return_value=_json({"content": [content]}))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", VERIFY, NIK, PAYLOAD)
        count = run.metric(METRIC, {"agency": "dukcapil", "method": "CALL_VERIFY_BY_ELEMEN"})
    assert row.status == "failed"
    assert row.problem is not None and row.problem["type"] == "/problems/agency-protocol-error"
    assert row.problem["detail"] == (
        "dukcapil answered CALL_VERIFY_BY_ELEMEN with a reply whose 'NAMA_LGKP' the adapter cannot read"
    )
    assert route.call_count == 1 and run.sleeps == []
    assert [attempt.outcome for attempt in row.attempts] == ["misconfigured"]
    assert "SITI" not in str(row.attempts[0].detail)
    assert count == 1.0


async def test_an_unreadable_record_fails_on_the_first_attempt_and_is_counted(
    tmp_path: Path, router: respx.Router, adapter: DukcapilAdapter
) -> None:
    """A CALL_NIK record without a birth date: agency-protocol-error after one call naming TGL_LHR, no value."""
    route = router.post(NIK_PATH).mock(return_value=_json({"content": [{**RECORD, "TGL_LHR": "07/08/1990"}]}))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", LOOKUP, RECORD["NIK"], {})
        count = run.metric(METRIC, {"agency": "dukcapil", "method": "CALL_NIK"})
    assert row.status == "failed"
    assert row.problem is not None and row.problem["type"] == "/problems/agency-protocol-error"
    assert row.problem["detail"] == "dukcapil answered CALL_NIK with a reply whose 'TGL_LHR' the adapter cannot read"
    assert row.result is None
    assert route.call_count == 1 and run.sleeps == []
    assert count == 1.0


async def test_an_html_page_is_still_retried_and_not_counted(
    tmp_path: Path, router: respx.Router, adapter: DukcapilAdapter
) -> None:
    """A proxy's HTML page is not Dukcapil's reply: transient, retried, and no protocol error is counted."""
    html = wire(200, b"<html><body>VPN sign-in</body></html>", {"content-type": "text/html"})
    route = router.post(VERIFY_PATH).mock(side_effect=[html, reply("verify_match")])
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", VERIFY, NIK, PAYLOAD)
        count = run.metric(METRIC, {"agency": "dukcapil", "method": "CALL_VERIFY_BY_ELEMEN"})
    assert row.status == "completed"
    assert route.call_count == 2 and len(run.sleeps) == 1
    assert count == 0.0
