"""The conformance kit's profile of the BPJS Ketenagakerjaan adapter (over the project's own wire format)."""

from __future__ import annotations

from adapters import AgencyError
from adapters.conformance import ConformanceProfile, SampleCall

from . import BpjsKetenagakerjaanAdapter
from .errors import RESULT_CODES, raise_for_code

__all__ = ["PROFILE", "classify"]

_NIK = "3273014708900003"



def classify(code: str) -> type[AgencyError] | None:
    """The class the adapter raises for a reply carrying ``kode`` ``code``; ``None`` for an answer (00, 10).

    Asks the adapter's own reading of a code (:func:`.errors.raise_for_code`), so the kit checks what it really does.
    """
    try:
        raise_for_code(code)
    except AgencyError as exc:
        return type(exc)
    return None


PROFILE = ConformanceProfile(
    factory=BpjsKetenagakerjaanAdapter,
    settings={"base_url": "https://bpjstk.conformance.test", "api_key": "conformance-api-key-0b9f2c"},
    samples=(
        SampleCall(service="bpjs-ketenagakerjaan.peserta.verify", nik=_NIK, payload={}),
        SampleCall(
            service="bpjs-ketenagakerjaan.peserta.register",
            nik=_NIK,
            payload={
                "occupation": "trader",
                "monthly_income": "below_2m",
                "programmes": ["JKK", "JKM"],
                "phone": "081234567890",
                "address": {
                    "street": "Jl. Merdeka No. 5",
                    "rt": "3",
                    "rw": "12",
                    "village": "Braga",
                    "district": "Sumur Bandung",
                    "regency": "Kota Bandung",
                    "province": "Jawa Barat",
                },
            },
        ),
        SampleCall(
            service="bpjs-ketenagakerjaan.peserta.status",
            nik=_NIK,
            payload={"reference": "req_01CONFORMANCE00000000000"},
        ),
    ),
    documented_codes=tuple(RESULT_CODES),
    classify=classify,
    secret_settings=("api_key",),
)
"""Fake but well-formed settings, one valid call per service, and the result-code table."""
