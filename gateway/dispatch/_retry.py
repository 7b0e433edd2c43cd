"""Retry policies as data, and the tenacity pieces built from them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from tenacity import RetryCallState
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from adapters import TransientAgencyError
from contracts import ServiceKind

from ._guard import AgencyGuard

__all__ = ["DEFAULT_POLICIES", "RetryPolicy", "policies_from_settings"]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How one kind of service is retried within one run of a request."""

    #: Attempts in one run, the first included. A submission that runs out goes back to the queue (``defer``)
    #: and runs again later, until its deadline; a lookup fails.
    attempts: int = 3
    #: Full-jitter exponential backoff: the n-th wait is uniform in [0, min(max_backoff, initial * 2**n)].
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    #: Upper bound of one agency call.
    call_timeout: float = 10.0
    #: How long a submission waits in the queue after a run that could not finish (agency down).
    defer: float = 30.0


DEFAULT_POLICIES: dict[ServiceKind, RetryPolicy] = {
    ServiceKind.LOOKUP: RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=2.0, call_timeout=10.0),
    ServiceKind.SUBMISSION: RetryPolicy(attempts=4, initial_backoff=0.5, max_backoff=10.0, call_timeout=30.0,
                                        defer=30.0),
}  # fmt: skip


def policies_from_settings(values: Mapping[str, str]) -> dict[ServiceKind, RetryPolicy]:
    """An agency's policies with overrides such as ``lookup_attempts`` or ``submission_call_timeout``."""
    out = {}
    for kind, base in DEFAULT_POLICIES.items():
        changes: dict[str, float | int] = {}
        for field in dataclasses.fields(RetryPolicy):
            raw = values.get(f"{kind.value}_{field.name}")
            if raw is not None:
                changes[field.name] = int(raw) if field.name == "attempts" else float(raw)
        out[kind] = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    return out


class Backoff:
    """Full-jitter exponential backoff that honours the agency's Retry-After."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._jitter = wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)

    def __call__(self, state: RetryCallState) -> float:
        delay = float(self._jitter(state))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientAgencyError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay


class PastDeadline(stop_base):
    """Stop when the next attempt could not start before the request's deadline."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def __call__(self, state: RetryCallState) -> bool:
        return time.monotonic() + state.upcoming_sleep >= self._deadline


class WithinBudget(retry_base):
    """Retry only while the agency's retry budget allows; remembers a refusal for the failure reason."""

    def __init__(self, guard: AgencyGuard) -> None:
        self._guard = guard
        self.denied = False

    def __call__(self, state: RetryCallState) -> bool:
        if self._guard.budget.try_retry():
            return True
        self._guard.retries_denied += 1
        self.denied = True
        return False
