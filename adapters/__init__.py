"""Agency adapters: the interface, the registry, the outbound HTTP edge, and one subpackage per agency.

An integrator adds an agency by writing an :class:`Adapter` and registering it under the entry-point group
``mpp_gateway.adapters``; the gateway needs no change. An agency that also calls the region declares its
endpoints as :class:`InboundRoute` values and keeps what arrives in :class:`AgencyDocuments`.
"""

from ._base import (
    Adapter,
    AdapterContext,
    Call,
    CallHandler,
    Completed,
    Outcome,
    ProblemType,
    Service,
    WaitingAgency,
    require_settings,
)
from ._errors import (
    AgencyError,
    AgencyMisconfigured,
    AgencyProtocolError,
    AgencyRejected,
    AmbiguousOutcome,
    ContractError,
    MppError,
    TransientAgencyError,
)
from ._http import (
    AgencyHttp,
    AgencyRequest,
    AgencyResponse,
    AgencyTransport,
    ProxyRouter,
    ProxySettings,
    parse_retry_after,
)
from ._inbound import (
    AgencyDocuments,
    InboundRequest,
    InboundResponse,
    InboundRoute,
    MemoryDocuments,
    ReceivedDocument,
)
from ._registry import ENTRY_POINT_GROUP, AdapterFactory, Registry, discover_factories

__all__ = [
    "ENTRY_POINT_GROUP",
    "Adapter",
    "AdapterContext",
    "AdapterFactory",
    "AgencyDocuments",
    "AgencyError",
    "AgencyHttp",
    "AgencyMisconfigured",
    "AgencyProtocolError",
    "AgencyRejected",
    "AgencyRequest",
    "AgencyResponse",
    "AgencyTransport",
    "AmbiguousOutcome",
    "Call",
    "CallHandler",
    "Completed",
    "ContractError",
    "InboundRequest",
    "InboundResponse",
    "InboundRoute",
    "MemoryDocuments",
    "MppError",
    "Outcome",
    "ProblemType",
    "ProxyRouter",
    "ProxySettings",
    "ReceivedDocument",
    "Registry",
    "Service",
    "TransientAgencyError",
    "WaitingAgency",
    "discover_factories",
    "parse_retry_after",
    "require_settings",
]
