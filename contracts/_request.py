"""The request envelope a counter app sends to ``POST /v1/requests``."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

from ._nik import Nik
from ._service import SERVICE_ID_PATTERN

__all__ = ["Applicant", "Consent", "ConsentMethod", "Counter", "ServiceRequest"]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Counter(BaseModel):
    """Where and by whom the request was made: recorded with every request and in the audit trail."""

    model_config = _STRICT

    mpp_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", examples=["mpp-kota-bandung"])
    desk: str = Field(min_length=1, max_length=64, examples=["loket-07"])
    operator: str = Field(min_length=1, max_length=128, description="Operator's staff id, not their name.")


class Applicant(BaseModel):
    """The citizen the request is about."""

    model_config = _STRICT

    nik: Nik


class ConsentMethod(enum.StrEnum):
    """How the citizen gave consent."""

    WRITTEN = "written"
    ELECTRONIC = "electronic"
    VERBAL_RECORDED = "verbal_recorded"


class Consent(BaseModel):
    """The citizen's consent to read their personal data, required by services flagged ``personal_data``."""

    model_config = _STRICT

    method: ConsentMethod
    reference: str = Field(min_length=1, max_length=128, description="Form number or e-consent receipt.")
    given_at: AwareDatetime


class ServiceRequest(BaseModel):
    """What a counter app asks the gateway to do; ``payload`` is checked against the service's own schema."""

    model_config = _STRICT

    service: str = Field(pattern=SERVICE_ID_PATTERN, max_length=128, examples=["dukcapil.nik.verify"])
    applicant: Applicant
    counter: Counter
    consent: Consent | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    callback_url: AnyHttpUrl | None = Field(default=None, max_length=2048)
