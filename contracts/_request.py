"""The request envelope a counter app sends to ``POST /v1/requests``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ._nik import Nik, contains_nik_like
from ._service import SERVICE_ID_PATTERN

__all__ = ["Applicant", "Consent", "ConsentMethod", "Counter", "ServiceRequest"]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Counter(BaseModel):
    """Where and by whom the request was made: recorded with every request and in the audit trail."""

    model_config = _STRICT

    mpp_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", examples=["mpp-kota-bandung"])
    desk: str = Field(min_length=1, max_length=64, description="The desk, never a NIK.", examples=["loket-07"])
    operator: str = Field(
        min_length=1, max_length=128, description="Operator's staff id, not their name; never a citizen's NIK."
    )


#: Counter fields kept in clear, in the request's row and in the audit log, for as long as those are kept;
#: :func:`contracts.contains_nik_like` says what a NIK-like value is.
_CLEAR_COUNTER_FIELDS = ("mpp_id", "desk", "operator")
_NIK_LIKE_MESSAGE = "must not contain a NIK-like number (16 digits): this field is kept in clear"


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
    given_at: AwareDatetime = Field(
        description="When the citizen gave consent, at the desk for this visit. The gateway accepts a request only "
        "while its consent is valid: not later than a few minutes ahead of the gateway's clock, nor older than the "
        "gateway's consent validity (12 h unless configured otherwise)."
    )

    def invalid_at(self, now: dt.datetime, *, max_age: dt.timedelta, skew: dt.timedelta) -> str | None:
        """Why the consent is not valid at ``now``, or ``None`` when it is.

        Valid means given no later than ``skew`` after ``now`` (counter clocks run a little ahead) and no earlier
        than ``max_age`` before it (a consent covers one visit, not the next one).
        """
        if self.given_at > now + skew:
            return "lies in the future: send the time the citizen gave consent"
        if self.given_at < now - max_age:
            return f"is older than {_duration(max_age)}: take the citizen's consent again for this visit"
        return None


def _duration(span: dt.timedelta) -> str:
    """A span as a person says it: ``12 h``, ``90 min``, ``45 s``."""
    seconds = int(span.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class ServiceRequest(BaseModel):
    """What a counter app asks the gateway to do; ``payload`` is checked against the service's own schema."""

    model_config = _STRICT

    service: str = Field(pattern=SERVICE_ID_PATTERN, max_length=128, examples=["dukcapil.nik.verify"])
    applicant: Applicant
    counter: Counter = Field(
        description="Kept in clear with the request and in the audit log: a field holding a NIK-like number (16 "
        "digits in a row, or in a NIK's groups 4-4-4-4, 6-6-4 or 2-2-2-6-4) is refused."
    )
    consent: Consent | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    callback_url: AnyHttpUrl | None = Field(default=None, max_length=2048)

    @field_validator("counter")
    @classmethod
    def _no_nik_in_clear_counter_fields(cls, counter: Counter) -> Counter:
        return refuse_nik_like_counter(counter)


def refuse_nik_like_counter(counter: Counter) -> Counter:
    """The counter's fields are stored and audited in clear: one holding a NIK-like number is refused.

    The rule belongs to what a counter sends (a request, a journey), not to :class:`Counter` itself, which also
    shows records that were stored before it.
    """
    refused = [
        InitErrorDetails(type=PydanticCustomError("nik_like", _NIK_LIKE_MESSAGE), loc=(name,), input="(withheld)")
        for name in _CLEAR_COUNTER_FIELDS
        if contains_nik_like(getattr(counter, name))
    ]
    if refused:
        raise ValidationError.from_exception_data("Counter", refused)
    return counter
