"""Dukcapil's catalog entries."""

from __future__ import annotations

from typing import Any

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .mapping import VerifyPayload, VerifyResult
from .record import CivilRecord, NikLookupPayload

__all__ = ["NIK_LOOKUP", "SERVICES", "VERIFY"]

VERIFY: Service[VerifyPayload, VerifyResult] = Service(
    id="dukcapil.nik.verify",
    title=LocalizedText(id="Verifikasi data kependudukan (NIK)", en="Verify population data (NIK)"),
    kind=ServiceKind.LOOKUP,
    # The answer is a verdict per submitted field, never the record itself: no consent needed for the result.
    personal_data=False,
    payload_model=VerifyPayload,
    result_model=VerifyResult,
    description=LocalizedText(
        id=(
            "Mencocokkan data yang dipegang instansi (nama, tempat dan tanggal lahir, nomor KK, alamat, ...) dengan "
            "data kependudukan Dukcapil untuk NIK pemohon. Hasilnya hanya sesuai/tidak sesuai dan skor kemiripan "
            "per elemen, tanpa data pribadi."
        ),
        en=(
            "Checks what the institution holds (name, place and date of birth, family card number, address, ...) "
            "against Dukcapil's population record of the applicant's NIK. The answer is a match and a similarity "
            "score per field, with no personal data."
        ),
    ),
)
"""Verification by elements (``CALL_VERIFY_BY_ELEMEN``)."""

NIK_LOOKUP: Service[NikLookupPayload, CivilRecord] = Service(
    id="dukcapil.nik.lookup",
    title=LocalizedText(id="Ambil data kependudukan (NIK)", en="Retrieve population record (NIK)"),
    kind=ServiceKind.LOOKUP,
    # The answer is the citizen's whole civil record: consent is required.
    personal_data=True,
    payload_model=NikLookupPayload,
    result_model=CivilRecord,
    description=LocalizedText(
        id=(
            "Mengambil data kependudukan pemohon dari Dukcapil berdasarkan NIK: nama, tempat dan tanggal lahir, "
            "nomor KK, agama, status perkawinan, pendidikan, pekerjaan, nama orang tua dan alamat. Memerlukan "
            "persetujuan pemohon."
        ),
        en=(
            "Retrieves the applicant's civil record from Dukcapil by NIK: name, place and date of birth, family "
            "card number, religion, marital status, education, occupation, parents' names and address. Requires "
            "the applicant's consent."
        ),
    ),
)
"""Data retrieval (``CALL_NIK``)."""

SERVICES: tuple[Service[Any, Any], ...] = (VERIFY, NIK_LOOKUP)
"""Every service the adapter offers."""
