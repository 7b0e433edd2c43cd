"""Tests of adapters.dukcapil, one module per module of the adapter (plus its manifest, checklist and fixtures)."""
