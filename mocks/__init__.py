"""Agency mocks: aiohttp servers that speak each agency's wire protocol, quirks and failures included.

The mocks let the gateway and its adapters be developed and tested without the agencies' private networks.
They share one synthetic population (:class:`Population`), so the same people exist at every agency, and each
mock carries test controls under ``/_control/`` (fault injection, a delivery log, a citizen list). Start them
with :func:`start_mocks`; build a single app with an agency module's ``create_app`` (``mocks.dukcapil``). The
mocks :func:`start_mocks` knows are those registered as a :class:`MockSpec` under the entry-point group
``mpp_gateway.mocks``: the four built-ins, and any a third-party adapter package adds.

This package imports nothing of ours but ``contracts``, and nothing here starts or connects at import time.
"""

from ._control import CONTROL_KEY, Control, DeliveryLog, Fault, FaultInjector, FaultSettings
from ._population import REFERENCE_DATE, STATUSES, Citizen, Population, Status
from ._regions import PROVINCES
from ._registry import MOCK_ENTRY_POINT_GROUP, MockSpec, discover_mocks
from ._runner import AGENCY_PORTS, MockAgency, MockCluster, start_mocks

__all__ = [
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
]
