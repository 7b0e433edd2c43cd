"""The public surfaces: what ``from gateway import ...`` and each package's ``__init__`` promise."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import gateway

ROOT = Path(__file__).resolve().parents[2]

#: ``from gateway import ...``: the names integrators and deployments use; removing one breaks them.
GATEWAY_SURFACE = {
    "BUILTIN_PROBLEMS",
    "AgencyConfig",
    "ApiProblem",
    "Client",
    "ClientDirectory",
    "Dispatcher",
    "NewRequest",
    "PostgresStore",
    "ProblemCatalog",
    "RetryPolicy",
    "Settings",
    "SqliteStore",
    "Store",
    "StoredAttempt",
    "StoredRequest",
    "build_app",
    "build_openapi",
    "build_registry",
    "build_transport",
    "configure_logging",
    "generate_key",
    "hash_key",
    "placeholder_settings",
    "redact",
    "redact_mapping",
}
SUBPACKAGES = sorted(
    m.name for m in pkgutil.iter_modules(gateway.__path__) if m.ispkg and not m.name.startswith("_")
)
PACKAGES = ["gateway", *(f"gateway.{name}" for name in SUBPACKAGES), "adapters", "adapters.conformance", "contracts",
            "mocks"]  # fmt: skip


def test_the_gateway_surface_keeps_its_names() -> None:
    """Every name ``from gateway import ...`` offered stays importable."""
    assert set(gateway.__all__) >= GATEWAY_SURFACE
    for name in GATEWAY_SURFACE:
        assert getattr(gateway, name) is not None


def test_the_gateway_is_cut_into_the_documented_subpackages() -> None:
    """The sub-packages a newcomer looks for are there."""
    assert set(SUBPACKAGES) >= {"audit", "cli", "config", "dispatch", "http", "problems", "security", "service",
                                "store", "telemetry"}  # fmt: skip


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package: str) -> None:
    """Each package's ``__all__`` has no duplicates and names only what the package defines."""
    module = importlib.import_module(package)
    names = list(module.__all__)
    assert len(names) == len(set(names))
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("package", [p for p in PACKAGES if p.startswith("gateway.")])
def test_subpackage_inits_only_re_export(package: str) -> None:
    """A gateway sub-package's ``__init__`` holds a docstring, imports and ``__all__``: its code lives in modules."""
    path = ROOT / Path(*package.split(".")) / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    kinds = {type(node).__name__ for node in tree.body}
    assert kinds <= {"Expr", "ImportFrom", "Import", "Assign"}
    assigned = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)]  # fmt: skip
    assert assigned == ["__all__"]
