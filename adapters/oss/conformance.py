"""OSS RBA's conformance profile: what the conformance kit builds, calls and checks (``adapters.conformance``)."""

from __future__ import annotations

from adapters import AgencyError
from adapters.conformance import ConformanceProfile, SampleCall

from . import OssAdapter
from .errors import raise_for_reply

__all__ = ["DOCUMENTED_CODES", "PROFILE", "classify"]

DOCUMENTED_CODES = ("200", "400", "401", "403", "404", "405", "500", "504")
"""Every ``kode`` the integration guide documents (Lampiran 9 as its method sections list it)."""

_NIB = "9120001234561"
_IDS = {
    "nib": _NIB,
    "project_id": "R-202401150931220120008",
    "oss_id": "P02-202401150930120010042",
    "permit_id": "I-202401160810450030019",
    "permit_code": "032000000001",
}


def classify(code: str) -> type[AgencyError] | None:
    """The class the adapter raises for a reply carrying ``kode`` ``code``; ``None`` for a success.

    Asks the adapter's own reading of a reply (:func:`.errors.raise_for_reply`), not the table beside it, so the kit
    checks what the adapter really does.
    """
    try:
        raise_for_reply({"kode": code, "keterangan": ""}, method="inqueryNIB", submission=False)
    except AgencyError as exc:
        return type(exc)
    return None


PROFILE = ConformanceProfile(
    factory=OssAdapter,
    # Fake, but shaped like a real key; long and distinctive, so the leak checks cannot miss it.
    # inbound_allow is optional and empty (any address): named so that placeholder settings build the adapter.
    settings={"user_key": "conformance-oss-user-key-7d41c9e2b8a6f035", "inbound_allow": ""},
    samples=(
        SampleCall(service="oss.nib.inquiry", nik="3273014708900001", payload={"nib": _NIB}),
        SampleCall(service="oss.nib.check", nik="3273014708900001", payload={"nib": _NIB}),
        SampleCall(
            service="oss.license.status", nik="3273014708900001", payload={"permit_id": _IDS["permit_id"]}
        ),
        SampleCall(
            service="oss.license.status-update",
            nik="3273014708900001",
            payload={
                **_IDS,
                "agency_code": "032",
                "status_code": "45",
                "status_at": "2024-01-20T10:15:00+07:00",
                "officer_nip": "198703152010011002",
                "officer_name": "Budi Santoso",
                "note": "Persyaratan lengkap",
            },
        ),
        SampleCall(
            service="oss.license.issue",
            nik="3273014708900001",
            payload={
                **_IDS,
                "region_code": "3273000000",
                "permit_number": "503/0042/SS/DPMPTSP/2024",
                "issued_on": "2024-01-22",
                "valid_until": "2029-01-22",
                "signer_name": "Dra. Rina Kartika",
                "signer_nip": "197005121995032001",
                "signer_position": "Kepala DPMPTSP Kota Bandung",
            },
        ),
    ),
    documented_codes=DOCUMENTED_CODES,
    classify=classify,
    secret_settings=("user_key",),
)
"""The OSS adapter's profile for the conformance kit."""
