"""Shared values and helpers of the BPJS Kesehatan adapter tests."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator, Mapping

import httpx
import orjson
from pydantic import BaseModel

from adapters import Call
from mocks.bpjs_crypto import encrypt_response
from tests import fixtures
from tests.fixtures.bpjs_kesehatan import CHECK_VECTOR

BASE_URL = "https://apijkn.test/vclaim-rest"
# The check-vector credentials of docs/agencies.md, which the Node-made envelope fixtures are encrypted for.
CONS_ID = CHECK_VECTOR["cons_id"]
SECRET = CHECK_VECTOR["consumer_secret"]
TIMESTAMP = CHECK_VECTOR["timestamp"]
USER_KEY = "vclaim-user-key-5e1f0c93"
SETTINGS = {"cons_id": CONS_ID, "consumer_secret": SECRET, "user_key": USER_KEY}
SECRETS = (SECRET, USER_KEY)
NOW = dt.datetime.fromtimestamp(int(TIMESTAMP), dt.UTC)
NIK = "3273014708900003"
CARD = "0001987654321"
SERVICE_DATE = dt.date(2026, 1, 5)
NIK_PATH = f"/Peserta/nik/{NIK}/tglSEP/2026-01-05"
CARD_PATH = f"/Peserta/nokartu/{CARD}/tglSEP/2026-01-05"
JSON = {"content-type": "application/json"}


def clock() -> dt.datetime:
    """The fixed clock of the unit tests: the check vector's timestamp."""
    return NOW


class WireStream(httpx.AsyncByteStream):
    """A body that reaches AgencyHttp unread and in chunks, as a real transport delivers it."""

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
    """The recorded envelope ``name`` as BPJS sends it."""
    return wire(status, fixtures.raw("bpjs_kesehatan", name), JSON)


def envelope(document: object, *, timestamp: str = TIMESTAMP, code: str = "200") -> bytes:
    """A success envelope whose ``response`` is ``document`` encrypted for ``timestamp`` (by the mock's code)."""
    encrypted = encrypt_response(
        orjson.dumps(document).decode(), cons_id=CONS_ID, consumer_secret=SECRET, timestamp=timestamp
    )
    return orjson.dumps({"metaData": {"code": code, "message": "OK"}, "response": encrypted})


def encrypted_reply(document: object, *, timestamp: str = TIMESTAMP) -> httpx.Response:
    """:func:`envelope` as a response."""
    return wire(200, envelope(document, timestamp=timestamp), JSON)


def make_call(payload: BaseModel, *, service: str, nik: str = NIK, left: float = 30.0) -> Call:
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


def assert_no_secrets(exc: BaseException, *extra: str) -> None:
    """No credential (nor any of ``extra``, e.g. personal data) appears in ``exc`` or anything chained to it."""
    for link in _chain(exc):
        for text in (str(link), repr(link), *(repr(arg) for arg in link.args), repr(vars(link))):
            for secret in (*SECRETS, *extra):
                assert secret not in text, f"{type(link).__name__} leaks a credential or personal data"
