"""The adapter with respx: the requests it sends, the results it reads, and its error matrices."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import orjson
import pytest
import respx
from adapters import (
    AdapterContext,
    AgencyError,
    AgencyHttp,
    AgencyMisconfigured,
    AgencyRejected,
    AmbiguousOutcome,
    Call,
    Completed,
    ContractError,
    TransientAgencyError,
    discover_factories,
)
from pydantic import ValidationError

import mpp_imigrasi
from mpp_imigrasi import ImigrasiAdapter
from mpp_imigrasi.errors import ERROR_CODES
from mpp_imigrasi.mapping import Appointment, BookPayload, SlotsPayload, SlotsResult

NIK = "3273014708900001"
SLOT = "IMIGRASI-BANDUNG-20260106-0900"
APPOINTMENT = {"code": "APT-A1B2C3", "office": "IMIGRASI-BANDUNG", "slot_id": SLOT, "date": "2026-01-06",
               "start": "09:00", "end": "10:00", "status": "BOOKED"}
JSON = {"content-type": "application/json"}


def answer(status: int, document: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(document), headers={**JSON, **(headers or {})})


def error(code: str, status: int) -> httpx.Response:
    return answer(status, {"error": {"code": code, "message": "pesan bebas"}})


def book_call(reference: str = "req_BOOK1", left: float = 30.0) -> Call:
    payload = BookPayload(slot_id=SLOT, phone="0812-3456-7890")
    return Call(reference, "imigrasi.appointment.book", NIK, payload, reference, 1, time.monotonic() + left)


def slots_call(**payload: Any) -> Call:
    service = "imigrasi.appointment.slots"
    return Call("req_S", service, NIK, SlotsPayload(**payload), "req_S", 1, time.monotonic() + 30)


def test_public_surface() -> None:
    """The package exports exactly its documented names."""
    exported = {"BOOK", "REQUIRED_SETTINGS", "SERVICES", "SLOTS", "ImigrasiAdapter"}
    assert set(mpp_imigrasi.__all__) == exported


def test_discovered_through_the_entry_point() -> None:
    """The installed distribution registers 'imigrasi' in the gateway's entry-point group."""
    assert discover_factories(["imigrasi"])["imigrasi"] is ImigrasiAdapter


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"office": "IMIGRASI-BANDUNG"}, "MPP_AGENCY__IMIGRASI__TOKEN"),
        ({"token": "t0k3n-xyz"}, "MPP_AGENCY__IMIGRASI__OFFICE"),
        ({"token": "t0k3n-xyz", "office": "office/../x"}, "office must be"),
    ],
)
def test_bad_settings_are_named(router: respx.Router, settings: dict[str, str], message: str) -> None:
    """Missing or unusable settings fail construction with the variable's name and never the token."""
    transport = httpx.MockTransport(router.async_handler)
    http = AgencyHttp(transport, agency="imigrasi", base_url="https://x.test")
    with pytest.raises(ValueError, match=message) as caught:
        ImigrasiAdapter(AdapterContext(http=http, settings=settings))
    assert "t0k3n-xyz" not in str(caught.value)


def test_repr_hides_the_token(adapter: ImigrasiAdapter, settings: dict[str, str]) -> None:
    """The adapter's repr shows the office and no token."""
    assert settings["token"] not in repr(adapter)
    assert "IMIGRASI-BANDUNG" in repr(adapter)


@pytest.mark.parametrize(
    ("data", "message"),
    [({"slot_id": "nine o'clock", "phone": "081234567890"}, "slot_id"),
     ({"slot_id": SLOT, "phone": "022-4231234"}, "mobile number"),
     ({"slot_id": SLOT, "phone": "081234567890", "nik": NIK}, "nik")],
)
def test_invalid_bookings_are_refused(data: dict[str, str], message: str) -> None:
    """A malformed slot id, a landline or an extra field fail validation."""
    with pytest.raises(ValidationError, match=message):
        BookPayload.model_validate(data)


async def test_slots_request_and_result(
    adapter: ImigrasiAdapter, router: respx.Router, settings: dict[str, str]
) -> None:
    """The listing GETs the office's slots with a bearer token and no personal data, and reads them."""
    route = router.get("/v1/offices/IMIGRASI-BANDUNG/slots").mock(return_value=answer(200, {
        "office": "IMIGRASI-BANDUNG",
        "slots": [{"id": SLOT, "date": "2026-01-06", "start": "09:00", "end": "10:00", "remaining": 2}],
    }))
    outcome = await adapter.execute(slots_call(from_date=dt.date(2026, 1, 6), days=2))
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {settings['token']}"
    assert dict(request.url.params) == {"days": "2", "from": "2026-01-06"}
    assert NIK not in str(request.url)
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, SlotsResult)
    assert outcome.result.slots[0].start_time == dt.time(9)


async def test_booking_sends_the_reference_as_idempotency_key(
    adapter: ImigrasiAdapter, router: respx.Router
) -> None:
    """The booking POSTs under Idempotency-Key = Call.reference and returns the booking code as agency reference."""
    route = router.post("/v1/appointments").mock(return_value=answer(201, {"appointment": APPOINTMENT}))
    outcome = await adapter.execute(book_call())
    request = route.calls.last.request
    assert request.headers["idempotency-key"] == "req_BOOK1"
    assert orjson.loads(request.content) == {"slot_id": SLOT, "nik": NIK, "phone": "6281234567890"}
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, Appointment)
    assert (outcome.agency_reference, outcome.result.status) == ("APT-A1B2C3", "booked")


async def test_reconcile_finds_or_denies_the_booking(
    adapter: ImigrasiAdapter, router: respx.Router
) -> None:
    """Reconcile asks by reference: the booking when the office has it, None on NOT_FOUND."""
    route = router.get("/v1/appointments/by-reference/req_BOOK1").mock(
        side_effect=[answer(200, {"appointment": APPOINTMENT}), error("NOT_FOUND", 404)]
    )
    found = await adapter.reconcile(book_call())
    assert isinstance(found, Completed)
    assert found.agency_reference == "APT-A1B2C3"
    assert await adapter.reconcile(book_call()) is None
    assert route.call_count == 2


async def test_lookups_do_not_reconcile(adapter: ImigrasiAdapter, router: respx.Router) -> None:
    """Only a booking can be reconciled; a lookup is refused without a call."""
    with pytest.raises(AmbiguousOutcome):
        await adapter.reconcile(slots_call())
    assert not router.calls


async def test_mismatched_payload_is_a_contract_error(
    adapter: ImigrasiAdapter, router: respx.Router
) -> None:
    """A booking service with a slots payload is refused without a call."""
    call = Call("r", "imigrasi.appointment.book", NIK, SlotsPayload(), "r", 1, time.monotonic() + 5)
    with pytest.raises(ContractError):
        await adapter.execute(call)
    assert not router.calls


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
async def test_every_error_code_is_classified_then_recovers(
    adapter: ImigrasiAdapter, router: respx.Router, settings: dict[str, str], code: str
) -> None:
    """Each code raises its table class with the code and no token or NIK; the next booking succeeds."""
    router.post("/v1/appointments").mock(side_effect=[error(code, 409), answer(201, {"appointment": APPOINTMENT})])
    with pytest.raises(AgencyError) as caught:
        await adapter.execute(book_call())
    assert type(caught.value) is ERROR_CODES[code].error
    assert caught.value.code == code
    if isinstance(caught.value, AgencyRejected):
        assert caught.value.slug == ERROR_CODES[code].slug
    assert settings["token"] not in str(caught.value)
    assert NIK not in str(caught.value)
    assert isinstance(await adapter.execute(book_call()), Completed)


async def test_unknown_code_needs_a_human(adapter: ImigrasiAdapter, router: respx.Router) -> None:
    """An error code the table does not know is misconfigured."""
    router.post("/v1/appointments").mock(return_value=error("SOMETHING_NEW", 418))
    with pytest.raises(AgencyMisconfigured, match="SOMETHING_NEW"):
        await adapter.execute(book_call())


TRANSIENT = [
    pytest.param(lambda: httpx.Response(503, text="down", headers={"retry-after": "9"}), True, id="503"),
    pytest.param(lambda: httpx.Response(429, text="slow"), False, id="429"),
    pytest.param(lambda: httpx.Response(200, text="<html>oops</html>", headers={"content-type": "text/html"}), True,
                 id="html"),
    pytest.param(lambda: httpx.Response(200, content=b'{"appointment": {"co', headers=JSON), True, id="truncated"),
    pytest.param(lambda: answer(200, {"appointment": {"code": "X"}}), True, id="unreadable-appointment"),
    pytest.param(lambda: httpx.ConnectError("refused"), False, id="connect-error"),
]


@pytest.mark.parametrize(("failure", "sent"), TRANSIENT)
async def test_transient_failures_then_recovery(
    adapter: ImigrasiAdapter, router: respx.Router, failure: Any, sent: bool
) -> None:
    """Each transient failure says whether the booking may have landed, and the adapter then recovers."""
    router.post("/v1/appointments").mock(side_effect=[failure(), answer(201, {"appointment": APPOINTMENT})])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(book_call())
    assert caught.value.sent is sent
    assert caught.value.__context__ is None or not isinstance(caught.value.__context__, ValidationError)
    assert isinstance(await adapter.execute(book_call()), Completed)


async def test_past_deadline_sends_nothing(adapter: ImigrasiAdapter, router: respx.Router) -> None:
    """A booking past its deadline is transient and unsent."""
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(book_call(left=-1))
    assert caught.value.sent is False
    assert not router.calls
