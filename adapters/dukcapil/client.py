"""Dukcapil's wire and authentication: one POST per call, credentials in the JSON body, HTTP classified here.

``POST {base}/dukcapil/get_json/{institution}/{METHOD}`` with a JSON object of strings. Dukcapil has no request
signing: it authenticates by the ``USER_ID``/``PASSWORD`` pair in the body and by the caller's IP address, which
must equal ``IP_USER`` and arrive over the government VPN. Every answer the service itself gives, failures
included, is HTTP 200 with ``{"content": [{...}], ...}``; anything else comes from the network in between.

This module knows nothing of services or codes: :mod:`.errors` reads ``RESPONSE_CODE``, :mod:`.mapping` the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from adapters import AgencyHttp, AgencyResponse, TransientAgencyError

__all__ = ["CREDENTIAL_KEYS", "DukcapilClient"]

_NOT_JSON = object()

#: The body keys that carry credentials. Clients in the wild mix cases; the adapter always sends these.
CREDENTIAL_KEYS = frozenset({"USER_ID", "PASSWORD", "IP_USER"})

# The institution and method become path segments: only a plain identifier may get there, so that a setting can
# never redirect the call to another path of the VPN endpoint.
_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class DukcapilClient:
    """Calls Dukcapil methods for one institution with one set of credentials.

    The credentials are kept out of ``repr`` and out of every error this client raises.
    """

    __slots__ = ("_http", "_institution", "_ip_user", "_password", "_user_id")

    def __init__(self, http: AgencyHttp, *, institution: str, user_id: str, password: str, ip_user: str) -> None:
        if not _SEGMENT.match(institution):
            raise ValueError("the Dukcapil institution must be 1-64 letters, digits, '.', '_' or '-'")
        self._http = http
        self._institution = institution
        self._user_id = user_id
        self._password = password
        self._ip_user = ip_user

    def __repr__(self) -> str:
        return f"DukcapilClient(base_url={self._http.base_url!r}, institution={self._institution!r}, credentials=***)"

    @property
    def agency(self) -> str:
        """The agency slug this client reports in its errors."""
        return self._http.agency

    def path(self, method: str) -> str:
        """The request path of ``method``, upper-cased as every known client sends it."""
        method = method.upper()
        if not _SEGMENT.match(method):
            raise ValueError("a Dukcapil method name must be a plain identifier")
        return f"dukcapil/get_json/{self._institution}/{method}"

    def body(self, fields: Mapping[str, str]) -> bytes:
        """The JSON body: ``fields`` plus the credentials under their upper-case keys."""
        if clash := CREDENTIAL_KEYS.intersection(key.upper() for key in fields):
            # A field would override or duplicate a credential under another casing: a bug in the caller.
            raise ValueError(f"fields must not carry credential keys: {', '.join(sorted(clash))}")
        return orjson.dumps({**fields, "USER_ID": self._user_id, "PASSWORD": self._password, "IP_USER": self._ip_user})

    async def call(self, method: str, fields: Mapping[str, str], *, deadline: float | None = None) -> dict[str, Any]:
        """Call ``method`` with ``fields`` and return ``content[0]`` of the reply, unclassified.

        ``deadline`` (``time.monotonic()`` seconds) cuts the agency's timeout to what is left of the request's time.
        Raises :class:`~adapters.TransientAgencyError` for the network's failures (5xx, 408, 429, HTML pages,
        bodies that are not Dukcapil's JSON) and :class:`~adapters.AgencyMisconfigured` for other HTTP answers
        (401/403: credentials or IP; 3xx/4xx: wrong base URL or path).
        """
        timeout = self._http.time_left(deadline)
        body = self.body(fields)
        request = self._http.build("POST", self.path(method), headers=_HEADERS, content=body, timeout=timeout)
        response = await self._http.send(request, timeout=timeout)
        self._http.raise_for_status(
            response, credentials="credentials and the VPN's IP allow-list", location="the base URL and institution"
        )
        return self._first_content(response)

    def _first_content(self, response: AgencyResponse) -> dict[str, Any]:
        agency = self.agency
        try:
            document = response.json()
        except ValueError:
            # The decode error keeps the whole body in ``.doc`` and would stay reachable as ``__context__`` even
            # with ``from None``; a truncated reply may hold a citizen's data, so the error is raised outside.
            document = _NOT_JSON
        if document is _NOT_JSON:
            raise TransientAgencyError(f"{agency} sent a body that is not JSON", agency=agency, sent=True)
        content = document.get("content") if isinstance(document, dict) else None
        if not isinstance(content, list) or not content or not isinstance(content[0], dict):
            raise TransientAgencyError(
                f"{agency} sent JSON without a non-empty 'content' list of objects", agency=agency, sent=True
            )
        first: dict[str, Any] = content[0]
        return first
