"""The adapter's profile for the gateway's conformance kit (``adapters.conformance``)."""

from __future__ import annotations

from adapters import AgencyError
from adapters.conformance import ConformanceProfile, SampleCall

from . import ImigrasiAdapter
from .errors import ERROR_CODES, raise_for_error

__all__ = ["PROFILE", "classify"]


def classify(code: str) -> type[AgencyError] | None:
    """The class the adapter raises for an ``{"error": {"code": code}}`` reply (every code is a failure here)."""
    try:
        raise_for_error(code)
    except AgencyError as exc:
        return type(exc)
    return None


PROFILE = ConformanceProfile(
    factory=ImigrasiAdapter,
    settings={"token": "conformance-imigrasi-token-7d41e0", "office": "IMIGRASI-CONFORMANCE"},
    samples=(
        SampleCall(service="imigrasi.appointment.slots", nik="3273014708900001", payload={"days": 3}),
        SampleCall(
            service="imigrasi.appointment.book",
            nik="3273014708900001",
            payload={"slot_id": "IMIGRASI-CONFORMANCE-20260106-0900", "phone": "081234567890"},
        ),
    ),
    documented_codes=tuple(ERROR_CODES),
    classify=classify,
    secret_settings=("token",),
)
"""Fake settings, one valid call per service, and the error table."""
