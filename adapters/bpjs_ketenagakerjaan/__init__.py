"""BPJS Ketenagakerjaan (employment social security): membership lookup and registration of informal workers.

THE WIRE FORMAT IS THE PROJECT'S OWN. BPJS Ketenagakerjaan publishes no partner API; this adapter speaks a
small, honest model of one (JSON over HTTPS, an ``X-Api-Key`` header, the envelope ``{"kode", "pesan", "data"}``)
that ``mocks.bpjs_ketenagakerjaan`` serves. The contract side (the services, payloads and results) is meant to
outlive it: meeting a real API would mean rewriting :mod:`.client`, :mod:`.errors` and the wire half of
:mod:`.mapping`, not the catalog. ``manifest.json`` lists what is real and what is invented.

The glue only lives here: :mod:`.client` speaks the wire, :mod:`.errors` reads the result codes, :mod:`.mapping`
turns the contract into wire fields and back, :mod:`.services` holds the catalog entries.

Settings (``MPP_AGENCY__BPJS_KETENAGAKERJAAN__<NAME>``): ``api_key`` (secret).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from adapters import (
    Adapter,
    AdapterContext,
    AgencyProtocolError,
    Call,
    CallHandler,
    Completed,
    ContractError,
    Outcome,
    Service,
    TransientAgencyError,
    require_settings,
)

from .client import REGISTER_PATH, STATUS_PATH, VERIFY_PATH, BpjsTkClient, Reply
from .errors import PROBLEM_TYPES, REGISTRATION_NOT_FOUND, SUCCESS, raise_for_code
from .mapping import (
    Address,
    MembershipPayload,
    MembershipResult,
    RegisterPayload,
    RegistrationResult,
    StatusPayload,
    contract_fields,
    parse_membership,
    parse_registration,
    register_body,
    status_body,
    verify_body,
)
from .services import REGISTER, SERVICES, STATUS, VERIFY

__all__ = [
    "REGISTER",
    "REQUIRED_SETTINGS",
    "SERVICES",
    "STATUS",
    "VERIFY",
    "Address",
    "BpjsKetenagakerjaanAdapter",
    "BpjsTkClient",
    "MembershipPayload",
    "MembershipResult",
    "RegisterPayload",
    "RegistrationResult",
    "StatusPayload",
]

#: The settings the adapter needs besides ``base_url``; ``api_key`` is a secret.
REQUIRED_SETTINGS = ("api_key",)

_P = TypeVar("_P", bound=BaseModel)


class BpjsKetenagakerjaanAdapter(Adapter):
    """The BPJS Ketenagakerjaan integration, built from an :class:`~adapters.AdapterContext`."""

    agency = "bpjs-ketenagakerjaan"
    agency_name = "BPJS Ketenagakerjaan (Badan Penyelenggara Jaminan Sosial Ketenagakerjaan)"
    problem_types = PROBLEM_TYPES

    def __init__(self, context: AdapterContext) -> None:
        require_settings(context.settings, REQUIRED_SETTINGS, agency=self.agency, label="BPJS Ketenagakerjaan")
        self._client = BpjsTkClient(context.http, api_key=context.settings["api_key"].strip())

    def __repr__(self) -> str:
        return f"BpjsKetenagakerjaanAdapter({self._client!r})"

    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""
        return SERVICES

    def handlers(self) -> Mapping[str, CallHandler]:
        """The handler of each service."""
        return {VERIFY.id: self._verify, REGISTER.id: self._register, STATUS.id: self._status}

    async def reconcile(self, call: Call) -> Outcome | None:
        """Ask the agency for the registration made under ``call.reference``: its outcome, or ``None`` if none.

        A status reply the adapter cannot read is final (:class:`~adapters.AgencyProtocolError`): asking again gets
        the same reply. Its detail says that the registration was sent and may be held by the agency.
        """
        if call.service != REGISTER.id:
            return await super().reconcile(call)
        reply = await self._client.post(STATUS_PATH, status_body(call.nik, call.reference), deadline=call.deadline)
        if reply.code == REGISTRATION_NOT_FOUND:
            return None
        try:
            return self._registration(reply, call.reference, STATUS_PATH)
        except AgencyProtocolError as exc:
            unreadable = exc
        raise _with_detail(
            unreadable,
            f"{unreadable.detail}, while reconciling a registration the agency may hold: ask the agency before "
            "registering again",
        )

    async def _verify(self, call: Call) -> Outcome:
        _payload(call, MembershipPayload)
        reply = await self._client.post(VERIFY_PATH, verify_body(call.nik), deadline=call.deadline)
        _raise_for(reply)
        return Completed(result=parse_membership(reply), agency_reference=None)

    async def _register(self, call: Call) -> Outcome:
        """Register, and read the reply; a reply the adapter cannot read leaves the outcome unknown.

        The envelope came back, so the agency acted on the request, but its data cannot be read or is about another
        reference: the agency may hold this registration or not. That is "sent, outcome unknown"
        (:class:`~adapters.TransientAgencyError` with ``sent=True``, which the gateway reconciles through the status
        enquiry before any resend), never a final failure while the worker may be registered.
        """
        payload = _payload(call, RegisterPayload)
        body = register_body(call.nik, call.reference, payload)
        reply = await self._client.post(REGISTER_PATH, body, deadline=call.deadline)
        try:
            return self._registration(reply, call.reference, REGISTER_PATH)
        except AgencyProtocolError as exc:
            unreadable = exc
        raise TransientAgencyError(
            f"{unreadable.detail}; the agency may hold the registration: reconcile before any resend",
            agency=self.agency,
            code=unreadable.code,
            sent=True,
        )

    async def _status(self, call: Call) -> Outcome:
        payload = _payload(call, StatusPayload)
        reply = await self._client.post(STATUS_PATH, status_body(call.nik, payload.reference), deadline=call.deadline)
        return self._registration(reply, payload.reference, STATUS_PATH)

    def _registration(self, reply: Reply, reference: str, method: str) -> Completed:
        """The registration in a reply to ``method`` (a path); :class:`~adapters.AgencyProtocolError` if unreadable."""
        _raise_for(reply)
        if reply.code != SUCCESS:
            # Only the membership lookup answers "not a participant"; anywhere else it is a reply we cannot place.
            error = AgencyProtocolError(
                agency=self.agency,
                method=method,
                field="kode",
                detail=f"{self.agency} answered {method} with kode {reply.code} where a registration was expected",
            )
            error.code = reply.code
            raise error
        result = parse_registration(reply, reference, method=method)
        return Completed(result=result, agency_reference=result.kpj)


def _payload(call: Call, model: type[_P]) -> _P:
    if not isinstance(call.payload, model):
        raise ContractError(f"{call.service} needs a {model.__name__}", slug="validation-error")
    return call.payload


def _with_detail(error: AgencyProtocolError, detail: str) -> AgencyProtocolError:
    """``error`` again, with ``detail`` (names only, as the original's)."""
    again = AgencyProtocolError(agency=error.agency, method=error.method, field=error.field, detail=detail)
    again.code = error.code
    return again


def _raise_for(reply: Reply) -> None:
    raise_for_code(reply.code, retry_after=reply.retry_after, fields=contract_fields(reply.refused_fields))
