"""BPJS Kesehatan behind the real dispatcher: a lapsed participant completes, an unreadable reply fails at once."""

from __future__ import annotations

from pathlib import Path

import respx

from adapters import AdapterContext, AgencyHttp
from adapters.bpjs_kesehatan import BpjsKesehatanAdapter
from tests import fixtures

from .._dispatch import adapter_run
from ._support import NIK, NIK_PATH, SETTINGS, clock, encrypted_reply, reply

BY_NIK = "bpjs-kesehatan.peserta.by-nik"
PAYLOAD = {"service_date": "2026-01-05"}


async def test_a_lapsed_participant_is_a_completed_request(
    tmp_path: Path, router: respx.Router, http: AgencyHttp
) -> None:
    """Status 9 with a null provider: one call, request completed, primary_care_provider null in the result."""
    route = router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_lapsed"))
    adapter = BpjsKesehatanAdapter(AdapterContext(http=http, settings=SETTINGS, clock=clock))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", BY_NIK, NIK, PAYLOAD)
    assert row.status == "completed"
    assert row.result is not None and row.result["primary_care_provider"] is None
    assert row.result["status"] == {"code": "9", "description": "NON AKTIF KARNA PREMI", "active": False}
    assert route.call_count == 1


async def test_an_unreadable_reply_fails_on_the_first_attempt_and_is_counted(
    tmp_path: Path, router: respx.Router, http: AgencyHttp
) -> None:
    """A decrypted participant without a name: agency-protocol-error after one call, no retry, metric +1."""
    document = fixtures.load("bpjs_kesehatan", "peserta_active")
    document["peserta"]["nama"] = None
    route = router.get(NIK_PATH).mock(return_value=encrypted_reply(document))
    adapter = BpjsKesehatanAdapter(AdapterContext(http=http, settings=SETTINGS, clock=clock))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", BY_NIK, NIK, PAYLOAD)
        count = run.metric("mpp_agency_protocol_errors_total", {"agency": "bpjs-kesehatan", "method": "Peserta/nik"})
    assert row.status == "failed"
    assert row.problem is not None and row.problem["type"] == "/problems/agency-protocol-error"
    assert "Peserta/nik" in row.problem["detail"] and "'nama'" in row.problem["detail"]
    assert "0001987654321" not in row.problem["detail"] and "RATNA" not in row.problem["detail"]
    assert route.call_count == 1 and run.sleeps == []
    assert [a.outcome for a in row.attempts] == ["misconfigured"]
    assert count == 1.0
