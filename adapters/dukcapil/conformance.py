"""Dukcapil's conformance profile: what the conformance kit builds, calls and checks (``adapters.conformance``)."""

from __future__ import annotations

from adapters import AgencyError
from adapters.conformance import ConformanceProfile, SampleCall

from . import DukcapilAdapter
from .errors import RESPONSE_CODES, raise_for_content

__all__ = ["PROFILE", "classify"]


def classify(code: str) -> type[AgencyError] | None:
    """The class the adapter raises for a reply carrying ``RESPONSE_CODE`` ``code``; ``None`` for a success.

    Asks the adapter's own reading of a reply (:func:`.errors.raise_for_content`), not the table beside it, so the
    kit checks what the adapter really does.
    """
    try:
        raise_for_content({"RESPONSE_CODE": code})
    except AgencyError as exc:
        return type(exc)
    return None


PROFILE = ConformanceProfile(
    factory=DukcapilAdapter,
    # Fake, but shaped like the real ones; long and distinctive, so the leak checks cannot miss them.
    settings={
        "institution": "MPP_KOTA_CONFORMANCE",
        "user_id": "conformance-user-51f3a8",
        "password": "conformance-Pw-9c1e74b2d6",
        "ip_user": "10.99.12.34",
    },
    samples=(
        SampleCall(
            service="dukcapil.nik.verify",
            nik="3273014708900001",
            payload={"full_name": "Siti Rahayu", "birth_date": "1990-08-07", "birth_place": "Bandung"},
        ),
        SampleCall(service="dukcapil.nik.lookup", nik="3273014708900001", payload={}),
    ),
    documented_codes=tuple(RESPONSE_CODES),
    classify=classify,
    # The user id is not secret, but the adapter promises to keep it out of errors and logs all the same.
    secret_settings=("user_id", "password"),
)
"""The Dukcapil adapter's profile for the conformance kit."""
