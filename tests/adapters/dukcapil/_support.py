"""Shared values and helpers of the Dukcapil adapter tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
from pydantic import BaseModel

from adapters import Call
from tests import fixtures

BASE_URL = "https://dukcapil.test/vpn"
INSTITUTION = "MPP_KOTA_BDG"
USER_ID = "mpp-user-7731"
PASSWORD = "Pw-s3cr3t-9917"
IP_USER = "10.20.30.40"
SETTINGS = {"institution": INSTITUTION, "user_id": USER_ID, "password": PASSWORD, "ip_user": IP_USER}
VERIFY_PATH = f"/dukcapil/get_json/{INSTITUTION}/CALL_VERIFY_BY_ELEMEN"
NIK = "3201014708900001"
SECRETS = (USER_ID, PASSWORD)


class WireStream(httpx.AsyncByteStream):
    """A body that reaches AgencyHttp unread and in chunks, as a real transport delivers it.

    respx pre-reads ``httpx.ByteStream`` bodies, and ``AgencyHttp`` reads with ``aiter_raw``, which refuses an
    already-read response: a plain ``httpx.Response(content=...)`` would fail before the adapter sees it.
    """

    def __init__(self, body: bytes, chunk: int = 64) -> None:
        self._body = body
        self._chunk = chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), self._chunk):
            yield self._body[start : start + self._chunk]


def wire(status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> httpx.Response:
    """A response with ``body`` delivered as a stream."""
    return httpx.Response(status, headers=dict(headers or {}), stream=WireStream(body))


def reply(name: str, status: int = 200) -> httpx.Response:
    """The recorded reply ``name`` as Dukcapil sends it."""
    return wire(status, fixtures.raw("dukcapil", name), {"content-type": "application/json"})


def make_call(payload: BaseModel, *, nik: str = NIK, service: str = "dukcapil.nik.verify", left: float = 30.0) -> Call:
    """A call as the dispatcher builds it, with ``left`` seconds to its deadline."""
    return Call(
        request_id="req-1",
        service=service,
        nik=nik,
        payload=payload,
        reference="req-1",
        attempt=1,
        deadline=time.monotonic() + left,
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def assert_no_secrets(exc: BaseException) -> None:
    """No credential appears in ``exc`` or in anything chained to it."""
    for link in _chain(exc):
        for text in (str(link), repr(link), *(repr(arg) for arg in link.args), repr(vars(link))):
            for secret in SECRETS:
                assert secret not in text, f"{type(link).__name__} leaks a credential"
