"""The imigrasi booking API's wire and authentication: JSON over HTTPS with a bearer token.

INVENTED WIRE FORMAT (see the README): replace it with the agency's. ``GET`` for reads, ``POST`` with an
``Idempotency-Key`` header for bookings; success is a JSON object, failure ``{"error": {"code": ...}}``.
Everything that is not one of those (HTML pages, garbage, bare HTTP errors from a proxy) is classified here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from adapters import AgencyHttp, AgencyMisconfigured, AgencyResponse, TransientAgencyError, parse_retry_after

from .errors import raise_for_error

__all__ = ["ImigrasiClient"]


class ImigrasiClient:
    """Talks to the booking API with one bearer token, kept out of ``repr`` and every error."""

    __slots__ = ("_http", "_token")

    def __init__(self, http: AgencyHttp, *, token: str) -> None:
        if not token or any(ch in token for ch in "\r\n"):
            raise ValueError("the imigrasi API token must be a non-empty single line")
        self._http = http
        self._token = token

    def __repr__(self) -> str:
        return f"ImigrasiClient(base_url={self._http.base_url!r}, token=***)"

    async def get(
        self, path: str, query: Mapping[str, str] | None = None, *, deadline: float | None = None
    ) -> dict[str, Any]:
        """GET ``path`` with ``query`` (never personal data: it ends up in access logs)."""
        if query:
            path = f"{path}?{urlencode(query)}"
        return await self._send("GET", path, None, {}, deadline)

    async def post(
        self, path: str, body: Mapping[str, Any], *, idempotency_key: str, deadline: float | None = None
    ) -> dict[str, Any]:
        """POST ``body`` as JSON under ``idempotency_key``."""
        headers = {"content-type": "application/json", "idempotency-key": idempotency_key}
        return await self._send("POST", path, orjson.dumps(body), headers, deadline)

    async def _send(
        self, method: str, path: str, content: bytes | None, headers: dict[str, str], deadline: float | None
    ) -> dict[str, Any]:
        agency = self._http.agency
        timeout = self._http.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise TransientAgencyError(f"{agency}: the deadline passed before the call", agency=agency, sent=False)
        headers = {**headers, "accept": "application/json", "authorization": f"Bearer {self._token}"}
        request = self._http.build(method, path, headers=headers, content=content, timeout=timeout)
        return self._read(await self._http.send(request, timeout=timeout))

    def _read(self, response: AgencyResponse) -> dict[str, Any]:
        agency = self._http.agency
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.looks_like_html():
            raise TransientAgencyError(f"{agency} answered with an HTML page", agency=agency, sent=True)
        try:
            document = response.json()
        except ValueError:
            document = None
        if isinstance(document, dict):
            error = document.get("error")
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                raise_for_error(error["code"], retry_after=retry_after)
            if 200 <= status < 300:
                return document
        if 200 <= status < 300:
            raise TransientAgencyError(f"{agency} sent a body the adapter cannot read", agency=agency, sent=True)
        if status == 429:
            # A rate limiter refuses before anything is booked: a resend is safe.
            raise TransientAgencyError(
                f"{agency} answered HTTP 429", agency=agency, retry_after=retry_after, sent=False
            )
        if status >= 500 or status == 408:
            raise TransientAgencyError(
                f"{agency} answered HTTP {status}", agency=agency, retry_after=retry_after, sent=True
            )
        raise AgencyMisconfigured(f"{agency} answered HTTP {status}: check the base URL and token", agency=agency)
