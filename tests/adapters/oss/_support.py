"""Shared values and helpers of the OSS adapter tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import orjson
from pydantic import BaseModel

from adapters import Call
from tests import fixtures

BASE_URL = "https://api-prd.oss.test"
USER_KEY = "oss-user-key-3f9a1c77d2e84b05"
SETTINGS = {"user_key": USER_KEY}
NIB = "9120001234561"
OSS_ID = "P02-202401150930120010042"
PROJECT_ID = "R-202401150931220120008"
PERMIT_ID = "I-202401160810450030019"
PERMIT_CODE = "032000000001"
REFERENCE = "req_01HOSSREFERENCE000000001"
IDS = {"nib": NIB, "project_id": PROJECT_ID, "oss_id": OSS_ID, "permit_id": PERMIT_ID, "permit_code": PERMIT_CODE}
STATUS_UPDATE = {
    **IDS,
    "agency_code": "032",
    "status_code": "45",
    "status_at": "2024-01-20T10:15:00+07:00",
    "officer_nip": "198703152010011002",
    "officer_name": "Budi Santoso",
    "note": "Persyaratan lengkap",
}
ISSUE = {
    **IDS,
    "region_code": "3273000000",
    "permit_number": "503/0042/SS/DPMPTSP/2024",
    "issued_on": "2024-01-22",
    "valid_until": "2029-01-22",
    "signer_name": "Rina Kartika",
    "signer_nip": "197005121995032001",
    "signer_position": "Kepala DPMPTSP Kota Bandung",
}


def path(method: str) -> str:
    """The production path of ``method``."""
    return f"/v1/kl/rba/{method}"


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
    """The recorded reply ``name`` as OSS sends it."""
    return wire(status, fixtures.raw("oss", name), {"content-type": "application/json"})


def envelope(method: str, status: int = 200, **inner: Any) -> httpx.Response:
    """A ``respon<method>`` reply with ``inner`` as its object."""
    return wire(status, orjson.dumps({f"respon{method}": inner}), {"content-type": "application/json"})


def make_call(payload: BaseModel, service: str, *, left: float = 30.0, reference: str = REFERENCE) -> Call:
    """A call as the dispatcher builds it, with ``left`` seconds to its deadline."""
    return Call(
        request_id=reference,
        service=service,
        nik="3273014708900001",
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


def assert_clean(exc: BaseException) -> None:
    """Neither the user_key nor a person's name or NIK from the fixtures appears in ``exc`` or its chain."""
    for link in _chain(exc):
        for text in (str(link), repr(link), *(repr(arg) for arg in link.args), repr(vars(link))):
            for secret in (USER_KEY, "SITI AMINAH", "3201014708900001", "tidak ditemukan"):
                assert secret not in text, f"{type(link).__name__} leaks {secret!r}"
