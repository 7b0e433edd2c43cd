"""Agency adapters: the interface, the registry, the outbound HTTP edge, and one subpackage per agency.

An integrator adds an agency by writing an :class:`Adapter` and registering it under the entry-point group
``mpp_gateway.adapters``; the gateway needs no change.
"""

from ._base import Adapter, AdapterContext, Call, Completed, Outcome, ProblemType, Service, WaitingAgency
from ._errors import (
    AgencyError,
    AgencyMisconfigured,
    AgencyRejected,
    AmbiguousOutcome,
    ContractError,
    MppError,
    TransientAgencyError,
)
from ._http import AgencyHttp, AgencyResponse, parse_retry_after
from ._registry import ENTRY_POINT_GROUP, AdapterFactory, Registry, discover_factories

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterContext",
    "AdapterFactory",
    "AgencyError",
    "AgencyHttp",
    "AgencyMisconfigured",
    "AgencyRejected",
    "AgencyResponse",
    "AmbiguousOutcome",
    "Call",
    "Completed",
    "ContractError",
    "MppError",
    "Outcome",
    "ProblemType",
    "Registry",
    "Service",
    "TransientAgencyError",
    "WaitingAgency",
    "discover_factories",
    "parse_retry_after",
]
