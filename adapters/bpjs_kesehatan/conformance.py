"""The BPJS Kesehatan adapter's conformance profile: how the kit builds it, what it calls, which codes it knows."""

from __future__ import annotations

from adapters.conformance import ConformanceProfile, SampleCall

from . import BpjsKesehatanAdapter
from .errors import DOCUMENTED_CODES, classify

__all__ = ["PROFILE"]

PROFILE = ConformanceProfile(
    factory=BpjsKesehatanAdapter,
    # Fake but well-formed: a numeric consumer id, a secret and a user key of the lengths BPJS issues.
    settings={
        "cons_id": "31337",
        "consumer_secret": "cF7kQ2mW9xConformanceSecret",
        "user_key": "0f3c9a7e5b1d4c2a8e6f0b9d7c5a3e1f",
    },
    samples=(
        SampleCall(
            service="bpjs-kesehatan.peserta.by-nik",
            nik="3273014708900003",
            payload={"service_date": "2026-01-05"},
        ),
        SampleCall(
            service="bpjs-kesehatan.peserta.by-card",
            nik="3273014708900003",
            payload={"card_number": "0001987654321", "service_date": "2026-01-05"},
        ),
    ),
    documented_codes=DOCUMENTED_CODES,
    classify=classify,
    secret_settings=("consumer_secret", "user_key"),
    base_path="/vclaim-rest",
)
"""Published for the conformance kit (``adapters.bpjs_kesehatan.conformance.PROFILE``)."""
