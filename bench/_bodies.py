"""Request bodies for the load: the gateway's requests, and the Dukcapil wire call the adapter makes for each.

The wire bodies are not written by hand: the real Dukcapil adapter builds them, through a transport that records
the request instead of sending it, so the direct, nginx and bare-proxy runs send exactly the bytes the gateway
sends to the agency.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from adapters import AdapterContext, AgencyHttp, Call
from adapters.dukcapil import VERIFY as DUKCAPIL_VERIFY
from adapters.dukcapil import DukcapilAdapter, VerifyPayload
from gateway.config import AgencyConfig, agency_values, read_env_file

__all__ = [
    "JOURNEY",
    "LOOKUP",
    "SUBMISSION",
    "journey_body",
    "lookup_body",
    "register_body",
    "wire_calls",
    "write_lines",
]

LOOKUP = "dukcapil.nik.verify"
SUBMISSION = "bpjs-ketenagakerjaan.peserta.register"
#: Three lookups at three agencies at once: Dukcapil, BPJS Kesehatan, BPJS Ketenagakerjaan.
JOURNEY = "counter.membership-check"
# The gateway accepts a consent only while it is valid (12 h by default): dated when the run builds its bodies.
_CONSENT = {"method": "written", "reference": "F-BENCH-1", "given_at": dt.datetime.now(dt.UTC).isoformat()}


def _counter(index: int) -> dict[str, str]:
    return {"mpp_id": "mpp-bench", "desk": f"loket-{index % 12:02d}", "operator": "op-bench"}


def lookup_body(index: int, citizen: dict[str, Any]) -> dict[str, Any]:
    """A ``dukcapil.nik.verify`` request the mock answers with a match."""
    return {
        "service": LOOKUP,
        "applicant": {"nik": citizen["nik"]},
        "counter": _counter(index),
        "consent": _CONSENT,
        "payload": {"full_name": citizen["full_name"], "birth_date": citizen["birth_date"]},
    }


def register_body(index: int, citizen: dict[str, Any]) -> dict[str, Any]:
    """A ``bpjs-ketenagakerjaan.peserta.register`` request (the payload of tests/chaos/runner.py)."""
    return {
        "service": SUBMISSION,
        "applicant": {"nik": citizen["nik"]},
        "counter": _counter(index),
        "consent": _CONSENT,
        "payload": {
            "occupation": "trader",
            "monthly_income": "2m_to_3m",
            "programmes": ["JKK", "JKM", "JHT"],
            "phone": "081234567890",
            "address": {
                "street": citizen["address"],
                "village": citizen["village_name"],
                "district": citizen["district_name"],
                "regency": citizen["regency_name"],
                "province": citizen["province_name"],
            },
        },
    }


def journey_body(index: int, citizen: dict[str, Any]) -> dict[str, Any]:
    """A ``counter.membership-check`` journey: three lookups, each at its own agency, at once."""
    return {
        "journey": JOURNEY,
        "applicant": {"nik": citizen["nik"]},
        "counter": _counter(index),
        "consent": _CONSENT,
        "payload": {"service_date": "2026-11-22"},
    }


def wire_calls(settings_file: Path, citizens: list[dict[str, Any]]) -> tuple[str, list[bytes]]:
    """The Dukcapil path and the body the adapter sends for each citizen's verify call."""
    config = AgencyConfig.from_values(agency_values(read_env_file(str(settings_file)))["dukcapil"])
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"content": [{"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (100)"}]})

    async def build() -> None:
        http = AgencyHttp(httpx.MockTransport(record), agency="dukcapil", base_url=config.base_url)
        adapter = DukcapilAdapter(AdapterContext(http=http, settings=config.adapter_settings))
        for i, citizen in enumerate(citizens):
            born = dt.date.fromisoformat(citizen["birth_date"])
            payload = VerifyPayload(full_name=citizen["full_name"], birth_date=born)
            call = Call(request_id=f"req_{i}", service=DUKCAPIL_VERIFY.id, nik=citizen["nik"], payload=payload,
                        reference=f"req_{i}", attempt=0, deadline=time.monotonic() + 30)  # fmt: skip
            # The canned answer may not fit every mapping; only the request it recorded matters here.
            with contextlib.suppress(Exception):
                await adapter.execute(call)

    asyncio.run(build())
    if len(seen) != len(citizens):
        raise RuntimeError("the adapter did not make one call per citizen")
    return seen[0].url.path, [request.content for request in seen]


def write_lines(path: Path, bodies: list[Any]) -> Path:
    """One compact JSON body per line (bytes are written as they are)."""
    with path.open("wb") as out:
        for body in bodies:
            out.write(body if isinstance(body, bytes) else orjson.dumps(body))
            out.write(b"\n")
    return path
