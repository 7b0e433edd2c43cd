"""``mpp-gateway``: the command line, and the writer of new adapter packages (``mpp-gateway new-adapter``)."""

from __future__ import annotations

from ._main import DEMO_MPP, DemoClients, demo_clients, main, serve_app, with_demo_keys
from ._runtime import GatewayRunner, settle_heap
from ._scaffold import (
    MAX_NAME_LENGTH,
    AdapterNames,
    AdapterPackage,
    ScaffoldError,
    check_agency_name,
    render_adapter,
    write_adapter,
)

__all__ = [
    "DEMO_MPP",
    "MAX_NAME_LENGTH",
    "AdapterNames",
    "AdapterPackage",
    "DemoClients",
    "GatewayRunner",
    "ScaffoldError",
    "check_agency_name",
    "demo_clients",
    "main",
    "render_adapter",
    "serve_app",
    "settle_heap",
    "with_demo_keys",
    "write_adapter",
]
