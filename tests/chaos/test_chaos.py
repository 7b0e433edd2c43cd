"""The short chaos run: nothing accepted is lost, nothing is applied twice, every request ends final and keeps its
audit entries; no journey is lost, none runs a step twice, and every journey ends final."""

from __future__ import annotations

import io

import pytest

from tests.chaos.runner import Options, run


@pytest.mark.slow
async def test_short_chaos_run_loses_and_duplicates_nothing() -> None:
    """Faults, an agency outage and two SIGKILLs of the gateway: 0 lost, 0 duplicated, all final, none missing an
    audit entry, and the audit chain intact; journeys among the traffic: 0 lost, 0 steps duplicated, all final."""
    out = io.StringIO()
    report = await run(Options(duration=24, rate=6, kills=2, outage=5, drain_timeout=120), out=out)
    summary = out.getvalue()
    assert report.kills == 2, summary
    assert report.accepted > 100, summary
    assert report.submissions > 20, summary
    assert report.lost == [], summary
    assert report.unfinished == [], summary
    assert report.duplicated == {}, summary
    assert report.audit_missing == {}, summary
    assert report.audit_intact, summary
    assert report.statuses["completed"] > 0, summary
    assert report.journeys_accepted > 10, summary
    assert report.journeys_lost == [], summary
    assert report.steps_duplicated == [], summary
    assert report.journeys_unfinished == [], summary
