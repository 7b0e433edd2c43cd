"""The mock agency: the schedule, bookings keyed by Idempotency-Key, refusals, and the switches for trouble."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from mocks import AGENCY_PORTS, start_mocks

from mpp_imigrasi.mock import RunningMock, create_app

NIK = "3273014708900001"
OFFICE = "IMIGRASI-BANDUNG"


def booking(slot_id: str, nik: str = NIK, **changes: str) -> dict[str, str]:
    return {"slot_id": slot_id, "nik": nik, "phone": "6281234567890", **changes}


async def call(mock: RunningMock, method: str, path: str, *, key: str | None = None, json: Any = None,
               token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token or mock.settings['token']}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with aiohttp.ClientSession() as http, http.request(
        method, mock.base_url + path, json=json, headers=headers
    ) as resp:
        return resp.status, await resp.json()


async def test_schedule_is_weekdays_eight_to_three(mock: RunningMock) -> None:
    """Seven hourly slots on each weekday after today; the weekend has none."""
    status, listed = await call(mock, "GET", f"/v1/offices/{OFFICE}/slots?days=7")
    assert status == 200
    days = sorted({slot["date"] for slot in listed["slots"]})
    assert days == ["2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-12"]
    first_day = [s for s in listed["slots"] if s["date"] == "2026-01-06"]
    assert [s["start"] for s in first_day] == [f"{h:02d}:00" for h in range(8, 15)]
    assert all(s["remaining"] == 2 for s in first_day)


async def test_same_key_twice_is_one_booking_two_deliveries(mock: RunningMock) -> None:
    """The same key and body answer the original booking; both deliveries count, one place is taken."""
    slot = mock.state.slot_ids()[0]
    first = await call(mock, "POST", "/v1/appointments", key="req_K", json=booking(slot))
    again = await call(mock, "POST", "/v1/appointments", key="req_K", json=booking(slot))
    assert (first[0], again[0]) == (201, 200)
    assert first[1] == again[1]
    assert mock.state.deliveries["req_K"] == 2
    assert len(mock.state.bookings) == 1
    _, listed = await call(mock, "GET", f"/v1/offices/{OFFICE}/slots?days=1")
    assert listed["slots"][0]["remaining"] == 1


@pytest.mark.parametrize(
    ("setup", "request_body", "expected"),
    [
        ("reuse-key", {"phone": "6281299999999"}, (409, "IDEMPOTENCY_CONFLICT")),
        ("booked-nik", {}, (409, "ALREADY_BOOKED")),
        ("full-slot", {"nik": "3273014708900099"}, (409, "SLOT_FULL")),
        ("none", {"slot_id": f"{OFFICE}-20260110-0900"}, (404, "SLOT_NOT_FOUND")),
        ("none", {"phone": "0812"}, (422, "INVALID_REQUEST")),
    ],
)
async def test_refusals(mock: RunningMock, setup: str, request_body: dict[str, str], expected: tuple[int, str]) -> None:
    """Reused keys, a second booking, a full or Saturday slot and a bad body are refused with their codes."""
    slot = mock.state.slot_ids()[0]
    if setup in ("reuse-key", "booked-nik", "full-slot"):
        await call(mock, "POST", "/v1/appointments", key="req_1", json=booking(slot))
    if setup == "full-slot":
        await call(mock, "POST", "/v1/appointments", key="req_2", json=booking(slot, "3273014708900002"))
    key = "req_1" if setup == "reuse-key" else "req_new"
    status, answer = await call(mock, "POST", "/v1/appointments", key=key, json={**booking(slot), **request_body})
    assert (status, answer["error"]["code"]) == expected


async def test_by_reference_and_auth(mock: RunningMock) -> None:
    """A booking is found by its key; an unknown key is NOT_FOUND; a wrong token is UNAUTHORIZED everywhere."""
    slot = mock.state.slot_ids()[0]
    _, made = await call(mock, "POST", "/v1/appointments", key="req_F", json=booking(slot))
    assert await call(mock, "GET", "/v1/appointments/by-reference/req_F") == (200, made)
    assert (await call(mock, "GET", "/v1/appointments/by-reference/req_X"))[1]["error"]["code"] == "NOT_FOUND"
    for method, path in (("GET", f"/v1/offices/{OFFICE}/slots"), ("GET", "/v1/appointments/by-reference/req_F")):
        status, answer = await call(mock, method, path, token="wrong-token")
        assert (status, answer["error"]["code"]) == (401, "UNAUTHORIZED")


async def test_outage_switch_then_recovery(mock: RunningMock) -> None:
    """With the outage switch on every call is 503 UNAVAILABLE; off again, calls succeed."""
    mock.state.outage = True
    status, answer = await call(mock, "GET", f"/v1/offices/{OFFICE}/slots")
    assert (status, answer["error"]["code"]) == (503, "UNAVAILABLE")
    mock.state.outage = False
    assert (await call(mock, "GET", f"/v1/offices/{OFFICE}/slots"))[0] == 200


async def test_unknown_office_and_bad_query(mock: RunningMock) -> None:
    """Another office is UNKNOWN_OFFICE; days outside 1-14 is INVALID_REQUEST."""
    assert (await call(mock, "GET", "/v1/offices/OFFICE-X/slots"))[1]["error"]["code"] == "UNKNOWN_OFFICE"
    assert (await call(mock, "GET", f"/v1/offices/{OFFICE}/slots?days=30"))[0] == 422


def test_create_app_needs_a_token() -> None:
    """An empty token is refused."""
    with pytest.raises(ValueError, match="token"):
        create_app(token="")


async def test_the_gateway_runner_starts_it_through_its_entry_point() -> None:
    """Registered under mpp_gateway.mocks, it starts with the built-ins: fresh settings, its API and shared controls."""
    assert AGENCY_PORTS["imigrasi"] == 8105
    async with await start_mocks("127.0.0.1", {"imigrasi": 0}) as cluster:
        agency = cluster.agencies["imigrasi"]
        assert set(agency.settings) == {"base_url", "token", "office"}
        headers = {"Authorization": f"Bearer {agency.settings['token']}", "Idempotency-Key": "req_RUNNER"}
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{agency.base_url}/v1/offices/{agency.settings['office']}/slots?days=7") as resp:
                assert resp.status == 200
                slot = (await resp.json())["slots"][0]["id"]
            async with http.post(f"{agency.base_url}/v1/appointments", json=booking(slot)) as resp:
                assert resp.status == 201
            async with http.get(f"{agency.base_url}/_control/health") as resp:
                assert (await resp.json())["agency"] == "imigrasi"
        assert agency.control.deliveries.count(reference="req_RUNNER") == 1
