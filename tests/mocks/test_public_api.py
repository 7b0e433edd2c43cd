"""The public surface of ``mocks`` and its dependency rule."""

from __future__ import annotations

import ast
from pathlib import Path

import mocks

EXPECTED = {
    "AGENCY_PORTS",
    "CONTROL_KEY",
    "MOCK_ENTRY_POINT_GROUP",
    "PROVINCES",
    "REFERENCE_DATE",
    "STATUSES",
    "Citizen",
    "Control",
    "DeliveryLog",
    "Fault",
    "FaultInjector",
    "FaultSettings",
    "MockAgency",
    "MockCluster",
    "MockSpec",
    "Population",
    "Status",
    "discover_mocks",
    "start_mocks",
}


def test_public_names_change_only_on_purpose() -> None:
    """mocks.__all__ is exactly the announced set, and every name in it exists."""
    assert set(mocks.__all__) == EXPECTED
    assert all(hasattr(mocks, name) for name in mocks.__all__)


def test_mocks_import_only_contracts_of_ours() -> None:
    """No module in mocks imports gateway or adapters (mocks -> contracts only)."""
    for path in Path(mocks.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & {"gateway", "adapters"}, path.name
