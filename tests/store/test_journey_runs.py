"""Journey search and journey ratings in the store, against every implementation: newest first by keyset, filters
and a reader's scope, summaries without personal data, a rating kept once with its audit entry, and counted in the
service-level report once per row its journey's steps reached."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from contracts import JourneyStatus, RequestStatus
from gateway import Store
from gateway.store import (
    AuditEvent,
    JourneyQuery,
    JourneyRating,
    ReaderScope,
    ReportQuery,
    SearchCursor,
    StepLink,
)
from tests.store.support import attempt, new
from tests.store.test_journeys_store import journey

BASE = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
LATER = BASE + dt.timedelta(days=2)
NIK = "3201014708900001"


async def started(
    store: Store, journey_id: str, *, at: dt.datetime, mpp_id: str = "mpp-a", client_id: str = "counter-a",
    name: str = "test.flow", steps: tuple[str, ...] = ("a", "b"),
) -> None:
    """A journey started at ``at``."""
    j = dataclasses.replace(
        journey(journey_id, steps=steps), created_at=at, mpp_id=mpp_id, client_id=client_id, journey=name
    )
    assert await store.insert_journey(j) is None


async def step_done(
    store: Store, journey_id: str, step: str, request_id: str, *, agency: str = "fake",
    service: str = "fake.thing.lookup", at: dt.datetime = BASE,
) -> None:
    """The step's request made at ``at`` and completed at once."""
    request = dataclasses.replace(new(request_id, created_at=at), agency=agency, service=service)
    await store.insert(request, lease=("w", 60), step=StepLink(journey_id, step, 1))
    await store.finish(request_id, "w", status=RequestStatus.COMPLETED, attempt=attempt(1), at=at)


async def test_search_pages_newest_first_without_repeats(store: Store) -> None:
    """Five journeys come back newest first in pages of two, each once, the cursor of the last page None."""
    for i in range(5):
        await started(store, f"jrn_{i}", at=BASE + dt.timedelta(minutes=i))
    seen: list[str] = []
    after: SearchCursor | None = None
    while True:
        page = await store.search_journeys(JourneyQuery(limit=2, after=after))
        seen += [j.id for j in page.journeys]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == ["jrn_4", "jrn_3", "jrn_2", "jrn_1", "jrn_0"]


async def test_search_filters_and_scopes(store: Store) -> None:
    """status, journey, mpp_id, id and the time window each narrow the search; a counter's scope holds its own
    journeys and its MPP's, not another MPP's."""
    await started(store, "jrn_a", at=BASE, name="flow.one")
    await started(store, "jrn_b", at=BASE + dt.timedelta(minutes=1), mpp_id="mpp-b", client_id="counter-b")
    await started(store, "jrn_c", at=BASE + dt.timedelta(minutes=2), client_id="counter-c")
    assert await store.finish_journey("jrn_c", status=JourneyStatus.FAILED, at=BASE + dt.timedelta(minutes=3))

    async def ids(**kw: object) -> list[str]:
        return [j.id for j in (await store.search_journeys(JourneyQuery(**kw))).journeys]  # type: ignore[arg-type]

    assert await ids() == ["jrn_c", "jrn_b", "jrn_a"]
    assert await ids(statuses=(JourneyStatus.FAILED,)) == ["jrn_c"]
    assert await ids(statuses=(JourneyStatus.RUNNING, JourneyStatus.CANCELLED)) == ["jrn_b", "jrn_a"]
    assert await ids(journey="flow.one") == ["jrn_a"]
    assert await ids(mpp_id="mpp-b") == ["jrn_b"]
    assert await ids(journey_id="jrn_b") == ["jrn_b"]
    assert await ids(since=BASE + dt.timedelta(minutes=1), until=BASE + dt.timedelta(minutes=2)) == ["jrn_b"]
    assert await ids(scope=ReaderScope("counter-a", "mpp-a")) == ["jrn_c", "jrn_a"]
    assert await ids(scope=ReaderScope("counter-a")) == ["jrn_a"]
    assert await ids(scope=ReaderScope("counter-b", "mpp-b")) == ["jrn_b"]


async def test_a_summary_counts_steps_done_and_holds_no_personal_data(store: Store) -> None:
    """A journey with one of three steps completed and one skipped reads 2 of 3 done, with its masked NIK, its
    status and timing; the summary never holds the NIK nor the payload."""
    await started(store, "jrn_1", at=BASE, steps=("a", "b", "c"))
    await step_done(store, "jrn_1", "a", "req_a")
    await store.skip_steps("jrn_1", {"b": "already a member"}, at=BASE)
    [found] = (await store.search_journeys(JourneyQuery())).journeys
    assert (found.steps_done, found.steps_total, found.status, found.within_visit) == (2, 3, "running", None)
    summary = found.as_dict()
    assert summary["applicant"] == {"nik_masked": "3201**********01"}
    assert summary["created_at"] == BASE.isoformat()
    assert NIK not in str(summary) and "1234" not in str(summary)


async def test_a_journey_is_rated_once_with_its_audit_entry(store: Store) -> None:
    """The first rating is kept with its journey.rated entry; a second keeps nothing and returns the first."""
    await started(store, "jrn_1", at=BASE)
    first = JourneyRating("jrn_1", "test.flow", "mpp-a", BASE, {"waktu": 4, "prosedur": 3})
    entry = AuditEvent("journey.rated", BASE, "counter-a", "mpp-a", service="test.flow", request_id="jrn_1")
    assert await store.save_journey_rating(first, audit=entry) is None
    kept = await store.save_journey_rating(dataclasses.replace(first, scores={"waktu": 1}, rated_at=LATER))
    assert kept is not None and (kept.journey_id, kept.scores, kept.rated_at) == (
        "jrn_1", {"waktu": 4, "prosedur": 3}, BASE
    )
    actions = [e.event.action for e in await store.audit_entries(0, 100)]
    assert actions.count("journey.rated") == 1


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        (("agency",), {("fake",): 1, ("other",): 1}),
        (("agency", "service"), {("fake", "fake.thing.lookup"): 1, ("fake", "fake.thing.check"): 1,
                                 ("other", "other.lookup"): 1}),
        (("mpp",), {("mpp-a",): 1}),
    ],
)  # fmt: skip
async def test_a_journey_rating_counts_once_in_each_row_its_steps_reached(
    store: Store, group_by: tuple[str, ...], expected: dict[tuple[str, ...], int]
) -> None:
    """A journey whose three steps used two services of one agency and one of another counts its rating once in
    each agency's row (not once per step), once per service row, and once in its MPP's row."""
    await started(store, "jrn_1", at=BASE, steps=("a", "b", "c"))
    await step_done(store, "jrn_1", "a", "req_a")
    await step_done(store, "jrn_1", "b", "req_b", service="fake.thing.check")
    await step_done(store, "jrn_1", "c", "req_c", agency="other", service="other.lookup")
    assert await store.finish_journey("jrn_1", status=JourneyStatus.COMPLETED, at=BASE + dt.timedelta(seconds=5))
    await store.save_journey_rating(JourneyRating("jrn_1", "test.flow", "mpp-a", LATER, {"waktu": 4, "biaya": 2}))
    query = ReportQuery(BASE, BASE + dt.timedelta(hours=1), "hour", group_by)
    rows = await store.service_levels(query, now=LATER)
    got = {tuple(v for _, v in row.group): row.ratings for row in rows}
    assert got == expected
    assert {row.rating_mean for row in rows} == {3.0}
    assert all(row.rating_elements == {"waktu": 4.0, "biaya": 2.0} for row in rows)
