"""adapters.bpjs_ketenagakerjaan: construction, registration, the three services, reconciliation, error matrices."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

import adapters.bpjs_ketenagakerjaan
from adapters import (
    AdapterContext,
    AgencyError,
    AgencyHttp,
    AgencyProtocolError,
    AgencyRejected,
    AmbiguousOutcome,
    Completed,
    ContractError,
    Registry,
    TransientAgencyError,
    discover_factories,
)
from adapters.bpjs_ketenagakerjaan import (
    BpjsKetenagakerjaanAdapter,
    MembershipPayload,
    MembershipResult,
    RegistrationResult,
    StatusPayload,
)
from adapters.bpjs_ketenagakerjaan.errors import RESULT_CODES
from tests import fixtures

from ._support import (
    API_KEY,
    NIK,
    REFERENCE,
    REGISTER_PATH,
    SETTINGS,
    STATUS_PATH,
    VERIFY_PATH,
    assert_safe,
    make_call,
    register_payload,
    reply,
    wire,
)

VERIFY_ID = "bpjs-ketenagakerjaan.peserta.verify"
REGISTER_ID = "bpjs-ketenagakerjaan.peserta.register"
STATUS_ID = "bpjs-ketenagakerjaan.peserta.status"
CODE_FIXTURES = [name for name in fixtures.names("bpjs_ketenagakerjaan") if name.startswith("code_")]


def register_call(**kwargs: Any) -> Any:
    """A registration call with the standard payload."""
    return make_call(register_payload(), service=REGISTER_ID, **kwargs)


def test_public_surface() -> None:
    """The package exports exactly its documented names."""
    assert set(adapters.bpjs_ketenagakerjaan.__all__) == {
        "REGISTER",
        "REQUIRED_SETTINGS",
        "SERVICES",
        "STATUS",
        "VERIFY",
        "Address",
        "BpjsKetenagakerjaanAdapter",
        "BpjsTkClient",
        "MembershipPayload",
        "MembershipResult",
        "RegisterPayload",
        "RegistrationResult",
        "StatusPayload",
    }


def test_registered_under_the_entry_point() -> None:
    """The installed entry point 'bpjs-ketenagakerjaan' loads this adapter class."""
    assert discover_factories(["bpjs-ketenagakerjaan"])["bpjs-ketenagakerjaan"] is BpjsKetenagakerjaanAdapter


def test_registry_builds_it_and_indexes_three_services(http: AgencyHttp) -> None:
    """The gateway's registry builds the adapter from a context and indexes its services and problem types."""
    registry = Registry.build(
        {"bpjs-ketenagakerjaan": BpjsKetenagakerjaanAdapter}, lambda _: AdapterContext(http=http, settings=SETTINGS)
    )
    assert {VERIFY_ID, REGISTER_ID, STATUS_ID} == set(registry.services)
    assert "bpjstk-already-registered" in {kind.slug for kind in registry.problem_types()}


@pytest.mark.parametrize("settings", [{}, {"api_key": "   "}], ids=["missing", "blank"])
def test_missing_api_key_is_named(http: AgencyHttp, settings: dict[str, str]) -> None:
    """Without an API key construction fails naming its variable."""
    with pytest.raises(ValueError, match="MPP_AGENCY__BPJS_KETENAGAKERJAAN__API_KEY"):
        BpjsKetenagakerjaanAdapter(AdapterContext(http=http, settings=settings))


def test_repr_hides_the_api_key(adapter: BpjsKetenagakerjaanAdapter) -> None:
    """The adapter's repr names no credential."""
    assert API_KEY not in repr(adapter)


async def test_verify_end_to_end(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """The lookup sends the applicant's NIK and completes with the membership, no agency reference."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_member_pu"))
    outcome = await adapter.execute(make_call(MembershipPayload(), service=VERIFY_ID))
    assert orjson.loads(route.calls.last.request.content) == {"nik": NIK}
    assert isinstance(outcome, Completed)
    assert outcome.agency_reference is None
    assert isinstance(outcome.result, MembershipResult)
    assert (outcome.result.member, outcome.result.kpj) == (True, "23019487561")


async def test_verify_of_a_non_member_completes(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """Code 10 (HTTP 404) completes with member false: it is the answer, not an error."""
    router.post(VERIFY_PATH).mock(return_value=reply("verify_not_member", 404))
    outcome = await adapter.execute(make_call(MembershipPayload(), service=VERIFY_ID))
    assert isinstance(outcome, Completed)
    assert outcome.result == MembershipResult(member=False)


async def test_register_sends_the_reference_and_returns_the_kpj(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router
) -> None:
    """The registration carries Call.reference as referensi and completes with the KPJ as agency reference."""
    route = router.post(REGISTER_PATH).mock(return_value=reply("register_created", 201))
    outcome = await adapter.execute(register_call())
    sent = orjson.loads(route.calls.last.request.content)
    assert (sent["referensi"], sent["nik"], sent["pekerjaan"]) == (REFERENCE, NIK, "PEDAGANG")
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, RegistrationResult)
    assert outcome.agency_reference == outcome.result.kpj == "87125509314"


async def test_status_looks_the_registration_up(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """The status service asks by the payload's reference and the applicant's NIK."""
    route = router.post(STATUS_PATH).mock(return_value=reply("status_active"))
    outcome = await adapter.execute(make_call(StatusPayload(reference=REFERENCE), service=STATUS_ID))
    assert orjson.loads(route.calls.last.request.content) == {"referensi": REFERENCE, "nik": NIK}
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, RegistrationResult)
    assert outcome.result.status == "active"
    assert outcome.agency_reference == "87125509314"


async def test_status_of_an_unknown_reference_is_rejected(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router
) -> None:
    """Code 12 on the status service is a final not-found."""
    router.post(STATUS_PATH).mock(return_value=reply("code_12_registration_not_found", 404))
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(make_call(StatusPayload(reference=REFERENCE), service=STATUS_ID))
    assert (caught.value.slug, caught.value.code) == ("bpjstk-registration-not-found", "12")


async def test_reconcile_finds_the_registration(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """After an ambiguous registration, reconcile asks by the call's reference and returns the registration."""
    route = router.post(STATUS_PATH).mock(return_value=reply("register_created"))
    outcome = await adapter.reconcile(register_call())
    assert orjson.loads(route.calls.last.request.content) == {"referensi": REFERENCE, "nik": NIK}
    assert isinstance(outcome, Completed)
    assert outcome.agency_reference == "87125509314"


async def test_reconcile_says_none_when_nothing_was_registered(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router
) -> None:
    """Code 12 means the registration never landed: None, so the gateway may resend."""
    router.post(STATUS_PATH).mock(return_value=reply("code_12_registration_not_found", 404))
    assert await adapter.reconcile(register_call()) is None


@pytest.mark.parametrize(
    "failure",
    [lambda: wire(503), lambda: httpx.ConnectError("refused"), lambda: reply("code_50_system_error", 500)],
    ids=["503", "connect-error", "code-50"],
)
async def test_reconcile_that_cannot_tell_is_transient(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router, failure: Any
) -> None:
    """When the enquiry itself fails, reconcile raises transient rather than guess."""
    router.post(STATUS_PATH).mock(side_effect=[failure()])
    with pytest.raises(TransientAgencyError):
        await adapter.reconcile(register_call())


async def test_lookups_do_not_reconcile(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """Reconciling a lookup is refused as ambiguous without a call: only the registration has a reference."""
    with pytest.raises(AmbiguousOutcome):
        await adapter.reconcile(make_call(MembershipPayload(), service=VERIFY_ID))
    assert not router.calls


async def test_unknown_service_is_a_contract_error(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """A service id the adapter does not offer is refused without a call."""
    with pytest.raises(ContractError) as caught:
        await adapter.execute(make_call(MembershipPayload(), service="bpjs-ketenagakerjaan.klaim.jht"))
    assert caught.value.slug == "unknown-service"
    assert not router.calls


@pytest.mark.parametrize("service", [VERIFY_ID, REGISTER_ID, STATUS_ID])
async def test_wrong_payload_type_is_a_contract_error(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router, service: str
) -> None:
    """A payload of another service's model is refused without a call."""
    wrong = StatusPayload(reference="x") if service != STATUS_ID else MembershipPayload()
    with pytest.raises(ContractError):
        await adapter.execute(make_call(wrong, service=service))
    assert not router.calls


async def test_past_deadline_sends_nothing(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """A registration whose deadline has passed is transient, unsent, and never on the wire."""
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(register_call(left=-1.0))
    assert caught.value.sent is False
    assert not router.calls


@pytest.mark.parametrize("name", CODE_FIXTURES)
async def test_every_coded_failure_is_classified_then_recovers(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router, name: str
) -> None:
    """Each coded failure raises its table class with the code, leaks nothing; the next registration succeeds."""
    code = name.split("_")[1]
    router.post(REGISTER_PATH).mock(side_effect=[reply(name, 409), reply("register_created", 201)])
    with pytest.raises(AgencyError) as caught:
        await adapter.execute(register_call())
    assert type(caught.value) is RESULT_CODES[code].error
    assert caught.value.code == code
    assert_safe(caught.value)
    outcome = await adapter.execute(register_call())
    assert isinstance(outcome, Completed)


async def test_refused_fields_reach_the_detail(adapter: BpjsKetenagakerjaanAdapter, router: respx.Router) -> None:
    """Code 30 names the refused contract fields, not the agency's reasons."""
    router.post(REGISTER_PATH).mock(return_value=reply("code_30_invalid_data", 422))
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(register_call())
    assert caught.value.slug == "bpjstk-registration-invalid"
    assert "phone, address.rt" in caught.value.detail
    assert "628" not in caught.value.detail


async def test_not_a_participant_on_a_registration_is_not_trusted(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router
) -> None:
    """Code 10 where a registration is expected is a reply we cannot place: transient, sent."""
    router.post(REGISTER_PATH).mock(return_value=reply("verify_not_member", 404))
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(register_call())
    assert (caught.value.code, caught.value.sent) == ("10", True)


TRANSIENT = [
    pytest.param(lambda: wire(503, headers={"retry-after": "30"}), True, id="503"),
    pytest.param(lambda: wire(429, headers={"retry-after": "5"}), False, id="429"),
    pytest.param(lambda: wire(502, b"<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}), True,
                 id="html"),
    pytest.param(lambda: wire(200, b'{"kode": "00", "data": {"kpj": "87', {"content-type": "application/json"}), True,
                 id="truncated"),
    pytest.param(lambda: reply("code_51_population_check_down", 503), False, id="code-51"),
    pytest.param(lambda: httpx.ConnectError("refused"), False, id="connect-error"),
    pytest.param(lambda: httpx.ReadTimeout("slow"), True, id="read-timeout"),
]


@pytest.mark.parametrize(("failure", "sent"), TRANSIENT)
async def test_transient_failures_then_recovery(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router, failure: Any, sent: bool
) -> None:
    """Each transient failure says whether the registration may have landed, leaks nothing, and then recovers."""
    router.post(REGISTER_PATH).mock(side_effect=[failure(), reply("register_created", 201)])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(register_call())
    assert caught.value.agency == "bpjs-ketenagakerjaan"
    assert caught.value.sent is sent
    assert_safe(caught.value)
    outcome = await adapter.execute(register_call())
    assert isinstance(outcome, Completed)


def _json(document: object, status: int = 200) -> httpx.Response:
    return wire(status, orjson.dumps(document), {"content-type": "application/json"})


def _registration(**changes: Any) -> dict[str, Any]:
    """The reference registration reply with ``changes`` in its data."""
    document = fixtures.load("bpjs_ketenagakerjaan", "register_created")
    return {**document, "data": {**document["data"], **changes}}


async def test_an_unreadable_membership_is_a_protocol_error_then_the_adapter_recovers(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router
) -> None:
    """A 00 envelope whose data cannot be read: final, naming the path and the wire field, never the value."""
    member = fixtures.load("bpjs_ketenagakerjaan", "verify_member_pu")
    unreadable = _json({**member, "data": {**member["data"], "kategori": "PEKERJA_MIGRAN"}})
    router.post(VERIFY_PATH).mock(side_effect=[unreadable, reply("verify_member_pu")])
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(make_call(MembershipPayload(), service=VERIFY_ID))
    error = caught.value
    assert (error.agency, error.method, error.field) == ("bpjs-ketenagakerjaan", "api/v1/peserta/cek", "data.kategori")
    assert "PEKERJA_MIGRAN" not in str(error) and member["data"]["kpj"] not in str(error)
    assert_safe(error)
    assert isinstance(await adapter.execute(make_call(MembershipPayload(), service=VERIFY_ID)), Completed)


STATUS_UNREADABLE = [
    pytest.param(lambda: _json(_registration(referensi="req_SOMEONE_ELSE")), "data.referensi", None, id="other-ref"),
    pytest.param(lambda: _json(_registration(kode_iuran="89871")), "data.kode_iuran", None, id="short-payment-code"),
    pytest.param(lambda: _json({"kode": "00", "pesan": "Sukses", "data": None}), "data", None, id="no-data"),
    pytest.param(lambda: reply("verify_not_member", 404), "kode", "10", id="kode-10"),
]


@pytest.mark.parametrize(("failure", "field", "code"), STATUS_UNREADABLE)
async def test_an_unreadable_status_is_a_protocol_error_then_the_adapter_recovers(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router, failure: Any, field: str, code: str | None
) -> None:
    """The status enquiry (a lookup) answered in a way the adapter cannot read: final, naming path and field."""
    router.post(STATUS_PATH).mock(side_effect=[failure(), reply("status_active")])
    call = make_call(StatusPayload(reference=REFERENCE), service=STATUS_ID)
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(call)
    error = caught.value
    assert (error.method, error.field, error.code) == ("api/v1/peserta/bpu/status", field, code)
    assert "req_SOMEONE_ELSE" not in str(error) and "89871" not in str(error) and REFERENCE not in str(error)
    assert_safe(error)
    assert isinstance(await adapter.execute(call), Completed)


_UNREADABLE_REGISTRATION = (
    "bpjs-ketenagakerjaan answered api/v1/peserta/bpu with a reply whose '{}' the adapter cannot read"
)
REGISTER_UNREADABLE = [
    pytest.param(
        lambda: _json(_registration(referensi="req_SOMEONE_ELSE"), 201),
        "bpjs-ketenagakerjaan answered api/v1/peserta/bpu about another reference than the one asked",
        id="other-ref",
    ),
    pytest.param(
        lambda: _json(_registration(tgl_daftar="kemarin"), 201),
        _UNREADABLE_REGISTRATION.format("data.tgl_daftar"),
        id="bad-time",
    ),
    pytest.param(
        lambda: _json({"kode": "00", "pesan": "Sukses", "data": {}}, 201),
        _UNREADABLE_REGISTRATION.format("data.referensi"),
        id="empty-data",
    ),
]


@pytest.mark.parametrize(("failure", "reason"), REGISTER_UNREADABLE)
async def test_an_unreadable_registration_reply_leaves_the_outcome_unknown(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router, failure: Any, reason: str
) -> None:
    """The agency answered the registration, but unreadably: sent, outcome unknown (reconcile), never final."""
    router.post(REGISTER_PATH).mock(side_effect=[failure()])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(register_call())
    error = caught.value
    assert not isinstance(error, AgencyProtocolError)
    assert error.sent is True
    assert error.detail == f"{reason}; the agency may hold the registration: reconcile before any resend"
    assert "req_SOMEONE_ELSE" not in str(error) and "kemarin" not in str(error)
    assert error.__context__ is None
    assert_safe(error)


async def test_reconcile_answered_unreadably_is_a_protocol_error_saying_the_agency_may_hold_it(
    adapter: BpjsKetenagakerjaanAdapter, router: respx.Router
) -> None:
    """The status enquiry of a reconciliation about another reference: final, and the detail says what is at stake."""
    router.post(STATUS_PATH).mock(return_value=_json(_registration(referensi="req_SOMEONE_ELSE")))
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.reconcile(register_call())
    error = caught.value
    assert (error.method, error.field) == ("api/v1/peserta/bpu/status", "data.referensi")
    assert "a registration the agency may hold" in error.detail
    assert "req_SOMEONE_ELSE" not in str(error) and REFERENCE not in str(error)
    assert error.__context__ is None
