"""OSS RBA's catalog entries."""

from __future__ import annotations

from typing import Any

from adapters import Service
from contracts import LocalizedText, ServiceKind

from .models import (
    LicenseIssuePayload,
    LicenseIssueResult,
    LicenseStatusPayload,
    LicenseStatusResult,
    LicenseStatusUpdatePayload,
    LicenseStatusUpdateResult,
    NibCheckResult,
    NibInquiryResult,
    NibPayload,
)

__all__ = ["LICENSE_ISSUE", "LICENSE_STATUS", "LICENSE_STATUS_UPDATE", "NIB_CHECK", "NIB_INQUIRY", "SERVICES"]

NIB_INQUIRY: Service[NibPayload, NibInquiryResult] = Service(
    id="oss.nib.inquiry",
    title=LocalizedText(id="Data lengkap NIB (Nomor Induk Berusaha)", en="Full NIB (business registration) data"),
    kind=ServiceKind.LOOKUP,
    # The result names the business's responsible persons and their identity numbers.
    personal_data=True,
    payload_model=NibPayload,
    result_model=NibInquiryResult,
    description=LocalizedText(
        id=(
            "Data NIB dari OSS RBA: nama dan bentuk usaha, NPWP, status NIB dan penanaman modal, nomor NPP dan WLKP, "
            "penanggung jawab, proyek dengan KBLI, skala usaha dan tingkat risiko, serta daftar izin (checklist)."
        ),
        en=(
            "The NIB record in OSS RBA: name and legal form, tax number, NIB and investment status, employer numbers "
            "(NPP, WLKP), responsible persons, projects with KBLI, scale and risk class, and the permit checklist."
        ),
    ),
)
"""``inqueryNIB``."""

NIB_CHECK: Service[NibPayload, NibCheckResult] = Service(
    id="oss.nib.check",
    title=LocalizedText(id="Cek status NIB", en="Check an NIB's status"),
    kind=ServiceKind.LOOKUP,
    personal_data=False,
    payload_model=NibPayload,
    result_model=NibCheckResult,
    description=LocalizedText(
        id="Memastikan NIB terdaftar di OSS RBA, dengan nama perusahaan dan status NIB.",
        en="Confirms that an NIB is registered in OSS RBA, with the business name and the NIB's status.",
    ),
)
"""``checkNIB``."""

LICENSE_STATUS: Service[LicenseStatusPayload, LicenseStatusResult] = Service(
    id="oss.license.status",
    title=LocalizedText(id="Cek status izin di OSS", en="Check a permit's status in OSS"),
    kind=ServiceKind.LOOKUP,
    personal_data=False,
    payload_model=LicenseStatusPayload,
    result_model=LicenseStatusResult,
    description=LocalizedText(
        id="Status terkini sebuah izin (id_izin) di OSS RBA.",
        en="The current status of one permit (id_izin) in OSS RBA.",
    ),
)
"""``checkLicenseStatus``."""

LICENSE_STATUS_UPDATE: Service[LicenseStatusUpdatePayload, LicenseStatusUpdateResult] = Service(
    id="oss.license.status-update",
    title=LocalizedText(id="Kirim status proses izin ke OSS", en="Send a permit's processing status to OSS"),
    kind=ServiceKind.SUBMISSION,
    # It carries the officer's name, not the citizen's data, and reads nothing back.
    personal_data=False,
    payload_model=LicenseStatusUpdatePayload,
    result_model=LicenseStatusUpdateResult,
    description=LocalizedText(
        id="Daerah melaporkan status proses sebuah izin (verifikasi, pembayaran, disetujui, ditolak, ...) ke OSS RBA.",
        en="The region reports a permit's processing status (verification, payment, approved, rejected, ...) to OSS.",
    ),
)
"""``receiveLicenseStatus``."""

LICENSE_ISSUE: Service[LicenseIssuePayload, LicenseIssueResult] = Service(
    id="oss.license.issue",
    title=LocalizedText(id="Kirim izin final ke OSS", en="Send a final permit to OSS"),
    kind=ServiceKind.SUBMISSION,
    personal_data=False,
    payload_model=LicenseIssuePayload,
    result_model=LicenseIssueResult,
    description=LocalizedText(
        id="Daerah mengirim izin yang telah terbit (nomor, tanggal, penandatangan, berkas) ke OSS RBA.",
        en="The region sends an issued permit (number, dates, signing official, document link) to OSS RBA.",
    ),
)
"""``receiveLicense``."""

SERVICES: tuple[Service[Any, Any], ...] = (NIB_INQUIRY, NIB_CHECK, LICENSE_STATUS, LICENSE_STATUS_UPDATE, LICENSE_ISSUE)
"""Every service the adapter offers."""
