"""Which agency mocks are installed: the entry-point group ``mpp_gateway.mocks``, as adapters have theirs.

Each entry point names an agency (the adapter's slug) and a :class:`MockSpec`: how the runner builds the mock's
app and the settings its adapter needs, on which port it listens by default, and where the agency's API sits
under the mock's root. The gateway's distribution registers the built-in mocks; a third-party adapter package
registers its own the same way, so ``mpp-gateway mocks`` and ``make run`` start it too::

    [project.entry-points."mpp_gateway.mocks"]
    imigrasi = "mpp_imigrasi.mock:MOCK"

Entry points are read when asked, never at import time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import metadata

from aiohttp import web

from ._control import Control
from ._population import Population

__all__ = ["MOCK_ENTRY_POINT_GROUP", "AgencyPorts", "MockBuilder", "MockSpec", "discover_mocks"]

MOCK_ENTRY_POINT_GROUP = "mpp_gateway.mocks"

MockBuilder = Callable[[Population, Control], tuple[web.Application, Mapping[str, str]]]
"""Builds one mock: its app (with ``control`` installed, or not) and exactly the settings its adapter needs
besides ``base_url``. Credentials are drawn fresh (``secrets``) on every call, so no two clusters share them."""


@dataclasses.dataclass(frozen=True, slots=True)
class MockSpec:
    """How the runner starts one agency's mock; what an ``mpp_gateway.mocks`` entry point names."""

    build: MockBuilder
    #: Where ``make run`` puts it: a fixed port, so the printed settings stay valid across restarts.
    default_port: int
    #: Where the agency's API lives under the mock's root (VClaim: ``/vclaim-rest``); the adapter's base_url ends in it.
    base_path: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.default_port < 65536:
            raise ValueError(f"default_port must be a TCP port, not {self.default_port}")
        if self.base_path and (not self.base_path.startswith("/") or self.base_path.endswith("/")):
            raise ValueError(f"base_path must be empty or start with '/' and not end with it: {self.base_path!r}")


def discover_mocks(names: Iterable[str] | None = None) -> dict[str, MockSpec]:
    """The installed mocks by agency, sorted by name; only those in ``names`` (and only they are loaded) if given.

    A name nothing is installed under is left out: the caller says what it misses. Two distributions registering
    one name raise ``ValueError``; an entry point that does not name a :class:`MockSpec` raises ``TypeError``.
    """
    wanted = None if names is None else set(names)
    found: dict[str, MockSpec] = {}
    values: dict[str, str] = {}
    for entry_point in sorted(metadata.entry_points(group=MOCK_ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if wanted is not None and entry_point.name not in wanted:
            continue
        if entry_point.name in values:
            raise ValueError(
                f"two {MOCK_ENTRY_POINT_GROUP} entry points claim {entry_point.name!r}: "
                f"{values[entry_point.name]!r} and {entry_point.value!r}"
            )
        values[entry_point.name] = entry_point.value
        spec = entry_point.load()
        if not isinstance(spec, MockSpec):
            raise TypeError(
                f"the {MOCK_ENTRY_POINT_GROUP} entry point {entry_point.name} = {entry_point.value!r} names a "
                f"{type(spec).__name__}, not a mocks.MockSpec"
            )
        found[entry_point.name] = spec
    return found


class AgencyPorts(Mapping[str, int]):
    """The default port of every installed mock, read from the entry points on each use (a read-only mapping)."""

    def __getitem__(self, name: str) -> int:
        spec = discover_mocks([name]).get(name)
        if spec is None:
            raise KeyError(name)
        return spec.default_port

    def __iter__(self) -> Iterator[str]:
        return iter(self._ports())

    def __len__(self) -> int:
        return len(self._ports())

    def __repr__(self) -> str:
        return f"AgencyPorts({self._ports()!r})"

    def _ports(self) -> dict[str, int]:
        return {name: spec.default_port for name, spec in discover_mocks().items()}
