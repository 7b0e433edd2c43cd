"""The public surfaces of the packages change only on purpose."""

from __future__ import annotations

import adapters
import contracts
import gateway


def test_contracts_public_names() -> None:
    """contracts exports exactly the documented names."""
    assert sorted(contracts.__all__) == sorted(
        [
            "CONTRACT_VERSION",
            "JOURNEY_ID_PATTERN",
            "PROVINCE_CODES",
            "SERVICE_ID_PATTERN",
            "STEP_NAME_PATTERN",
            "TRANSITIONS",
            "Applicant",
            "Attempt",
            "AttemptOutcome",
            "Consent",
            "ConsentMethod",
            "Counter",
            "FieldError",
            "JourneyDescriptor",
            "JourneyRecord",
            "JourneyRequest",
            "JourneyStatus",
            "JourneyStepDescriptor",
            "JourneyStepRecord",
            "JourneyStepResume",
            "KkNumber",
            "LocalizedText",
            "Nik",
            "Problem",
            "RequestRecord",
            "RequestStatus",
            "ServiceDescriptor",
            "ServiceKind",
            "ServiceRequest",
            "StepStatus",
            "Subject",
            "check_nik",
            "contains_nik_like",
            "mask_nik",
        ]
    )
    assert all(hasattr(contracts, name) for name in contracts.__all__)


def test_adapters_public_names() -> None:
    """adapters exports exactly the documented names."""
    assert sorted(adapters.__all__) == sorted(
        [
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
    )
    assert all(hasattr(adapters, name) for name in adapters.__all__)


def test_gateway_public_names_exist() -> None:
    """Every name gateway exports exists."""
    assert all(hasattr(gateway, name) for name in gateway.__all__)


def test_contracts_import_nothing_of_ours() -> None:
    """contracts depends on no other package of the project."""
    import ast
    from pathlib import Path

    root = Path(contracts.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.split(".")[0] not in {"adapters", "gateway", "mocks"}, path.name
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in {"adapters", "gateway", "mocks"} for a in node.names)
