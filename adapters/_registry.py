"""Discovery of adapters through the ``mpp_gateway.adapters`` entry-point group, and the service index."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from ._base import Adapter, AdapterContext, ProblemType, Service

__all__ = ["ENTRY_POINT_GROUP", "AdapterFactory", "Registry", "discover_factories"]

ENTRY_POINT_GROUP = "mpp_gateway.adapters"

AdapterFactory = Callable[[AdapterContext], Adapter]


def discover_factories(enabled: Iterable[str] | None = None) -> dict[str, AdapterFactory]:
    """The installed adapter factories by entry-point name (the agency slug), optionally only ``enabled`` ones.

    An entry point names either an :class:`Adapter` subclass or a callable taking an :class:`AdapterContext`.
    """
    wanted = None if enabled is None else set(enabled)
    found: dict[str, AdapterFactory] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and ep.name not in wanted:
            continue
        found[ep.name] = ep.load()
    if wanted is not None and (missing := wanted - found.keys()):
        raise LookupError(f"no adapter installed for: {', '.join(sorted(missing))}")
    return found


@dataclasses.dataclass
class Registry:
    """The loaded adapters, indexed by agency and by service id."""

    adapters: dict[str, Adapter] = dataclasses.field(default_factory=dict)
    services: dict[str, tuple[Adapter, Service[Any, Any]]] = dataclasses.field(default_factory=dict)

    def add(self, adapter: Adapter) -> None:
        """Register ``adapter`` and its services; a clash of agency or service id is a configuration error."""
        if adapter.agency in self.adapters:
            raise ValueError(f"two adapters claim the agency {adapter.agency!r}")
        services = list(adapter.services())
        for service in services:
            if service.agency != adapter.agency:
                raise ValueError(f"service {service.id!r} does not belong to agency {adapter.agency!r}")
            if service.id in self.services:
                raise ValueError(f"service {service.id!r} is declared twice")
        self.adapters[adapter.agency] = adapter
        for service in services:
            self.services[service.id] = (adapter, service)

    @classmethod
    def build(cls, factories: Mapping[str, AdapterFactory], contexts: Callable[[str], AdapterContext]) -> Registry:
        """Instantiate every factory with the context ``contexts(agency)`` gives it."""
        registry = cls()
        for name, factory in factories.items():
            registry.add(factory(contexts(name)))
        return registry

    def problem_types(self) -> list[ProblemType]:
        """The problem types every loaded adapter declares."""
        return [kind for adapter in self.adapters.values() for kind in adapter.problem_types]

    async def aclose(self) -> None:
        """Close every adapter."""
        for adapter in self.adapters.values():
            await adapter.aclose()
