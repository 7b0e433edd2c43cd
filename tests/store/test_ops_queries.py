"""What operators read from the store, on every implementation: the queue per agency and recent failures by
problem type."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest

from contracts import RequestStatus
from gateway import Store
from tests.store.support import attempt, new

NOW = dt.datetime.now(dt.UTC)


def problem(slug: str) -> dict[str, object]:
    return {"type": f"/problems/{slug}", "title": slug, "status": 503}


async def finish(store: Store, request_id: str, status: RequestStatus, slug: str | None = None, **kw: object) -> None:
    """Store a request of agency ``kw["agency"]`` (default fake) and finish it with ``status``."""
    request = dataclasses.replace(new(request_id), agency=str(kw.get("agency", "fake")))
    await store.insert(request, lease=("a", 30))
    at = kw.get("at")
    assert at is None or isinstance(at, dt.datetime)
    await store.finish(request_id, "a", status=status, attempt=attempt(1),
                       problem=problem(slug) if slug else None, at=at)  # fmt: skip


async def test_queue_by_agency_counts_depth_oldest_and_deferred(store: Store) -> None:
    """Per agency: accepted and in-progress requests, the oldest's acceptance, the deferred ones (next try ahead)
    and their earliest next try; final and waiting requests are not queued."""
    assert await store.queue_by_agency() == []
    oldest = NOW - dt.timedelta(minutes=5)
    await store.insert(dataclasses.replace(new("req_1", created_at=oldest), agency="dukcapil"))
    await store.insert(dataclasses.replace(new("req_2", kind="submission"), agency="dukcapil"), lease=("a", 30))
    await store.insert(dataclasses.replace(new("req_3", kind="submission"), agency="dukcapil"), lease=("a", 30))
    soon, later = time.time() + 60, time.time() + 600
    await store.release("req_2", "a", not_before=later)
    await store.release("req_3", "a", not_before=soon)
    await store.insert(dataclasses.replace(new("req_4"), agency="bpjs-kesehatan"), lease=("a", 30))
    await store.insert(dataclasses.replace(new("req_5"), agency="bpjs-kesehatan"), lease=("a", 30))
    await store.release("req_5", "a", not_before=time.time() - 5)  # due already: not deferred
    await finish(store, "req_6", RequestStatus.COMPLETED, agency="bpjs-kesehatan")
    await finish(store, "req_7", RequestStatus.WAITING_AGENCY, agency="oss")
    bpjs, dukcapil = await store.queue_by_agency()
    assert (dukcapil.agency, dukcapil.depth, dukcapil.deferred) == ("dukcapil", 3, 2)
    assert dukcapil.oldest_at == oldest
    assert dukcapil.next_try_at is not None and dukcapil.next_try_at.timestamp() == pytest.approx(soon, abs=0.001)
    assert (bpjs.agency, bpjs.depth, bpjs.deferred, bpjs.next_try_at) == ("bpjs-kesehatan", 2, 0, None)
    assert bpjs.oldest_at is not None and bpjs.oldest_at.tzinfo is not None


async def test_failures_since_counts_failed_requests_by_problem_type(store: Store) -> None:
    """Failed requests finished since the time, by problem slug, most first; earlier failures, rejections and
    completions are not counted."""
    assert await store.failures_since(NOW - dt.timedelta(hours=1)) == {}
    for i in range(3):
        await finish(store, f"req_u{i}", RequestStatus.FAILED, "agency-unavailable")
    await finish(store, "req_k", RequestStatus.FAILED, "agency-outcome-unknown")
    await finish(store, "req_old", RequestStatus.FAILED, "agency-unavailable", at=NOW - dt.timedelta(hours=2))
    await finish(store, "req_r", RequestStatus.REJECTED, "agency-rejected")
    await finish(store, "req_c", RequestStatus.COMPLETED)
    counts = await store.failures_since(NOW - dt.timedelta(hours=1))
    assert counts == {"agency-unavailable": 3, "agency-outcome-unknown": 1}
    assert list(counts) == ["agency-unavailable", "agency-outcome-unknown"]
    assert await store.failures_since(NOW - dt.timedelta(hours=3)) == {
        "agency-unavailable": 4, "agency-outcome-unknown": 1,
    }  # fmt: skip
