"""The imigrasi adapter for the MPP Integration Gateway, as ``mpp-gateway new-adapter`` wrote it.

It lists the free appointment slots of the agency's counter in the MPP and books one, over a WIRE FORMAT INVENTED
BY THE GENERATOR and served by this package's own mock (:mod:`.mock`): replace it with the agency's protocol,
module by module (the gateway's ``docs/writing-an-adapter.md`` says how). The plumbing is real: a separate
distribution that registers this adapter in the entry-point group ``mpp_gateway.adapters`` as
``imigrasi = "mpp_imigrasi:ImigrasiAdapter"``; an unchanged gateway loads it,
and the conformance kit reads its profile (:mod:`.conformance`).

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
from .mapping import BookPayload, SlotsPayload, book_body, parse_appointment, parse_slots, slots_query
from .services import BOOK, SERVICES, SLOTS

__all__ = ["BOOK", "REQUIRED_SETTINGS", "SERVICES", "SLOTS", "ImigrasiAdapter"]

REQUIRED_SETTINGS = ("token", "office")
"""The settings the adapter cannot start without; the gateway names their variables when one is missing."""

_OFFICE = re.compile(r"^[A-Z0-9-]{1,40}$")
_P = TypeVar("_P", bound=BaseModel)


class ImigrasiAdapter(Adapter):
    """The imigrasi adapter: free slots and bookings at the agency's MPP counter."""

    agency = "imigrasi"
    agency_name = "Imigrasi (generated adapter, invented wire format)"
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
