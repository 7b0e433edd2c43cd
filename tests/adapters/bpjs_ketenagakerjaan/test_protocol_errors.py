"""BPJS Ketenagakerjaan behind the real dispatcher: an unreadable reply to a lookup fails at once; one to the
registration is reconciled first, since the agency may hold it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import respx

from adapters.bpjs_ketenagakerjaan import BpjsKetenagakerjaanAdapter
from tests import fixtures

from .._dispatch import adapter_run
from ._support import NIK, REFERENCE, REGISTER_DATA, REGISTER_PATH, STATUS_PATH, VERIFY_PATH, reply, wire

VERIFY = "bpjs-ketenagakerjaan.peserta.verify"
REGISTER = "bpjs-ketenagakerjaan.peserta.register"
STATUS = "bpjs-ketenagakerjaan.peserta.status"
METRIC = "mpp_agency_protocol_errors_total"
AGENCY = "bpjs-ketenagakerjaan"


def _json(document: object, status: int = 200) -> httpx.Response:
    return wire(status, orjson.dumps(document), {"content-type": "application/json"})


def _registration(**changes: Any) -> dict[str, Any]:
    """The reference registration reply (made under REFERENCE) with ``changes`` in its data."""
    document = fixtures.load("bpjs_ketenagakerjaan", "register_created")
    return {**document, "data": {**document["data"], **changes}}


async def test_an_unreadable_membership_fails_on_the_first_attempt_and_is_counted(
    tmp_path: Path, router: respx.Router, adapter: BpjsKetenagakerjaanAdapter
) -> None:
    """A 00 membership without its start date: agency-protocol-error after one call, no retry, metric +1."""
    member = fixtures.load("bpjs_ketenagakerjaan", "verify_member_pu")
    route = router.post(VERIFY_PATH).mock(
        return_value=_json({**member, "data": {**member["data"], "tgl_kepesertaan": "11/03/2019"}})
    )
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", VERIFY, NIK, {})
        count = run.metric(METRIC, {"agency": AGENCY, "method": "api/v1/peserta/cek"})
    assert row.status == "failed"
    assert row.problem is not None and row.problem["type"] == "/problems/agency-protocol-error"
    assert row.problem["detail"] == (
        "bpjs-ketenagakerjaan answered api/v1/peserta/cek with a reply whose 'data.tgl_kepesertaan' the adapter "
        "cannot read"
    )
    assert "11/03/2019" not in row.problem["detail"] and member["data"]["kpj"] not in row.problem["detail"]
    assert route.call_count == 1 and run.sleeps == []
    assert [attempt.outcome for attempt in row.attempts] == ["misconfigured"]
    assert count == 1.0


async def test_a_status_about_another_reference_fails_on_the_first_attempt(
    tmp_path: Path, router: respx.Router, adapter: BpjsKetenagakerjaanAdapter
) -> None:
    """The status lookup answered about another registration: agency-protocol-error after one call, no reference."""
    route = router.post(STATUS_PATH).mock(return_value=_json(_registration(referensi="req_SOMEONE_ELSE")))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run("r1", STATUS, NIK, {"reference": REFERENCE})
        count = run.metric(METRIC, {"agency": AGENCY, "method": "api/v1/peserta/bpu/status"})
    assert row.status == "failed"
    assert row.problem is not None and row.problem["type"] == "/problems/agency-protocol-error"
    assert "api/v1/peserta/bpu/status about another reference" in row.problem["detail"]
    assert "req_SOMEONE_ELSE" not in row.problem["detail"] and REFERENCE not in row.problem["detail"]
    assert route.call_count == 1 and run.sleeps == []
    assert count == 1.0


async def test_a_registration_answered_about_another_reference_is_reconciled_not_failed(
    tmp_path: Path, router: respx.Router, adapter: BpjsKetenagakerjaanAdapter
) -> None:
    """The agency may hold it: the status enquiry is asked once, finds the registration, and it completes."""
    register = router.post(REGISTER_PATH).mock(return_value=_json(_registration(referensi="req_SOMEONE_ELSE"), 201))
    status = router.post(STATUS_PATH).mock(return_value=reply("register_created"))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run(REFERENCE, REGISTER, NIK, REGISTER_DATA)
        count = run.metric(METRIC, {"agency": AGENCY, "method": "api/v1/peserta/bpu"})
    assert row.status == "completed"
    assert row.agency_reference == "87125509314"
    assert register.call_count == 1 and status.call_count == 1
    assert orjson.loads(status.calls.last.request.content) == {"referensi": REFERENCE, "nik": NIK}
    assert row.attempts[0].outcome == "ambiguous"
    assert count == 0.0


async def test_a_registration_the_agency_does_not_hold_is_sent_again(
    tmp_path: Path, router: respx.Router, adapter: BpjsKetenagakerjaanAdapter
) -> None:
    """An unreadable registration reply, then "not registered" (12) from the status enquiry: resent once, completed."""
    register = router.post(REGISTER_PATH).mock(
        side_effect=[_json(_registration(kode_iuran=None), 201), reply("register_created", 201)]
    )
    status = router.post(STATUS_PATH).mock(return_value=reply("code_12_registration_not_found", 404))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run(REFERENCE, REGISTER, NIK, REGISTER_DATA)
    assert row.status == "completed"
    assert register.call_count == 2 and status.call_count == 1


async def test_a_registration_whose_reconciliation_is_unreadable_fails_without_a_resend(
    tmp_path: Path, router: respx.Router, adapter: BpjsKetenagakerjaanAdapter
) -> None:
    """Unreadable registration, then an unreadable status: the outcome is unknown (the agency may hold it), sent
    once, the protocol error counted."""
    unreadable = _registration(iuran_bulanan=-1)
    register = router.post(REGISTER_PATH).mock(return_value=_json(unreadable, 201))
    status = router.post(STATUS_PATH).mock(return_value=_json(unreadable))
    async with adapter_run(tmp_path, adapter) as run:
        row = await run.run(REFERENCE, REGISTER, NIK, REGISTER_DATA)
        count = run.metric(METRIC, {"agency": AGENCY, "method": "api/v1/peserta/bpu/status"})
    assert row.status == "failed"
    assert row.problem is not None and row.problem["type"] == "/problems/agency-outcome-unknown"
    assert row.problem["detail"] == (
        "an earlier send may have reached the agency; bpjs-ketenagakerjaan answered api/v1/peserta/bpu/status with "
        "a reply whose 'data.iuran_bulanan' the adapter "
        "cannot read, while reconciling a registration the agency may hold: ask the agency before registering again"
    )
    assert register.call_count == 1 and status.call_count == 1
    assert count == 1.0
