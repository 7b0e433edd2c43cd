"""Journeys: several agencies' services run as one durable unit for a citizen at the counter.

``POST /v1/journeys`` takes a :class:`JourneyRequest`; ``GET /v1/journeys/{id}`` returns a :class:`JourneyRecord`;
``GET /v1/journeys`` lists :class:`JourneyDescriptor` entries.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from ._problem import Problem
from ._record import Subject
from ._request import Applicant, Consent, Counter, refuse_nik_like_counter
from ._service import LocalizedText

__all__ = [
    "JOURNEY_ID_PATTERN",
    "STEP_NAME_PATTERN",
    "JourneyDescriptor",
    "JourneyRecord",
    "JourneyRequest",
    "JourneyStatus",
    "JourneyStepDescriptor",
    "JourneyStepRecord",
    "JourneyStepResume",
    "StepStatus",
]

#: ``<area>.<name>``: lower-case letters, digits and hyphens (``business.micro-start``).
JOURNEY_ID_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$"
#: A step's name within its journey: lower-case letters, digits and underscores (``bpjstk_register``).
STEP_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"


class JourneyStatus(enum.StrEnum):
    """``running -> completed | failed | cancelled``; a failed journey may be resumed (back to ``running``)."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True for the states a journey stays in unless resumed (``failed``) or never leaves."""
        return self is not JourneyStatus.RUNNING


class StepStatus(enum.StrEnum):
    """One step's state: ``pending`` until its inputs are known, ``running`` once its request is stored, then
    ``completed``, ``rejected`` or ``failed`` with its request, ``skipped`` when its condition is false or an
    input it needs was never produced, ``cancelled`` with its journey."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        """True once the step will not change unless the journey is resumed."""
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)


class JourneyRequest(BaseModel):
    """What a counter app sends to start a journey: the citizen, counter and consent once, for every step."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    journey: str = Field(pattern=JOURNEY_ID_PATTERN, max_length=96, examples=["counter.membership-check"])
    applicant: Applicant
    counter: Counter = Field(
        description="Kept in clear with the journey, its steps' requests and the audit log: a field holding a "
        "NIK-like number is refused."
    )
    consent: Consent | None = Field(
        default=None, description="Required when any step's service reads personal data; it covers every step."
    )
    payload: dict[str, Any] = Field(
        default_factory=dict, description="The journey's own input, checked against its payload_schema."
    )
    callback_url: AnyHttpUrl | None = Field(
        default=None, max_length=2048, description="Called once, when the journey ends (journey.status)."
    )


    @field_validator("counter")
    @classmethod
    def _no_nik_in_clear_counter_fields(cls, counter: Counter) -> Counter:
        return refuse_nik_like_counter(counter)


class JourneyStepResume(BaseModel):
    """``POST /v1/journeys/{id}/resume``: run a failed or rejected step again, with corrected input."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(pattern=STEP_NAME_PATTERN)
    payload: dict[str, Any] | None = Field(
        default=None,
        description="Fields replacing those of the step's payload (the rest still come from the definition); "
        "omitted: the same payload, tried again.",
    )


class JourneyStepDescriptor(BaseModel):
    """One step as ``GET /v1/journeys`` describes it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    service: str
    title: LocalizedText
    needs: list[str] = Field(default_factory=list, description="Steps that finish before this one starts.")
    required: bool
    conditional: bool = Field(description="True when the step runs only if its condition holds.")


class JourneyDescriptor(BaseModel):
    """One entry of ``GET /v1/journeys``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: LocalizedText
    description: LocalizedText | None = None
    visit_budget_seconds: float
    personal_data: bool = Field(description="True when any step reads personal data: consent is required.")
    payload_schema: dict[str, Any]
    result_schema: dict[str, Any]
    steps: list[JourneyStepDescriptor]


class JourneyStepRecord(BaseModel):
    """One step of a journey's record."""

    model_config = ConfigDict(extra="forbid")

    name: str
    service: str
    status: StepStatus
    required: bool
    request_id: str | None = Field(default=None, description="The service request the step ran as (its record "
                                   "has the attempts).")  # fmt: skip
    result: dict[str, Any] | None = None
    problem: Problem | None = None
    attempts: int = Field(default=0, description="Agency calls the step's request made.")
    runs: int = Field(default=0, description="Times the step was started: 1, plus one per resume.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    skipped_because: str | None = Field(default=None, description="Why a skipped step did not run.")


class JourneyRecord(BaseModel):
    """The durable record of one journey."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(examples=["jrn_01JD6Z3T8Q0W5S3R2M1K0H9G8F"])
    journey: str
    status: JourneyStatus
    client_id: str
    counter: Counter
    subject: Subject
    steps: list[JourneyStepRecord]
    result: dict[str, Any] | None = Field(default=None, description="The combined answer, once completed.")
    problem: Problem | None = Field(default=None, description="Why the journey failed: its first failed step.")
    visit_budget_seconds: float
    within_visit: bool | None = Field(
        default=None, description="Once final: whether it ended within the visit budget counted from its start."
    )
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    trace_id: str | None = None
