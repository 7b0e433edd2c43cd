"""End to end: an unchanged gateway discovers the adapter through its entry point and books over sockets."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from adapters import AdapterContext, AgencyHttp, Call, Completed, TransientAgencyError
from aiohttp.test_utils import TestServer
from gateway import AgencyConfig, Client, ClientDirectory, Settings, build_app, build_transport, hash_key
from gateway.store import generate_data_key

from mpp_imigrasi import ImigrasiAdapter
from mpp_imigrasi.mapping import BookPayload
from mpp_imigrasi.mock import RunningMock

KEY = "mppk_test-counter-key-00000000000000000000"
NIK = "3273014708900001"
COUNTER = {"mpp_id": "mpp-bandung", "desk": "loket-imigrasi", "operator": "op-21"}
# Dated now: the gateway accepts a consent only while it is valid.
CONSENT = {"method": "written", "reference": "FORM-1", "given_at": dt.datetime.now(dt.UTC).isoformat()}


@pytest.fixture
async def gateway(mock: RunningMock, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway that loads only 'imigrasi', found by entry point, configured with the mock's settings."""
    settings = Settings(
        store_path=str(tmp_path / "gateway.sqlite3"),
        data_keys=generate_data_key(),
        dispatch_concurrency=4,
        shutdown_grace_seconds=1,
        adapters=("imigrasi",),
        agencies={"imigrasi": AgencyConfig.from_values(mock.settings)},
    )
    clients = ClientDirectory([Client("counter", "MPP counter", frozenset({hash_key(KEY)}), mpp_id="mpp-bandung")])
    server = TestServer(build_app(settings, clients=clients), host="127.0.0.1")
    await server.start_server()
    try:
        async with httpx.AsyncClient(
            base_url=str(server.make_url("")), headers={"Authorization": f"Bearer {KEY}"}, timeout=20
        ) as client:
            yield client
    finally:
        await server.close()


async def test_catalog_lists_the_services(gateway: httpx.AsyncClient) -> None:
    """GET /v1/services shows the adapter's two services and nothing else was needed to add them."""
    services = {s["id"]: s for s in (await gateway.get("/v1/services")).json()["services"]}
    assert set(services) == {"imigrasi.appointment.slots", "imigrasi.appointment.book"}
    assert services["imigrasi.appointment.book"]["personal_data"] is True


async def test_counter_books_an_appointment(gateway: httpx.AsyncClient, mock: RunningMock) -> None:
    """A counter lists free slots, books one through POST /v1/requests, and the office holds the booking once."""
    wait = {"Prefer": "wait=10"}
    listing = await gateway.post(
        "/v1/requests",
        json={"service": "imigrasi.appointment.slots", "applicant": {"nik": NIK}, "counter": COUNTER,
              "payload": {"days": 2}},
        headers=wait,
    )
    assert listing.status_code == 200, listing.text
    slot = listing.json()["result"]["slots"][0]
    body = {"service": "imigrasi.appointment.book", "applicant": {"nik": NIK}, "counter": COUNTER,
            "consent": CONSENT, "payload": {"slot_id": slot["slot_id"], "phone": "0812 3456 7890"}}
    resp = await gateway.post("/v1/requests", json=body, headers={**wait, "Idempotency-Key": "counter-booking-1"})
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert record["status"] == "completed"
    assert record["agency_reference"] == record["result"]["booking_code"]
    assert record["result"]["slot_id"] == slot["slot_id"]
    again = await gateway.post("/v1/requests", json=body, headers={**wait, "Idempotency-Key": "counter-booking-1"})
    assert again.json()["id"] == record["id"]
    assert len(mock.state.bookings) == 1
    assert mock.state.deliveries[record["id"]] == 1


async def test_lost_answer_is_reconciled_by_reference(mock: RunningMock) -> None:
    """When the answer to a booking is lost, reconcile finds the booking the office made under that reference."""
    transport = build_transport()
    try:
        http = AgencyHttp(transport, agency="imigrasi", base_url=mock.base_url, timeout=2.0)
        adapter = ImigrasiAdapter(AdapterContext(http=http, settings=mock.settings))
        payload = BookPayload(slot_id=mock.state.slot_ids()[3], phone="081234567890")
        service = "imigrasi.appointment.book"
        call = Call("req_LOST", service, NIK, payload, "req_LOST", 1, time.monotonic() + 10)
        mock.state.drop_next_answer = True
        with pytest.raises(TransientAgencyError) as caught:
            await adapter.execute(call)
        assert caught.value.sent is True
        found = await adapter.reconcile(call)
        assert isinstance(found, Completed)
        assert found.agency_reference == mock.state.bookings["req_LOST"].appointment["code"]
    finally:
        await transport.aclose()
