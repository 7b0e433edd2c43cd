"""Journeys: several agencies' services run as one durable, resumable unit while the citizen is at the counter.

A journey's steps are ordinary service requests (stored, queued, retried, audited and traced like any other); the
journey itself is a row beside them whose state changes in the same transaction as its steps' final statuses.
"""

from __future__ import annotations

from ._catalog import (
    CompiledJourney,
    JourneyCatalog,
    JourneyDefinitionError,
    compile_journey,
    load_journeys,
    parse_definition,
)
from ._definition import JourneyDefinition, StepDefinition
from ._engine import JourneyEngine, step_key
from ._expressions import (
    Condition,
    JourneyContext,
    Reference,
    StepOutcome,
    Unresolved,
    parse_condition,
    parse_reference,
    references,
    resolve,
)
from ._service import Journeys, new_journey_id

__all__ = [
    "CompiledJourney",
    "Condition",
    "JourneyCatalog",
    "JourneyContext",
    "JourneyDefinition",
    "JourneyDefinitionError",
    "JourneyEngine",
    "Journeys",
    "Reference",
    "StepDefinition",
    "StepOutcome",
    "Unresolved",
    "compile_journey",
    "load_journeys",
    "new_journey_id",
    "parse_condition",
    "parse_definition",
    "parse_reference",
    "references",
    "resolve",
    "step_key",
]
