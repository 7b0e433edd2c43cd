"""The example's catalog entries: passport appointment slots and booking at the immigration office's MPP counter."""

from __future__ import annotations

from typing import Any

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .mapping import Appointment, BookPayload, SlotsPayload, SlotsResult

__all__ = ["BOOK", "SERVICES", "SLOTS"]

SLOTS: Service[SlotsPayload, SlotsResult] = Service(
    id="imigrasi.paspor.slots",
    title=LocalizedText(id="Jadwal kosong layanan paspor", en="Free passport appointment slots"),
    kind=ServiceKind.LOOKUP,
    personal_data=False,
    payload_model=SlotsPayload,
    result_model=SlotsResult,
    description=LocalizedText(
        id="Jadwal yang masih tersedia di loket imigrasi MPP (contoh; format kabel rekaan).",
        en="Slots still free at the MPP's immigration counter (example; invented wire format).",
    ),
)

BOOK: Service[BookPayload, Appointment] = Service(
    id="imigrasi.paspor.book",
    title=LocalizedText(id="Pesan jadwal layanan paspor", en="Book a passport appointment"),
    kind=ServiceKind.SUBMISSION,
    personal_data=True,
    payload_model=BookPayload,
    result_model=Appointment,
    description=LocalizedText(
        id="Memesan satu jadwal untuk pemohon; kode pemesanan ditunjukkan di loket (contoh).",
        en="Books one slot for the applicant; the booking code is shown at the counter (example).",
    ),
)

SERVICES: tuple[Service[Any, Any], ...] = (SLOTS, BOOK)
