"""The Dukcapil mock over real sockets: reply shapes, scores, every failure code, and recovery."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from mocks import Citizen, Control, MockAgency, Population
from mocks.dukcapil import FUZZY_FIELDS, RESPONSES, VERIFY_FIELDS, create_app, record, similarity
from tests.mocks.support import DukcapilClient

VERIFY = "CALL_VERIFY_BY_ELEMEN"
ENVELOPE_KEYS = {"content", "lastPage", "numberOfElements", "totalElements", "firstPage", "number", "size", "sort",
                 "quotaLimiter"}
CALL_NIK_KEYS = {"NIK", "NO_KK", "NAMA_LGKP", "TMPT_LHR", "TGL_LHR", "JENIS_KLMIN", "AGAMA", "STATUS_KAWIN",
                 "GOL_DARAH", "PDDK_AKH", "JENIS_PKRJN", "ALAMAT", "NO_RT", "NO_RW", "NO_PROP", "PROP_NAME", "NO_KAB",
                 "KAB_NAME", "NO_KEC", "KEC_NAME", "NO_KEL", "KEL_NAME", "NAMA_LGKP_IBU", "NAMA_LGKP_AYAH",
                 "STAT_HBKEL"}
VERDICT = re.compile(r"^(Sesuai( \((\d{1,3})\))?|Tidak Sesuai)$")


def score(verdict: str) -> int:
    """The parse rule of docs/agencies.md: "Tidak Sesuai" -> 0, "Sesuai (N)" -> N, "Sesuai" -> 100."""
    match = VERDICT.match(verdict)
    assert match, verdict
    if verdict == "Tidak Sesuai":
        return 0
    return int(match.group(3)) if match.group(3) else 100


async def test_verify_with_every_field_right_matches_all(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """Submitting the held values answers "Sesuai (100)" for fuzzy fields and bare "Sesuai" for exact ones."""
    held = record(citizen)
    envelope = await dukcapil.call(VERIFY, NIK=citizen.nik, TRESHOLD=90, **{k: held[k] for k in VERIFY_FIELDS})
    assert set(envelope) == ENVELOPE_KEYS
    assert (envelope["numberOfElements"], envelope["totalElements"], envelope["size"]) == (1, 1, 1)
    assert envelope["quotaLimiter"] == 100_000 - 1
    expected = {k: "Sesuai (100)" if k in FUZZY_FIELDS else "Sesuai" for k in VERIFY_FIELDS}
    assert envelope["content"] == [{"NIK": "Sesuai", **expected}]


async def test_verify_answers_only_the_submitted_fields(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """Only submitted, non-blank fields come back, next to the NIK."""
    row = await dukcapil.row(VERIFY, NIK=citizen.nik, NAMA_LGKP=citizen.full_name, TGL_LHR="01-01-1900", ALAMAT="")
    assert row == {"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (100)", "TGL_LHR": "Tidak Sesuai"}


@pytest.mark.parametrize(
    ("field", "wrong"),
    [("NO_KK", "3273020101100001"), ("TGL_LHR", "31-12-1899"), ("JENIS_KLMIN", "?"), ("STATUS_KAWIN", "X"),
     ("JENIS_PKRJN", "ASTRONOT"), ("NO_RT", "999"), ("NO_RW", "999"), ("NO_PROP", "99"), ("NO_KAB", "99"),
     ("NO_KEC", "99"), ("NO_KEL", "9999"), ("NAMA_LGKP", "ZZZ QQQ"), ("ALAMAT", "XYZ")],
)
async def test_verify_mismatch_is_tidak_sesuai(
    dukcapil: DukcapilClient, citizen: Citizen, field: str, wrong: str
) -> None:
    """A wrong value answers "Tidak Sesuai", without a score."""
    row = await dukcapil.row(VERIFY, NIK=citizen.nik, **{field: wrong})
    assert row[field] == "Tidak Sesuai"


async def test_fuzzy_scores_follow_the_threshold(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """A near-miss name scores N: "Sesuai (N)" while N >= TRESHOLD, "Tidak Sesuai" once TRESHOLD exceeds N."""
    near = citizen.full_name[:-1] + ("A" if citizen.full_name[-1] != "A" else "O")
    n = similarity(near, citizen.full_name)
    assert 50 < n < 100
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, NAMA_LGKP=near, TRESHOLD=n))["NAMA_LGKP"] == f"Sesuai ({n})"
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, NAMA_LGKP=near, TRESHOLD=n + 1))["NAMA_LGKP"] == "Tidak Sesuai"
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, NAMA_LGKP=near, TRESHOLD=str(n)))["NAMA_LGKP"] != "Tidak Sesuai"


async def test_threshold_defaults_to_80(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """Without TRESHOLD (the spelling "THRESHOLD" is ignored, as by the service) the cut-off is 80."""
    name = citizen.full_name
    near = name[:-1] + ("A" if name[-1] != "A" else "O")
    # The longest prefix scoring under 80 lands just below the default, well above lower cut-offs.
    far = next(name[:i] for i in range(len(name), 0, -1) if similarity(name[:i], name) < 80)
    n = similarity(near, name)
    assert n >= 80 > similarity(far, name) >= 60
    for name, verdict in ((near, f"Sesuai ({n})"), (far, "Tidak Sesuai")):
        row = await dukcapil.row(VERIFY, NIK=citizen.nik, NAMA_LGKP=name, THRESHOLD=0)
        assert row["NAMA_LGKP"] == verdict


async def test_every_verdict_parses_by_the_documented_rule(dukcapil: DukcapilClient, population: Population) -> None:
    """Fuzzy verdicts carry a score that parses to the similarity; exact verdicts parse to 0 or 100."""
    for citizen in population.sample("active", duplicate=False, limit=5):
        held = record(citizen)
        submitted = {k: (held[k][:-2] if k in FUZZY_FIELDS else held[k]) for k in VERIFY_FIELDS}
        row = await dukcapil.row(VERIFY, NIK=citizen.nik, TRESHOLD=0, **submitted)
        for key in VERIFY_FIELDS:
            if key in FUZZY_FIELDS:
                assert row[key].startswith("Sesuai (")
                assert score(row[key]) == similarity(submitted[key], held[key])
            else:
                assert row[key] == "Sesuai" and score(row[key]) == 100
    assert score("Tidak Sesuai") == 0


async def test_fuzzy_match_ignores_case_and_spacing(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """Lower case and doubled spaces still score 100."""
    sloppy = "  " + citizen.full_name.lower().replace(" ", "   ") + " "
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, NAMA_LGKP=sloppy))["NAMA_LGKP"] == "Sesuai (100)"


async def test_location_numbers_compare_as_component_numbers(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """NO_KAB matches as the regency's own number (leading zeros allowed), not as the four-digit code."""
    own = citizen.regency_code[2:]
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, NO_KAB="0" + own))["NO_KAB"] == "Sesuai"
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, NO_KAB=citizen.regency_code))["NO_KAB"] == "Tidak Sesuai"


async def test_birth_date_must_be_dd_mm_yyyy(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """TGL_LHR in ISO form does not match: the service reads dd-mm-yyyy only."""
    iso = citizen.birth_date.isoformat()
    assert (await dukcapil.row(VERIFY, NIK=citizen.nik, TGL_LHR=iso))["TGL_LHR"] == "Tidak Sesuai"


async def test_nik_as_json_number_is_accepted(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """Some clients send the NIK as a number; the service reads it all the same."""
    assert (await dukcapil.row(VERIFY, NIK=int(citizen.nik), NAMA_LGKP=citizen.full_name))["NIK"] == "Sesuai"


@pytest.mark.parametrize("casing", [str.lower, str.upper, str.title])
async def test_credential_keys_are_read_in_any_casing(dukcapil: DukcapilClient, citizen: Citizen, casing: Any) -> None:
    """user_id / USER_ID / User_Id (and the same for password, ip_user) all authenticate."""
    body = {casing(k): v for k, v in dukcapil.body().items()} | {"NIK": citizen.nik}
    assert (await dukcapil.row("CALL_NIK", body))["NIK"] == citizen.nik


@pytest.mark.parametrize("method", ["call_nik", "Call_Nik", "CALL_NIK"])
async def test_method_name_is_case_insensitive(dukcapil: DukcapilClient, citizen: Citizen, method: str) -> None:
    """The method in the path matches whatever its casing."""
    assert (await dukcapil.row(method, NIK=citizen.nik))["NIK"] == citizen.nik


# Stand-ins for NIKs that depend on the population, resolved inside the test.
SPECIAL_NIKS: dict[str, Callable[[Population], str]] = {
    "UNKNOWN": lambda p: p.unknown_nik(),
    "DECEASED": lambda p: p.sample("deceased", limit=1)[0].nik,
    "INACTIVE": lambda p: p.sample("inactive", limit=1)[0].nik,
}


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.__setitem__(key, value)


@pytest.mark.parametrize(
    ("method", "change", "code"),
    [
        pytest.param(VERIFY, _set("user_id", ""), "09", id="09-empty-user"),
        pytest.param("CALL_NIK", _drop("password"), "09", id="09-no-password"),
        pytest.param(VERIFY, _set("ip_user", "  "), "09", id="09-blank-ip"),
        pytest.param(VERIFY, _set("password", "wrong"), "03", id="03-password"),
        pytest.param("CALL_NIK", _set("user_id", "someone"), "03", id="03-user"),
        pytest.param(VERIFY, _set("ip_user", "10.0.0.1"), "04", id="04-ip"),
        pytest.param(VERIFY, _drop("NIK"), "07", id="07-verify-no-nik"),
        pytest.param(VERIFY, _drop("NAMA_LGKP"), "07", id="07-verify-nik-only"),
        pytest.param(VERIFY, _set("TRESHOLD", "tinggi"), "07", id="07-bad-threshold"),
        pytest.param(VERIFY, _set("TRESHOLD", 101), "07", id="07-threshold-over-100"),
        pytest.param("CALL_NIK", _drop("NIK"), "07", id="07-call-nik-no-nik"),
        pytest.param(VERIFY, lambda b: b.__setitem__("nik", b.pop("NIK")), "07", id="07-lower-case-nik-key-unread"),
        pytest.param(VERIFY, _set("NIK", "327302010190001"), "15", id="15-short"),
        pytest.param("CALL_NIK", _set("NIK", "32730201019O0001"), "15", id="15-letter"),
        pytest.param(VERIFY, _set("NIK", "3273020101900000"), "15", id="15-serial-0000"),
        pytest.param("CALL_NIK", _set("NIK", "0000000000000000"), "15", id="15-newborn-placeholder"),
        pytest.param(VERIFY, _set("NIK", "UNKNOWN"), "13", id="13-not-found"),
        pytest.param(VERIFY, _set("NIK", "DECEASED"), "11", id="11-verify-deceased"),
        pytest.param("CALL_NIK", _set("NIK", "DECEASED"), "11", id="11-call-nik-deceased"),
        pytest.param(VERIFY, _set("NIK", "INACTIVE"), "14", id="14-verify-inactive"),
        pytest.param("CALL_NIK", _set("NIK", "INACTIVE"), "14", id="14-call-nik-inactive"),
    ],
)
async def test_failure_codes_then_recovery(
    dukcapil: DukcapilClient,
    population: Population,
    citizen: Citizen,
    method: str,
    change: Callable[[dict[str, Any]], None],
    code: str,
) -> None:
    """Each failure answers HTTP 200 with content[0] = {RESPONSE_CODE, RESPONSE}; the next good call succeeds."""
    good = dukcapil.body(NIK=citizen.nik, NAMA_LGKP=citizen.full_name)
    bad = dict(good)
    change(bad)
    if bad.get("NIK") in SPECIAL_NIKS:
        bad["NIK"] = SPECIAL_NIKS[bad["NIK"]](population)
    envelope = await dukcapil.call(method, bad)
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["content"] == [{"RESPONSE_CODE": code, "RESPONSE": RESPONSES[code]}]
    assert (await dukcapil.row(method, good))["NIK"] in ("Sesuai", citizen.nik)


async def test_unknown_institution_is_not_active(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """An institution in the path that the service does not know answers 16."""
    async with dukcapil.http.post(dukcapil.url("CALL_NIK", "lembaga-lain"), json=dukcapil.body(NIK=citizen.nik)) as r:
        assert r.status == 200
        assert (await r.json())["content"] == [{"RESPONSE_CODE": "16", "RESPONSE": RESPONSES["16"]}]


async def test_duplicate_record_is_answered_with_code_12(dukcapil: DukcapilClient, population: Population) -> None:
    """A duplicate NIK answers normally, with RESPONSE_CODE 12 and its RESPONSE added to content[0]."""
    dup = population.sample("active", duplicate=True, limit=1)[0]
    flag = {"RESPONSE_CODE": "12", "RESPONSE": "Data Ditemukan, NIK Duplikat"}
    row = await dukcapil.row(VERIFY, NIK=dup.nik, NAMA_LGKP=dup.full_name)
    assert row == {"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (100)", **flag}
    assert await dukcapil.row("CALL_NIK", NIK=dup.nik) == {**record(dup), **flag}


async def test_call_nik_returns_the_full_record(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """CALL_NIK answers every documented key, dd-mm-yyyy dates and location numbers without leading zeros."""
    row = await dukcapil.row("CALL_NIK", NIK=citizen.nik)
    assert set(row) == CALL_NIK_KEYS
    assert all(isinstance(v, str) for v in row.values())
    assert (row["NIK"], row["NO_KK"], row["NAMA_LGKP"]) == (citizen.nik, citizen.kk, citizen.full_name)
    assert row["TGL_LHR"] == citizen.birth_date.strftime("%d-%m-%Y")
    assert row["NO_PROP"] == citizen.province_code and row["NO_KAB"] == str(int(citizen.regency_code[2:]))
    assert row["NO_RT"] == str(int(citizen.rt)) and not row["NO_KEC"].startswith("0")
    assert row["NAMA_LGKP_IBU"] == citizen.mother_name and row["STAT_HBKEL"] == citizen.family_relation


async def test_call_nik_not_found_uses_respon(dukcapil: DukcapilClient, population: Population) -> None:
    """An unknown NIK answers {"RESPON": "Data Tidak Ditemukan"} in a full envelope."""
    envelope = await dukcapil.call("CALL_NIK", NIK=population.unknown_nik())
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["content"] == [{"RESPON": "Data Tidak Ditemukan"}]


async def test_unknown_method_meets_an_html_404(dukcapil: DukcapilClient, agency: MockAgency) -> None:
    """A method the service lacks answers the front proxy's HTML 404, and is not counted as delivered."""
    async with dukcapil.http.post(dukcapil.url("CALL_FOTO"), json=dukcapil.body()) as resp:
        assert resp.status == 404
        assert resp.content_type == "text/html"
        assert "404 Not Found" in await resp.text()
    assert agency.control.deliveries.count() == 0


@pytest.mark.parametrize("payload", [b"NIK=3273", b"[1, 2]", b""])
async def test_body_that_is_not_a_json_object_is_a_400(dukcapil: DukcapilClient, payload: bytes) -> None:
    """A body that is not a JSON object answers HTTP 400 with a JSON message."""
    async with dukcapil.http.post(dukcapil.url("CALL_NIK"), data=payload) as resp:
        assert resp.status == 400
        assert isinstance((await resp.json())["message"], str)


async def test_each_processed_call_is_one_delivery(
    dukcapil: DukcapilClient, agency: MockAgency, citizen: Citizen
) -> None:
    """Deliveries count per upper-cased method, failures included."""
    await dukcapil.call("call_nik", NIK=citizen.nik)
    await dukcapil.call(VERIFY, NIK=citizen.nik, NAMA_LGKP="X")
    await dukcapil.call(VERIFY, user_id="")
    snapshot = agency.control.deliveries.snapshot()
    assert snapshot == {"total": 3, "by_method": {"CALL_NIK": 1, VERIFY: 2}, "by_reference": {}}


async def test_quota_counts_down_then_refuses_until_reset(
    aiohttp_client: AiohttpClient, population: Population, citizen: Citizen
) -> None:
    """quotaLimiter falls per authenticated call; at zero the answer is 05; a control reset refills it."""
    creds: dict[str, Any] = {"user_id": "u", "password": "p", "ip_user": "10.1.2.3"}
    app = create_app(population, institution="inst", quota=2, **creds)
    client = await aiohttp_client(app)
    url, body = "/dukcapil/get_json/inst/CALL_NIK", {**creds, "NIK": citizen.nik}

    async def quota_after(payload: dict[str, Any]) -> tuple[int, str | None]:
        envelope = await (await client.post(url, json=payload)).json()
        return envelope["quotaLimiter"], envelope["content"][0].get("RESPONSE_CODE")

    assert await quota_after(body) == (1, None)
    assert await quota_after({**body, "password": "x"}) == (1, "03")  # refused before the quota is touched
    assert await quota_after(body) == (0, None)
    assert await quota_after(body) == (0, "05")
    assert (await client.post("/_control/reset")).status == 200
    assert await quota_after(body) == (1, None)


def test_create_app_refuses_inconsistent_arguments(population: Population) -> None:
    """A negative quota or a control watching another population is a setup error."""
    creds: dict[str, Any] = {"institution": "i", "user_id": "u", "password": "p", "ip_user": "10.0.0.1"}
    with pytest.raises(ValueError, match="quota"):
        create_app(population, quota=-1, **creds)
    with pytest.raises(ValueError, match="population"):
        create_app(population, control=Control("dukcapil", Population.generate(size=5)), **creds)


def test_similarity_is_case_and_space_insensitive_and_floored() -> None:
    """Equal text scores 100 regardless of case or spacing; any difference scores below 100."""
    assert similarity("budi  santoso", "BUDI SANTOSO") == 100
    assert similarity("BUDI SANTOSA", "BUDI SANTOSO") == 91
    assert similarity("X" * 300 + "Y", "X" * 301) == 99
    assert similarity("", "BUDI") == 0


async def test_keep_alive_connection_serves_many_calls(dukcapil: DukcapilClient, citizen: Citizen) -> None:
    """Keep-alive connections are reused across calls without errors."""
    for _ in range(20):
        assert (await dukcapil.row("CALL_NIK", NIK=citizen.nik))["NIK"] == citizen.nik
