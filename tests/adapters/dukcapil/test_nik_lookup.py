"""dukcapil.nik.lookup (CALL_NIK) through the adapter, with recorded replies: request, result, error matrices."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from adapters import (
    AgencyError,
    AgencyMisconfigured,
    AgencyProtocolError,
    AgencyRejected,
    Completed,
    ContractError,
    TransientAgencyError,
)
from adapters.dukcapil import CivilRecord, DukcapilAdapter, NikLookupPayload, VerifyPayload
from adapters.dukcapil.errors import RESPONSE_CODES
from tests import fixtures

from ._support import INSTITUTION, IP_USER, PASSWORD, USER_ID, assert_no_secrets, make_call, reply, wire

LOOKUP = "dukcapil.nik.lookup"
PATH = f"/dukcapil/get_json/{INSTITUTION}/CALL_NIK"
RECORD = fixtures.load("dukcapil", "nik_record")["content"][0]
NIK = RECORD["NIK"]
CODE_FIXTURES = [name for name in fixtures.names("dukcapil") if name.startswith("code_")] + ["not_found_respon"]


def lookup_call(**kwargs: Any) -> Any:
    """A CALL_NIK call for the recorded citizen."""
    return make_call(NikLookupPayload(), service=LOOKUP, nik=NIK, **kwargs)


def test_payload_is_empty_and_closed() -> None:
    """The lookup takes no payload fields: the NIK is the applicant's."""
    assert NikLookupPayload.model_validate({}) == NikLookupPayload()
    with pytest.raises(ValueError, match="Extra inputs"):
        NikLookupPayload.model_validate({"nik": NIK})


async def test_lookup_end_to_end(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """CALL_NIK posts the NIK with the credentials and completes with the civil record, no agency reference."""
    route = router.post(PATH).mock(return_value=reply("nik_record"))
    outcome = await adapter.execute(lookup_call())
    assert orjson.loads(route.calls.last.request.content) == {
        "NIK": NIK,
        "USER_ID": USER_ID,
        "PASSWORD": PASSWORD,
        "IP_USER": IP_USER,
    }
    assert isinstance(outcome, Completed)
    assert outcome.agency_reference is None
    assert isinstance(outcome.result, CivilRecord)
    assert (outcome.result.nik, outcome.result.full_name, outcome.result.duplicate_record) == (
        NIK,
        "SITI AMINAH",
        False,
    )


async def test_duplicate_record_completes_flagged(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """Code 12 with the record completes, flagged as a duplicate."""
    row = fixtures.load("dukcapil", "nik_record_duplicate")["content"][0]
    router.post(PATH).mock(return_value=reply("nik_record_duplicate"))
    outcome = await adapter.execute(make_call(NikLookupPayload(), service=LOOKUP, nik=row["NIK"]))
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, CivilRecord)
    assert outcome.result.duplicate_record is True


async def test_not_found_reply_is_nik_not_found(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """{"content": [{"RESPON": "Data Tidak Ditemukan"}]} is rejected as nik-not-found with code 13."""
    router.post(PATH).mock(return_value=wire(200, b'{"content": [{"RESPON": "Data Tidak Ditemukan"}]}'))
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(lookup_call())
    assert (caught.value.slug, caught.value.code) == ("nik-not-found", "13")


@pytest.mark.parametrize("name", CODE_FIXTURES)
async def test_every_code_applies_as_for_verification_then_recovers(
    adapter: DukcapilAdapter, router: respx.Router, name: str
) -> None:
    """Each recorded failure raises the table's class and slug for CALL_NIK too; the next lookup succeeds."""
    router.post(PATH).mock(side_effect=[reply(name), reply("nik_record")])
    code = "13" if name == "not_found_respon" else name.split("_")[1]
    entry = RESPONSE_CODES[code]
    with pytest.raises(AgencyError) as caught:
        await adapter.execute(lookup_call())
    assert type(caught.value) is entry.error
    assert caught.value.code == code
    if isinstance(caught.value, AgencyRejected):
        assert caught.value.slug == entry.slug
    assert_no_secrets(caught.value)
    assert isinstance(await adapter.execute(lookup_call()), Completed)


async def test_unknown_vocabulary_fails_without_the_record(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """A record with a value outside the tables is a protocol error (final); nothing of the record is in the error."""
    body = orjson.dumps({"content": [{**RECORD, "AGAMA": "NILAI BARU"}]})
    router.post(PATH).mock(return_value=wire(200, body, {"content-type": "application/json"}))
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(lookup_call())
    assert isinstance(caught.value, AgencyMisconfigured)
    assert (caught.value.method, caught.value.field) == ("CALL_NIK", "AGAMA")
    for value in ("SITI", NIK, "NILAI BARU", "MERDEKA"):
        assert value not in str(caught.value)


async def test_wrong_payload_type_is_a_contract_error(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """A verification payload sent to the lookup is refused without a call."""
    with pytest.raises(ContractError):
        await adapter.execute(make_call(VerifyPayload(full_name="X"), service=LOOKUP, nik=NIK))
    assert not router.calls


TRANSIENT = [
    pytest.param(lambda: wire(503, headers={"retry-after": "30"}), id="503"),
    pytest.param(lambda: wire(502, b"<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}), id="html"),
    pytest.param(lambda: wire(200, b'{"content": [{"NIK": "32', {"content-type": "application/json"}), id="truncated"),
    pytest.param(lambda: httpx.ReadTimeout("slow"), id="read-timeout"),
]


@pytest.mark.parametrize("failure", TRANSIENT)
async def test_transient_failures_then_recovery(adapter: DukcapilAdapter, router: respx.Router, failure: Any) -> None:
    """Each transient failure is TransientAgencyError without credentials; the same adapter then succeeds."""
    router.post(PATH).mock(side_effect=[failure(), reply("nik_record")])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(lookup_call())
    assert_no_secrets(caught.value)
    assert isinstance(await adapter.execute(lookup_call()), Completed)


UNREADABLE = [
    pytest.param({"RESPONSE_CODE": "01"}, "NIK", id="no-record"),
    pytest.param({**RECORD, "NAMA_LGKP": "-"}, "NAMA_LGKP", id="no-name"),
    pytest.param({**RECORD, "TGL_LHR": "1990/08/07"}, "TGL_LHR", id="birth-date-format"),
]


@pytest.mark.parametrize(("content", "field"), UNREADABLE)
async def test_an_unreadable_record_is_a_protocol_error_then_the_adapter_recovers(
    adapter: DukcapilAdapter, router: respx.Router, content: dict[str, Any], field: str
) -> None:
    """A success reply whose record cannot be read: a final protocol error naming CALL_NIK and the key, no value."""
    body = orjson.dumps({"content": [content]})
    router.post(PATH).mock(side_effect=[wire(200, body, {"content-type": "application/json"}), reply("nik_record")])
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(lookup_call())
    assert (caught.value.agency, caught.value.method, caught.value.field) == ("dukcapil", "CALL_NIK", field)
    for value in ("SITI", NIK, "1990/08/07", "MERDEKA"):
        assert value not in str(caught.value)
    assert_no_secrets(caught.value)
    assert isinstance(await adapter.execute(lookup_call()), Completed)
