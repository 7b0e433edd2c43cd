"""Service levels and ratings in the store, against every implementation: the report computed from the requests,
exact percentiles, UTC buckets, ratings kept once with their audit entry, availability from the circuit records."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from contracts import RequestStatus
from gateway import Store
from gateway.store import AuditEvent, CircuitTransition, Rating, ReportQuery, ServiceLevelRow
from tests.store.support import Backend, Raw, attempt, new

#: An hour in the past that every test's requests fall in.
BASE = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
LATER = BASE + dt.timedelta(days=2)


def unavailable(slug: str) -> dict[str, Any]:
    """A stored problem of type ``slug``."""
    return {"type": f"/problems/{slug}", "title": slug, "status": 503}


async def made(
    store: Store,
    request_id: str,
    status: str | None,
    *,
    at: dt.datetime = BASE,
    took_ms: float = 100.0,
    problem: dict[str, Any] | None = None,
    agency: str = "fake",
    service: str = "fake.thing.lookup",
    mpp_id: str = "mpp-a",
) -> None:
    """A request accepted at ``at`` and, unless ``status`` is ``None``, finished ``took_ms`` later."""
    request = dataclasses.replace(new(request_id, created_at=at), agency=agency, service=service, mpp_id=mpp_id)
    await store.insert(request, lease=("w", 60))
    if status is not None:
        await store.finish(
            request_id, "w", status=RequestStatus(status), attempt=attempt(1), problem=problem,
            at=at + dt.timedelta(milliseconds=took_ms),
        )  # fmt: skip


def report(
    start: dt.datetime = BASE, hours: float = 1, *, bucket: str = "hour", group_by: tuple[str, ...] = ("agency",)
) -> ReportQuery:
    return ReportQuery(start, start + dt.timedelta(hours=hours), bucket, group_by)  # type: ignore[arg-type]


def only(rows: list[ServiceLevelRow]) -> dict[str, Any]:
    assert len(rows) == 1, rows
    return rows[0].as_dict()


async def test_report_counts_outcomes_by_problem_type_and_survives_reopen(backend: Backend) -> None:
    """5 completed, 2 failed (two problem types), 1 rejected and 1 not final are counted per agency and service,
    the same by a new store on the same database."""
    first = backend.make()
    await first.open()
    for i in range(5):
        await made(first, f"req_c{i}", "completed", at=BASE + dt.timedelta(minutes=i))
    await made(first, "req_f1", "failed", problem=unavailable("agency-unavailable"))
    await made(first, "req_f2", "failed", problem=unavailable("deadline-exceeded"))
    await made(first, "req_r1", "rejected", problem=unavailable("agency-rejected"))
    await made(first, "req_p1", None)
    await made(first, "req_o1", "completed", agency="other", service="other.lookup")
    await first.aclose()
    second = backend.make()
    await second.open()
    rows = await second.service_levels(report(group_by=("agency", "service")), now=LATER)
    await second.aclose()
    assert [(r.bucket_start, dict(r.group)) for r in rows] == [
        (BASE, {"agency": "fake", "service": "fake.thing.lookup"}),
        (BASE, {"agency": "other", "service": "other.lookup"}),
    ]
    fake = rows[0].as_dict()
    assert (fake["requests"], fake["completed"], fake["failed"], fake["rejected"]) == (9, 5, 2, 1)
    assert fake["failed_by_problem"] == {"agency-unavailable": 1, "deadline-exceeded": 1}
    assert fake["bucket_start"] == "2026-11-02T08:00:00+00:00"
    assert (fake["journeys_within_visit"], fake["ratings"], fake["rating_mean"], fake["rating_elements"]) == (
        None, 0, None, {},
    )  # fmt: skip
    assert rows[1].as_dict()["requests"] == 1


async def test_percentiles_are_exact_over_final_requests(store: Store) -> None:
    """p50/p95/p99 interpolate linearly between the final requests' durations (percentile_cont); a request not
    final has no duration."""
    for i in range(10):
        await made(store, f"req_{i}", "completed", at=BASE + dt.timedelta(seconds=i), took_ms=100.0 * (i + 1))
    await made(store, "req_open", None)
    row = only(await store.service_levels(report(), now=LATER))
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (550.0, 955.0, 991.0)


async def test_percentiles_match_postgresqls_percentile_cont(backend: Backend, store: Store, raw: Raw) -> None:
    """On PostgreSQL, the report's percentiles are those percentile_cont computes over the same durations."""
    if backend.name != "postgres":
        pytest.skip("percentile_cont is PostgreSQL's")
    for i, took in enumerate([12.5, 80.0, 81.0, 300.0, 7.25, 1999.0, 45.0]):
        await made(store, f"req_{i}", "completed", at=BASE + dt.timedelta(seconds=i), took_ms=took)
    [cont] = await raw.rows(
        "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
        "(ORDER BY extract(epoch FROM finished_at - created_at) * 1000) FROM requests"
    )
    row = only(await store.service_levels(report(), now=LATER))
    assert [row["p50_ms"], row["p95_ms"], row["p99_ms"]] == [round(float(v), 1) for v in cont[0]]


async def test_buckets_are_utc_hours_and_days_and_the_window_is_half_open(store: Store) -> None:
    """Requests fall in the UTC hour or day of their acceptance; one accepted at ``to`` is left out, one at
    ``from`` counted."""
    midnight = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    await made(store, "req_a", "completed", at=midnight - dt.timedelta(hours=2))
    await made(store, "req_b", "completed", at=midnight - dt.timedelta(minutes=30))
    await made(store, "req_c", "failed", at=midnight + dt.timedelta(minutes=30), problem=unavailable("x-y"))
    await made(store, "req_d", "completed", at=midnight + dt.timedelta(hours=1))
    hourly = await store.service_levels(report(midnight - dt.timedelta(hours=2), 3), now=LATER)
    assert [(r.bucket_start.isoformat(), r.requests) for r in hourly] == [
        ("2026-11-02T22:00:00+00:00", 1), ("2026-11-02T23:00:00+00:00", 1), ("2026-11-03T00:00:00+00:00", 1),
    ]  # fmt: skip
    daily = await store.service_levels(report(midnight - dt.timedelta(hours=2), 3, bucket="day"), now=LATER)
    assert [(r.bucket_start.isoformat(), r.completed, r.failed) for r in daily] == [
        ("2026-11-02T00:00:00+00:00", 2, 0), ("2026-11-03T00:00:00+00:00", 0, 1),
    ]  # fmt: skip


async def test_grouping_by_mpp_has_no_agency_or_availability(store: Store) -> None:
    """Grouped by MPP each MPP has its row (``mpp_id``) without agency or availability."""
    await made(store, "req_1", "completed", mpp_id="mpp-a")
    await made(store, "req_2", "completed", mpp_id="mpp-b")
    await made(store, "req_3", "rejected", mpp_id="mpp-b")
    rows = [r.as_dict() for r in await store.service_levels(report(group_by=("mpp",)), now=LATER)]
    assert [(r["mpp_id"], r["requests"], "agency" in r, r["availability"]) for r in rows] == [
        ("mpp-a", 1, False, None), ("mpp-b", 2, False, None),
    ]  # fmt: skip


async def test_a_request_is_rated_once_with_its_audit_entry(store: Store) -> None:
    """The first rating is kept with its audit entry in one transaction; a second one keeps nothing and returns
    the first."""
    await made(store, "req_1", "completed")
    first = Rating("req_1", "fake.thing.lookup", "fake", "mpp-a", BASE, {"waktu": 4, "biaya": 3})
    entry = AuditEvent("request.rated", BASE, "counter-a", "mpp-a", service="fake.thing.lookup", request_id="req_1")
    assert await store.save_rating(first, audit=entry) is None
    again = dataclasses.replace(first, scores={"waktu": 1}, rated_at=LATER)
    kept = await store.save_rating(again, audit=entry)
    assert kept is not None and (kept.scores, kept.rated_at) == ({"waktu": 4, "biaya": 3}, BASE)
    actions = [e.event.action for e in await store.audit_entries(0, 100)]
    assert actions.count("request.rated") == 1


async def test_ratings_are_aggregated_per_element_into_the_request_row(store: Store) -> None:
    """Ratings count in their request's bucket and group: per element the mean of its scores, overall the mean of
    the element means."""
    for i in range(3):
        await made(store, f"req_{i}", "completed")
    await store.save_rating(Rating("req_0", "fake.thing.lookup", "fake", "mpp-a", LATER, {"waktu": 4, "biaya": 2}))
    await store.save_rating(Rating("req_1", "fake.thing.lookup", "fake", "mpp-a", LATER, {"waktu": 3}))
    row = only(await store.service_levels(report(), now=LATER))
    assert row["ratings"] == 2
    assert row["rating_elements"] == {"waktu": 3.5, "biaya": 2.0}
    assert row["rating_mean"] == 2.75


async def test_report_counts_requests_after_the_retention_purge(store: Store) -> None:
    """Purging personal data keeps what the report reads: the counts and durations are unchanged."""
    await made(store, "req_1", "completed", took_ms=250)
    await made(store, "req_2", "failed", problem=unavailable("agency-unavailable"))
    before = await store.service_levels(report(), now=LATER)
    assert await store.purge_personal_data(LATER.timestamp()) == 2
    assert await store.service_levels(report(), now=LATER) == before


def heartbeats(replica: str, states: list[tuple[dt.datetime, str]]) -> list[CircuitTransition]:
    """A replica's records: each state, repeated every five minutes until the next (as the dispatcher does)."""
    out = []
    ends = [at for at, _ in states[1:]] + [states[-1][0] + dt.timedelta(minutes=5)]
    for (at, state), until in zip(states, ends, strict=True):
        while at < until:
            out.append(CircuitTransition("fake", replica, at, state))
            at += dt.timedelta(minutes=5)
    return out


async def test_availability_is_the_closed_share_averaged_over_replicas(store: Store) -> None:
    """One replica closed all hour, another open for its second half: 75 %; an hour nobody reported is None."""
    await made(store, "req_1", "completed")
    await made(store, "req_2", "completed", at=BASE + dt.timedelta(hours=2))
    minutes = dt.timedelta(minutes=1)
    await store.record_circuit(heartbeats("a", [(BASE - 3 * minutes, "closed"), (BASE + 60 * minutes, "closed")]))
    await store.record_circuit(
        heartbeats("b", [(BASE, "closed"), (BASE + 30 * minutes, "open"), (BASE + 60 * minutes, "open")])
    )
    rows = await store.service_levels(report(hours=3), now=LATER)
    assert [(r.bucket_start, r.availability) for r in rows] == [(BASE, 0.75), (BASE + dt.timedelta(hours=2), None)]


async def test_report_window_reads_nothing_outside(store: Store) -> None:
    """A window without requests has no rows."""
    await made(store, "req_1", "completed")
    assert await store.service_levels(report(BASE + dt.timedelta(hours=1)), now=LATER) == []


@pytest.mark.parametrize("bad", [{"persyaratan": 5}, {"prosedur": 0}])
async def test_the_database_refuses_a_score_out_of_range(store: Store, bad: dict[str, int]) -> None:
    """The ratings table holds scores 1-4 only, whatever a caller sends past the API's validation."""
    await made(store, "req_1", "completed")
    with pytest.raises(Exception):  # noqa: B017, PT011 - each driver's own constraint error
        await store.save_rating(Rating("req_1", "fake.thing.lookup", "fake", "mpp-a", BASE, bad))
    assert await store.save_rating(Rating("req_1", "fake.thing.lookup", "fake", "mpp-a", BASE, {"waktu": 4})) is None
