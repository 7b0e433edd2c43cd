"""Tests of the adapters package, one subpackage per agency, mirroring adapters/."""
