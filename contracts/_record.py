"""The request record: what ``GET /v1/requests/{id}`` returns, and its status machine."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._problem import Problem
from ._request import Counter

__all__ = ["TRANSITIONS", "Attempt", "AttemptOutcome", "RequestRecord", "RequestStatus", "Subject"]


class RequestStatus(enum.StrEnum):
    """``accepted -> in_progress -> completed | rejected | failed``, with ``waiting_agency`` for slow agencies."""

    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    WAITING_AGENCY = "waiting_agency"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """True for the states a request never leaves."""
        return self in _FINAL


_FINAL = frozenset({RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.FAILED})

#: The allowed status changes. ``in_progress -> accepted`` is a lease given back (shutdown, expiry).
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.ACCEPTED: frozenset({RequestStatus.IN_PROGRESS, RequestStatus.FAILED}),
    RequestStatus.IN_PROGRESS: frozenset(
        {
            RequestStatus.ACCEPTED,
            RequestStatus.WAITING_AGENCY,
            RequestStatus.COMPLETED,
            RequestStatus.REJECTED,
            RequestStatus.FAILED,
        }
    ),
    RequestStatus.WAITING_AGENCY: frozenset(
        {RequestStatus.IN_PROGRESS, RequestStatus.COMPLETED, RequestStatus.REJECTED, RequestStatus.FAILED}
    ),
    RequestStatus.COMPLETED: frozenset(),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.FAILED: frozenset(),
}


class AttemptOutcome(enum.StrEnum):
    """How one entry of a request's record ended: a call to the agency by class of outcome, a question to the
    agency whether it already has a submission (``reconciled``, ``not_at_agency``), or a wait (``deferred``)."""

    COMPLETED = "completed"
    WAITING_AGENCY = "waiting_agency"
    REJECTED = "rejected"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"
    MISCONFIGURED = "misconfigured"
    #: The agency already had the submission (a call whose answer was lost landed): it is not sent again.
    RECONCILED = "reconciled"
    #: The agency did not have the submission: it is sent again.
    NOT_AT_AGENCY = "not_at_agency"
    #: No call now: the request went back to the queue (circuit open, retries spent, agency saturated); the
    #: detail says why and when it is tried again.
    DEFERRED = "deferred"


class Attempt(BaseModel):
    """One entry of a request's record: a call to the agency, a reconcile call, or a deferral."""

    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    started_at: datetime
    finished_at: datetime
    outcome: AttemptOutcome
    detail: str | None = Field(default=None, description="Why, for the non-completed classes; no personal data.")


class Subject(BaseModel):
    """The citizen a request is about, as the record shows it: masked."""

    model_config = ConfigDict(extra="forbid")

    nik_masked: str = Field(examples=["3201**********01"])


class RequestRecord(BaseModel):
    """The durable record of one service request."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(examples=["req_01JD6Z3T8Q0W5S3R2M1K0H9G8F"])
    service: str
    agency: str
    status: RequestStatus
    client_id: str
    counter: Counter
    subject: Subject
    result: dict[str, Any] | None = None
    agency_reference: str | None = Field(default=None, description="The agency's own id: NIB, card number, ...")
    problem: Problem | None = Field(default=None, description="Why the request was rejected or failed.")
    attempts: list[Attempt] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    trace_id: str | None = None
    purged_at: datetime | None = Field(
        default=None,
        description="When the retention period ended and the personal data (the result, the agency reference and "
        "what the counter sent) was removed; status, attempts and timestamps stay.",
    )
