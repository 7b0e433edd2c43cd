"""The fake adapter's conformance profile, and :func:`profile` for variants with flaws or changed fields."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from adapters.conformance import ConformanceProfile, SampleCall

from . import CHECK, CODES, NO_FLAWS, Flaws, KitFakeAdapter, classify

# A synthetic NIK (Jawa Barat, Kab. Bogor, a woman born 07-08-1990) and a fake key long enough to search for.
NIK = "3201014708900001"
API_KEY = "kit-fake-api-key-6d1f0e93a2"
SETTINGS = {"api_key": API_KEY, "base_url": "https://kit-fake.test/gw/v1"}
SAMPLES = (SampleCall(service=CHECK.id, nik=NIK, payload={"name": "lamp"}),)


def profile(flaws: Flaws = NO_FLAWS, *, services: Sequence[Any] = (CHECK,), **changes: Any) -> ConformanceProfile:
    """The fake's profile, with ``flaws`` in the adapter, other ``services``, and profile fields ``changes``d."""
    base = ConformanceProfile(
        factory=functools.partial(KitFakeAdapter, flaws=flaws, services=services),
        settings=SETTINGS,
        samples=SAMPLES,
        documented_codes=tuple(CODES),
        classify=classify,
        secret_settings=("api_key",),
    )
    return dataclasses.replace(base, **changes)


PROFILE = profile()
