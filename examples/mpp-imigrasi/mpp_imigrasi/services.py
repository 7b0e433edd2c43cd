"""The catalog entries: free appointment slots at the imigrasi counter in the MPP, and booking one."""

from __future__ import annotations

from typing import Any

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .mapping import Appointment, BookPayload, SlotsPayload, SlotsResult

__all__ = ["BOOK", "SERVICES", "SLOTS"]

SLOTS: Service[SlotsPayload, SlotsResult] = Service(
    id="imigrasi.appointment.slots",
    title=LocalizedText(
        id="Jadwal kosong loket Imigrasi",
        en="Free appointment slots at the Imigrasi counter",
    ),
    kind=ServiceKind.LOOKUP,
    personal_data=False,
    payload_model=SlotsPayload,
    result_model=SlotsResult,
    description=LocalizedText(
        id="Jadwal yang masih tersedia di loket Imigrasi di MPP (format kabel rekaan).",
        en="Slots still free at the MPP's Imigrasi counter (invented wire format).",
    ),
)

BOOK: Service[BookPayload, Appointment] = Service(
    id="imigrasi.appointment.book",
    title=LocalizedText(
        id="Pesan jadwal loket Imigrasi",
        en="Book an appointment at the Imigrasi counter",
    ),
    kind=ServiceKind.SUBMISSION,
    personal_data=True,
    payload_model=BookPayload,
    result_model=Appointment,
    description=LocalizedText(
        id="Memesan satu jadwal untuk pemohon; kode pemesanan ditunjukkan di loket.",
        en="Books one slot for the applicant; the booking code is shown at the counter.",
    ),
)

SERVICES: tuple[Service[Any, Any], ...] = (SLOTS, BOOK)
