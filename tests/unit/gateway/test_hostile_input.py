"""Hostile input: every malformed, oversized or deviant request is refused with a problem (or, for what aiohttp's
parser refuses before any request exists, a plain 400), never a 5xx, and never a traceback in the log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from contracts import ServiceRequest
from gateway.http import MAX_JSON_DEPTH, duplicate_key, json_depth_exceeded, nul_field
from tests.fakes import KEY_A, consent_given_at, envelope

AUTH = {"Authorization": f"Bearer {KEY_A}"}
CONSENT = {"method": "written", "reference": "F-1", "given_at": consent_given_at()}


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def counter(**fields: Any) -> dict[str, Any]:
    return {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-7", **fields}


def body(**overrides: Any) -> bytes:
    return orjson.dumps(envelope(**overrides))


# (body, expected status, problem slug, field named in errors or None)
CASES: dict[str, tuple[bytes, int, str, str | None]] = {
    # nesting: the envelope and payload are 2 levels, so 31 more reach 33, one past the limit
    "deep-json": (body(payload={"value": nested(MAX_JSON_DEPTH - 1)}), 422, "validation-error", "(body)"),
    "very-deep-json": (b'{"payload":' + b"[" * 5000 + b"]" * 5000 + b"}", 422, "validation-error", "(body)"),
    "deep-json-at-the-limit": (body(payload={"value": nested(MAX_JSON_DEPTH - 2)}), 422, "validation-error",
                               "payload.value"),
    # string lengths
    "long-desk": (body(counter=counter(desk="d" * 65)), 422, "validation-error", "counter.desk"),
    "long-operator": (body(counter=counter(operator="o" * 129)), 422, "validation-error", "counter.operator"),
    "long-mpp-id": (body(counter=counter(mpp_id="m" * 65)), 422, "validation-error", "counter.mpp_id"),
    "huge-desk": (body(counter=counter(desk="d" * 15_000)), 422, "validation-error", "counter.desk"),
    "long-consent-reference": (body(service="fake.person.read", consent={**CONSENT, "reference": "r" * 129}), 422,
                               "validation-error", "consent.reference"),
    "long-callback-url": (body(callback_url="https://counter.example/" + "c" * 2030), 422, "validation-error",
                          "callback_url"),
    "long-service-id": (body(service="a" * 60 + "." + "b" * 60 + "." + "c" * 20), 404, "unknown-service", "service"),
    "long-payload-string": (body(payload={"value": "v" * 51}), 422, "validation-error", "payload.value"),
    # unknown fields
    "unknown-top-level-field": (body(is_admin=True), 422, "validation-error", "is_admin"),
    "unknown-counter-field": (body(counter=counter(role="supervisor")), 422, "validation-error", "counter.role"),
    "unknown-applicant-field": (body(applicant={"nik": "3201014708900001", "name": "x"}), 422, "validation-error",
                                "applicant.name"),
    "unknown-consent-field": (body(service="fake.person.read", consent={**CONSENT, "scope": "all"}), 422,
                              "validation-error", "consent.scope"),
    "unknown-payload-field": (body(payload={"value": "x", "sql": "1; DROP TABLE"}), 422, "validation-error",
                              "payload.sql"),
    # wrong types
    "body-is-a-string": (b'"hello"', 422, "validation-error", "(body)"),
    "body-is-null": (b"null", 422, "validation-error", "(body)"),
    "counter-is-a-string": (body(counter="loket-01"), 422, "validation-error", "counter"),
    "desk-is-a-number": (body(counter=counter(desk=7)), 422, "validation-error", "counter.desk"),
    "nik-is-a-number": (body(applicant={"nik": 3201014708900001}), 422, "validation-error", "applicant.nik"),
    "service-is-a-list": (body(service=["fake.thing.lookup"]), 422, "validation-error", "service"),
    "payload-is-a-list": (body(payload=["x"]), 422, "validation-error", "payload"),
    "given-at-is-a-list": (body(service="fake.person.read", consent={**CONSENT, "given_at": ["2026"]}), 422,
                             "validation-error", "consent.given_at"),
    # NUL and encodings
    "nul-in-desk": (body(counter=counter(desk="loket\x0001")), 422, "validation-error", "counter.desk"),
    "nul-in-payload": (body(payload={"value": "a\x00"}), 422, "validation-error", "payload.value"),
    "nul-in-a-key": (body(payload={"value": "x", "k\x00": 1}), 422, "validation-error", "payload"),
    "raw-nul-byte": (body().replace(b"loket-01", b"loket\x0001"), 400, "malformed-json", None),
    "non-utf8-body": (body().replace(b"loket-01", b"loket-\xff\xfe"), 400, "malformed-json", None),
    "lone-surrogate": (body().replace(b"loket-01", b"loket-\\ud800"), 400, "malformed-json", None),
    "truncated-json": (body()[:-5], 400, "malformed-json", None),
    "empty-body": (b"", 400, "malformed-json", None),
    "oversized-body": (body(payload={"value": "x" * 20_000}), 413, "payload-too-large", None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_body_answers_a_problem(gateway_client: TestClient[Any, Any], case: str) -> None:
    """Each hostile body is answered with its problem type, naming the field at fault, and nothing is stored."""
    data, status, slug, field = CASES[case]
    resp = await gateway_client.post("/v1/requests", data=data, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == status
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["type"] == f"/problems/{slug}"
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]]
    # the gateway still serves, and nothing of the hostile request was kept
    assert (await gateway_client.get("/v1/agencies", headers=AUTH)).status == 200


async def test_escaped_backslash_before_u0000_is_not_a_nul(gateway_client: TestClient[Any, Any]) -> None:
    """The text \\u0000 (an escaped backslash, then u0000) is ordinary text, not a NUL character."""
    data = body(counter=counter(desk="loket\\u0000"))
    assert b"\\\\u0000" in data
    resp = await gateway_client.post(
        "/v1/requests", data=data, headers={**AUTH, "Content-Type": "application/json", "Prefer": "wait=5"}
    )
    assert resp.status == 200
    assert (await resp.json())["counter"]["desk"] == "loket\\u0000"


@pytest.mark.parametrize(
    ("value", "limit", "deeper"),
    [
        ("x", 0, False),
        ([], 0, True),
        ([], 1, False),
        ({"a": [1, {"b": []}]}, 4, False),
        ({"a": [1, {"b": []}]}, 3, True),
        (nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH, False),
        (nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH, True),
        ([1, 2, [3, [4]], {"k": "v"}], 3, False),
    ],
)
def test_json_depth(value: Any, limit: int, deeper: bool) -> None:
    """Depth counts nested objects and arrays, the outermost being 1; scalars add none."""
    assert json_depth_exceeded(value, limit) is deeper


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": "ok"}, None),
        ({"a": {"b": ["x", "y\x00"]}}, "a.b.1"),
        ({"a": {"b\x00": 1}}, "a"),
        ("\x00", "(body)"),
        ([{"k": 1}, {"k": "\x00"}], "1.k"),
    ],
)
def test_nul_field_names_the_path(value: Any, path: str | None) -> None:
    """The first string holding a NUL is named by its dotted path."""
    assert nul_field(value) == path


@pytest.mark.parametrize(
    "path",
    [("service",), ("counter", "mpp_id"), ("counter", "desk"), ("counter", "operator"), ("consent", "reference"),
     ("callback_url",)],
)  # fmt: skip
def test_every_free_text_field_of_the_contract_has_a_length_limit(path: tuple[str, ...]) -> None:
    """Each free-text field of the envelope declares a maxLength in the published schema."""
    schema = ServiceRequest.model_json_schema()
    node: dict[str, Any] = schema
    for part in path:
        prop = node["properties"][part]
        if "$ref" not in prop and "anyOf" in prop:
            prop = next(p for p in prop["anyOf"] if p.get("type") != "null")
        if "$ref" in prop:
            prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[1]]
        node = prop
    assert 0 < node["maxLength"] <= 2048


async def raw_exchange(client: TestClient[Any, Any], request: bytes) -> bytes:
    """Send ``request`` bytes on a fresh connection and read the answer until the server closes or stops."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout=5)
    finally:
        writer.close()
        await writer.wait_closed()


SECRET_HEADER_VALUE = "mppk_" + "S3cr3t" * 3000


def request_bytes(path: str = "/v1/services", headers: list[tuple[str, str]] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: gateway", f"Authorization: Bearer {KEY_A}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


PROTOCOL_CASES = {
    "huge-header": request_bytes(headers=[("X-Filler", "f" * 16_000)]),
    "huge-authorization": request_bytes().replace(f"Bearer {KEY_A}".encode(), f"Bearer {SECRET_HEADER_VALUE}".encode()),
    "huge-header-name": request_bytes(headers=[("X-" + "n" * 9000, "v")]),
    "many-headers": request_bytes(headers=[(f"X-Header-{i}", "v") for i in range(100)]),
    "long-request-line": request_bytes(path="/v1/services/" + "s" * 9000),
    "nul-in-header-value": request_bytes(headers=[("X-Desk", "loket\x0001")]),
}


@pytest.mark.parametrize("case", list(PROTOCOL_CASES))
async def test_oversized_or_malformed_headers_are_refused_by_the_parser_without_a_traceback(
    gateway_client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """aiohttp's parser answers 400 before any handler runs; the log has one line naming the kind, no traceback."""
    caplog.set_level(logging.DEBUG)
    answer = await raw_exchange(gateway_client, PROTOCOL_CASES[case])
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] == b"400", status_line
    refusals = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.getMessage() for r in refusals] == ["http.refused_by_parser"]
    assert refusals[0].levelno == logging.INFO and refusals[0].__dict__["status"] == 400
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "S3cr3t" not in caplog.text
    # the server goes on serving
    assert (await gateway_client.get("/v1/services", headers=AUTH)).status == 200


async def test_headers_within_the_limits_are_served(gateway_client: TestClient[Any, Any]) -> None:
    """Up to the configured count and size, headers pass: the limits refuse only what exceeds them."""
    fitting = request_bytes(headers=[(f"X-Header-{i}", "v" * 100) for i in range(50)] + [("X-Big", "b" * 8000)])
    answer = await raw_exchange(gateway_client, fitting)
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b'{"a": 1, "b": {"c": 2}}', None),
        (b'{"a": 1, "a": 2}', "a"),
        (b'{"a": {"b": 1, "c": 2, "b": 3}}', "a.b"),
        (b'{"a": [{"k": 1}, {"k": 1, "k": 2}]}', "a.1.k"),
        (b'[{"x": 1}, {"y": 2, "y": 2}]', "1.y"),
        (b'{"a": {"k": 1}, "b": {"k": 1}}', None),
        (b'{"\\u0061": 1, "a": 2}', "a"),
    ],
)
def test_duplicate_key_names_the_path(raw: bytes, path: str | None) -> None:
    """A key named twice in one object is found by its dotted path, escapes decoded; equal keys in sibling
    objects are not duplicates."""
    assert duplicate_key(raw) == path


async def test_a_key_sent_twice_is_refused_naming_it(gateway_client: TestClient[Any, Any]) -> None:
    """`applicant` twice in the body is a 422 naming `applicant`, not whichever came last silently validated."""
    nik = '{"nik": "3201014708900001"}'
    raw = (
        '{"service": "fake.thing.lookup", "applicant": ' + nik + ', "applicant": ' + nik + ', '
        '"counter": {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-7"}, "payload": {"value": "v"}}'
    ).encode()
    resp = await gateway_client.post(
        "/v1/requests", data=raw, headers={**AUTH, "Content-Type": "application/json", "Prefer": "wait=5"}
    )
    problem = await resp.json()
    assert resp.status == 422
    assert problem["type"] == "/problems/validation-error"
    assert [e["field"] for e in problem["errors"]] == ["applicant"]
    assert "3201014708900001" not in await resp.text()
