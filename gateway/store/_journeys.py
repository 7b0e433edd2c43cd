"""Journeys in the store: the ``journeys`` and ``journey_steps`` tables, the same for SQLite and PostgreSQL.

A journey's step is an ordinary request; its step row names the request of its latest run. Two hooks keep the step
row and the request in step, each inside the request's own transaction:

- :func:`step_link` when the step's request is stored (:meth:`RequestStore.insert` with ``step=``): the step goes
  from ``pending`` to ``running`` under that request, or nothing is stored at all (:class:`StepTaken`);
- the request's final status (:meth:`RequestStore.finish`) sets the step's status in the same transaction
  (:data:`STEP_STATUS` maps one to the other).

Every other change is a conditional update (``WHERE status = ...``), so two replicas advancing the same journey at
once cannot both change it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from contracts import JourneyStatus, RequestStatus, StepStatus

if TYPE_CHECKING:
    from ._journey_search import JourneyPage, JourneyQuery
    from ._port import AuditEvent, NewWebhook
    from ._reports import JourneyRating

__all__ = [
    "JOURNEY_COLUMNS",
    "JOURNEY_GROUPS",
    "STEP_COLUMNS",
    "STEP_STATUS",
    "JourneyStore",
    "NewJourney",
    "StepLink",
    "StepTaken",
    "StoredJourney",
    "StoredJourneyStep",
    "VisitFigures",
    "group_columns",
]

#: The step status a request's status gives its step. ``waiting_agency``: the agency took the work and answers on
#: the request later, so the step is done as far as the journey goes (it has no result to pass on).
STEP_STATUS: Mapping[RequestStatus, StepStatus] = {
    RequestStatus.COMPLETED: StepStatus.COMPLETED,
    RequestStatus.WAITING_AGENCY: StepStatus.COMPLETED,
    RequestStatus.REJECTED: StepStatus.REJECTED,
    RequestStatus.FAILED: StepStatus.FAILED,
}


class StepTaken(Exception):
    """The step was not ``pending`` at the expected run when its request was to be stored (another replica stored
    it, or the journey was cancelled): nothing was stored."""


@dataclasses.dataclass(frozen=True, slots=True)
class StepLink:
    """The journey step a new request runs as (:meth:`RequestStore.insert` ``step=``)."""

    journey_id: str
    step: str
    #: The run this request is: 1, then one more per resume.
    run: int
    #: The ``journey.step`` audit entry, chained after the request's own in the same transaction.
    audit: AuditEvent | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewJourney:
    """A journey as it is stored when it starts: every step ``pending``."""

    id: str
    journey: str
    client_id: str
    mpp_id: str
    desk: str
    operator: str
    nik_masked: str
    #: applicant, consent, payload and callback_url (personal data: sealed at rest).
    envelope: dict[str, Any]
    steps: tuple[str, ...]
    trace_id: str | None
    traceparent: str | None
    visit_budget: float
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class StoredJourneyStep:
    """One step row."""

    name: str
    status: StepStatus
    request_id: str | None
    run: int
    override: dict[str, Any] | None
    problem: dict[str, Any] | None
    skipped_because: str | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class StoredJourney:
    """A journey as the store holds it, with its steps in the definition's order."""

    id: str
    journey: str
    client_id: str
    mpp_id: str
    desk: str
    operator: str
    nik_masked: str
    status: JourneyStatus
    envelope: dict[str, Any]
    result: dict[str, Any] | None
    problem: dict[str, Any] | None
    trace_id: str | None
    traceparent: str | None
    visit_budget: float
    within_visit: bool | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    steps: tuple[StoredJourneyStep, ...]

    def step(self, name: str) -> StoredJourneyStep | None:
        """The step called ``name``, or ``None``."""
        return next((s for s in self.steps if s.name == name), None)


@dataclasses.dataclass(frozen=True, slots=True)
class VisitFigures:
    """Journeys that ended in a window, for one group: how many, and how many within their visit budget."""

    group: tuple[str, ...]
    finished: int
    within_visit: int


class JourneyStore(Protocol):
    """Journeys and their steps; a step's request goes through :meth:`RequestStore.insert` with ``step=``."""

    async def insert_journey(
        self, journey: NewJourney, *, idempotency: tuple[str, str] | None = None, audit: AuditEvent | None = None
    ) -> str | None:
        """Store a new ``running`` journey, its steps ``pending``, and its ``journey.started`` entry, together.

        With ``idempotency=(key, fingerprint)`` a key the client used before returns that journey's id instead
        (``None``: the new one was stored), or raises :class:`IdempotencyMismatch` when the body differed.
        """

    async def get_journey(self, journey_id: str) -> StoredJourney | None:
        """The journey with its steps, or ``None``."""

    async def skip_steps(self, journey_id: str, reasons: Mapping[str, str], *, at: dt.datetime) -> list[str]:
        """Mark the named ``pending`` steps ``skipped`` with their reason; returns those that were pending."""

    async def fail_step(
        self, journey_id: str, step: str, *, run: int, problem: dict[str, Any], at: dt.datetime
    ) -> bool:
        """A ``pending`` step whose request could not be made (its input did not fit the service): ``failed`` at
        ``run`` with ``problem``; ``False`` when it was no longer pending."""

    async def finish_journey(
        self,
        journey_id: str,
        *,
        status: JourneyStatus,
        at: dt.datetime,
        result: dict[str, Any] | None = None,
        problem: dict[str, Any] | None = None,
        webhook: NewWebhook | None = None,
        audit: AuditEvent | None = None,
    ) -> bool:
        """Take a ``running`` journey to a final ``status`` with its webhook and audit entry in one transaction
        (``cancelled`` cancels its pending steps too); ``False`` when it was not running."""

    async def resume_journey(
        self,
        journey_id: str,
        step: str,
        *,
        override: dict[str, Any] | None,
        at: dt.datetime,
        audit: AuditEvent | None = None,
    ) -> bool:
        """A ``failed`` journey back to ``running`` and its ``failed``/``rejected`` step back to ``pending`` with
        its corrected input, together; ``False`` (nothing changed) unless both were so."""

    async def due_journeys(self, limit: int, *, idle_seconds: float) -> list[str]:
        """Running journeys with something to decide (a pending step, or none running), unchanged for
        ``idle_seconds``: what the sweeper advances after a restart or for another replica."""

    async def purge_journeys(self, older_than: float, *, limit: int = 500) -> int:
        """Remove the envelope, result and corrected inputs of up to ``limit`` journeys that ended before
        ``older_than`` (Unix time), and blank their delivered webhooks' bodies, setting ``purged_at``; returns how
        many. Status, steps, counter, masked NIK and timestamps stay. One whose webhook is still tried waits."""

    async def journeys_within_visit(
        self, since: dt.datetime, until: dt.datetime, *, group_by: Sequence[str] = ("journey",)
    ) -> list[VisitFigures]:
        """Journeys finished in ``[since, until)``, by ``group_by`` (``journey``, ``mpp_id``, ``status``): how
        many, and how many within their visit budget."""

    async def search_journeys(self, query: JourneyQuery) -> JourneyPage:
        """Journeys matching ``query``, newest first, as summaries (:mod:`gateway.store._journey_search`)."""

    async def save_journey_rating(
        self, rating: JourneyRating, *, audit: AuditEvent | None = None
    ) -> JourneyRating | None:
        """Keep ``rating`` with its ``audit`` entry in one transaction, unless the journey has a rating already:
        then nothing is written and the earlier rating is returned (``None`` when this one was kept)."""


#: Columns :meth:`JourneyStore.journeys_within_visit` may group by.
JOURNEY_GROUPS = frozenset({"journey", "mpp_id", "status", "client_id"})
JOURNEY_COLUMNS = (
    "id, journey, client_id, mpp_id, desk, operator, nik_masked, status, envelope, result, problem, trace_id, "
    "traceparent, visit_budget, within_visit, created_at, updated_at, finished_at"
)
STEP_COLUMNS = "name, status, request_id, run, override, problem, skipped_because, started_at, finished_at"


def group_columns(group_by: Sequence[str]) -> str:
    """``group_by`` as SQL, refusing anything but :data:`JOURNEY_GROUPS` (:class:`ValueError`)."""
    unknown = [g for g in group_by if g not in JOURNEY_GROUPS]
    if unknown or not group_by:
        raise ValueError(f"journeys group by {sorted(JOURNEY_GROUPS)}, not {unknown or 'nothing'}")
    return ", ".join(group_by)
