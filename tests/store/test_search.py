"""Searching requests, against every store implementation: filters, a reader's scope, keyset pages, counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from contracts import RequestStatus
from gateway import Store
from gateway.store import ReaderScope, RequestQuery, SearchCursor
from tests.store.support import attempt, new

T0 = dt.datetime(2026, 12, 6, 1, 0, tzinfo=dt.UTC)


def problem(slug: str) -> dict[str, Any]:
    return {"type": f"/problems/{slug}", "title": slug, "status": 503, "detail": "the fake call timed out"}


async def make(
    store: Store,
    request_id: str,
    minutes: float,
    *,
    status: RequestStatus = RequestStatus.ACCEPTED,
    slug: str | None = None,
    **fields: Any,
) -> None:
    """A request created ``minutes`` after :data:`T0`, brought to ``status`` (failed/rejected with ``slug``)."""
    created = T0 + dt.timedelta(minutes=minutes)
    await store.insert(dataclasses.replace(new(request_id, created_at=created), **fields))
    if status is RequestStatus.ACCEPTED:
        return
    assert await store.claim(request_id, "w", 30) is not None
    if status is RequestStatus.IN_PROGRESS:
        return
    outcome = {"completed": "completed", "rejected": "rejected", "failed": "transient"}[status]
    result = {"value": "secret result"} if status is RequestStatus.COMPLETED else None
    done = await store.finish(request_id, "w", status=status, attempt=attempt(1, outcome), result=result,
                              agency_reference="REF-9" if result else None,
                              problem=problem(slug) if slug else None)  # fmt: skip
    assert done


async def ids(store: Store, **query: Any) -> list[str]:
    page = await store.search(RequestQuery(**query))
    return [row.id for row in page.requests]


@pytest.fixture
async def filled(store: Store) -> Store:
    """Eight requests across two MPPs, two clients, two agencies and every final status."""
    await make(store, "req_01", 0)
    await make(store, "req_02", 1, status=RequestStatus.IN_PROGRESS, agency="other", service="other.lookup")
    await make(store, "req_03", 2, status=RequestStatus.COMPLETED)
    await make(store, "req_04", 3, status=RequestStatus.FAILED, slug="agency-unavailable")
    await make(store, "req_05", 4, status=RequestStatus.FAILED, slug="deadline-exceeded", mpp_id="mpp-b",
               client_id="counter-b")  # fmt: skip
    await make(store, "req_06", 5, status=RequestStatus.REJECTED, slug="nik-not-found", mpp_id="mpp-b",
               client_id="counter-b")  # fmt: skip
    await make(store, "req_07", 6, status=RequestStatus.FAILED, slug="agency-unavailable", client_id="kiosk")
    await make(store, "req_08", 7, mpp_id="mpp-b", client_id="regional")
    return store


async def test_search_without_filters_is_every_request_newest_first(filled: Store) -> None:
    """No filter, no scope: every request, newest created first."""
    assert await ids(filled) == [f"req_0{n}" for n in range(8, 0, -1)]


async def test_each_filter_narrows_the_search(filled: Store) -> None:
    """Status (one or several), service, agency, MPP, problem slug, id and the time window each select their rows."""
    assert await ids(filled, statuses=(RequestStatus.FAILED,)) == ["req_07", "req_05", "req_04"]
    assert await ids(filled, statuses=(RequestStatus.REJECTED, RequestStatus.COMPLETED)) == ["req_06", "req_03"]
    assert await ids(filled, service="other.lookup") == ["req_02"]
    assert await ids(filled, agency="other") == ["req_02"]
    assert await ids(filled, mpp_id="mpp-b") == ["req_08", "req_06", "req_05"]
    assert await ids(filled, problem="agency-unavailable") == ["req_07", "req_04"]
    assert await ids(filled, problem="nik-not-found") == ["req_06"]
    assert await ids(filled, request_id="req_03") == ["req_03"]
    assert await ids(filled, request_id="req_99") == []
    assert await ids(filled, since=T0 + dt.timedelta(minutes=5)) == ["req_08", "req_07", "req_06"]
    assert await ids(filled, until=T0 + dt.timedelta(minutes=2)) == ["req_02", "req_01"]
    # Times in another zone mean the same instants.
    wib = dt.timezone(dt.timedelta(hours=7))
    window = {"since": (T0 + dt.timedelta(minutes=2)).astimezone(wib), "until": (T0 + dt.timedelta(minutes=4))}
    assert await ids(filled, **window) == ["req_04", "req_03"]
    both = {"statuses": (RequestStatus.FAILED,), "mpp_id": "mpp-a", "problem": "agency-unavailable"}
    assert await ids(filled, **both) == ["req_07", "req_04"]


async def test_a_readers_scope_is_its_own_requests_and_its_mpps(filled: Store) -> None:
    """A client bound to an MPP finds its own and its MPP's requests; a regional client its own only."""
    assert await ids(filled, scope=ReaderScope("counter-b", "mpp-b")) == ["req_08", "req_06", "req_05"]
    assert await ids(filled, scope=ReaderScope("regional", None)) == ["req_08"]
    assert await ids(filled, scope=ReaderScope("kiosk", "mpp-a")) == ["req_07", "req_04", "req_03", "req_02", "req_01"]
    # A filter cannot widen the scope.
    assert await ids(filled, scope=ReaderScope("regional", None), mpp_id="mpp-a") == []
    assert await ids(filled, scope=ReaderScope("counter-b", "mpp-b"), request_id="req_01") == []


async def test_pages_follow_one_another_by_cursor(filled: Store) -> None:
    """Pages of three: each next_cursor leads on without gaps or repeats; the last page has none."""
    seen: list[str] = []
    after: SearchCursor | None = None
    pages = 0
    while True:
        page = await filled.search(RequestQuery(limit=3, after=after))
        seen += [row.id for row in page.requests]
        pages += 1
        if page.next_cursor is None:
            break
        assert SearchCursor.decode(page.next_cursor.encode()) == page.next_cursor
        after = page.next_cursor
    assert pages == 3
    assert seen == [f"req_0{n}" for n in range(8, 0, -1)]
    exact = await filled.search(RequestQuery(limit=8))
    assert len(exact.requests) == 8 and exact.next_cursor is None


async def test_requests_created_at_the_same_instant_page_by_id(store: Store) -> None:
    """Ties on created_at are broken by id, so a page boundary among them loses and repeats nothing."""
    for n in range(5):
        await make(store, f"req_1{n}", 0)
    first = await store.search(RequestQuery(limit=2))
    second = await store.search(RequestQuery(limit=2, after=first.next_cursor))
    third = await store.search(RequestQuery(limit=2, after=second.next_cursor))
    found = [r.id for page in (first, second, third) for r in page.requests]
    assert found == ["req_14", "req_13", "req_12", "req_11", "req_10"]
    assert third.next_cursor is None


async def test_rows_carry_attempts_and_no_personal_data_unless_asked(filled: Store) -> None:
    """A search's rows carry their attempts and problem; the envelope, result and reference only when asked."""
    page = await filled.search(RequestQuery(request_id="req_03"))
    (row,) = page.requests
    assert [(a.number, a.outcome) for a in row.attempts] == [(1, "completed")]
    assert (row.envelope, row.result, row.agency_reference) == ({}, None, None)
    assert (row.status, row.nik_masked) == ("completed", "3201**********01")
    assert row.created_at == T0 + dt.timedelta(minutes=2)
    full = await filled.search(RequestQuery(request_id="req_03", with_personal_data=True))
    assert full.requests[0] == await filled.get("req_03")
    (failed,) = (await filled.search(RequestQuery(request_id="req_04"))).requests
    assert failed.problem == problem("agency-unavailable")


async def test_requests_by_status_counts_those_created_since(filled: Store) -> None:
    """Counts by status of the requests created since a time, every status named."""
    counts = await filled.requests_by_status(T0 + dt.timedelta(minutes=2))
    assert counts == {"accepted": 1, "in_progress": 0, "waiting_agency": 0, "completed": 1, "rejected": 1, "failed": 3}
    assert sum((await filled.requests_by_status(T0 - dt.timedelta(days=1))).values()) == 8


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"until": dt.datetime(2026, 1, 1)}, "time zone"),
        ({"problem": "/problems/x"}, "slug"),
    ],
)
def test_a_query_out_of_bounds_is_refused(bad: dict[str, Any], message: str) -> None:
    """A limit outside 1..500, a time without its zone or a problem that is not a slug is a ValueError."""
    with pytest.raises(ValueError, match=message):
        RequestQuery(**bad)


@pytest.mark.parametrize("text", ["", "x", "bm90LWEtY3Vyc29y", "MjAyNi0xMi0wNlQwMTowMDowMHw"])
def test_a_cursor_not_written_by_the_store_is_refused(text: str) -> None:
    """Garbage, text without the separator, or a time without its zone is not a cursor."""
    with pytest.raises(ValueError, match="not a cursor"):
        SearchCursor.decode(text)
