"""adapters.oss: construction, registration, every service end to end, the error matrix, and reconcile."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx

import adapters.oss
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
from adapters.oss import (
    LicenseIssuePayload,
    LicenseIssueResult,
    LicenseStatusPayload,
    LicenseStatusResult,
    LicenseStatusUpdatePayload,
    LicenseStatusUpdateResult,
    NibCheckResult,
    NibInquiryResult,
    NibPayload,
    OssAdapter,
)
from adapters.oss.errors import DATA_NOT_FOUND, KODES
from contracts import LocalizedText

from ._support import (
    ISSUE,
    NIB,
    PERMIT_ID,
    REFERENCE,
    SETTINGS,
    STATUS_UPDATE,
    USER_KEY,
    assert_clean,
    envelope,
    make_call,
    path,
    reply,
    wire,
)

NIB_PAYLOAD = NibPayload(nib=NIB)
UPDATE = LicenseStatusUpdatePayload.model_validate(STATUS_UPDATE)
ISSUE_PAYLOAD = LicenseIssuePayload.model_validate(ISSUE)


def test_public_surface() -> None:
    """The package exports exactly its documented names."""
    assert set(adapters.oss.__all__) == {
        "REQUIRED_SETTINGS", "SERVICES", "LicenseIssuePayload", "LicenseIssueResult", "LicenseStatusPayload",
        "LicenseStatusResult", "LicenseStatusUpdatePayload", "LicenseStatusUpdateResult", "NibCheckResult",
        "NibInquiryResult", "NibPayload", "OssAdapter", "OssClient",
    }


def test_registered_under_the_entry_point() -> None:
    """The installed entry point 'oss' loads this adapter class."""
    assert discover_factories(["oss"])["oss"] is OssAdapter


def test_registry_builds_it_and_indexes_every_service(http: AgencyHttp) -> None:
    """The gateway's registry builds the adapter from a context and indexes its five services."""
    registry = Registry.build({"oss": OssAdapter}, lambda _: AdapterContext(http=http, settings=SETTINGS))
    assert {sid for sid in registry.services if sid.startswith("oss.")} == {
        "oss.nib.inquiry", "oss.nib.check", "oss.license.status", "oss.license.status-update", "oss.license.issue",
    }
    assert registry.services["oss.nib.check"][1].title == LocalizedText(id="Cek status NIB", en="Check an NIB's status")


@pytest.mark.parametrize("settings", [{}, {"user_key": "  "}], ids=["missing", "blank"])
def test_missing_user_key_is_named_without_values(http: AgencyHttp, settings: dict[str, str]) -> None:
    """A missing or blank user_key fails construction naming its variable."""
    with pytest.raises(ValueError, match="MPP_AGENCY__OSS__USER_KEY"):
        OssAdapter(AdapterContext(http=http, settings=settings))


async def test_api_path_setting_selects_staging(router: respx.Router, http: AgencyHttp) -> None:
    """api_path=/stg/v1/kl/rba sends every call to the staging path."""
    route = router.post("/stg/v1/kl/rba/checkNIB").mock(return_value=reply("check_nib"))
    adapter = OssAdapter(AdapterContext(http=http, settings={**SETTINGS, "api_path": "/stg/v1/kl/rba"}))
    await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.check"))
    assert route.called


def test_repr_hides_the_user_key(adapter: OssAdapter) -> None:
    """The adapter's repr names no credential."""
    assert USER_KEY not in repr(adapter)


async def test_inquiry_end_to_end(adapter: OssAdapter, router: respx.Router) -> None:
    """oss.nib.inquiry sends INQUERYNIB with the NIB and completes with the mapped record."""
    route = router.post(path("inqueryNIB")).mock(return_value=reply("inquiry_nib"))
    outcome = await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry"))
    assert orjson.loads(route.calls.last.request.content) == {"INQUERYNIB": {"nib": NIB}}
    assert isinstance(outcome, Completed) and isinstance(outcome.result, NibInquiryResult)
    assert outcome.agency_reference == NIB
    assert outcome.result.projects[0].kbli == "01112"


async def test_check_end_to_end(adapter: OssAdapter, router: respx.Router) -> None:
    """oss.nib.check sends CHECKNIB and completes with name and status."""
    route = router.post(path("checkNIB")).mock(return_value=reply("check_nib"))
    outcome = await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.check"))
    assert orjson.loads(route.calls.last.request.content) == {"CHECKNIB": {"nib": NIB}}
    assert isinstance(outcome, Completed) and isinstance(outcome.result, NibCheckResult)
    assert outcome.result.active is True


async def test_license_status_end_to_end(adapter: OssAdapter, router: respx.Router) -> None:
    """oss.license.status sends CHECKLICENSESTATUS with the id_izin and completes with the status."""
    route = router.post(path("checkLicenseStatus")).mock(return_value=reply("check_license_status"))
    outcome = await adapter.execute(make_call(LicenseStatusPayload(permit_id=PERMIT_ID), "oss.license.status"))
    assert orjson.loads(route.calls.last.request.content) == {"CHECKLICENSESTATUS": {"id_izin": PERMIT_ID}}
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseStatusResult)
    assert (outcome.result.status_code, outcome.agency_reference) == ("45", PERMIT_ID)


async def test_status_update_end_to_end_carries_the_reference(adapter: OssAdapter, router: respx.Router) -> None:
    """oss.license.status-update sends IZINSTATUS with the call's reference and completes with the permit id."""
    route = router.post(path("receiveLicenseStatus")).mock(return_value=reply("receive_license_status"))
    outcome = await adapter.execute(make_call(UPDATE, "oss.license.status-update"))
    request = route.calls.last.request
    assert request.headers["x-mpp-reference"] == REFERENCE
    assert orjson.loads(request.content) == {"IZINSTATUS": {
        "nib": NIB, "id_produk": "", "id_proyek": ISSUE["project_id"], "oss_id": ISSUE["oss_id"],
        "id_izin": PERMIT_ID, "kd_izin": ISSUE["permit_code"], "kd_instansi": "032", "kd_status": "45",
        "tgl_status": "2024-01-20 10:15:00", "nip_status": "198703152010011002", "nama_status": "Budi Santoso",
        "keterangan": "Persyaratan lengkap",
    }}  # fmt: skip
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseStatusUpdateResult)
    assert (outcome.result.status, outcome.agency_reference) == ("requirements verified", PERMIT_ID)


async def test_issue_end_to_end_keeps_osss_number(adapter: OssAdapter, router: respx.Router) -> None:
    """oss.license.issue sends IZINFINAL with the reference and completes with OSS's permit number."""
    route = router.post(path("receiveLicense")).mock(return_value=reply("receive_license"))
    outcome = await adapter.execute(make_call(ISSUE_PAYLOAD, "oss.license.issue"))
    request = route.calls.last.request
    assert request.headers["x-mpp-reference"] == REFERENCE
    assert orjson.loads(request.content) == {"IZINFINAL": {
        "nib": NIB, "id_proyek": ISSUE["project_id"], "oss_id": ISSUE["oss_id"], "id_izin": PERMIT_ID,
        "kd_izin": ISSUE["permit_code"], "kd_daerah": "3273000000", "nomor_izin": ISSUE["permit_number"],
        "tgl_terbit_izin": "2024-01-22", "tgl_berlaku_izin": "2029-01-22", "nama_ttd": "Rina Kartika",
        "nip_ttd": "197005121995032001", "jabatan_ttd": "Kepala DPMPTSP Kota Bandung", "status_izin": "50",
    }}  # fmt: skip
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseIssueResult)
    assert outcome.result.permit_number == "503/0042/SS/DPMPTSP/2024"


async def test_unknown_service_is_a_contract_error(adapter: OssAdapter, router: respx.Router) -> None:
    """A service id the adapter does not offer is refused without a call."""
    with pytest.raises(ContractError) as caught:
        await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.delete"))
    assert caught.value.slug == "unknown-service"
    assert not router.calls


@pytest.mark.parametrize("service", ["oss.nib.inquiry", "oss.license.status", "oss.license.issue"])
async def test_wrong_payload_type_is_a_contract_error(adapter: OssAdapter, router: respx.Router, service: str) -> None:
    """A payload of another service's model is refused without a call."""
    payload = UPDATE if service != "oss.license.status-update" else NIB_PAYLOAD
    with pytest.raises(ContractError):
        await adapter.execute(make_call(payload, service))
    assert not router.calls


async def test_past_deadline_sends_nothing(adapter: OssAdapter, router: respx.Router) -> None:
    """A call whose deadline has passed is transient, not sent, and touches nothing."""
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(make_call(UPDATE, "oss.license.status-update", left=-1.0))
    assert caught.value.sent is False
    assert not router.calls


KODE_FIXTURES = ["kode_400_nib_not_found", "kode_401", "kode_403", "kode_404", "kode_405", "kode_500", "kode_504"]


@pytest.mark.parametrize("name", KODE_FIXTURES)
@pytest.mark.parametrize("mirrored", [False, True], ids=["http-200", "http-status-mirrors-kode"])
async def test_every_kode_is_classified_then_recovers(
    adapter: OssAdapter, router: respx.Router, name: str, mirrored: bool
) -> None:
    """Each recorded kode raises its class, whatever the HTTP status says, without secrets; the next call succeeds."""
    code = name.split("_")[1]
    first = reply(name, int(code) if mirrored else 200)
    router.post(path("inqueryNIB")).mock(side_effect=[first, reply("inquiry_nib")])
    error = KODES[code].error
    assert error is not None
    with pytest.raises(error) as caught:
        await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry"))
    assert type(caught.value) is error and caught.value.code == code
    if isinstance(caught.value, AgencyRejected):
        assert caught.value.slug == DATA_NOT_FOUND
    assert_clean(caught.value)
    assert isinstance(await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry")), Completed)


TRANSIENT = [
    pytest.param(lambda: wire(503, headers={"retry-after": "30"}), id="503"),
    pytest.param(lambda: wire(429, b'{"message": "rate limit"}', {"content-type": "application/json"}), id="429"),
    pytest.param(lambda: wire(502, b"<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}), id="html"),
    pytest.param(lambda: wire(200, b'{"responinqueryNIB": {"kode": 200, "dataN'), id="truncated"),
    pytest.param(lambda: wire(200, b'{"responcheckNIB": {"kode": 200}}'), id="wrong-envelope"),
    pytest.param(lambda: httpx.ConnectError("refused"), id="connect-error"),
    pytest.param(lambda: httpx.ReadTimeout("slow"), id="read-timeout"),
]


@pytest.mark.parametrize("failure", TRANSIENT)
async def test_transient_failures_then_recovery(adapter: OssAdapter, router: respx.Router, failure: object) -> None:
    """Each transient failure is TransientAgencyError without secrets, and the same adapter then succeeds."""
    assert callable(failure)
    router.post(path("inqueryNIB")).mock(side_effect=[failure(), reply("inquiry_nib")])
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry"))
    assert caught.value.agency == "oss"
    assert_clean(caught.value)
    assert isinstance(await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry")), Completed)


UNREADABLE = [
    pytest.param(lambda: envelope("inqueryNIB", kode=200, keterangan="Sukses"), "dataNIB", id="no-dataNIB"),
    pytest.param(lambda: envelope("inqueryNIB", keterangan="Sukses"), "kode", id="no-kode"),
    pytest.param(lambda: envelope("inqueryNIB", kode=200, dataNIB={"nib": "9120001234562"}), "dataNIB.nib",
                 id="another-nib"),
]  # fmt: skip


@pytest.mark.parametrize(("failure", "field"), UNREADABLE)
async def test_an_unreadable_success_is_a_protocol_error_then_recovery(
    adapter: OssAdapter, router: respx.Router, failure: object, field: str
) -> None:
    """A well-formed reply the adapter cannot read is AgencyProtocolError naming method and field; then success."""
    assert callable(failure)
    router.post(path("inqueryNIB")).mock(side_effect=[failure(), reply("inquiry_nib")])
    with pytest.raises(AgencyProtocolError) as caught:
        await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry"))
    assert (caught.value.agency, caught.value.method, caught.value.field) == ("oss", "inqueryNIB", field)
    assert_clean(caught.value)
    assert "9120001234562" not in str(caught.value)
    assert isinstance(await adapter.execute(make_call(NIB_PAYLOAD, "oss.nib.inquiry")), Completed)


async def test_a_missing_required_field_is_refused_data_naming_the_field(
    adapter: OssAdapter, router: respx.Router
) -> None:
    """OSS's 400 "parameter tidak ditemukan" with meta is invalid data (not "not found"), the fields named."""
    meta = [{"message": "id_produk is required", "field": "id_produk"}]
    router.post(path("receiveLicenseStatus")).mock(
        return_value=envelope("receiveLicenseStatus", kode=400, keterangan="parameter tidak ditemukan", meta=meta)
    )
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(make_call(UPDATE, "oss.license.status-update"))
    assert caught.value.slug == "oss-invalid-data"
    assert caught.value.detail.endswith("required and missing: id_produk")


async def test_rejected_status_update_names_missing_permit(adapter: OssAdapter, router: respx.Router) -> None:
    """A status update about a permit OSS does not know is rejected as data-not-found, final."""
    router.post(path("receiveLicenseStatus")).mock(return_value=reply("kode_400_permit_not_found"))
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(make_call(UPDATE, "oss.license.status-update"))
    assert caught.value.slug == DATA_NOT_FOUND


# -- reconcile ---------------------------------------------------------------------------------------------------


def _status(code: str) -> httpx.Response:
    data = {"nib": NIB, "id_proyek": ISSUE["project_id"], "id_izin": PERMIT_ID, "kd_status": code}
    return envelope("checkLicenseStatus", kode=200, keterangan="Sukses", dataIZIN=data)


async def test_reconcile_finds_an_applied_status_update(adapter: OssAdapter, router: respx.Router) -> None:
    """When OSS already shows the submitted status, reconcile completes it without resending, by reference."""
    route = router.post(path("checkLicenseStatus")).mock(return_value=_status("45"))
    outcome = await adapter.reconcile(make_call(UPDATE, "oss.license.status-update"))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseStatusUpdateResult)
    assert outcome.agency_reference == PERMIT_ID
    request = route.calls.last.request
    assert orjson.loads(request.content) == {"CHECKLICENSESTATUS": {"id_izin": PERMIT_ID}}
    assert request.headers["x-mpp-reference"] == REFERENCE


async def test_reconcile_finds_an_issued_permit(adapter: OssAdapter, router: respx.Router) -> None:
    """A final permit whose status OSS shows is completed with the submitted number."""
    router.post(path("checkLicenseStatus")).mock(return_value=_status("50"))
    outcome = await adapter.reconcile(make_call(ISSUE_PAYLOAD, "oss.license.issue"))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseIssueResult)
    assert outcome.result.permit_number == ISSUE["permit_number"]


@pytest.mark.parametrize(
    "answer",
    [lambda: _status("20"), lambda: envelope("checkLicenseStatus", kode=400, keterangan="Data izin tidak ditemukan")],
    ids=["other-status", "permit-unknown"],
)
async def test_reconcile_answers_none_when_not_applied(
    adapter: OssAdapter, router: respx.Router, answer: object
) -> None:
    """Another status, or a permit OSS does not know, means the submission did not land: None, resend."""
    assert callable(answer)
    router.post(path("checkLicenseStatus")).mock(return_value=answer())
    assert await adapter.reconcile(make_call(UPDATE, "oss.license.status-update")) is None


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda: envelope("checkLicenseStatus", kode=500, keterangan="Gagal"), TransientAgencyError),
        (lambda: httpx.ConnectError("refused"), TransientAgencyError),
        (lambda: envelope("checkLicenseStatus", kode=401, keterangan="User akses tidak valid"), AgencyMisconfigured),
    ],
    ids=["kode-500", "unreachable", "kode-401"],
)
async def test_reconcile_that_cannot_tell_raises(
    adapter: OssAdapter, router: respx.Router, answer: object, error: type[Exception]
) -> None:
    """When OSS cannot be asked now, reconcile raises instead of guessing."""
    assert callable(answer)
    router.post(path("checkLicenseStatus")).mock(side_effect=[answer()])
    with pytest.raises(error):
        await adapter.reconcile(make_call(UPDATE, "oss.license.status-update"))


async def test_reconcile_of_a_lookup_is_none_without_a_call(adapter: OssAdapter, router: respx.Router) -> None:
    """Lookups are never ambiguous: reconcile says resend and asks nothing."""
    assert await adapter.reconcile(make_call(NIB_PAYLOAD, "oss.nib.inquiry")) is None
    assert not router.calls

