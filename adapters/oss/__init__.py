"""OSS RBA (Online Single Submission, risk-based): NIB lookups and permit status and issue submissions.

The glue only: :mod:`.client` speaks the wire, :mod:`.errors` reads ``kode``, :mod:`.models` is the contract,
:mod:`.mapping` turns it into wire fields and back, :mod:`.services` holds the catalog entries, :mod:`.inbound` is
OSS's push to the region (``receiveNIB``) and the counters' read of it. ``manifest.json`` says what is real and what
is modelled; ``quality.yaml`` is the checklist.

Settings (``MPP_AGENCY__OSS__<NAME>``): ``user_key`` (secret) and, optionally, ``api_path`` (``/v1/kl/rba`` by
default, ``/stg/v1/kl/rba`` for staging), ``inbound_username`` and ``inbound_password`` (secret): the region's
credentials in the Token OSS sends to ``receiveNIB``, which refuses every push without them, and
``inbound_allow``: the addresses or CIDR networks ``receiveNIB`` accepts pushes from (``cidr,cidr``; unset: any).

Submissions are made safe to resend by the protocol's own nature plus reconciliation: a status update is the same
fact each time it arrives (permit, status, time), a final permit the same permit; after an ambiguous attempt,
:meth:`OssAdapter.reconcile` asks ``checkLicenseStatus`` whether OSS already shows the submitted status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from adapters import (
    Adapter,
    AdapterContext,
    AgencyRejected,
    Call,
    CallHandler,
    Completed,
    ContractError,
    InboundRoute,
    Outcome,
    Service,
    require_settings,
)

from .client import DEFAULT_API_PATH, OssClient
from .errors import PROBLEM_TYPES, raise_for_reply
from .inbound import NibInbound, inbound_allowlist, inbound_credentials
from .mapping import (
    CHECK_LICENSE_STATUS,
    CHECK_NIB,
    INQUIRY_NIB,
    RECEIVE_LICENSE,
    RECEIVE_LICENSE_STATUS,
    WireMethod,
    issue_fields,
    issue_result,
    parse_check,
    parse_inquiry,
    parse_license_status,
    status_update_fields,
    status_update_result,
)
from .models import (
    LicenseIssuePayload,
    LicenseIssueResult,
    LicenseStatusPayload,
    LicenseStatusResult,
    LicenseStatusUpdatePayload,
    LicenseStatusUpdateResult,
    NibCheckResult,
    NibInquiryResult,
    NibPayload,
)
from .services import LICENSE_ISSUE, LICENSE_STATUS, LICENSE_STATUS_UPDATE, NIB_CHECK, NIB_INQUIRY, SERVICES

__all__ = [
    "REQUIRED_SETTINGS",
    "SERVICES",
    "LicenseIssuePayload",
    "LicenseIssueResult",
    "LicenseStatusPayload",
    "LicenseStatusResult",
    "LicenseStatusUpdatePayload",
    "LicenseStatusUpdateResult",
    "NibCheckResult",
    "NibInquiryResult",
    "NibPayload",
    "OssAdapter",
    "OssClient",
]

#: The settings the adapter cannot work without; ``user_key`` is a secret.
REQUIRED_SETTINGS = ("user_key",)

P = TypeVar("P", bound=BaseModel)


class OssAdapter(Adapter):
    """The OSS RBA integration, built from an :class:`~adapters.AdapterContext`."""

    agency = "oss"
    agency_name = "OSS RBA (Online Single Submission Berbasis Risiko, Kementerian Investasi/BKPM)"
    problem_types = PROBLEM_TYPES

    def __init__(self, context: AdapterContext) -> None:
        settings = context.settings
        require_settings(settings, REQUIRED_SETTINGS, agency=self.agency, label="OSS")
        self._client = OssClient(
            context.http,
            user_key=settings["user_key"].strip(),
            api_path=settings.get("api_path", DEFAULT_API_PATH),
        )
        self._inbound = NibInbound(
            context.documents,
            credentials=inbound_credentials(settings),
            clock=context.clock,
            allow=inbound_allowlist(settings),
        )

    def __repr__(self) -> str:
        return f"OssAdapter({self._client!r})"

    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""
        return SERVICES

    def handlers(self) -> Mapping[str, CallHandler]:
        """The handler of each service."""
        return {
            NIB_INQUIRY.id: self._inquiry,
            NIB_CHECK.id: self._check,
            LICENSE_STATUS.id: self._license_status,
            LICENSE_STATUS_UPDATE.id: self._status_update,
            LICENSE_ISSUE.id: self._issue,
        }

    def inbound_routes(self) -> Sequence[InboundRoute]:
        """``POST /oss/receiveNIB`` for OSS and ``GET /v1/oss/nib/{nib}`` for counters (:mod:`.inbound`)."""
        return self._inbound.routes()

    async def reconcile(self, call: Call) -> Outcome | None:
        """After an ambiguous submission, ask ``checkLicenseStatus`` whether OSS shows the submitted status.

        Returns the completed outcome when it does and ``None`` when it does not, or when OSS knows no such permit
        (a submission about it cannot have landed). Lookups are never ambiguous: ``None``, resend. Raises
        :class:`~adapters.TransientAgencyError` when OSS cannot be asked now.
        """
        payload = call.payload
        if not isinstance(payload, LicenseStatusUpdatePayload | LicenseIssuePayload):
            return None
        reply = await self._client.call(
            CHECK_LICENSE_STATUS.name,
            CHECK_LICENSE_STATUS.wrapper,
            {"id_izin": payload.permit_id},
            reference=call.reference,
            deadline=call.deadline,
        )
        try:
            raise_for_reply(reply, method=CHECK_LICENSE_STATUS.name, submission=False)
        except AgencyRejected:
            return None
        current = parse_license_status(reply, payload.permit_id)
        if current.status_code != payload.status_code:
            return None
        if isinstance(payload, LicenseIssuePayload):
            return Completed(result=issue_result(payload), agency_reference=payload.permit_id)
        return Completed(result=status_update_result(payload), agency_reference=payload.permit_id)

    async def _send(
        self, call: Call, method: WireMethod, fields: dict[str, str], *, submission: bool
    ) -> dict[str, Any]:
        reply = await self._client.call(
            method.name, method.wrapper, fields, reference=call.reference, deadline=call.deadline
        )
        raise_for_reply(reply, method=method.name, submission=submission)
        return reply

    async def _inquiry(self, call: Call) -> Outcome:
        payload = _payload(call, NibPayload)
        reply = await self._send(call, INQUIRY_NIB, {"nib": payload.nib}, submission=False)
        return Completed(result=parse_inquiry(reply, payload.nib), agency_reference=payload.nib)

    async def _check(self, call: Call) -> Outcome:
        payload = _payload(call, NibPayload)
        reply = await self._send(call, CHECK_NIB, {"nib": payload.nib}, submission=False)
        return Completed(result=parse_check(reply, payload.nib), agency_reference=payload.nib)

    async def _license_status(self, call: Call) -> Outcome:
        payload = _payload(call, LicenseStatusPayload)
        reply = await self._send(call, CHECK_LICENSE_STATUS, {"id_izin": payload.permit_id}, submission=False)
        return Completed(result=parse_license_status(reply, payload.permit_id), agency_reference=payload.permit_id)

    async def _status_update(self, call: Call) -> Outcome:
        payload = _payload(call, LicenseStatusUpdatePayload)
        await self._send(call, RECEIVE_LICENSE_STATUS, status_update_fields(payload), submission=True)
        return Completed(result=status_update_result(payload), agency_reference=payload.permit_id)

    async def _issue(self, call: Call) -> Outcome:
        payload = _payload(call, LicenseIssuePayload)
        reply = await self._send(call, RECEIVE_LICENSE, issue_fields(payload), submission=True)
        return Completed(result=issue_result(payload, reply), agency_reference=payload.permit_id)


def _payload(call: Call, model: type[P]) -> P:
    if not isinstance(call.payload, model):
        raise ContractError(f"{call.service} needs a {model.__name__}", slug="validation-error")
    return call.payload
