"""A reply the adapter cannot read is final: one attempt, ``agency-protocol-error``, counted and logged by names."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from adapters import AgencyMisconfigured, AgencyProtocolError, TransientAgencyError
from gateway import SqliteStore
from tests.fakes import FakeAdapter

from .test_dispatch import Harness, new, submission


@pytest.fixture
async def harness(tmp_path: Path) -> Harness:
    store = SqliteStore(tmp_path / "d.sqlite3", synchronous="NORMAL")
    await store.open()
    h = Harness(store, FakeAdapter())
    await h.dispatcher.start()
    yield h  # type: ignore[misc]
    await h.dispatcher.stop(0.5)
    await store.aclose()


@pytest.fixture
def fresh_dispatch_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    """An uncached logger for gateway.dispatch, so capture_logs sees its events whatever ran before."""
    monkeypatch.setattr("gateway.dispatch._execution.log", structlog.get_logger("gateway.dispatch"))


def _count(harness: Harness, method: str) -> float:
    registry = harness.dispatcher.telemetry.metrics.registry
    value = registry.get_sample_value("mpp_agency_protocol_errors_total", {"agency": "fake", "method": method})
    return value or 0.0


def test_the_error_is_final_and_names_no_value() -> None:
    """AgencyProtocolError is a final class (misconfigured, never transient) whose detail holds only names."""
    error = AgencyProtocolError(agency="oss", method="inqueryNIB", field="dataNIB")
    assert isinstance(error, AgencyMisconfigured)
    assert error.detail == "oss answered inqueryNIB with a reply whose 'dataNIB' the adapter cannot read"
    assert (error.method, error.field, error.code) == ("inqueryNIB", "dataNIB", None)


@pytest.mark.usefixtures("fresh_dispatch_logger")
async def test_a_protocol_error_fails_on_the_first_attempt_and_is_counted(harness: Harness) -> None:
    """One attempt, no retry, problem agency-protocol-error with the names, metric +1, an error log without values."""
    harness.adapter.script = [AgencyProtocolError(agency="fake", method="thing/{id}", field="thing.size")]
    with capture_logs() as logs:
        out = await harness.run(new("r1"))
    assert out["status"] == "failed"
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == "/problems/agency-protocol-error"
    assert problem["status"] == 502
    assert "thing/{id}" in problem["detail"] and "'thing.size'" in problem["detail"]
    assert len(harness.adapter.calls) == 1 and harness.sleeps == []
    assert out["attempts"] == ["misconfigured"]
    assert _count(harness, "thing/{id}") == 1.0
    events = [e for e in logs if e["event"] == "agency.protocol_error"]
    assert events == [
        {"event": "agency.protocol_error", "log_level": "error", "agency": "fake", "method": "thing/{id}",
         "field": "thing.size"}
    ]  # fmt: skip
    # The dispatcher keeps working afterwards.
    assert (await harness.run(new("r2")))["status"] == "completed"


async def test_a_method_name_of_another_shape_is_counted_as_other(harness: Harness) -> None:
    """A third-party adapter's free-text method cannot blow up the metric's label set."""
    harness.adapter.script = [AgencyProtocolError(agency="fake", method="lookup of 3201 person", field="x")]
    out = await harness.run(new("r1"))
    assert isinstance(out["problem"], dict) and out["problem"]["type"] == "/problems/agency-protocol-error"
    assert _count(harness, "other") == 1.0


async def test_an_unreadable_reconcile_reply_leaves_the_outcome_unknown(harness: Harness) -> None:
    """A submission whose send may have landed, then whose reconcile reply is unreadable, ends agency-outcome-unknown:
    never failed as if the agency did not have it."""
    harness.adapter.script = [TransientAgencyError("read timeout", sent=True)]
    harness.adapter.reconcile_script = [AgencyProtocolError(agency="fake", method="status", field="state")]
    out = await harness.run(submission("s1"))
    assert out["status"] == "failed"
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == "/problems/agency-outcome-unknown"
    assert "'state'" in problem["detail"]
    assert out["attempts"] == ["ambiguous", "misconfigured"]
    assert len(harness.adapter.calls) == 1


async def test_an_unreadable_reply_to_a_submission_leaves_the_outcome_unknown(harness: Harness) -> None:
    """A submission answered with a reply the adapter cannot read may have been taken: agency-outcome-unknown, once."""
    harness.adapter.script = [AgencyProtocolError(agency="fake", method="thing", field="kode")]
    out = await harness.run(submission("s1"))
    problem = out["problem"]
    assert isinstance(problem, dict) and problem["type"] == "/problems/agency-outcome-unknown"
    assert len(harness.adapter.calls) == 1 and harness.adapter.reconciled == []


async def test_an_unreadable_reply_to_a_lookup_stays_a_protocol_error(harness: Harness) -> None:
    """A lookup changes nothing at the agency: an unreadable reply is agency-protocol-error as before."""
    harness.adapter.script = [AgencyProtocolError(agency="fake", method="thing", field="kode")]
    out = await harness.run(new("r1"))
    assert isinstance(out["problem"], dict) and out["problem"]["type"] == "/problems/agency-protocol-error"
