"""Dukcapil's catalog entries."""

from __future__ import annotations

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .mapping import VerifyPayload, VerifyResult

__all__ = ["SERVICES", "VERIFY"]

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

SERVICES: tuple[Service[VerifyPayload, VerifyResult], ...] = (VERIFY,)
"""Every service the adapter offers."""
