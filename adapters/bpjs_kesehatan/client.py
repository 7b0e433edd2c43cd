"""VClaim v2's wire and authentication: signed requests, the ``metaData`` envelope, the encrypted ``response``.

Every request carries ``X-cons-id``, ``X-timestamp`` (Unix seconds, UTC, from the adapter's injected clock),
``X-signature`` and ``user_key``. The reply's ``response`` is encrypted with a key derived from the very
``X-timestamp`` sent, so the timestamp of a request is kept with it until its reply is read. Bodies (for the
POST services to come) are JSON sent as ``Content-Type: Application/x-www-form-urlencoded``, as every known
client sends them and as the service expects.

This module knows nothing of services or of what the codes mean beyond "200 carries data": :mod:`.errors`
classifies ``metaData.code``, :mod:`.mapping` reads the decrypted document.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from adapters import AgencyHttp, AgencyResponse, TransientAgencyError

from .crypto import DecryptionError, decrypt_response, signature
from .errors import SUCCESS_CODE

__all__ = ["FORM_CONTENT_TYPE", "VClaimClient", "VClaimReply"]

FORM_CONTENT_TYPE = "Application/x-www-form-urlencoded"
"""The content type VClaim clients send with a JSON body (sic: the capital A too)."""

# Header values must be visible ASCII: a setting with a newline or a space could forge or split headers.
_HEADER_VALUE = re.compile(r"[\x21-\x7e]{1,256}")
# Paths are built by the adapter from validated digits and dates; this keeps any other text off the URL.
_PATH = re.compile(r"[A-Za-z0-9_-]+(?:/[A-Za-z0-9_.-]+)*")


@dataclasses.dataclass(frozen=True, slots=True)
class VClaimReply:
    """One decoded VClaim reply: its ``metaData.code`` and, for code 200, the decrypted ``response``."""

    code: str
    #: The decrypted, decoded ``response`` of a code-200 reply; ``None`` otherwise. Personal data: never shown.
    response: Any = dataclasses.field(default=None, repr=False)


class VClaimClient:
    """Signs, sends and decodes VClaim requests for one consumer (``cons_id``) and one service ``user_key``.

    The secret and the user key are kept out of ``repr`` and out of every error this client raises.
    """

    __slots__ = ("_clock", "_cons_id", "_http", "_secret", "_user_key")

    def __init__(
        self,
        http: AgencyHttp,
        *,
        cons_id: str,
        consumer_secret: str,
        user_key: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        if not _HEADER_VALUE.fullmatch(cons_id):
            raise ValueError("the BPJS Kesehatan cons_id must be 1-256 visible ASCII characters")
        if not _HEADER_VALUE.fullmatch(user_key):
            raise ValueError("the BPJS Kesehatan user_key must be 1-256 visible ASCII characters")
        if not consumer_secret:
            raise ValueError("the BPJS Kesehatan consumer_secret must not be empty")
        self._http = http
        self._cons_id = cons_id
        self._secret = consumer_secret
        self._user_key = user_key
        self._clock = clock

    def __repr__(self) -> str:
        # The consumer id is half of the credential pair: like the secret, it stays out of anything printed.
        return f"VClaimClient(base_url={self._http.base_url!r}, credentials=***)"

    @property
    def agency(self) -> str:
        """The agency slug this client reports in its errors."""
        return self._http.agency

    def timestamp(self) -> str:
        """``X-timestamp`` for a request sent now: whole Unix seconds from the injected clock (naive is UTC)."""
        now = self._clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        return str(int(now.timestamp()))

    def headers(self, timestamp: str) -> dict[str, str]:
        """The authentication headers of a request stamped ``timestamp``."""
        return {
            "X-cons-id": self._cons_id,
            "X-timestamp": timestamp,
            "X-signature": signature(self._cons_id, self._secret, timestamp),
            "user_key": self._user_key,
            "Accept": "application/json",
        }

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> VClaimReply:
        """Send one signed request and return its reply, unclassified.

        ``deadline`` (``time.monotonic()`` seconds) cuts the agency's timeout to what is left of the request's
        time. Raises :class:`~adapters.TransientAgencyError` for the network's failures and for replies that are
        not VClaim's (5xx, 408, 429, HTML pages, bodies that are not the envelope, a ``response`` that does not
        decrypt) and :class:`~adapters.AgencyMisconfigured` for other HTTP answers (401/403; 3xx/4xx: a wrong
        base URL).
        """
        if not _PATH.fullmatch(path):
            raise ValueError("a VClaim path must be plain segments of letters, digits, '.', '_' or '-'")
        timeout = self._http.time_left(deadline)
        timestamp = self.timestamp()
        headers = self.headers(timestamp)
        content = None
        if body is not None:
            headers["Content-Type"] = FORM_CONTENT_TYPE
            content = orjson.dumps(body)
        request = self._http.build(method.upper(), path, headers=headers, content=content, timeout=timeout)
        response = await self._http.send(request, timeout=timeout)
        self._http.raise_for_status(
            response, credentials="cons_id, user_key and the IP allow-list", location="the base URL"
        )
        return self._decode(response, timestamp)

    async def get(self, path: str, *, deadline: float | None = None) -> VClaimReply:
        """``GET {base}/{path}``, signed; see :meth:`call`."""
        return await self.call("GET", path, deadline=deadline)

    def _decode(self, response: AgencyResponse, timestamp: str) -> VClaimReply:
        agency = self.agency
        document = _loads(response.content)
        if document is _NOT_JSON:
            raise TransientAgencyError(f"{agency} sent a body that is not JSON", agency=agency, sent=True)
        meta = document.get("metaData") if isinstance(document, dict) else None
        code = meta.get("code") if isinstance(meta, dict) else None
        # The code is a string on the wire; a number is read the same (Antrean's habit, harmless here).
        if isinstance(code, bool) or not isinstance(code, str | int) or not str(code).strip():
            raise TransientAgencyError(
                f"{agency} sent JSON that is not VClaim's envelope (no metaData.code)", agency=agency, sent=True
            )
        code = str(code).strip()
        if code != SUCCESS_CODE:
            # Only a success carries data; whatever else rides along is not ours to decrypt or keep.
            return VClaimReply(code)
        return VClaimReply(code, self._decrypt(document.get("response"), timestamp))

    def _decrypt(self, encrypted: object, timestamp: str) -> Any:
        agency = self.agency
        if encrypted is None or encrypted == "":
            return None
        if not isinstance(encrypted, str):
            raise TransientAgencyError(
                f"{agency} sent a response that is not encrypted as VClaim v2 sends it", agency=agency, sent=True
            )
        try:
            text = decrypt_response(encrypted, cons_id=self._cons_id, consumer_secret=self._secret, timestamp=timestamp)
        except DecryptionError as exc:
            # DecryptionError names the failed step only, and carries no chain of its own.
            raise TransientAgencyError(f"{agency}: {exc}", agency=agency, sent=True) from None
        document = _loads(text)
        if document is _NOT_JSON:
            raise TransientAgencyError(f"{agency}: the decrypted response is not JSON", agency=agency, sent=True)
        return document


_NOT_JSON = object()


def _loads(data: bytes | str) -> Any:
    """``data`` decoded, or ``_NOT_JSON``.

    Raising from inside an ``except`` would keep the decode error as ``__context__`` (``from None`` only hides
    it), and that error holds the whole document: a citizen's record must not ride along in an exception chain.
    """
    try:
        return orjson.loads(data)
    except ValueError:
        return _NOT_JSON
