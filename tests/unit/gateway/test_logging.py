"""Logs: JSON lines, request context, no personal data, no tracebacks for bad input."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient

from gateway import configure_logging
from tests.fakes import KEY_A, NIK, envelope


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", stream)
    yield stream
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_every_line_is_json_with_request_context(
    gateway_client: TestClient[Any, Any], log_stream: io.StringIO
) -> None:
    """A completed request logs JSON lines carrying trace id, request id, service and agency."""
    resp = await gateway_client.post(
        "/v1/requests", json=envelope(), headers={"Authorization": f"Bearer {KEY_A}", "Prefer": "wait=5"}
    )
    request_id = (await resp.json())["id"]
    events = lines(log_stream)
    accepted = next(e for e in events if e["event"] == "request.accepted")
    assert accepted["request_id"] == request_id
    assert accepted["service"] == "fake.thing.lookup" and accepted["agency"] == "fake"
    assert accepted["client"] == "counter-a" and len(accepted["trace_id"]) == 32
    finished = next(e for e in events if e["event"] == "request.finished")
    assert finished["request_id"] == request_id and finished["status"] == "completed"
    access = next(e for e in events if e["event"] == "http.request")
    assert access["status"] == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"service": ',
        json.dumps(envelope(applicant={"nik": "9901014708900001"})).encode(),
        json.dumps(envelope(applicant={"nik": NIK}, payload={"value": NIK, "bad": NIK})).encode(),
        json.dumps(envelope(service="nope.none.none")).encode(),
    ],
)
async def test_bad_input_logs_no_traceback_and_no_nik(
    gateway_client: TestClient[Any, Any], log_stream: io.StringIO, body: bytes
) -> None:
    """Refused input is logged as one access line: no traceback, no NIK in any line."""
    resp = await gateway_client.post(
        "/v1/requests", data=body, headers={"Authorization": f"Bearer {KEY_A}", "Content-Type": "application/json"}
    )
    assert 400 <= resp.status < 500
    text = log_stream.getvalue()
    assert "Traceback" not in text
    assert NIK not in text and "9901014708900001" not in text
    assert NIK not in await resp.text()


def test_masking_processor_masks_personal_keys_and_numbers() -> None:
    """The masking step hides values under personal keys and 16-digit numbers in any string."""
    from gateway import redact_mapping

    masked = redact_mapping({"event": f"lookup of {NIK} failed", "nik": NIK, "full_name": "SITI AMINAH", "n": 3})
    assert masked == {
        "event": "lookup of 3201**********01 failed",
        "nik": "3201**********01",
        "full_name": "***",
        "n": 3,
    }


@pytest.mark.parametrize(
    "text",
    ["at 2026-11-22 10:15:00", "2026-11-22T10:15:00.123456+00:00", "peer 192.168.100.200", "Rp 1.500.000", "v1.2.3"],
)
def test_dates_addresses_and_amounts_are_not_mistaken_for_identifiers(text: str) -> None:
    """Grouped digits under ten, dates with their hour, and IPv4 addresses pass the masking step unchanged."""
    from gateway import redact

    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 0812-3456-7890", "call 0812******90"),
        ("nik 32.01.01.470890.0001.", "nik 3201**********01."),
        ("kk 3201 0147 0890 0001 found", "kk 3201**********01 found"),
    ],
)
def test_grouped_identifiers_are_masked_as_one_number(text: str, masked: str) -> None:
    """Phone, NIK and KK numbers written in groups are masked like the same digits written together."""
    from gateway import redact

    assert redact(text) == masked
