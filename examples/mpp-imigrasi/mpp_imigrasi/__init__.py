"""mpp_imigrasi: an EXAMPLE third-party adapter for the MPP Integration Gateway.

It books passport appointments at the immigration office's counter in the MPP, over a WIRE FORMAT INVENTED FOR
THIS EXAMPLE (Direktorat Jenderal Imigrasi publishes no such partner API; see the README). Its point is the
plumbing: a separate distribution that registers ``imigrasi = "mpp_imigrasi:ImigrasiAdapter"`` in the entry-point
group ``mpp_gateway.adapters`` and is loaded by an unchanged gateway, with its own mock (:mod:`mpp_imigrasi.mock`)
and its conformance profile (:mod:`mpp_imigrasi.conformance`).

Settings (``MPP_AGENCY__IMIGRASI__<NAME>``): ``token`` (secret), ``office`` (the office serving this MPP).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from adapters import (
    Adapter,
    AdapterContext,
    AgencyRejected,
    Call,
    CallHandler,
    Completed,
    ContractError,
    Outcome,
    Service,
    require_settings,
)
from pydantic import BaseModel

from .client import ImigrasiClient
from .errors import APPOINTMENT_NOT_FOUND, PROBLEM_TYPES
from .mapping import (
    Appointment,
    BookPayload,
    Slot,
    SlotsPayload,
    SlotsResult,
    book_body,
    parse_appointment,
    parse_slots,
    slots_query,
)
from .services import BOOK, SERVICES, SLOTS

__all__ = [
    "BOOK",
    "REQUIRED_SETTINGS",
    "SERVICES",
    "SLOTS",
    "Appointment",
    "BookPayload",
    "ImigrasiAdapter",
    "Slot",
    "SlotsPayload",
    "SlotsResult",
]

REQUIRED_SETTINGS = ("token", "office")
_OFFICE = re.compile(r"^[A-Z0-9-]{1,40}$")
_P = TypeVar("_P", bound=BaseModel)


class ImigrasiAdapter(Adapter):
    """The example immigration adapter."""

    agency = "imigrasi"
    agency_name = "Imigrasi (example adapter, invented wire format)"
    problem_types = PROBLEM_TYPES

    def __init__(self, context: AdapterContext) -> None:
        require_settings(context.settings, REQUIRED_SETTINGS, agency=self.agency)
        office = context.settings["office"].strip()
        if not _OFFICE.match(office):
            raise ValueError("the imigrasi office must be 1-40 upper-case letters, digits or '-'")
        self._office = office
        self._client = ImigrasiClient(context.http, token=context.settings["token"].strip())

    def __repr__(self) -> str:
        return f"ImigrasiAdapter(office={self._office!r}, client={self._client!r})"

    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""
        return SERVICES

    def handlers(self) -> Mapping[str, CallHandler]:
        """The handler of each service."""
        return {SLOTS.id: self._slots, BOOK.id: self._book}

    async def _slots(self, call: Call) -> Outcome:
        payload = _payload(call, SlotsPayload)
        path = f"v1/offices/{self._office}/slots"
        document = await self._client.get(path, slots_query(payload), deadline=call.deadline)
        return Completed(result=parse_slots(document))

    async def _book(self, call: Call) -> Outcome:
        payload = _payload(call, BookPayload)
        document = await self._client.post(
            "v1/appointments", book_body(call.nik, payload), idempotency_key=call.reference, deadline=call.deadline
        )
        appointment = parse_appointment(document)
        return Completed(result=appointment, agency_reference=appointment.booking_code)

    async def reconcile(self, call: Call) -> Outcome | None:
        """Ask the office for the booking made under ``call.reference``; ``None`` when there is none."""
        if call.service != BOOK.id:
            return await super().reconcile(call)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", call.reference):
            raise ContractError("the reference must be 1-64 letters, digits, '_' or '-'", slug="validation-error")
        try:
            document = await self._client.get(f"v1/appointments/by-reference/{call.reference}", deadline=call.deadline)
        except AgencyRejected as exc:
            if exc.code == APPOINTMENT_NOT_FOUND:
                return None
            raise
        appointment = parse_appointment(document)
        return Completed(result=appointment, agency_reference=appointment.booking_code)


def _payload(call: Call, model: type[_P]) -> _P:
    if not isinstance(call.payload, model):
        raise ContractError(f"{call.service} needs a {model.__name__}", slug="validation-error")
    return call.payload
