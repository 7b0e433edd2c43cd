"""Builders shared by the store suites: a new request and an attempt."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from contracts import AttemptOutcome, ServiceKind
from gateway import NewRequest, Store, StoredAttempt


@dataclasses.dataclass(frozen=True)
class Backend:
    """One store implementation under test: how to make a store on the test's database, and its driver's errors."""

    name: str
    make: Callable[[], Store]
    #: What inserting a duplicate request id raises (the driver's own error: the stores do not translate it).
    integrity_error: type[Exception]
    #: The SQLite file or the PostgreSQL DSN.
    location: str


def new(
    request_id: str,
    *,
    deadline: float = 60.0,
    kind: str = "lookup",
    client_id: str = "counter-a",
    envelope: dict[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> NewRequest:
    """A request as the API would persist it."""
    return NewRequest(
        id=request_id,
        client_id=client_id,
        service="fake.thing.submit" if kind == "submission" else "fake.thing.lookup",
        agency="fake",
        kind=ServiceKind(kind),
        mpp_id="mpp-a",
        desk="loket-01",
        operator="op-7",
        nik_masked="3201**********01",
        envelope=envelope or {"applicant": {"nik": "3201014708900001"}, "payload": {"value": "x"}},
        trace_id="0" * 31 + "1",
        traceparent=None,
        created_at=created_at or dt.datetime.now(dt.UTC),
        deadline_at=time.time() + deadline,
    )


def attempt(number: int, outcome: str = "completed", detail: str | None = None) -> StoredAttempt:
    """One finished attempt, now."""
    now = dt.datetime.now(dt.UTC)
    return StoredAttempt(number, now, now, AttemptOutcome(outcome), detail)
