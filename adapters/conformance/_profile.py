"""What an adapter hands the conformance kit: how to build it, what to call, which agency codes it knows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._base import Adapter, AdapterContext
from .._errors import AgencyError

__all__ = ["ConformanceProfile", "SampleCall"]


@dataclasses.dataclass(frozen=True)
class SampleCall:
    """One valid call of a service, as a counter would make it (the payload in contract form)."""

    service: str
    nik: str
    payload: Mapping[str, Any]
    #: A stable reference for the agency, used by submissions.
    reference: str = "req_01CONFORMANCE00000000000"


@dataclasses.dataclass(frozen=True)
class ConformanceProfile:
    """Published by each adapter package as ``<package>.conformance.PROFILE``.

    ``settings`` are fake but well-formed settings (credentials included) for talking to the kit's hostile
    servers; every value named in ``secret_settings`` must never appear in an error message, a repr or a log line.
    ``documented_codes`` lists every error code the agency's documentation names, and ``classify`` is the
    adapter's own reading of a code: the class it raises for it, or ``None`` for a success code.
    """

    factory: Callable[[AdapterContext], Adapter]
    settings: Mapping[str, str]
    samples: Sequence[SampleCall]
    documented_codes: Sequence[str] = ()
    classify: Callable[[str], type[AgencyError] | None] | None = None
    secret_settings: Sequence[str] = ()
    #: Path prefix of the agency's API under its host (``/vclaim-rest``). ``None`` takes the path of
    #: ``settings["base_url"]``; the hostile battery serves every scenario under ``http://127.0.0.1:<port><prefix>``.
    base_path: str | None = None
