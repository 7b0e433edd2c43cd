"""The gateway's conformance kit, run on this adapter exactly as on a built-in one."""

from __future__ import annotations

from adapters.conformance import conformance_tests

test_conformance = conformance_tests("imigrasi")
