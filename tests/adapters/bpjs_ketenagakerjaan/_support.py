"""Shared values and helpers of the BPJS Ketenagakerjaan adapter tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
from pydantic import BaseModel

from adapters import Call
from adapters.bpjs_ketenagakerjaan import RegisterPayload
from tests import fixtures

BASE_URL = "https://bpjstk.test/partner"
API_KEY = "tk-key-6f1e9a27c4b84d5e"
SETTINGS = {"base_url": BASE_URL, "api_key": API_KEY}
NIK = "3273014708900003"
REFERENCE = "req_01JD5Y2Q7ZC3M8T4V6W9X0A1B2"
VERIFY_PATH = "/api/v1/peserta/cek"
REGISTER_PATH = "/api/v1/peserta/bpu"
STATUS_PATH = "/api/v1/peserta/bpu/status"

REGISTER_DATA: dict[str, Any] = {
    "occupation": "trader",
    "monthly_income": "2m_to_3m",
    "programmes": ["JKM", "JKK", "JHT"],
    "phone": "0812-3456-7890",
    "email": "siti@example.test",
    "address": {
        "street": "  Jl.  Merdeka No. 5 ",
        "rt": "3",
        "rw": "012",
        "village": "Braga",
        "district": "Sumur Bandung",
        "regency": "Kota Bandung",
        "province": "Jawa Barat",
        "postal_code": "40111",
    },
}


def register_payload(**changes: Any) -> RegisterPayload:
    """A valid registration payload with ``changes`` applied."""
    return RegisterPayload.model_validate({**REGISTER_DATA, **changes})


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


def reply(name: str, status: int = 200, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """The reference reply ``name`` as the modelled service sends it."""
    body = fixtures.raw("bpjs_ketenagakerjaan", name)
    return wire(status, body, {"content-type": "application/json", **(headers or {})})


def make_call(
    payload: BaseModel,
    *,
    service: str,
    nik: str = NIK,
    reference: str = REFERENCE,
    left: float = 30.0,
) -> Call:
    """A call as the dispatcher builds it, with ``left`` seconds to its deadline."""
    return Call(
        request_id=reference,
        service=service,
        nik=nik,
        payload=payload,
        reference=reference,
        attempt=1,
        deadline=time.monotonic() + left,
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def assert_safe(exc: BaseException) -> None:
    """Neither the API key nor the applicant's NIK appears in ``exc`` or anything chained to it."""
    for link in _chain(exc):
        for text in (str(link), repr(link), *(repr(arg) for arg in link.args), repr(vars(link))):
            assert API_KEY not in text, f"{type(link).__name__} leaks the API key"
            assert NIK not in text, f"{type(link).__name__} leaks the NIK"
