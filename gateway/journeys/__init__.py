"""Journeys: several agencies' services run as one durable, resumable unit while the citizen is at the counter.

A journey's steps are ordinary service requests (stored, queued, retried, audited and traced like any other); the
journey itself is a row beside them whose state changes in the same transaction as its steps' final statuses.
"""

from __future__ import annotations

from ._definition import JourneyDefinition, StepDefinition

__all__ = ["JourneyDefinition", "StepDefinition"]
