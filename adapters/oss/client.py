"""OSS RBA's wire and authentication: one JSON POST per method, the ``user_key`` header, HTTP classified here.

``POST {base_url}{api_path}/{method}`` with ``{"<WRAPPER>": {...fields}}``; ``api_path`` is ``/v1/kl/rba`` in
production and ``/stg/v1/kl/rba`` on staging. OSS answers ``{"respon<method>": {"kode": ..., "keterangan": ...,
...}}``; whether a failure also changes the HTTP status the guide does not say, so an envelope with a ``kode`` is
believed whatever the status, and only a status without one is classified here (5xx, 408, 429: transient;
anything else: misconfigured).

The guide has no idempotency field. The adapter sends its stable reference in the ``X-MPP-Reference`` header: OSS
ignores it, the mock counts deliveries by it, and operators can match the two sides' logs.

This module knows nothing of services or codes: :mod:`.errors` reads ``kode``, :mod:`.mapping` the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from adapters import (
    AgencyError,
    AgencyHttp,
    AgencyMisconfigured,
    AgencyResponse,
    TransientAgencyError,
    parse_retry_after,
)

__all__ = ["DEFAULT_API_PATH", "ENVELOPE_ALIASES", "REFERENCE_HEADER", "OssClient"]

DEFAULT_API_PATH = "/v1/kl/rba"
REFERENCE_HEADER = "X-MPP-Reference"

#: Reply keys the guide's own examples use besides ``respon<method>``: its checkLicenseStatus section documents
#: ``responcheckLicenseStatus`` but shows ``responcheckStatusLicense`` and ``responsecheckStatusLicense``.
ENVELOPE_ALIASES: Mapping[str, tuple[str, ...]] = {
    "checkLicenseStatus": ("responcheckStatusLicense", "responsecheckStatusLicense"),
}

_TRANSIENT_STATUS = frozenset({408, 429})
_METHOD = re.compile(r"^[A-Za-z]{1,64}$")
# Plain segments only: no "." or ".." that would climb out of the API, no query, no spaces.
_API_PATH = re.compile(r"^(/(?!\.{1,2}(?:/|$))[A-Za-z0-9._-]+)*$")
_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class OssClient:
    """Calls OSS RBA methods with one ``user_key``, which stays out of ``repr`` and out of every error."""

    __slots__ = ("_api_path", "_http", "_user_key")

    def __init__(self, http: AgencyHttp, *, user_key: str, api_path: str = DEFAULT_API_PATH) -> None:
        path = "/" + api_path.strip().strip("/") if api_path.strip().strip("/") else ""
        if not _API_PATH.match(path):
            raise ValueError("the OSS api_path must be path segments of letters, digits, '.', '_' or '-'")
        if not user_key.strip() or any(ch in user_key for ch in "\r\n"):
            raise ValueError("the OSS user_key must be a non-empty single line")
        # A base URL that already ends in the API path (".../v1/kl/rba") is taken as it is: both spellings of the
        # setting are common, and doubling the path would only produce OSS's "service not found".
        if path and urlsplit(http.base_url).path.rstrip("/").endswith(path):
            path = ""
        self._http = http
        self._api_path = path
        self._user_key = user_key

    def __repr__(self) -> str:
        return f"OssClient(base_url={self._http.base_url!r}, api_path={self._api_path!r}, user_key=***)"

    @property
    def agency(self) -> str:
        """The agency slug this client reports in its errors."""
        return self._http.agency

    def path(self, method: str) -> str:
        """The request path of ``method`` under the base URL."""
        if not _METHOD.match(method):
            raise ValueError("an OSS method name must be letters only")
        return f"{self._api_path}/{method}"

    def headers(self, reference: str | None) -> dict[str, str]:
        """The request headers: JSON, the ``user_key`` and, when given, the stable reference."""
        headers = {**_HEADERS, "user_key": self._user_key}
        if reference is not None:
            if not _REFERENCE.match(reference):
                raise ValueError("a reference must be 1-128 letters, digits or '._:-'")
            headers[REFERENCE_HEADER] = reference
        return headers

    async def call(
        self,
        method: str,
        wrapper: str,
        fields: Mapping[str, Any],
        *,
        reference: str | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """POST ``{wrapper: fields}`` to ``method`` and return the reply's ``respon<method>`` object, unclassified.

        ``deadline`` (``time.monotonic()`` seconds) cuts the timeout to what is left of the request's time.
        Raises :class:`~adapters.TransientAgencyError` for the network's failures (5xx and 408/429 without an
        envelope, HTML pages, bodies that are not OSS's JSON) and :class:`~adapters.AgencyMisconfigured` for the
        other HTTP answers without an envelope (wrong base URL or path, a gateway refusing the caller).
        """
        timeout = self._http.time_left(deadline)
        body = orjson.dumps({wrapper: dict(fields)})
        request = self._http.build(
            "POST", self.path(method), headers=self.headers(reference), content=body, timeout=timeout
        )
        response = await self._http.send(request, timeout=timeout)
        return self._envelope(method, response)

    def _envelope(self, method: str, response: AgencyResponse) -> dict[str, Any]:
        agency = self.agency
        if response.looks_like_html():
            # A proxy or the API manager in front of OSS answering for it; its status says what it thinks.
            raise self._status_error(response, "an HTML page") or TransientAgencyError(
                f"{agency} answered with an HTML page", agency=agency, sent=True
            )
        envelope = self._find_envelope(method, response)
        if envelope is not None:
            return envelope
        raise self._status_error(response, "no OSS envelope") or TransientAgencyError(
            f"{agency} sent a body without the respon{method} envelope", agency=agency, sent=True
        )

    def _find_envelope(self, method: str, response: AgencyResponse) -> dict[str, Any] | None:
        try:
            document = response.json()
        except ValueError:
            if 200 <= response.status_code < 300:
                # ``from None``: the decode error holds the body, and a truncated NIB record names people.
                raise TransientAgencyError(
                    f"{self.agency} sent a body that is not JSON", agency=self.agency, sent=True
                ) from None
            return None
        if not isinstance(document, dict):
            return None
        for key in (f"respon{method}", *ENVELOPE_ALIASES.get(method, ())):
            envelope = document.get(key)
            if isinstance(envelope, dict):
                return envelope
        return None

    def _status_error(self, response: AgencyResponse, what: str) -> AgencyError | None:
        """The error a non-2xx status stands for when OSS's own envelope is missing; ``None`` for a 2xx."""
        status = response.status_code
        agency = self.agency
        if 200 <= status < 300:
            return None
        if status >= 500 or status in _TRANSIENT_STATUS:
            return TransientAgencyError(
                f"{agency} answered HTTP {status} with {what}",
                agency=agency,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                sent=True,
            )
        if status in (401, 403):
            return AgencyMisconfigured(
                f"{agency} refused the gateway with HTTP {status}: check the user_key and the IP allow-list",
                agency=agency,
            )
        # 3xx (OSS does not redirect API calls, so the base URL is wrong) and the other 4xx (404: wrong path).
        return AgencyMisconfigured(
            f"{agency} answered HTTP {status} with {what}: check the base URL and api_path", agency=agency
        )
