"""adapters.dukcapil: construction from settings, registration, dispatch, and the error matrix end to end."""

from __future__ import annotations

import datetime as dt

import httpx
import orjson
import pytest
import respx

import adapters.dukcapil
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
from adapters.dukcapil import DukcapilAdapter, VerifyPayload, VerifyResult
from adapters.dukcapil.errors import RESPONSE_CODES
from contracts import LocalizedText
from tests import fixtures

from ._support import (
    INSTITUTION,
    IP_USER,
    NIK,
    PASSWORD,
    SECRETS,
    SETTINGS,
    USER_ID,
    VERIFY_PATH,
    assert_no_secrets,
    make_call,
    reply,
    wire,
)

PAYLOAD = VerifyPayload(full_name="Siti Aminah", birth_date=dt.date(1990, 8, 7), threshold=90)
CODE_FIXTURES = [name for name in fixtures.names("dukcapil") if name.startswith("code_")] + ["not_found_respon"]


def test_public_surface() -> None:
    """The package exports exactly its documented names."""
    assert set(adapters.dukcapil.__all__) == {
        "NIK_LOOKUP",
        "REQUIRED_SETTINGS",
        "SERVICES",
        "VERIFY",
        "CivilAddress",
        "CivilRecord",
        "DukcapilAdapter",
        "DukcapilClient",
        "FieldMatch",
        "NikLookupPayload",
        "Region",
        "VerifyPayload",
        "VerifyResult",
    }


def test_adapter_declares_its_agency() -> None:
    """The adapter's slug and human name are Dukcapil's."""
    assert DukcapilAdapter.agency == "dukcapil"
    assert DukcapilAdapter.agency_name == "Dukcapil (Direktorat Jenderal Kependudukan dan Pencatatan Sipil)"


def test_registered_under_the_entry_point() -> None:
    """The installed entry point 'dukcapil' loads this adapter class."""
    assert discover_factories(["dukcapil"])["dukcapil"] is DukcapilAdapter


def test_registry_builds_it_from_a_context(http: AgencyHttp) -> None:
    """The gateway's registry builds the adapter from a context and indexes its service."""
    registry = Registry.build({"dukcapil": DukcapilAdapter}, lambda _: AdapterContext(http=http, settings=SETTINGS))
    adapter, service = registry.services["dukcapil.nik.verify"]
    assert isinstance(adapter, DukcapilAdapter)
    assert service.title == LocalizedText(id="Verifikasi data kependudukan (NIK)", en="Verify population data (NIK)")


@pytest.mark.parametrize("name", ["institution", "user_id", "password", "ip_user"])
@pytest.mark.parametrize("absent", ["missing", "blank"])
def test_missing_setting_is_named_without_values(http: AgencyHttp, name: str, absent: str) -> None:
    """A missing or blank setting fails construction naming its variable, and no setting's value."""
    settings = dict(SETTINGS)
    if absent == "missing":
        del settings[name]
    else:
        settings[name] = "  "
    with pytest.raises(ValueError, match=f"MPP_AGENCY__DUKCAPIL__{name.upper()}") as caught:
        DukcapilAdapter(AdapterContext(http=http, settings=settings))
    assert all(value not in str(caught.value) for value in (USER_ID, PASSWORD, IP_USER, INSTITUTION))


def test_repr_hides_the_credentials(adapter: DukcapilAdapter) -> None:
    """The adapter's repr names no credential."""
    assert all(secret not in repr(adapter) for secret in SECRETS)


async def test_verify_end_to_end(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """A verification sends the applicant's NIK and the payload, and completes with the parsed result."""
    route = router.post(VERIFY_PATH).mock(return_value=reply("verify_duplicate"))
    outcome = await adapter.execute(make_call(PAYLOAD))
    assert orjson.loads(route.calls.last.request.content) == {
        "NIK": NIK,
        "TRESHOLD": "90",
        "NAMA_LGKP": "SITI AMINAH",
        "TGL_LHR": "07-08-1990",
        "USER_ID": USER_ID,
        "PASSWORD": PASSWORD,
        "IP_USER": IP_USER,
    }
    assert isinstance(outcome, Completed)
    assert outcome.agency_reference is None
    assert isinstance(outcome.result, VerifyResult)
    assert outcome.result.matched is True
    assert outcome.result.duplicate_record is True
    assert outcome.result.threshold == 90


async def test_unknown_service_is_a_contract_error(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """A service id the adapter does not offer is refused without a call."""
    with pytest.raises(ContractError) as caught:
        await adapter.execute(make_call(PAYLOAD, service="dukcapil.nik.read"))
    assert caught.value.slug == "unknown-service"
    assert not router.calls


async def test_wrong_payload_type_is_a_contract_error(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """A payload that is not a VerifyPayload is refused without a call."""
    with pytest.raises(ContractError):
        await adapter.execute(make_call(LocalizedText(id="x", en="x")))
    assert not router.calls


async def test_past_deadline_sends_nothing(adapter: DukcapilAdapter, router: respx.Router) -> None:
    """A call whose deadline has passed is transient and not sent."""
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(make_call(PAYLOAD, left=-1.0))
    assert caught.value.sent is False
    assert not router.calls


@pytest.mark.parametrize("name", CODE_FIXTURES)
async def test_every_recorded_failure_is_classified_then_recovers(
    adapter: DukcapilAdapter, router: respx.Router, name: str
) -> None:
    """Each recorded failure raises its class with the agency's code and no credential; the next call succeeds."""
    router.post(VERIFY_PATH).mock(side_effect=[reply(name), reply("verify_match")])
    with pytest.raises((AgencyRejected, AgencyMisconfigured)) as caught:
        await adapter.execute(make_call(PAYLOAD))
    code = "13" if name == "not_found_respon" else name.split("_")[1]
    entry = RESPONSE_CODES[code]
    assert type(caught.value) is entry.error
    assert caught.value.code == code
    assert_no_secrets(caught.value)
    outcome = await adapter.execute(make_call(PAYLOAD))
    assert isinstance(outcome, Completed)


TRANSIENT = [
    pytest.param(lambda: wire(503, headers={"retry-after": "30"}), id="503"),
    pytest.param(lambda: wire(429, headers={"retry-after": "5"}), id="429"),
    pytest.param(lambda: wire(502, b"<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}), id="html"),
    pytest.param(lambda: wire(200, b'{"content": [{"NIK": "Ses', {"content-type": "application/json"}), id="truncated"),
    pytest.param(lambda: wire(200), id="empty-body"),
    pytest.param(lambda: httpx.ConnectError("refused"), id="connect-error"),
    pytest.param(lambda: httpx.ReadTimeout("slow"), id="read-timeout"),
]


@pytest.mark.parametrize("failure", TRANSIENT)
async def test_transient_failures_then_recovery(
    adapter: DukcapilAdapter, router: respx.Router, failure: object
) -> None:
    """Each transient failure is TransientAgencyError without credentials, and the same adapter then succeeds."""
    assert callable(failure)
    router.post(VERIFY_PATH).mock(side_effect=[failure(), reply("verify_match")])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(make_call(PAYLOAD))
    assert caught.value.agency == "dukcapil"
    assert_no_secrets(caught.value)
    outcome = await adapter.execute(make_call(PAYLOAD))
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, VerifyResult)
    assert outcome.result.matched is True


UNREADABLE = [
    pytest.param(b'{"content": [{"NIK": "Mungkin", "NAMA_LGKP": "Sesuai"}]}', "NIK", id="unknown-nik-verdict"),
    pytest.param(b'{"content": [{"NIK": "Sesuai", "NAMA_LGKP": "Sesuai (SITI)"}]}', "NAMA_LGKP", id="unknown-verdict"),
    pytest.param(b'{"content": [{"RESPONSE_CODE": "01", "quotaLimiter": 99}]}', "NIK", id="no-verdict"),
]


@pytest.mark.parametrize(("body", "field"), UNREADABLE)
async def test_an_unreadable_verdict_is_a_protocol_error_then_the_adapter_recovers(
    adapter: DukcapilAdapter, router: respx.Router, body: bytes, field: str
) -> None:
    """Dukcapil's content list with a verdict the adapter cannot read: a final protocol error naming method and key."""
    router.post(VERIFY_PATH).mock(side_effect=[wire(200, body, {"content-type": "application/json"}),
                                              reply("verify_match")])  # fmt: skip
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(make_call(PAYLOAD))
    error = caught.value
    assert (error.agency, error.method, error.field) == ("dukcapil", "CALL_VERIFY_BY_ELEMEN", field)
    assert "SITI" not in str(caught.value) and "Mungkin" not in str(caught.value)
    assert_no_secrets(caught.value)
    assert isinstance(await adapter.execute(make_call(PAYLOAD)), Completed)
