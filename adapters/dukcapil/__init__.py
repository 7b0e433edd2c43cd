"""Dukcapil, Indonesia's population registry: verification against a NIK's record, and retrieval of the record.

The glue only: :mod:`.client` speaks the wire, :mod:`.errors` reads the agency's codes, :mod:`.mapping` turns
the contract into wire fields and back (:mod:`.record` for ``CALL_NIK``), :mod:`.services` holds the catalog
entries. ``manifest.json`` says what
is real and what is modelled; ``quality.yaml`` is the checklist.

Settings (``MPP_AGENCY__DUKCAPIL__<NAME>``): ``institution``, ``user_id``, ``password``, ``ip_user``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters import (
    Adapter,
    AdapterContext,
    Call,
    CallHandler,
    Completed,
    ContractError,
    Outcome,
    Service,
    require_settings,
)

from .client import DukcapilClient
from .errors import PROBLEM_TYPES, raise_for_content
from .mapping import VERIFY_METHOD, FieldMatch, VerifyPayload, VerifyResult, parse_verify, verify_fields
from .record import NIK_METHOD, CivilAddress, CivilRecord, NikLookupPayload, Region, nik_fields, parse_record
from .services import NIK_LOOKUP, SERVICES, VERIFY

__all__ = [
    "NIK_LOOKUP",
    "REQUIRED_SETTINGS",
    "SERVICES",
    "VERIFY",
    "CivilAddress",
    "CivilRecord",
    "DukcapilAdapter",
    "DukcapilClient",
    "FieldMatch",
    "NikLookupPayload",
    "Region",
    "VerifyPayload",
    "VerifyResult",
]

#: The settings the adapter needs; ``password`` is a secret, the others are not but are still never logged.
REQUIRED_SETTINGS = ("institution", "user_id", "password", "ip_user")


class DukcapilAdapter(Adapter):
    """The Dukcapil integration, built from an :class:`~adapters.AdapterContext`."""

    agency = "dukcapil"
    agency_name = "Dukcapil (Direktorat Jenderal Kependudukan dan Pencatatan Sipil)"
    problem_types = PROBLEM_TYPES

    def __init__(self, context: AdapterContext) -> None:
        settings = context.settings
        require_settings(settings, REQUIRED_SETTINGS, agency=self.agency, label="Dukcapil")
        self._client = DukcapilClient(
            context.http,
            institution=settings["institution"].strip(),
            user_id=settings["user_id"],
            password=settings["password"],
            ip_user=settings["ip_user"].strip(),
        )

    def __repr__(self) -> str:
        return f"DukcapilAdapter({self._client!r})"

    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""
        return SERVICES

    def handlers(self) -> Mapping[str, CallHandler]:
        """The handler of each service."""
        return {VERIFY.id: self._verify, NIK_LOOKUP.id: self._nik_lookup}

    async def _verify(self, call: Call) -> Outcome:
        payload = call.payload
        if not isinstance(payload, VerifyPayload):
            raise ContractError(f"{VERIFY.id} needs a VerifyPayload", slug="validation-error")
        fields = verify_fields(call.nik, payload)
        content = await self._client.call(VERIFY_METHOD, fields, deadline=call.deadline)
        raise_for_content(content)
        return Completed(result=parse_verify(content, payload), agency_reference=None)

    async def _nik_lookup(self, call: Call) -> Outcome:
        if not isinstance(call.payload, NikLookupPayload):
            raise ContractError(f"{NIK_LOOKUP.id} needs a NikLookupPayload", slug="validation-error")
        content = await self._client.call(NIK_METHOD, nik_fields(call.nik), deadline=call.deadline)
        # The not-found form {"RESPON": "Data Tidak Ditemukan"} reads as code 13, like every other failure code.
        raise_for_content(content)
        return Completed(result=parse_record(content, call.nik), agency_reference=None)
