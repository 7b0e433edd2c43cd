"""BPJS Kesehatan's catalog entries."""

from __future__ import annotations

from typing import Any

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .mapping import ByCardPayload, ByNikPayload, Participant

__all__ = ["BY_CARD", "BY_NIK", "SERVICES"]

BY_NIK: Service[ByNikPayload, Participant] = Service(
    id="bpjs-kesehatan.peserta.by-nik",
    title=LocalizedText(id="Cek kepesertaan BPJS Kesehatan (NIK)", en="BPJS Kesehatan membership check (NIK)"),
    kind=ServiceKind.LOOKUP,
    # The answer is the participant's record: name, birth date, card number. Consent is required.
    personal_data=True,
    payload_model=ByNikPayload,
    result_model=Participant,
    description=LocalizedText(
        id=(
            "Data kepesertaan JKN pemohon menurut NIK pada tanggal pelayanan (VClaim Peserta/nik): nomor kartu, "
            "status kepesertaan, jenis peserta, hak kelas dan faskes tingkat pertama. Peserta tidak aktif atau "
            "meninggal tetap dijawab, dengan status tidak aktif."
        ),
        en=(
            "The applicant's JKN membership by NIK on the service date (VClaim Peserta/nik): card number, "
            "membership state, participant type, ward class and primary care provider. Inactive or deceased "
            "participants are answered too, with an inactive status."
        ),
    ),
)
"""Participant lookup by the applicant's NIK (``GET Peserta/nik/{nik}/tglSEP/{date}``)."""

BY_CARD: Service[ByCardPayload, Participant] = Service(
    id="bpjs-kesehatan.peserta.by-card",
    title=LocalizedText(
        id="Cek kepesertaan BPJS Kesehatan (nomor kartu)", en="BPJS Kesehatan membership check (card number)"
    ),
    kind=ServiceKind.LOOKUP,
    personal_data=True,
    payload_model=ByCardPayload,
    result_model=Participant,
    description=LocalizedText(
        id=(
            "Data kepesertaan JKN menurut nomor kartu BPJS Kesehatan (13 digit) pada tanggal pelayanan "
            "(VClaim Peserta/nokartu)."
        ),
        en="JKN membership by the 13-digit BPJS Kesehatan card number on the service date (VClaim Peserta/nokartu).",
    ),
)
"""Participant lookup by card number (``GET Peserta/nokartu/{card}/tglSEP/{date}``)."""

SERVICES: tuple[Service[Any, Participant], ...] = (BY_NIK, BY_CARD)
"""Every service the adapter offers."""
