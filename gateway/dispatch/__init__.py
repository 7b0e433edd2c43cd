"""Running requests: the dispatcher, one request's execution, the per-agency guard (breaker, bulkhead, rate, retry
budget), retry policies, status events and webhook delivery."""

from __future__ import annotations

from ._dispatcher import Dispatcher, RetryPolicy
from ._events import EventHub, StreamLimitReached
from ._guard import (
    AgencyGuard,
    AgencyPolicy,
    AgencyRateLimiter,
    BreakerState,
    CircuitBreaker,
    Failure,
    Permits,
    RetryBudget,
)
from ._retry import policies_from_settings
from ._webhooks import WebhookSender
from ._window import RecentCalls, RecentFigures

__all__ = [
    "AgencyGuard",
    "AgencyPolicy",
    "AgencyRateLimiter",
    "BreakerState",
    "CircuitBreaker",
    "Dispatcher",
    "EventHub",
    "Failure",
    "Permits",
    "RecentCalls",
    "RecentFigures",
    "RetryBudget",
    "RetryPolicy",
    "StreamLimitReached",
    "WebhookSender",
    "policies_from_settings",
]
