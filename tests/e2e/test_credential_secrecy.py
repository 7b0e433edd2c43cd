"""Agency credentials never leave the gateway: not in logs, problems, records, spans, metrics or reprs.

Every built-in agency's mock is started with marker credentials, and two gateways are configured the way an
operator would (``MPP_AGENCY__<AGENCY>__<NAME>`` variables, secrets through ``_FILE``): one with the right
credentials, one with wrong ones. Successful calls, refused credentials, the mocks' injected faults and timeouts
all run over real sockets; then everything the gateways emitted is searched for each marker and its obvious
encodings.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import logging
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.oss.inbound import JAKARTA, oss_token
from gateway import Settings, build_app, configure_logging
from gateway.http import STATE
from gateway.store import generate_data_key
from gateway.telemetry import Telemetry
from mocks import Control, Population, bpjs_kesehatan, bpjs_ketenagakerjaan, dukcapil, oss
from tests.fakes import KEY_A, consent_given_at, directory

#: The credentials the mocks accept. ``institution`` is left out: it is a path segment of Dukcapil's URL.
RIGHT: Mapping[str, Mapping[str, str]] = {
    "dukcapil": {"user_id": "mkr-dk-user-5Qz81", "password": "mkr-dk-PASS-9xVqL2wT", "ip_user": "10.213.77.149"},
    "bpjs-kesehatan": {"cons_id": "mkr-bk-cons-48213", "consumer_secret": "mkr-bk-SECRET-b7Qe",
                       "user_key": "mkr-bk-userkey-Z4p0"},
    "bpjs-ketenagakerjaan": {"api_key": "mkr-tk-APIKEY-h3Lr"},
    "oss": {"user_key": "mkr-oss-userkey-K2s9", "inbound_username": "mkr-oss-inuser-R5t1",
            "inbound_password": "mkr-oss-inPASS-W8y3"},
}  # fmt: skip
#: Credentials the mocks refuse: what a stale secret file looks like. Just as secret.
WRONG: Mapping[str, Mapping[str, str]] = {
    "dukcapil": {"user_id": "mkw-dk-user-5Qz81", "password": "mkw-dk-PASS-9xVqL2wT", "ip_user": "10.213.77.150"},
    "bpjs-kesehatan": {"cons_id": "mkw-bk-cons-48213", "consumer_secret": "mkw-bk-SECRET-b7Qe",
                       "user_key": "mkw-bk-userkey-Z4p0"},
    "bpjs-ketenagakerjaan": {"api_key": "mkw-tk-APIKEY-h3Lr"},
    "oss": {"user_key": "mkw-oss-userkey-K2s9", "inbound_username": "mkw-oss-inuser-R5t1",
            "inbound_password": "mkw-oss-inPASS-W8y3"},
}  # fmt: skip
#: Read from secret files (``..._FILE``), as a container platform mounts them.
FILE_SETTINGS = frozenset({"password", "consumer_secret", "user_key", "api_key", "inbound_password"})
#: Where each agency's API lives under its mock's root (what ``start_mocks`` puts into ``base_url``).
BASE_PATHS = {"dukcapil": "", "bpjs-kesehatan": "/vclaim-rest", "bpjs-ketenagakerjaan": "", "oss": "/v1/kl/rba"}
INSTITUTION = "mppsecrecy"
#: The gateway's own secret, the key that seals personal data at rest: held to the same rule.
DATA_KEY = generate_data_key("secrecy")
CONSENT = {"method": "written", "reference": "F-77", "given_at": consent_given_at()}
FAULTS: list[dict[str, Any]] = [
    {"error_rate": 1.0},
    {"html_rate": 1.0},
    {"malformed_rate": 1.0},
    {"rate_limit_rate": 1.0, "retry_after_s": 0},
    {"reset_rate": 1.0},
    {"timeout_rate": 1.0, "timeout_s": 5.0},
]


def encodings(marker: str) -> dict[str, str]:
    """The marker as it is, and as base64, hex and URL encoding would spell it."""
    raw = marker.encode()
    return {
        "plain": marker,
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "url": urllib.parse.quote(marker, safe=""),
        "form": urllib.parse.quote_plus(marker),
    }


def _mock_app(agency: str, population: Population, creds: Mapping[str, str], control: Control) -> web.Application:
    if agency == "dukcapil":
        return dukcapil.create_app(population, institution=INSTITUTION, user_id=creds["user_id"],
                                   password=creds["password"], ip_user=creds["ip_user"], control=control)  # fmt: skip
    if agency == "bpjs-kesehatan":
        return bpjs_kesehatan.create_app(population, cons_id=creds["cons_id"], consumer_secret=creds["consumer_secret"],
                                         user_key=creds["user_key"], control=control)  # fmt: skip
    if agency == "bpjs-ketenagakerjaan":
        return bpjs_ketenagakerjaan.create_app(population, api_key=creds["api_key"], control=control)
    return oss.create_app(population, user_key=creds["user_key"], control=control)


def environ(urls: Mapping[str, str], credentials: Mapping[str, Mapping[str, str]], secrets: Path) -> dict[str, str]:
    """``MPP_*`` variables for a gateway on these mocks: identifiers inline, secrets in files under ``secrets``."""
    secrets.mkdir()
    (secrets / "data-keys").write_text(DATA_KEY + "\n", encoding="utf-8")
    env = {"MPP_ADAPTERS": ",".join(urls), "MPP_LOOKUP_DEADLINE_SECONDS": "3", "MPP_SHUTDOWN_GRACE_SECONDS": "1",
           "MPP_DATA_KEYS_FILE": str(secrets / "data-keys")}  # fmt: skip
    for agency, url in urls.items():
        prefix = f"MPP_AGENCY__{agency.upper().replace('-', '_')}__"
        fast = {"base_url": url, "institution": INSTITUTION, "timeout": "1", "lookup_attempts": "2",
                "lookup_call_timeout": "0.5", "lookup_initial_backoff": "0.01", "lookup_max_backoff": "0.05",
                # Breakers stay closed, so that every fault below reaches the agency's mock instead of failing fast.
                "breaker_min_calls": "1000"}  # fmt: skip
        for name, value in {**fast, **credentials[agency]}.items():
            if name in FILE_SETTINGS:
                path = secrets / f"{agency}-{name}"
                path.write_text(value + "\n", encoding="utf-8")  # a trailing newline, as editors leave one
                env[f"{prefix}{name.upper()}_FILE"] = str(path)
            else:
                env[prefix + name.upper()] = value
    return env


class Gateway:
    """One gateway on a real socket, with what it exported kept for inspection."""

    def __init__(self, settings: Settings, server: TestServer, telemetry: Telemetry, spans: InMemorySpanExporter):
        self.settings = settings
        self.server = server
        self.telemetry = telemetry
        self.spans = spans
        self.client = httpx.AsyncClient(base_url=str(server.make_url("")), timeout=20,
                                        headers={"Authorization": f"Bearer {KEY_A}"})  # fmt: skip
        self.texts: list[str] = []

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a request, keep the answer's text, and return the answer's JSON."""
        resp = await self.client.post("/v1/requests", json=body, headers={"Prefer": "wait=5"})
        assert resp.status_code < 500 or resp.headers["content-type"] == "application/problem+json", resp.text
        self.texts.append(resp.text)
        return dict(resp.json())


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway, dict[str, Control], io.StringIO]]:
    """Marker-credential mocks, a gateway with the right credentials and one with wrong ones, logs captured."""
    logs = io.StringIO()
    configure_logging("debug", logs)
    # Cached loggers would keep this test's stream after it ends, and later tests' capture_logs would miss them.
    structlog.configure(cache_logger_on_first_use=False)
    population = Population.generate(2026)
    controls = {agency: Control(agency, population, seed=7) for agency in RIGHT}
    runners = []
    gateways: list[Gateway] = []
    try:
        urls = {}
        for agency, creds in RIGHT.items():
            runner = web.AppRunner(_mock_app(agency, population, creds, controls[agency]), handle_signals=False,
                                   handler_cancellation=True, shutdown_timeout=1)  # fmt: skip
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            urls[agency] = f"http://127.0.0.1:{runner.addresses[0][1]}{BASE_PATHS[agency]}"
        for label, credentials in (("right", RIGHT), ("wrong", WRONG)):
            env = environ(urls, credentials, tmp_path / label)
            settings = Settings.from_env({**env, "MPP_STORE_PATH": str(tmp_path / f"{label}.sqlite3")})
            spans = InMemorySpanExporter()
            telemetry = Telemetry(exporter=spans)
            server = TestServer(build_app(settings, clients=directory(), telemetry=telemetry), host="127.0.0.1")
            await server.start_server()
            gateways.append(Gateway(settings, server, telemetry, spans))
        yield gateways[0], gateways[1], controls, logs
    finally:
        for gateway in gateways:
            await gateway.client.aclose()
            await gateway.server.close()
        for runner in reversed(runners):
            await runner.cleanup()
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def bodies(population: Population) -> list[dict[str, Any]]:
    """One lookup per agency, for a citizen every agency knows."""
    citizen = population.sample(status="active", duplicate=False, limit=1)[0]

    def body(service: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"service": service, "applicant": {"nik": citizen.nik}, "consent": CONSENT, "payload": payload,
                "counter": {"mpp_id": "mpp-a", "desk": "loket-02", "operator": "op-3"}}  # fmt: skip

    return [
        body("dukcapil.nik.verify", {"full_name": citizen.full_name}),
        body("dukcapil.nik.lookup", {}),
        body("bpjs-kesehatan.peserta.by-nik", {"service_date": "2026-11-22"}),
        body("bpjs-ketenagakerjaan.peserta.verify", {}),
        body("oss.nib.inquiry", {"nib": "8120000000001"}),
    ]


async def drive(gateway: Gateway, requests: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send the requests at once and keep every answer and the stored record each names."""
    answers = await asyncio.gather(*(gateway.request(body) for body in requests))
    for answer in answers:
        if "id" in answer:
            record = await gateway.client.get(f"/v1/requests/{answer['id']}")
            gateway.texts.append(record.text)
    return answers


async def push_nib(gateway: Gateway, username: str, password: str) -> None:
    """OSS's receiveNIB push, signed with the given inbound credentials."""
    nib = "8120000000002"
    token = oss_token(username, password, nib, dt.datetime.now(JAKARTA).date())
    resp = await gateway.client.post("/oss/receiveNIB", json={"dataNIB": {"nib": nib, "oss_id": "X"}},
                                     headers={"Token": token, "Authorization": ""})  # fmt: skip
    gateway.texts.append(resp.text)


def _span_text(span: ReadableSpan) -> str:
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    links = [dict(link.attributes or {}) for link in span.links]
    return repr((span.name, dict(span.attributes or {}), events, links, span.status.description, span.resource))


async def outputs(gateway: Gateway) -> dict[str, str]:
    """Everything the gateway let out: answers and records, spans, metrics, and the reprs of its parts."""
    await asyncio.to_thread(gateway.telemetry.provider.force_flush)
    metrics = (await gateway.client.get("/metrics")).text
    registry = gateway.server.app[STATE].registry if gateway.server.app is not None else None
    parts: list[object] = [gateway.settings, *gateway.settings.agencies.values(), registry]
    parts += list(registry.adapters.values()) if registry is not None else []
    return {
        "answers and records": "\n".join(gateway.texts),
        "spans": "\n".join(_span_text(s) for s in gateway.spans.get_finished_spans()),
        "metrics": metrics,
        "reprs": "\n".join(f"{part!r}\n{part}" for part in parts),
    }


async def test_no_credential_leaves_the_gateway_on_any_path(
    world: tuple[Gateway, Gateway, dict[str, Control], io.StringIO],
) -> None:
    """Successes, refused credentials, faults and timeouts: no marker or encoding of one appears anywhere."""
    right, wrong, controls, logs = world
    population = controls["dukcapil"].population
    requests = bodies(population)

    done = await drive(right, requests)
    assert [a["status"] for a in done].count("completed") >= 3, done
    refused = await drive(wrong, requests)
    assert all(a.get("status") == "failed" for a in refused), refused
    assert {a["problem"]["type"] for a in refused} == {"/problems/agency-misconfigured"}
    await push_nib(right, RIGHT["oss"]["inbound_username"], RIGHT["oss"]["inbound_password"])
    await push_nib(wrong, WRONG["oss"]["inbound_username"], WRONG["oss"]["inbound_password"])

    async with httpx.AsyncClient(timeout=10) as control:
        for fault in FAULTS:
            for agency in controls:
                url = str(right.settings.agencies[agency].base_url).removesuffix(BASE_PATHS[agency])
                resp = await control.put(f"{url}/_control/faults", json=fault)
                assert resp.status_code == 200, resp.text
            answers = await drive(right, requests)
            assert [a["status"] for a in answers] == ["failed"] * len(requests), (fault, answers)
            for agency in controls:
                url = str(right.settings.agencies[agency].base_url).removesuffix(BASE_PATHS[agency])
                await control.post(f"{url}/_control/reset")

    found = {"logs": logs.getvalue()}
    for label, gateway in (("right", right), ("wrong", wrong)):
        found.update({f"{label} {where}": text for where, text in (await outputs(gateway)).items()})
    # The search looks where a leak would be: agency URLs in spans, the refusals in logs, the adapters' reprs.
    assert INSTITUTION in found["right spans"] and "agency.misconfigured" in found["logs"]
    assert "DukcapilAdapter" in found["wrong reprs"] and "mpp_agency_calls" in found["wrong metrics"]
    leaks = [
        f"{agency}.{name} ({encoding}) in {where}"
        for credentials in (RIGHT, WRONG, {"gateway": {"data_key": DATA_KEY.split(":", 1)[1]}})
        for agency, creds in credentials.items()
        for name, marker in creds.items()
        for encoding, spelled in encodings(marker).items()
        for where, text in found.items()
        if spelled in text
    ]
    assert not leaks, leaks
