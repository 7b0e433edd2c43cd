"""Journeys: definitions, references, conditions, the catalog and the engine."""
