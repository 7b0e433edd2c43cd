"""Circuit breaker, rate limiter and retry budget, driven by a fake clock."""

from __future__ import annotations

import pytest

from gateway.dispatch import AgencyPolicy, AgencyRateLimiter, BreakerState, CircuitBreaker, RetryBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = AgencyPolicy(breaker_failure_rate=0.5, breaker_min_calls=4, breaker_window=10, breaker_open_seconds=5,
                      breaker_probes=1, budget_ratio=0.2, budget_min_retries=2, budget_window=10)  # fmt: skip


def test_breaker_opens_on_failure_rate_and_recovers_through_a_probe() -> None:
    """closed -> open at the failure rate -> half-open after the cool-down -> closed after a good probe."""
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for ok in (True, False, True, False):
        assert breaker.allow()
        breaker.record(ok)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == pytest.approx(5)
    clock.now += 5
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record(True)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_failed_probe_reopens_the_breaker() -> None:
    """A failed probe opens the breaker for another cool-down."""
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(4):
        breaker.record(False)
    clock.now += 5
    assert breaker.allow()
    breaker.record(False)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == pytest.approx(5)


def test_breaker_needs_enough_calls_and_forgets_old_failures() -> None:
    """Too few calls never open it, and failures older than the window do not count."""
    clock = Clock()
    breaker = CircuitBreaker(POLICY, clock)
    for _ in range(3):
        breaker.record(False)
    assert breaker.state is BreakerState.CLOSED
    clock.now += 11
    for _ in range(3):
        breaker.record(True)
    breaker.record(False)
    assert breaker.state is BreakerState.CLOSED


def test_rate_limiter_spaces_calls_after_the_burst() -> None:
    """Within the burst calls go at once; past it each waits 1/rate more."""
    clock = Clock()
    limiter = AgencyRateLimiter(rate=10, burst=2, clock=clock)
    assert [limiter.delay() for _ in range(2)] == [0, 0]
    assert limiter.delay() == pytest.approx(0.1)
    assert limiter.delay() == pytest.approx(0.2)
    clock.now += 1
    assert limiter.delay() == 0


def test_unlimited_rate_never_waits() -> None:
    """A rate of 0 means no limit."""
    limiter = AgencyRateLimiter(rate=0, burst=1)
    assert all(limiter.delay() == 0 for _ in range(100))


def test_retry_budget_is_a_fraction_of_calls_with_a_floor() -> None:
    """Retries are allowed up to the floor plus ratio x calls in the window, then refused until it slides."""
    clock = Clock()
    budget = RetryBudget(POLICY, clock)
    for _ in range(10):
        budget.record_call()
    allowed = [budget.try_retry() for _ in range(6)]
    assert allowed == [True, True, True, True, False, False]  # 2 + 0.2 * 10
    clock.now += 11
    assert budget.try_retry()


def test_the_retry_budget_forgets_calls_older_than_its_window_without_any_retry() -> None:
    """Calls keep being recorded with no retry at all: the budget holds only the last window's, not every call."""
    clock = Clock()
    budget = RetryBudget(POLICY, clock)
    for _ in range(1000):
        budget.record_call()
        clock.now += 0.1  # 10 calls a second over a 10 s window
    assert len(budget) <= 101


def test_policy_reads_overrides_from_agency_settings() -> None:
    """Agency settings override the defaults by field name, typed."""
    policy = AgencyPolicy.from_settings({"concurrency": "4", "breaker_failure_rate": "0.25", "user_id": "x"})
    assert policy.concurrency == 4 and policy.breaker_failure_rate == 0.25
    assert policy.breaker_min_calls == AgencyPolicy().breaker_min_calls
