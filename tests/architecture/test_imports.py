"""The import rules that keep the layers visible: public surfaces only across packages, and nothing upward."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("adapters", "contracts", "gateway", "mocks")
#: What each top-level package may import of the others. Mocks meet the adapters only on the wire, so a mistake
#: shared by both cannot hide; the gateway's CLI alone starts the mocks (``mpp-gateway demo``, ``mocks``).
ALLOWED = {
    "contracts": set(),
    "adapters": {"contracts"},
    "mocks": {"contracts"},
    "gateway": {"adapters", "contracts"},
}
EXCEPTIONS = {("gateway.cli", "mocks")}


@dataclasses.dataclass(frozen=True)
class Import:
    file: Path
    line: int
    #: The absolute dotted module imported from.
    module: str
    #: The names imported from it (``from m import a, b``); empty for ``import m``.
    names: tuple[str, ...]

    def __str__(self) -> str:
        names = f" import {', '.join(self.names)}" if self.names else ""
        return f"{self.file.relative_to(ROOT)}:{self.line}: from {self.module}{names}"


def _module_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports(folder: str) -> Iterator[Import]:
    """Every import in the Python files under ``folder``, relative ones made absolute."""
    for path in sorted((ROOT / folder).rglob("*.py")):
        if ".egg-info" in str(path) or "/templates/" in path.as_posix():
            continue
        package = _module_of(path)
        if path.name != "__init__.py":
            package = package[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(path, node.lineno, alias.name, ())
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                yield Import(path, node.lineno, module, tuple(a.name for a in node.names))


def _private(segment: str) -> bool:
    return segment.startswith("_") and not segment.startswith("__")


def _crosses_private(imp: Import, own_package: str) -> bool:
    """Whether ``imp`` reaches a private module or name of a package other than ``own_package``."""
    parts = imp.module.split(".")
    if parts[0] not in PROJECT:
        return False
    # The package that owns the imported module: the longest prefix without a private segment.
    public = []
    for segment in parts:
        if _private(segment):
            break
        public.append(segment)
    owner = ".".join(public)
    if owner == own_package or (own_package.startswith(owner + ".") and len(public) < len(parts)):
        return False  # a module reaching into its own package's private modules
    if len(public) < len(parts):
        return True
    # ``from pkg import _name`` where _name is a private module or name of another package.
    return any(_private(name) for name in imp.names) and owner != own_package


def _own_package(imp: Import) -> str:
    parts = _module_of(imp.file)
    if imp.file.name != "__init__.py":
        parts = parts[:-1]
    return ".".join(parts)


@pytest.mark.parametrize("folder", ["gateway", "adapters", "contracts", "mocks", "examples"])
def test_packages_import_each_other_through_public_surfaces(folder: str) -> None:
    """Code reaches another package's names through its ``__init__``, never its private modules or names."""
    offenders = [str(i) for i in imports(folder) if _crosses_private(i, _own_package(i))]
    assert offenders == []


@pytest.mark.parametrize("folder", ["tests", "bench"])
def test_tests_and_bench_use_public_surfaces_only(folder: str) -> None:
    """Tests and the benchmark import the product's public names only, as an integrator would."""
    offenders = [
        str(i)
        for i in imports(folder)
        if i.module.split(".")[0] in PROJECT and _crosses_private(i, "tests")
    ]
    assert offenders == []


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_upward(package: str) -> None:
    """contracts imports no other package; adapters and mocks only contracts; the gateway's CLI alone starts mocks."""
    offenders = [
        str(i)
        for i in imports(package)
        if i.module.split(".")[0] in PROJECT
        and i.module.split(".")[0] != package
        and i.module.split(".")[0] not in ALLOWED[package]
        and (_own_package(i), i.module.split(".")[0]) not in EXCEPTIONS
    ]
    assert offenders == []


def test_the_rules_catch_what_they_forbid() -> None:
    """The checker itself flags a private module across packages, a private name, and accepts the own package."""
    here = ROOT / "gateway" / "http" / "_handlers.py"
    assert _crosses_private(Import(here, 1, "gateway.store._sqlite", ("SqliteStore",)), "gateway.http")
    assert _crosses_private(Import(here, 1, "gateway.store", ("_migrations",)), "gateway.http")
    assert not _crosses_private(Import(here, 1, "gateway.store", ("SqliteStore",)), "gateway.http")
    assert not _crosses_private(Import(here, 1, "gateway.http._edge", ("TRACE",)), "gateway.http")
    assert _crosses_private(Import(here, 1, "adapters._base", ("Adapter",)), "gateway.http")
