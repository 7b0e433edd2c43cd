"""Personal data sealed at rest and purged after retention, on both stores, checked against the raw database."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from contracts import RequestStatus
from gateway import Store
from gateway.store import NewWebhook, SealedDataError, generate_data_key
from tests.sealed import flip_ciphertext
from tests.store.support import OLD, Raw, attempt, new

NIK = "3201014708900001"
NAME = "SITI AMINAH BINTI SUPARDI"
CARD = "0001234567890"
NIB = "9120001234561"
ENVELOPE = {"applicant": {"nik": NIK}, "payload": {"full_name": NAME, "birth_date": "1990-08-07"}}
RESULT = {"full_name": NAME, "nik": NIK, "card_number": CARD}
NIB_DATA = {"nib": NIB, "penanggung_jawab": [{"nama": NAME, "nik": NIK}]}
NEW = generate_data_key("new")


async def finished(
    store: Store,
    request_id: str,
    *,
    status: RequestStatus = RequestStatus.COMPLETED,
    webhook: NewWebhook | None = None,
    **fields: Any,
) -> None:
    """A request inserted, claimed and finished with ``status``."""
    await store.insert(new(request_id, envelope=ENVELOPE))
    assert await store.claim(request_id, "a", 30) is not None
    assert await store.finish(request_id, "a", status=status, attempt=attempt(1), webhook=webhook, **fields)


def hook(event_id: str) -> NewWebhook:
    return NewWebhook(id=event_id, client_id="counter-a", url="http://127.0.0.1:9/hook", body={"result": RESULT})


async def test_no_personal_data_is_stored_in_clear(sealed: Store, raw: Raw) -> None:
    """After a request, its webhook and an agency's push, the raw database holds no NIK, name or card number."""
    await sealed.insert(new("req_1", envelope=ENVELOPE), idempotency=("key-1", "f" * 64))
    await finished(sealed, "req_2", result=RESULT, agency_reference=CARD, webhook=hook("evt_1"))
    now = dt.datetime.now(dt.UTC)
    await sealed.save_document("oss", "nib", NIB, NIB_DATA, received_at=now)
    everything = await raw.everything()
    assert b"mppenc:v1:old:" in everything and b"3201**********01" in everything  # the rows are there
    for secret in (NIK, NAME, CARD, "penanggung_jawab", "birth_date"):
        assert secret.encode() not in everything, secret


async def test_sealed_values_read_back_exactly(sealed: Store) -> None:
    """Envelope, result, reference, webhook body and an agency's document come back as written."""
    await finished(sealed, "req_1", result=RESULT, agency_reference=CARD, webhook=hook("evt_1"))
    row = await sealed.get("req_1")
    assert row is not None and (row.envelope, row.result, row.agency_reference) == (ENVELOPE, RESULT, CARD)
    claimed_view = await sealed.get("req_1", with_attempts=False)
    assert claimed_view is not None and claimed_view.envelope == ENVELOPE
    [webhook] = await sealed.due_webhooks(10)
    assert (
        webhook.body == '{"result":{"full_name":"SITI AMINAH BINTI SUPARDI","nik":"3201014708900001",'
        '"card_number":"0001234567890"}}'
    )
    await sealed.save_document("oss", "nib", NIB, NIB_DATA, received_at=dt.datetime.now(dt.UTC))
    received = await sealed.latest_document("oss", "nib", NIB)
    assert received is not None and received.document == NIB_DATA


async def _read_request(store: Store, key: str) -> Any:
    return await store.get(key)


async def _read_webhooks(store: Store, key: str) -> Any:
    return await store.due_webhooks(10)


TAMPERED = [
    ("requests", "envelope", "id", "req_1", _read_request),
    ("requests", "result", "id", "req_1", _read_request),
    ("requests", "agency_reference", "id", "req_1", _read_request),
    ("webhooks", "body", "id", "evt_1", _read_webhooks),
]


@pytest.mark.parametrize(
    ("table", "column", "key", "value", "read"), TAMPERED, ids=[f"{t[0]}.{t[1]}" for t in TAMPERED]
)
async def test_a_flipped_byte_is_detected_naming_row_and_column(
    sealed: Store, raw: Raw, table: str, column: str, key: str, value: str, read: Any
) -> None:
    """One changed byte in a stored ciphertext fails to open, with an error naming the row and column only."""
    await finished(sealed, "req_1", result=RESULT, agency_reference=CARD, webhook=hook("evt_1"))
    stored = await raw.get(table, column, key, value)
    assert stored is not None and stored.startswith('"mppenc:v1:old:')
    await raw.set(table, column, key, value, flip_ciphertext(stored))
    with pytest.raises(SealedDataError) as caught:
        await read(sealed, value)
    message = str(caught.value)
    assert f"{table}.{column}" in message and value in message and "integrity check" in message
    assert NIK not in message and NAME not in message


async def test_a_ciphertext_moved_to_another_row_does_not_open(sealed: Store, raw: Raw) -> None:
    """Copying one request's sealed envelope over another's is detected through the associated data."""
    await sealed.insert(new("req_1", envelope=ENVELOPE))
    await sealed.insert(new("req_2"))
    await raw.set("requests", "envelope", "id", "req_2", await raw.get("requests", "envelope", "id", "req_1") or "")
    with pytest.raises(SealedDataError, match=r"requests\.envelope of req_2 .*integrity check"):
        await sealed.get("req_2")
    assert (row := await sealed.get("req_1")) is not None and row.envelope == ENVELOPE


async def test_rotation_keeps_old_rows_open_and_a_dropped_key_is_named(raw: Raw) -> None:
    """Rows sealed under 'old' open after 'new' is put first; new rows use 'new'; without 'old', a clear error."""
    before = raw.store(OLD)
    await before.open()
    await before.insert(new("req_old", envelope=ENVELOPE))
    await before.aclose()
    rotated = raw.store(f"{NEW},{OLD}")
    await rotated.open()
    await rotated.insert(new("req_new", envelope=ENVELOPE))
    assert [(await rotated.get(r)).envelope for r in ("req_old", "req_new")] == [ENVELOPE, ENVELOPE]  # type: ignore[union-attr]
    await rotated.aclose()
    assert (await raw.get("requests", "envelope", "id", "req_old") or "").startswith('"mppenc:v1:old:')
    assert (await raw.get("requests", "envelope", "id", "req_new") or "").startswith('"mppenc:v1:new:')
    only_new = raw.store(NEW)
    await only_new.open()
    try:
        assert (row := await only_new.get("req_new")) is not None and row.envelope == ENVELOPE
        with pytest.raises(SealedDataError, match=r"req_old.*key 'old', which is not in the key ring"):
            await only_new.get("req_old")
    finally:
        await only_new.aclose()


async def test_plain_rows_stay_readable_and_a_store_without_keys_refuses_sealed_ones(raw: Raw) -> None:
    """Rows written before sealing read fine with keys; a store without keys cannot read sealed rows."""
    plain = raw.store(None)
    await plain.open()
    await plain.insert(new("req_plain", envelope=ENVELOPE))
    await plain.aclose()
    keyed = raw.store(OLD)
    await keyed.open()
    await keyed.insert(new("req_sealed", envelope=ENVELOPE))
    assert (row := await keyed.get("req_plain")) is not None and row.envelope == ENVELOPE
    await keyed.aclose()
    plain = raw.store(None)
    await plain.open()
    try:
        with pytest.raises(SealedDataError, match="no data key ring"):
            await plain.get("req_sealed")
    finally:
        await plain.aclose()


async def test_purge_removes_personal_data_of_final_requests_only(sealed: Store, raw: Raw) -> None:
    """Completed, rejected and failed requests lose envelope, result and reference, in batches; the rest stays."""
    problem = {"type": "/problems/agency-rejected", "title": "The agency refused the request", "status": 422}
    await finished(sealed, "req_done", result=RESULT, agency_reference=CARD)
    await finished(sealed, "req_rejected", status=RequestStatus.REJECTED, problem=problem)
    await finished(sealed, "req_failed", status=RequestStatus.FAILED, problem=problem)
    await finished(sealed, "req_waiting", status=RequestStatus.WAITING_AGENCY)
    await sealed.insert(new("req_accepted", envelope=ENVELOPE))
    await sealed.insert(new("req_running", envelope=ENVELOPE))
    await sealed.claim("req_running", "a", 30)
    assert await sealed.purge_personal_data(time.time() - 3600) == 0  # finished just now: within retention
    later = time.time() + 1
    assert [await sealed.purge_personal_data(later, limit=2) for _ in range(3)] == [2, 1, 0]
    for request_id, status in (("req_done", "completed"), ("req_rejected", "rejected"), ("req_failed", "failed")):
        row = await sealed.get(request_id)
        assert row is not None and row.purged_at is not None and row.finished_at is not None
        assert (row.status, row.envelope, row.result, row.agency_reference) == (status, {}, None, None)
        assert (row.nik_masked, row.mpp_id, row.desk, row.operator) == ("3201**********01", "mpp-a", "loket-01", "op-7")
        assert [a.number for a in row.attempts] == [1] and row.attempt_count == 1
        assert row.problem == (None if status == "completed" else problem)
        assert await raw.get("requests", "envelope", "id", request_id) == "null"
    for request_id in ("req_waiting", "req_accepted", "req_running"):
        row = await sealed.get(request_id)
        assert row is not None and row.purged_at is None and row.envelope == ENVELOPE, request_id


async def test_a_webhook_still_being_delivered_holds_its_request_back(sealed: Store, raw: Raw) -> None:
    """A final request with an undelivered webhook is purged only once the delivery ended; then its body is blanked."""
    await finished(sealed, "req_1", result=RESULT, webhook=hook("evt_1"))
    assert await sealed.purge_personal_data(time.time() + 1) == 0
    await sealed.webhook_tried("evt_1", delivered=True, next_at=time.time(), error=None)
    assert await sealed.purge_personal_data(time.time() + 1) == 1
    assert await raw.get("webhooks", "body", "id", "evt_1") == ""
    assert await sealed.due_webhooks(10) == []
