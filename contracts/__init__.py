"""The public, versioned contract of the MPP Integration Gateway (v1).

Pydantic v2 models and the JSON Schemas derived from them. This package performs no I/O and imports nothing
else of the project: counter apps, adapters and the gateway all build on it.
"""

from ._journey import (
    JOURNEY_ID_PATTERN,
    STEP_NAME_PATTERN,
    JourneyDescriptor,
    JourneyRecord,
    JourneyRequest,
    JourneyStatus,
    JourneyStepDescriptor,
    JourneyStepRecord,
    JourneyStepResume,
    StepStatus,
)
from ._nik import PROVINCE_CODES, KkNumber, Nik, check_nik, contains_nik_like, mask_nik
from ._problem import FieldError, Problem
from ._record import TRANSITIONS, Attempt, AttemptOutcome, RequestRecord, RequestStatus, Subject
from ._request import Applicant, Consent, ConsentMethod, Counter, ServiceRequest
from ._service import SERVICE_ID_PATTERN, LocalizedText, ServiceDescriptor, ServiceKind

CONTRACT_VERSION = "1"
"""The contract version served under ``/v1``."""

__all__ = [
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
