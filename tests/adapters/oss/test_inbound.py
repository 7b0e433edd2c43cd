"""adapters/oss/inbound.py: OSS's Token, the receiveNIB handler and the NIB read, called without HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from adapters import AdapterContext, AgencyHttp, InboundRequest, InboundResponse, MemoryDocuments, ReceivedDocument
from adapters.oss import OssAdapter
from adapters.oss.inbound import (
    JAKARTA,
    KIND,
    MAX_BODY,
    READ_GRANT,
    NibInbound,
    inbound_credentials,
    oss_token,
    token_valid,
)

from ._support import NIB, SETTINGS

USERNAME = "mpp-kota-bandung"
PASSWORD = "oss-inbound-Pw-83c1f0"
# 00:30 on 6 January in Jakarta, still 5 January in UTC: the Token's date must be Jakarta's.
NOW = dt.datetime(2026, 1, 5, 17, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 1, 6)
PERSON = {"nama_penanggung_jwb": "SITI AMINAH", "no_identitas_penanggung_jwb": "3201014708900001"}


def token(day: dt.date = TODAY, nib: str = NIB, password: str = PASSWORD) -> str:
    return oss_token(USERNAME, password, nib, day)


def push(nib: str = NIB, **extra: Any) -> dict[str, Any]:
    """A dataNIB push as OSS sends it (trimmed), with a responsible person's personal data."""
    return {
        "dataNIB": {
            "nib": nib,
            "oss_id": "P02-202401150930120010042",
            "nama_perseroan": "PT SUMBER REJEKI TANI",
            "penanggung_jwb": [PERSON],
            "data_proyek": [{"id_proyek": "R-202401150931220120007", "kbli": "01112"}],
            **extra,
        }
    }


def inbound(documents: Any = None, credentials: tuple[str, str] | None = (USERNAME, PASSWORD)) -> NibInbound:
    return NibInbound(MemoryDocuments() if documents is None else documents, credentials=credentials, clock=lambda: NOW)


def posted(body: Any, token_value: str | None = None) -> InboundRequest:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {} if token_value is None else {"token": token_value}
    return InboundRequest("POST", "/oss/receiveNIB", headers, raw)


def read_request(nib: str = NIB) -> InboundRequest:
    return InboundRequest("GET", f"/v1/oss/nib/{nib}", {}, b"", path_params={"nib": nib}, client_id="counter-a")


def reply(response: InboundResponse) -> dict[str, str]:
    """OSS's envelope, after checking it is HTTP 200 JSON."""
    assert (response.status, response.content_type) == (200, "application/json")
    envelope: dict[str, str] = orjson.loads(response.body)["responreceiveNIB"]
    return envelope


def test_token_is_sha1_of_username_password_nib_and_ymd() -> None:
    """The Token is lower-case hex SHA-1 of USERNAME + PASSWORD + NIB + Ymd (the guide's example, hashed)."""
    assert oss_token("OSS000", "qw13242628gssssss", "8123456547098", dt.date(2018, 5, 14)) == (
        "8337beef87dbbee844ed4bac7aa3be2a18d956d5"
    )


@pytest.mark.parametrize(
    ("presented", "valid"),
    [
        (token(TODAY), True),
        (token(TODAY - dt.timedelta(days=1)), True),
        (token(TODAY + dt.timedelta(days=1)), True),
        (token(TODAY).upper(), True),
        (f"  {token(TODAY)} ", True),
        (token(TODAY - dt.timedelta(days=2)), False),
        (token(TODAY + dt.timedelta(days=2)), False),
        (token(dt.date(2026, 1, 4)), False),
        (token(TODAY, password="wrong"), False),
        (token(TODAY, nib="9120001234562"), False),
        ("", False),
        ("not-a-token", False),
        (token(TODAY)[:39], False),
    ],
    ids=["today", "yesterday", "tomorrow", "upper-case", "padded", "two-days-ago", "in-two-days",
         "utc-yesterday-is-jakarta-two-days", "wrong-password", "other-nib", "empty", "garbage", "short"],
)  # fmt: skip
def test_token_window_is_jakarta_today_plus_minus_one(presented: str, valid: bool) -> None:
    """Today, yesterday and tomorrow in Jakarta are accepted; two days off, or another secret or NIB, are not."""
    assert token_valid(presented, username=USERNAME, password=PASSWORD, nib=NIB, now=NOW) is valid


def test_jakarta_is_utc_plus_seven() -> None:
    """WIB is a fixed UTC+7: NOW is already the 6th there."""
    assert NOW.astimezone(JAKARTA).date() == TODAY


async def test_a_push_is_kept_as_the_nibs_document() -> None:
    """A push with the right Token is answered status 1 and kept as kind nib under the NIB, at the clock's time."""
    documents = MemoryDocuments()
    assert reply(await inbound(documents).receive(posted(push(), token()))) == {
        "status": "1", "keterangan": "Berhasil menyimpan data"}  # fmt: skip
    assert await documents.history(KIND, NIB) == [ReceivedDocument(push()["dataNIB"], NOW)]


async def test_the_read_answers_the_latest_push_with_its_arrivals() -> None:
    """The read gives the last push's data, oss_id and company name, the first and last arrival, and the count."""
    documents = MemoryDocuments()
    first = NOW - dt.timedelta(days=3)
    await documents.put(KIND, NIB, push()["dataNIB"], received_at=first)
    await documents.put(KIND, NIB, push(nama_perseroan=" PT BARU ", oss_id="")["dataNIB"], received_at=NOW)
    answer = await inbound(documents).read(read_request())
    assert (answer.status, answer.content_type) == (200, "application/json")
    stored = orjson.loads(answer.body)
    assert (stored["nib"], stored["oss_id"], stored["company_name"], stored["pushes"]) == (NIB, None, "PT BARU", 2)
    assert (stored["first_received_at"], stored["received_at"]) == (first.isoformat(), NOW.isoformat())
    assert stored["data"] == push(nama_perseroan=" PT BARU ", oss_id="")["dataNIB"]


REFUSALS = [
    pytest.param(push(), token(TODAY - dt.timedelta(days=2)), "Token", id="token-two-days-old"),
    pytest.param(push(), token(password="guessed"), "Token", id="wrong-token"),
    pytest.param(push(), None, "Token", id="no-token"),
    pytest.param(push(nib="12345"), token(nib="12345"), "nib", id="malformed-nib"),
    pytest.param({"dataNIB": {"nib": 9120001234561}}, token(), "nib", id="nib-as-number"),
    pytest.param({"dataNIB": "x"}, token(), "dataNIB", id="dataNIB-not-an-object"),
    pytest.param({"NIB": push()["dataNIB"]}, token(), "dataNIB", id="no-dataNIB"),
    pytest.param([push()], token(), "dataNIB", id="body-a-list"),
    pytest.param(b'{"dataNIB": {"nib": "91', token(), "Format", id="malformed-json"),
    pytest.param(b"\xff\xfe", token(), "Format", id="not-utf-8"),
]


@pytest.mark.parametrize(("body", "token_value", "reason"), REFUSALS)
async def test_refused_pushes_keep_nothing(body: Any, token_value: str | None, reason: str) -> None:
    """Each bad push is answered status 2 in OSS's envelope, HTTP 200, nothing is kept, and a good one then is."""
    documents = MemoryDocuments()
    nib_inbound = inbound(documents)
    refused = reply(await nib_inbound.receive(posted(body, token_value)))
    assert refused["status"] == "2" and reason in refused["keterangan"]
    assert await documents.history(KIND, NIB) == []
    assert reply(await nib_inbound.receive(posted(push(), token())))["status"] == "1"


@pytest.mark.parametrize(
    "settings",
    [{}, {"inbound_username": USERNAME}, {"inbound_password": PASSWORD},
     {"inbound_username": USERNAME, "inbound_password": ""}],
    ids=["neither", "no-password", "no-username", "blank-password"],
)  # fmt: skip
async def test_without_both_credentials_every_push_is_refused(settings: dict[str, str]) -> None:
    """Without both inbound settings every push is refused, even one signed with empty secrets."""
    assert inbound_credentials(settings) is None
    nib_inbound = inbound(credentials=inbound_credentials(settings))
    for presented in (token(), oss_token("", "", NIB, TODAY), oss_token(USERNAME, "", NIB, TODAY)):
        refused = reply(await nib_inbound.receive(posted(push(), presented)))
        assert refused["status"] == "2" and "dikonfigurasi" in refused["keterangan"]


class _FailingDocuments(MemoryDocuments):
    """Documents whose store refuses the write."""

    async def put(self, kind: str, key: str, document: dict[str, Any], *, received_at: dt.datetime) -> None:
        raise RuntimeError("the store is down")


async def test_a_failed_write_is_refused_in_osss_envelope() -> None:
    """When the documents cannot keep a push, OSS hears status 2 (so it sends again) and the failure is logged."""
    with capture_logs() as logs:
        refused = reply(await inbound(_FailingDocuments()).receive(posted(push(), token())))
    assert refused == {"status": "2", "keterangan": "Gagal menyimpan data"}
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["oss.receive_nib.store_failed"]


async def test_logs_hold_no_secret_or_personal_data() -> None:
    """A refused and an accepted push log their outcome, never the Token, the password or the people."""
    nib_inbound = inbound()
    with capture_logs() as logs:
        await nib_inbound.receive(posted(push(), token(password="guessed")))
        await nib_inbound.receive(posted(push(), token()))
        await nib_inbound.read(read_request())
    text = repr(logs)
    assert "oss.receive_nib.refused" in text and "oss.receive_nib.stored" in text
    for secret in (PASSWORD, token(), token(password="guessed"), "SITI AMINAH", "3201014708900001"):
        assert secret not in text


@pytest.mark.parametrize(
    ("nib", "documents", "status", "slug"),
    [("91200012345", MemoryDocuments(), 422, "validation-error"), (NIB, MemoryDocuments(), 404, "not-found"),
     (NIB, None, 503, "not-ready")],
    ids=["malformed-nib", "never-pushed", "no-documents"],
)  # fmt: skip
async def test_read_refusals_are_problems(nib: str, documents: MemoryDocuments | None, status: int, slug: str) -> None:
    """The read refuses a malformed NIB, an NIB never pushed and a gateway without documents as problems."""
    nib_inbound = NibInbound(documents, credentials=(USERNAME, PASSWORD), clock=lambda: NOW)
    answer = await nib_inbound.read(read_request(nib))
    assert (answer.status, answer.content_type) == (status, "application/problem+json")
    problem = orjson.loads(answer.body)
    assert (problem["type"], problem["status"]) == (f"/problems/{slug}", status)
    if slug == "validation-error":
        assert problem["errors"] == [{"field": "nib", "message": "13 digits"}]


async def test_without_documents_pushes_are_refused() -> None:
    """An adapter given no documents refuses every push as not configured."""
    refused = reply(await NibInbound(None, credentials=(USERNAME, PASSWORD), clock=lambda: NOW).receive(
        posted(push(), token())))  # fmt: skip
    assert refused["status"] == "2" and "dikonfigurasi" in refused["keterangan"]


def test_the_adapter_declares_the_two_routes(http: AgencyHttp) -> None:
    """OssAdapter mounts receiveNIB for OSS (its own size limit and refusal) and the read for granted clients."""
    adapter = OssAdapter(AdapterContext(http=http, settings={**SETTINGS, "inbound_username": USERNAME,
                                                             "inbound_password": PASSWORD}))  # fmt: skip
    receive, read = adapter.inbound_routes()
    assert (receive.method, receive.mount_path("oss"), receive.auth) == ("POST", "/oss/receiveNIB", "agency")
    assert receive.max_body == MAX_BODY and receive.too_large is not None
    assert reply(receive.too_large) == {"status": "2", "keterangan": "Ukuran data melebihi batas"}
    assert (read.method, read.mount_path("oss"), read.auth, read.grant) == ("GET", "/v1/oss/nib/{nib}", "client",
                                                                            READ_GRANT)  # fmt: skip
    assert PASSWORD not in repr(adapter) and PASSWORD not in repr(receive)


async def test_the_adapter_reads_its_credentials_and_clock_from_the_context(http: AgencyHttp) -> None:
    """The inbound settings and the context's clock and documents are what the routes use."""
    documents = MemoryDocuments()
    context = AdapterContext(http=http, settings={**SETTINGS, "inbound_username": USERNAME,
                                                  "inbound_password": PASSWORD},
                             clock=lambda: NOW, documents=documents)  # fmt: skip
    receive, _ = OssAdapter(context).inbound_routes()
    assert reply(await receive.handler(posted(push(), token())))["status"] == "1"
    assert [d.received_at for d in await documents.history(KIND, NIB)] == [NOW]
