"""adapters.bpjs_kesehatan: construction from settings, registration, dispatch, and the error matrix end to end."""

from __future__ import annotations

import httpx
import pytest
import respx

import adapters.bpjs_kesehatan
from adapters import (
    AdapterContext,
    AgencyHttp,
    AgencyMisconfigured,
    AgencyProtocolError,
    AgencyRejected,
    Completed,
    ContractError,
    Registry,
    TransientAgencyError,
    discover_factories,
)
from adapters.bpjs_kesehatan import BpjsKesehatanAdapter, ByCardPayload, ByNikPayload, Participant
from contracts import LocalizedText
from tests import fixtures

from ._support import (
    CARD,
    CARD_PATH,
    JSON,
    NIK,
    NIK_PATH,
    SECRETS,
    SERVICE_DATE,
    SETTINGS,
    assert_no_secrets,
    clock,
    encrypted_reply,
    make_call,
    reply,
    wire,
)

BY_NIK = "bpjs-kesehatan.peserta.by-nik"
BY_CARD = "bpjs-kesehatan.peserta.by-card"
NIK_PAYLOAD = ByNikPayload(service_date=SERVICE_DATE)
CARD_PAYLOAD = ByCardPayload(card_number=CARD, service_date=SERVICE_DATE)


def test_public_surface() -> None:
    """The package exports exactly its documented names."""
    assert set(adapters.bpjs_kesehatan.__all__) == {
        "BY_CARD",
        "BY_NIK",
        "REQUIRED_SETTINGS",
        "SERVICES",
        "BpjsKesehatanAdapter",
        "ByCardPayload",
        "ByNikPayload",
        "Coded",
        "CoordinationOfBenefits",
        "Participant",
        "ParticipantInformation",
        "ParticipantStatus",
        "Provider",
        "VClaimClient",
    }


def test_adapter_declares_its_agency() -> None:
    """The adapter's slug and human name are BPJS Kesehatan's."""
    assert BpjsKesehatanAdapter.agency == "bpjs-kesehatan"
    assert BpjsKesehatanAdapter.agency_name == "BPJS Kesehatan (Badan Penyelenggara Jaminan Sosial Kesehatan)"


def test_registered_under_the_entry_point() -> None:
    """The installed entry point 'bpjs-kesehatan' loads this adapter class."""
    assert discover_factories(["bpjs-kesehatan"])["bpjs-kesehatan"] is BpjsKesehatanAdapter


def test_registry_builds_it_from_a_context(http: AgencyHttp) -> None:
    """The gateway's registry builds the adapter from a context and indexes both services."""
    registry = Registry.build(
        {"bpjs-kesehatan": BpjsKesehatanAdapter}, lambda _: AdapterContext(http=http, settings=SETTINGS)
    )
    adapter, service = registry.services[BY_NIK]
    assert isinstance(adapter, BpjsKesehatanAdapter)
    assert service.title == LocalizedText(
        id="Cek kepesertaan BPJS Kesehatan (NIK)", en="BPJS Kesehatan membership check (NIK)"
    )
    assert BY_CARD in registry.services


@pytest.mark.parametrize("name", ["cons_id", "consumer_secret", "user_key"])
@pytest.mark.parametrize("absent", ["missing", "blank"])
def test_missing_setting_is_named_without_values(http: AgencyHttp, name: str, absent: str) -> None:
    """A missing or blank setting fails construction naming its variable, and no setting's value."""
    settings = dict(SETTINGS)
    if absent == "missing":
        del settings[name]
    else:
        settings[name] = "  "
    with pytest.raises(ValueError, match=f"MPP_AGENCY__BPJS_KESEHATAN__{name.upper()}") as caught:
        BpjsKesehatanAdapter(AdapterContext(http=http, settings=settings))
    assert all(secret not in str(caught.value) for secret in SECRETS)


def test_builds_from_the_gateways_placeholder_settings(http: AgencyHttp) -> None:
    """The catalog command builds adapters with 'unset' for every setting; that must work (nothing is sent)."""
    adapter = BpjsKesehatanAdapter(AdapterContext(http=http, settings=dict.fromkeys(SETTINGS, "unset")))
    assert len(adapter.services()) == 2


def test_repr_hides_the_credentials(adapter: BpjsKesehatanAdapter) -> None:
    """The adapter's repr names no secret."""
    assert all(secret not in repr(adapter) for secret in SECRETS)


async def test_by_nik_end_to_end(adapter: BpjsKesehatanAdapter, router: respx.Router) -> None:
    """The NIK lookup GETs the applicant's path, decrypts the reference's reply and completes with the card number."""
    route = router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_active"))
    outcome = await adapter.execute(make_call(NIK_PAYLOAD, service=BY_NIK))
    assert route.calls.last.request.headers["x-signature"] == "eXMtvX2r7e7CLCIu3kpEpCrvciZgK8FuOhKv06NDAHk="
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, Participant)
    assert outcome.result.nik == NIK
    assert outcome.result.status.active is True
    assert outcome.result.service_date == SERVICE_DATE
    assert outcome.agency_reference == "0001987654321"


async def test_by_card_end_to_end(adapter: BpjsKesehatanAdapter, router: respx.Router) -> None:
    """The card lookup GETs the card's path whatever the applicant's NIK is."""
    route = router.get(CARD_PATH).mock(return_value=reply("envelope_peserta_active"))
    outcome = await adapter.execute(make_call(CARD_PAYLOAD, service=BY_CARD, nik="3201010101010001"))
    assert route.called
    assert isinstance(outcome, Completed)
    assert outcome.agency_reference == CARD


async def test_deceased_participant_completes_inactive(adapter: BpjsKesehatanAdapter, router: respx.Router) -> None:
    """A deceased participant is a completed lookup with status.active false, not an error."""
    router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_deceased"))
    outcome = await adapter.execute(make_call(NIK_PAYLOAD, service=BY_NIK))
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, Participant)
    assert outcome.result.status.active is False
    assert outcome.agency_reference == "0000876543210"


async def test_lapsed_participant_completes_with_a_null_provider(
    adapter: BpjsKesehatanAdapter, router: respx.Router
) -> None:
    """Status 9 (premiums unpaid) with provUmum nulls, as BPJS encrypts it, completes: provider null, not active."""
    route = router.get(NIK_PATH).mock(return_value=reply("envelope_peserta_lapsed"))
    outcome = await adapter.execute(make_call(NIK_PAYLOAD, service=BY_NIK))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, Participant)
    assert outcome.result.primary_care_provider is None
    assert outcome.result.status.model_dump() == {"code": "9", "description": "NON AKTIF KARNA PREMI", "active": False}
    assert outcome.agency_reference == "0001765432109"
    assert route.call_count == 1


UNREADABLE = [
    pytest.param(lambda: wire(200, b'{"metaData": {"code": "200"}, "response": null}', JSON), "peserta",
                 id="success-without-data"),
    pytest.param(lambda: encrypted_reply({"peserta": {"noKartu": "0001987654321"}}), "sex", id="only-a-card"),
    pytest.param(lambda: encrypted_reply({"data": []}), "peserta", id="another-document"),
]  # fmt: skip


@pytest.mark.parametrize(("failure", "field"), UNREADABLE)
async def test_an_unreadable_success_is_a_protocol_error_then_the_adapter_recovers(
    adapter: BpjsKesehatanAdapter, router: respx.Router, failure: object, field: str
) -> None:
    """A code-200 reply that decrypts but cannot be read is AgencyProtocolError naming method and field."""
    assert callable(failure)
    router.get(CARD_PATH).mock(side_effect=[failure(), reply("envelope_peserta_active")])
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(make_call(CARD_PAYLOAD, service=BY_CARD))
    error = caught.value
    assert (error.agency, error.method, error.field) == ("bpjs-kesehatan", "Peserta/nokartu", field)
    assert_no_secrets(caught.value, CARD)
    assert isinstance(await adapter.execute(make_call(CARD_PAYLOAD, service=BY_CARD)), Completed)


AGENCY_REFUSALS = [
    pytest.param("envelope_201_not_found", AgencyRejected, "201", id="201-not-found"),
    pytest.param("envelope_401_signature", AgencyMisconfigured, "401", id="401-signature"),
    pytest.param("envelope_403_user_key", AgencyMisconfigured, "403", id="403-user-key"),
    pytest.param("envelope_408_timestamp", AgencyMisconfigured, "408", id="408-stale-timestamp"),
]


@pytest.mark.parametrize(("name", "error", "code"), AGENCY_REFUSALS)
@pytest.mark.parametrize("service", [BY_NIK, BY_CARD])
async def test_refusals_are_classified_then_the_adapter_recovers(
    adapter: BpjsKesehatanAdapter,
    router: respx.Router,
    name: str,
    error: type[Exception],
    code: str,
    service: str,
) -> None:
    """Each refusal raises its class with the code and no secret or message text; the next call succeeds."""
    path, payload = (NIK_PATH, NIK_PAYLOAD) if service == BY_NIK else (CARD_PATH, CARD_PAYLOAD)
    router.get(path).mock(side_effect=[reply(name), reply("envelope_peserta_active")])
    with pytest.raises(error) as caught:
        await adapter.execute(make_call(payload, service=service))
    assert type(caught.value) is error
    assert caught.value.code == code  # type: ignore[attr-defined]
    if isinstance(caught.value, AgencyRejected):
        assert caught.value.slug == "bpjs-participant-not-found"
    message = fixtures.load("bpjs_kesehatan", name)["metaData"]["message"]
    assert message not in str(caught.value)
    assert_no_secrets(caught.value)
    assert isinstance(await adapter.execute(make_call(payload, service=service)), Completed)


TRANSIENT = [
    pytest.param(lambda: wire(503, headers={"retry-after": "30"}), id="503"),
    pytest.param(lambda: wire(429, headers={"retry-after": "5"}), id="429"),
    pytest.param(lambda: wire(502, b"<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}), id="html"),
    pytest.param(lambda: wire(200, b'{"metaData": {"code": "2', JSON), id="truncated"),
    pytest.param(lambda: wire(200), id="empty-body"),
    pytest.param(lambda: wire(200, b'{"metaData": {"code": "200"}, "response": "Zm9vYmFy"}', JSON), id="undecryptable"),
    pytest.param(lambda: httpx.ConnectError("refused"), id="connect-error"),
    pytest.param(lambda: httpx.ReadTimeout("slow"), id="read-timeout"),
]


@pytest.mark.parametrize("failure", TRANSIENT)
async def test_transient_failures_then_recovery(
    adapter: BpjsKesehatanAdapter, router: respx.Router, failure: object
) -> None:
    """Each transient failure is TransientAgencyError without secrets, and the same adapter then succeeds."""
    assert callable(failure)
    router.get(NIK_PATH).mock(side_effect=[failure(), reply("envelope_peserta_active")])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(make_call(NIK_PAYLOAD, service=BY_NIK))
    assert caught.value.agency == "bpjs-kesehatan"
    assert_no_secrets(caught.value)
    outcome = await adapter.execute(make_call(NIK_PAYLOAD, service=BY_NIK))
    assert isinstance(outcome, Completed)


async def test_unknown_service_is_a_contract_error(adapter: BpjsKesehatanAdapter, router: respx.Router) -> None:
    """A service id the adapter does not offer is refused without a call."""
    with pytest.raises(ContractError) as caught:
        await adapter.execute(make_call(NIK_PAYLOAD, service="bpjs-kesehatan.sep.insert"))
    assert caught.value.slug == "unknown-service"
    assert not router.calls


@pytest.mark.parametrize(("service", "payload"), [(BY_NIK, CARD_PAYLOAD), (BY_CARD, NIK_PAYLOAD)])
async def test_wrong_payload_type_is_a_contract_error(
    adapter: BpjsKesehatanAdapter, router: respx.Router, service: str, payload: object
) -> None:
    """Each service refuses the other's payload without a call."""
    with pytest.raises(ContractError):
        await adapter.execute(make_call(payload, service=service))  # type: ignore[arg-type]
    assert not router.calls


async def test_past_deadline_sends_nothing(adapter: BpjsKesehatanAdapter, router: respx.Router) -> None:
    """A call whose deadline has passed is transient and not sent."""
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(make_call(NIK_PAYLOAD, service=BY_NIK, left=-1.0))
    assert caught.value.sent is False
    assert not router.calls


async def test_reconcile_is_not_offered(adapter: BpjsKesehatanAdapter) -> None:
    """Lookups never need reconciling: the default refusal stands."""
    from adapters import AmbiguousOutcome

    with pytest.raises(AmbiguousOutcome):
        await adapter.reconcile(make_call(NIK_PAYLOAD, service=BY_NIK))


def test_the_clock_comes_from_the_context(http: AgencyHttp) -> None:
    """The adapter stamps requests with the context's clock, not the machine's."""
    adapter = BpjsKesehatanAdapter(AdapterContext(http=http, settings=SETTINGS, clock=clock))
    assert adapter._client.timestamp() == "433223232"
