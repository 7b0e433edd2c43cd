"""BPJS Kesehatan, Indonesia's national health insurance (JKN): participant lookups over VClaim v2.

The glue only: :mod:`.client` signs, sends and decrypts, :mod:`.crypto` and :mod:`.lzstring` hold the algorithms,
:mod:`.errors` reads ``metaData.code``, :mod:`.mapping` turns the wire into the contract and back, :mod:`.services`
holds the catalog entries. ``manifest.json`` says what is real and what is modelled; ``quality.yaml`` is the
checklist.

Settings (``MPP_AGENCY__BPJS_KESEHATAN__<NAME>``): ``base_url`` (with the service's base path, e.g.
``https://apijkn.bpjs-kesehatan.go.id/vclaim-rest``), ``cons_id``, ``consumer_secret``, ``user_key``.
"""

from __future__ import annotations

import datetime as dt
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

from .client import VClaimClient
from .errors import PROBLEM_TYPES, raise_for_code
from .mapping import (
    BY_CARD_METHOD,
    BY_NIK_METHOD,
    ByCardPayload,
    ByNikPayload,
    Coded,
    CoordinationOfBenefits,
    Participant,
    ParticipantInformation,
    ParticipantStatus,
    Provider,
    by_card_path,
    by_nik_path,
    parse_participant,
)
from .services import BY_CARD, BY_NIK, SERVICES

__all__ = [
    "BY_CARD",
    "BY_NIK",
    "REQUIRED_SETTINGS",
    "SERVICES",
    "BpjsKesehatanAdapter",
    "ByCardPayload",
    "ByNikPayload",
    "Coded",
    "CoordinationOfBenefits",
    "Participant",
    "ParticipantInformation",
    "ParticipantStatus",
    "Provider",
    "VClaimClient",
]

#: The settings the adapter needs besides ``base_url``; ``consumer_secret`` and ``user_key`` are secrets.
REQUIRED_SETTINGS = ("cons_id", "consumer_secret", "user_key")


class BpjsKesehatanAdapter(Adapter):
    """The BPJS Kesehatan integration, built from an :class:`~adapters.AdapterContext`."""

    agency = "bpjs-kesehatan"
    agency_name = "BPJS Kesehatan (Badan Penyelenggara Jaminan Sosial Kesehatan)"
    problem_types = PROBLEM_TYPES

    def __init__(self, context: AdapterContext) -> None:
        settings = context.settings
        require_settings(settings, REQUIRED_SETTINGS, agency=self.agency, label="BPJS Kesehatan")
        self._client = VClaimClient(
            context.http,
            cons_id=settings["cons_id"].strip(),
            consumer_secret=settings["consumer_secret"],
            user_key=settings["user_key"].strip(),
            clock=context.clock,
        )

    def __repr__(self) -> str:
        return f"BpjsKesehatanAdapter({self._client!r})"

    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""
        return SERVICES

    def handlers(self) -> Mapping[str, CallHandler]:
        """The handler of each service."""
        return {BY_NIK.id: self._by_nik, BY_CARD.id: self._by_card}

    async def _by_nik(self, call: Call) -> Outcome:
        payload = call.payload
        if not isinstance(payload, ByNikPayload):
            raise ContractError(f"{BY_NIK.id} needs a ByNikPayload", slug="validation-error")
        path = by_nik_path(call.nik, payload.service_date)
        return await self._lookup(path, payload.service_date, call, method=BY_NIK_METHOD)

    async def _by_card(self, call: Call) -> Outcome:
        payload = call.payload
        if not isinstance(payload, ByCardPayload):
            raise ContractError(f"{BY_CARD.id} needs a ByCardPayload", slug="validation-error")
        path = by_card_path(payload.card_number, payload.service_date)
        return await self._lookup(path, payload.service_date, call, method=BY_CARD_METHOD)

    async def _lookup(self, path: str, service_date: dt.date, call: Call, *, method: str) -> Outcome:
        reply = await self._client.get(path, deadline=call.deadline)
        raise_for_code(reply.code)
        participant = parse_participant(reply.response, service_date, method=method)
        # The card number is what BPJS and the counter key everything on afterwards (SEP, referrals).
        return Completed(result=participant, agency_reference=participant.card_number)
