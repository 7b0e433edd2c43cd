"""BPJS Ketenagakerjaan's catalog entries (over the project's own, modelled wire format)."""

from __future__ import annotations

from typing import Any

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .mapping import (
    MembershipPayload,
    MembershipResult,
    RegisterPayload,
    RegistrationResult,
    StatusPayload,
)

__all__ = ["REGISTER", "SERVICES", "STATUS", "VERIFY"]

VERIFY: Service[MembershipPayload, MembershipResult] = Service(
    id="bpjs-ketenagakerjaan.peserta.verify",
    title=LocalizedText(id="Cek kepesertaan BPJS Ketenagakerjaan", en="Check BPJS Ketenagakerjaan membership"),
    kind=ServiceKind.LOOKUP,
    # A membership number and an insurance status are the citizen's personal data: consent is required.
    personal_data=True,
    payload_model=MembershipPayload,
    result_model=MembershipResult,
    description=LocalizedText(
        id=(
            "Apakah NIK pemohon terdaftar sebagai peserta BPJS Ketenagakerjaan: nomor KPJ, kategori (PU atau BPU), "
            "status, dan program yang diikuti (JHT, JKK, JKM, JP)."
        ),
        en=(
            "Whether the applicant's NIK is a BPJS Ketenagakerjaan participant: membership number (KPJ), category "
            "(wage earner or not), status, and the programmes held (JHT, JKK, JKM, JP)."
        ),
    ),
)
"""Membership lookup by the applicant's NIK."""

REGISTER: Service[RegisterPayload, RegistrationResult] = Service(
    id="bpjs-ketenagakerjaan.peserta.register",
    title=LocalizedText(
        id="Pendaftaran peserta Bukan Penerima Upah (BPU)", en="Register a non-wage earner (BPU) participant"
    ),
    kind=ServiceKind.SUBMISSION,
    personal_data=True,
    payload_model=RegisterPayload,
    result_model=RegistrationResult,
    description=LocalizedText(
        id=(
            "Mendaftarkan pekerja informal sebagai peserta BPU dengan program JKK dan JKM (JHT opsional). Hasilnya "
            "nomor KPJ, iuran bulanan dan kode iuran; perlindungan berlaku setelah iuran pertama dibayar."
        ),
        en=(
            "Registers an informal worker as a BPU participant with JKK and JKM cover (JHT optional). The result "
            "is the KPJ membership number, the monthly contribution and its payment code; cover starts once the "
            "first contribution is paid."
        ),
    ),
)
"""Registration of a non-wage earner; the KPJ number is the agency reference."""

STATUS: Service[StatusPayload, RegistrationResult] = Service(
    id="bpjs-ketenagakerjaan.peserta.status",
    title=LocalizedText(id="Status pendaftaran peserta BPU", en="Status of a BPU registration"),
    kind=ServiceKind.LOOKUP,
    personal_data=True,
    payload_model=StatusPayload,
    result_model=RegistrationResult,
    description=LocalizedText(
        id="Status pendaftaran BPU pemohon, dicari dengan id permintaan pendaftarannya.",
        en="The applicant's BPU registration, looked up by the id of the registration request.",
    ),
)
"""Enquiry of a registration by its reference (the same endpoint reconciliation uses)."""

SERVICES: tuple[Service[Any, Any], ...] = (VERIFY, REGISTER, STATUS)
"""Every service the adapter offers."""
