"""A small, well-behaved adapter package for testing the kit, and switchable flaws that the kit must catch.

The reference agency ``kit-fake`` speaks a JSON API: ``POST {base}/things/check`` with the key in ``X-Api-Key``,
answering ``{"status": "OK", "data": {...}}`` or ``{"status": "ERR", "code": "E01"}``. Each :class:`Flaws` field
breaks it in one way that integrators really do (their own HTTP client, a key in a message, ...). Laid out as an
adapter package is: the adapter here, its profile in :mod:`.conformance`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field

from adapters import (
    Adapter,
    AdapterContext,
    AgencyError,
    AgencyMisconfigured,
    AgencyRejected,
    AgencyResponse,
    Call,
    Completed,
    Outcome,
    ProblemType,
    Service,
    TransientAgencyError,
    parse_retry_after,
)
from contracts import LocalizedText, ServiceKind

AGENCY = "kit-fake"
_log = logging.getLogger("tests.kit_fake")

Leak = Literal["error", "chain", "repr", "stdlib-log", "structlog"]


@dataclasses.dataclass(frozen=True)
class Flaws:
    """What is wrong with the adapter; the default is nothing."""

    own_client: bool = False  # sends through its own httpx.AsyncClient: httpx's errors escape untranslated
    leak: Leak | None = None  # where the API key shows up
    swallows_errors: bool = False  # turns a transient failure into a "not found" result
    rejects_5xx: bool = False  # reads the agency's outage as a final answer about the citizen
    says_never_sent: bool = False  # re-raises every transient error with sent=False
    drops_retry_after: bool = False  # forgets the agency's Retry-After
    wrong_agency: bool = False  # raises errors naming another agency
    slow_to_fail: bool = False  # waits out the timeout before raising, like a client that buffers a whole body
    ignores_timeout: bool = False  # never gives up on its own


NO_FLAWS = Flaws()


class CheckPayload(BaseModel):
    """What the counter asks about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=60)


class CheckResult(BaseModel):
    """What the fake agency answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    found: bool


CHECK: Service[CheckPayload, CheckResult] = Service(
    id=f"{AGENCY}.thing.check",
    title=LocalizedText(id="Periksa benda", en="Check a thing"),
    kind=ServiceKind.LOOKUP,
    personal_data=False,
    payload_model=CheckPayload,
    result_model=CheckResult,
)

PROBLEMS: tuple[ProblemType, ...] = (
    ProblemType(
        "thing-not-found",
        422,
        LocalizedText(id="Benda tidak ditemukan", en="Thing not found"),
        "The fake agency has no such thing.",
    ),
)

CODES: dict[str, type[AgencyError] | None] = {
    "E00": None,
    "E01": AgencyRejected,
    "E02": AgencyMisconfigured,
    "E03": TransientAgencyError,
}


class KitFakeAdapter(Adapter):
    """The reference adapter, with the given flaws."""

    agency = AGENCY
    agency_name = "Kit fake agency"
    problem_types = PROBLEMS

    def __init__(self, context: AdapterContext, *, flaws: Flaws = NO_FLAWS, services: Sequence[Any] = (CHECK,)) -> None:
        self._http = context.http
        self._key = context.settings["api_key"]
        self._flaws = flaws
        self._services = tuple(services)

    def __repr__(self) -> str:
        key = self._key if self._flaws.leak == "repr" else "***"
        return f"KitFakeAdapter(base_url={self._http.base_url!r}, key={key})"

    def services(self) -> Sequence[Service[Any, Any]]:
        """The services this adapter offers."""
        return self._services

    async def execute(self, call: Call) -> Outcome:
        """Check the thing; every failure is classified (unless a flaw says otherwise)."""
        flaws = self._flaws
        if flaws.ignores_timeout:
            await asyncio.sleep(3600)
        if flaws.leak == "stdlib-log":
            _log.info("calling %s with key %s", self._http.base_url, self._key)
        if flaws.leak == "structlog":
            structlog.get_logger("tests.kit_fake").info("calling", api_key=self._key)
        try:
            document = await (self._send_own(call) if flaws.own_client else self._send(call))
        except TransientAgencyError as exc:
            if flaws.swallows_errors:
                return Completed(result=CheckResult(found=False))
            if flaws.slow_to_fail:
                await asyncio.sleep(self._http.timeout)
            if flaws.says_never_sent:
                raise TransientAgencyError(exc.detail, agency=exc.agency, retry_after=exc.retry_after) from exc
            raise
        return self._outcome(document)

    async def _send(self, call: Call) -> Any:
        payload = call.payload
        assert isinstance(payload, CheckPayload)
        body = payload.model_dump_json().encode()
        headers = {"x-api-key": self._key, "content-type": "application/json"}
        request = self._http.build("POST", "things/check", headers=headers, content=body)
        response = await self._http.send(request)
        self._check_http(response)
        try:
            return response.json()
        except ValueError:
            if self._flaws.leak == "chain":
                raise TransientAgencyError("not JSON", agency=self._agency(), sent=True) from ValueError(self._key)
            raise TransientAgencyError("the body is not JSON", agency=self._agency(), sent=True) from None

    async def _send_own(self, call: Call) -> Any:
        # The flaw under test: an HTTP client of its own, so nothing translates the transport's errors.
        async with httpx.AsyncClient(timeout=self._http.timeout, trust_env=False) as client:
            response = await client.post(
                self._http.url("things/check"), json={"name": "x"}, headers={"x-api-key": self._key}
            )
        if response.status_code >= 400:
            raise TransientAgencyError(f"HTTP {response.status_code}", agency=self._agency(), sent=True)
        return response.json()

    def _agency(self) -> str:
        return "someone-else" if self._flaws.wrong_agency else AGENCY

    def _check_http(self, response: AgencyResponse) -> None:
        status = response.status_code
        if status in (401, 403):
            raise AgencyMisconfigured(f"HTTP {status}: check the API key", agency=self._agency())
        if status >= 500 and self._flaws.rejects_5xx:
            raise AgencyRejected(f"HTTP {status}", agency=self._agency())
        if status >= 500 or status in (408, 429) or response.looks_like_html():
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if self._flaws.drops_retry_after:
                retry_after = None
            detail = f"HTTP {status} as {self._key}" if self._flaws.leak == "error" else f"HTTP {status}"
            raise TransientAgencyError(detail, agency=self._agency(), retry_after=retry_after, sent=True)
        if status >= 300:
            raise AgencyMisconfigured(f"HTTP {status}: check the base URL", agency=self._agency())

    def _outcome(self, document: Any) -> Outcome:
        if not isinstance(document, dict) or document.get("status") not in ("OK", "ERR"):
            raise TransientAgencyError("not the agency's envelope", agency=self._agency(), sent=True)
        if document["status"] == "OK":
            return Completed(result=CheckResult.model_validate(document.get("data")))
        code = str(document.get("code"))
        error = CODES.get(code, AgencyMisconfigured)
        if error is None:
            return Completed(result=CheckResult(found=True))
        raise error(f"the agency answered {code}", agency=self._agency(), code=code)


def classify(code: str) -> type[AgencyError] | None:
    """The class the fake raises for ``code``."""
    return CODES[code]
