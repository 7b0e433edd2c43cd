"""The wire and authentication of the modelled BPJS Ketenagakerjaan service: JSON POSTs with an API key header.

THE WIRE FORMAT IS THE PROJECT'S OWN: no public partner API of BPJS Ketenagakerjaan exists, so this module speaks
a small format the project designed (``manifest.json`` says so too) and that ``mocks.bpjs_ketenagakerjaan``
serves. Every request is ``POST {base}/api/v1/...`` with a JSON body and the header ``X-Api-Key``; every answer
of the service is the envelope ``{"kode": "00", "pesan": "...", "data": ...}`` whatever its HTTP status. The NIK
travels in bodies only, never in a path or a query, so that no proxy's access log holds it.

This module knows nothing of services or codes: it returns the envelope (:class:`Reply`) and classifies only
what is not one (HTML pages, bodies that are not the envelope, bare HTTP errors of the network in between).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import orjson

from adapters import AgencyHttp, AgencyMisconfigured, AgencyResponse, TransientAgencyError, parse_retry_after

__all__ = ["API_KEY_HEADER", "REGISTER_PATH", "STATUS_PATH", "VERIFY_PATH", "BpjsTkClient", "Reply"]

API_KEY_HEADER = "X-Api-Key"
VERIFY_PATH = "api/v1/peserta/cek"
REGISTER_PATH = "api/v1/peserta/bpu"
STATUS_PATH = "api/v1/peserta/bpu/status"

_CODE = re.compile(r"^[0-9]{2}$")
_HEADERS = {"content-type": "application/json", "accept": "application/json"}


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """One envelope as the service sent it, unclassified."""

    http_status: int
    #: The two-digit result code.
    code: str
    #: The ``data`` member: an object on success, usually ``None`` otherwise.
    data: Any
    #: The wire names of the fields the service refused (``kesalahan[].field``, code 30).
    refused_fields: tuple[str, ...] = ()
    retry_after: float | None = None


class BpjsTkClient:
    """Posts to the modelled BPJS Ketenagakerjaan service with one API key, kept out of ``repr`` and every error."""

    __slots__ = ("_api_key", "_http")

    def __init__(self, http: AgencyHttp, *, api_key: str) -> None:
        if not api_key or any(ch in api_key for ch in "\r\n"):
            raise ValueError("the BPJS Ketenagakerjaan API key must be a non-empty single line")
        self._http = http
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"BpjsTkClient(base_url={self._http.base_url!r}, api_key=***)"

    @property
    def agency(self) -> str:
        """The agency slug this client reports in its errors."""
        return self._http.agency

    async def post(self, path: str, body: Mapping[str, Any], *, deadline: float | None = None) -> Reply:
        """POST ``body`` to ``path`` and return the envelope.

        ``deadline`` (``time.monotonic()`` seconds) cuts the agency's timeout to what is left of the request's time.
        Raises :class:`~adapters.TransientAgencyError` for HTML pages, bodies that are not the envelope, and bare
        5xx/408/429 answers; :class:`~adapters.AgencyMisconfigured` for other bare HTTP errors (wrong base URL, a
        proxy refusing the gateway).
        """
        timeout = self._http.time_left(deadline)
        headers = {**_HEADERS, API_KEY_HEADER: self._api_key}
        request = self._http.build("POST", path, headers=headers, content=orjson.dumps(body), timeout=timeout)
        response = await self._http.send(request, timeout=timeout)
        return self._read(response)

    def _read(self, response: AgencyResponse) -> Reply:
        agency = self.agency
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.looks_like_html():
            # A load balancer or WAF answering for the service: the request may have gone through behind it.
            raise TransientAgencyError(f"{agency} answered with an HTML page", agency=agency, sent=True)
        envelope = _envelope(response)
        if envelope is not None:
            return Reply(status, envelope["kode"], envelope.get("data"), _refused(envelope), retry_after)
        if 200 <= status < 300:
            raise TransientAgencyError(f"{agency} sent a body that is not its envelope", agency=agency, sent=True)
        if status == 429:
            # A rate limiter in front refuses before the service acts: nothing was done, a resend is safe.
            raise TransientAgencyError(
                f"{agency} answered HTTP 429", agency=agency, retry_after=retry_after, sent=False
            )
        if status >= 500 or status == 408:
            raise TransientAgencyError(
                f"{agency} answered HTTP {status}", agency=agency, retry_after=retry_after, sent=True
            )
        if status in (401, 403):
            raise AgencyMisconfigured(
                f"{agency} refused the gateway with HTTP {status} outside its envelope: check the API key and the "
                "network path",
                agency=agency,
            )
        raise AgencyMisconfigured(f"{agency} answered HTTP {status}: check the base URL", agency=agency)


def _envelope(response: AgencyResponse) -> dict[str, Any] | None:
    """The decoded envelope, or ``None`` when the body is not one (not JSON, or no two-digit ``kode``)."""
    try:
        document = response.json()
    except ValueError:
        # Nothing of the body rides along: a truncated reply may hold a citizen's data.
        return None
    if not isinstance(document, dict):
        return None
    code = document.get("kode")
    if not isinstance(code, str) or not _CODE.match(code):
        return None
    return document


def _refused(envelope: Mapping[str, Any]) -> tuple[str, ...]:
    """The wire field names under ``kesalahan``; the reasons are the agency's free text and are dropped."""
    items = envelope.get("kesalahan")
    if not isinstance(items, list):
        return ()
    names = (item.get("field") for item in items if isinstance(item, dict))
    return tuple(name for name in names if isinstance(name, str))
