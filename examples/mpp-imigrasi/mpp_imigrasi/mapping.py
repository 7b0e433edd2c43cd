"""Wire <-> contract: the free appointment slots of the agency's MPP counter, and booking one.

INVENTED WIRE FORMAT. The contract (English, what counters see) is the part worth keeping; the wire side (field
names, ``HH:MM`` times, status codes) is whatever the generated mock speaks: replace it with the agency's.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from adapters import ContractError, TransientAgencyError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "SLOT_ID_PATTERN",
    "Appointment",
    "BookPayload",
    "Slot",
    "SlotsPayload",
    "SlotsResult",
    "book_body",
    "parse_appointment",
    "parse_slots",
    "slots_query",
]

AGENCY = "imigrasi"
SLOT_ID_PATTERN = r"^[A-Z0-9-]{1,40}-[0-9]{8}-[0-9]{4}$"

AppointmentStatus = Literal["booked", "cancelled", "attended"]

#: The wire's status -> ours.
_STATUS: Mapping[str, AppointmentStatus] = {
    "BOOKED": "booked",
    "CANCELLED": "cancelled",
    "ATTENDED": "attended",
}
_PHONE = re.compile(r"^(?:\+62|62|0)(8[1-9][0-9]{6,10})$")
_M = TypeVar("_M", bound=BaseModel)


class SlotsPayload(BaseModel):
    """Which free slots to list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_date: dt.date | None = Field(default=None, description="First day to list; the office's next day if null.")
    days: int = Field(default=7, ge=1, le=14, description="How many days to list, 1-14.")


class Slot(BaseModel):
    """One bookable hour at the counter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slot_id: str = Field(pattern=SLOT_ID_PATTERN, description="Book it with this id.")
    date: dt.date = Field(description="The day of the slot.")
    start_time: dt.time = Field(description="When the slot starts (office time).")
    end_time: dt.time = Field(description="When the slot ends (office time).")
    remaining: int = Field(ge=0, description="Places left in the slot.")


class SlotsResult(BaseModel):
    """The free slots of the office serving this MPP."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    office: str = Field(description="The office's code.")
    slots: list[Slot] = Field(description="The free slots, in time order.")


class BookPayload(BaseModel):
    """A booking of one slot for the applicant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slot_id: str = Field(pattern=SLOT_ID_PATTERN, description="A slot_id from imigrasi.appointment.slots.")
    phone: str = Field(
        description="Mobile number for the reminder (08..., 628... or +628...).",
        json_schema_extra={"x-personal-data": True},
    )

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        match = _PHONE.match(re.sub(r"[\s().-]", "", value))
        if match is None:
            raise ValueError("must be an Indonesian mobile number")
        return "+62" + match.group(1)


class Appointment(BaseModel):
    """A booked appointment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    booking_code: str = Field(description="Show this code at the counter.")
    office: str = Field(description="The office's code.")
    slot_id: str = Field(description="The slot booked.")
    date: dt.date = Field(description="The day of the appointment.")
    start_time: dt.time = Field(description="When it starts (office time).")
    end_time: dt.time = Field(description="When it ends (office time).")
    status: AppointmentStatus = Field(description="booked, cancelled or attended.")


class _WireSlot(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    date: dt.date
    start: dt.time
    end: dt.time
    remaining: int


class _WireSlots(BaseModel):
    model_config = ConfigDict(extra="ignore")

    office: str
    slots: list[_WireSlot]


class _WireAppointment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = Field(min_length=1, max_length=40)
    office: str
    slot_id: str
    date: dt.date
    start: dt.time
    end: dt.time
    status: Literal["BOOKED", "CANCELLED", "ATTENDED"]


def slots_query(payload: SlotsPayload) -> dict[str, str]:
    """The slot listing's query parameters."""
    query = {"days": str(payload.days)}
    if payload.from_date is not None:
        query["from"] = payload.from_date.isoformat()
    return query


def book_body(nik: str, payload: BookPayload) -> dict[str, str]:
    """The booking's body."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        raise ContractError("the applicant's NIK must be 16 digits", slug="validation-error")
    return {"slot_id": payload.slot_id, "nik": nik, "phone": payload.phone.removeprefix("+")}


def parse_slots(document: Mapping[str, Any]) -> SlotsResult:
    """The result of a slot listing."""
    wire = _read(_WireSlots, document, "slot list")
    slots = [
        Slot(slot_id=s.id, date=s.date, start_time=s.start, end_time=s.end, remaining=s.remaining) for s in wire.slots
    ]
    return SlotsResult(office=wire.office, slots=slots)


def parse_appointment(document: Mapping[str, Any]) -> Appointment:
    """The appointment inside ``{"appointment": {...}}``."""
    wire = _read(_WireAppointment, document.get("appointment"), "appointment")
    return Appointment(
        booking_code=wire.code,
        office=wire.office,
        slot_id=wire.slot_id,
        date=wire.date,
        start_time=wire.start,
        end_time=wire.end,
        status=_STATUS[wire.status],
    )


def _read(model: type[_M], data: object, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError:
        pass
    # Outside the handler, so that the validation error (which holds the input) is not chained.
    raise TransientAgencyError(f"{AGENCY} sent a {what} the adapter cannot read", agency=AGENCY, sent=True)
