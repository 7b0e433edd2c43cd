"""The OSS adapter against the OSS mock over real sockets: every service, a rejection, a delivery, reconcile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from adapters import AdapterContext, AgencyHttp, AgencyRejected, Call, Completed, TransientAgencyError
from adapters.oss import (
    LicenseIssuePayload,
    LicenseIssueResult,
    LicenseStatusPayload,
    LicenseStatusResult,
    LicenseStatusUpdatePayload,
    NibCheckResult,
    NibInquiryResult,
    NibPayload,
    OssAdapter,
)
from adapters.oss.errors import DATA_NOT_FOUND, INVALID_DATA
from gateway import build_transport
from mocks import MockAgency, MockCluster, start_mocks
from mocks.oss import Business, businesses
from tests.fakes import KEY_A
from tests.integration.conftest import start_gateway

WAIT = {"Prefer": "wait=10"}


@pytest.fixture
async def oss_cluster() -> AsyncIterator[MockCluster]:
    """The OSS mock on a free loopback port."""
    async with await start_mocks("127.0.0.1", {"oss": 0}) as running:
        yield running


@pytest.fixture
def oss(oss_cluster: MockCluster) -> MockAgency:
    """The running OSS mock."""
    return oss_cluster.agencies["oss"]


@pytest.fixture
async def adapter(oss: MockAgency) -> AsyncIterator[OssAdapter]:
    """The adapter on the real outbound transport, configured with exactly the cluster's settings."""
    transport = build_transport()
    http = AgencyHttp(transport, agency="oss", base_url=oss.settings["base_url"], timeout=5)
    try:
        yield OssAdapter(AdapterContext(http=http, settings=oss.settings))
    finally:
        await transport.aclose()


@pytest.fixture
def business(oss_cluster: MockCluster) -> Business:
    """A registered business with a permit whose project KBLI is known."""
    return next(b for b in businesses(oss_cluster.population) if b.permits)


def call(payload: BaseModel, service: str, reference: str = "req_01HINTEGRATIONOSS00000001") -> Call:
    return Call(reference, service, "3273014708900001", payload, reference, 1, time.monotonic() + 10)


def update(b: Business, status: str = "45") -> LicenseStatusUpdatePayload:
    permit = b.permits[0]
    return LicenseStatusUpdatePayload.model_validate({
        "nib": b.nib, "project_id": permit.id_proyek, "oss_id": b.oss_id, "permit_id": permit.id_izin,
        "permit_code": permit.kd_izin, "agency_code": "032", "status_code": status,
        "status_at": "2026-01-05T10:00:00+07:00", "officer_nip": "198703152010011002", "officer_name": "Budi Santoso",
    })


def issue(b: Business) -> LicenseIssuePayload:
    permit = b.permits[0]
    return LicenseIssuePayload.model_validate({
        "nib": b.nib, "project_id": permit.id_proyek, "oss_id": b.oss_id, "permit_id": permit.id_izin,
        "permit_code": permit.kd_izin, "region_code": permit.kd_daerah, "permit_number": "503/0042/SS/2026",
        "issued_on": "2026-01-06", "valid_until": "2031-01-06", "signer_name": "Rina Kartika",
        "signer_nip": "197005121995032001", "signer_position": "Kepala DPMPTSP",
    })


async def test_inquiry_returns_the_record_with_kbli_strings(adapter: OssAdapter, business: Business) -> None:
    """oss.nib.inquiry reads the mock's record: owner, projects with five-character KBLI, permits."""
    outcome = await adapter.execute(call(NibPayload(nib=business.nib), "oss.nib.inquiry"))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, NibInquiryResult)
    result = outcome.result
    assert (result.nib, result.oss_id, result.company_name) == (business.nib, business.oss_id, business.nama_perseroan)
    assert result.responsible_persons[0].identity_number == business.owner.nik
    assert [p.kbli for p in result.projects] == [p.kbli for p in business.projects]
    assert [p.risk for p in result.projects] == [p.risk for p in business.projects]
    assert [p.permit_id for p in result.permits] == [p.id_izin for p in business.permits]


async def test_leading_zero_kbli_survives_the_round_trip(adapter: OssAdapter, oss_cluster: MockCluster) -> None:
    """A business under KBLI 01112 comes back with the string 01112, not 1112."""
    farmer = next(b for b in businesses(oss_cluster.population) if any(p.kbli == "01112" for p in b.projects))
    outcome = await adapter.execute(call(NibPayload(nib=farmer.nib), "oss.nib.inquiry"))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, NibInquiryResult)
    assert "01112" in [p.kbli for p in outcome.result.projects]


async def test_check_and_license_status(adapter: OssAdapter, business: Business) -> None:
    """oss.nib.check and oss.license.status answer about the same business and permit."""
    check = await adapter.execute(call(NibPayload(nib=business.nib), "oss.nib.check"))
    assert isinstance(check, Completed) and isinstance(check.result, NibCheckResult)
    assert check.result.active is (business.status_nib == "01")
    permit = business.permits[0]
    status = await adapter.execute(call(LicenseStatusPayload(permit_id=permit.id_izin), "oss.license.status"))
    assert isinstance(status, Completed) and isinstance(status.result, LicenseStatusResult)
    assert (status.result.status_code, status.result.nib) == (permit.status, business.nib)


async def test_unknown_nib_is_rejected_not_found(adapter: OssAdapter, oss: MockAgency) -> None:
    """An NIB OSS does not hold is a final rejection, oss-data-not-found, with kode 400."""
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(call(NibPayload(nib="8000000000000"), "oss.nib.inquiry"))
    assert (caught.value.slug, caught.value.code) == (DATA_NOT_FOUND, "400")


async def test_status_update_is_delivered_once_under_its_reference(
    adapter: OssAdapter, oss: MockAgency, business: Business
) -> None:
    """A status update reaches OSS once, counted under the call's reference, and OSS shows the new status."""
    reference = "req_01HDELIVEREDONCE000000001"
    outcome = await adapter.execute(call(update(business, "90"), "oss.license.status-update", reference))
    assert isinstance(outcome, Completed) and outcome.agency_reference == business.permits[0].id_izin
    assert oss.control.deliveries.count(reference=reference) == 1
    assert oss.control.deliveries.count("receiveLicenseStatus") == 1
    lookup = LicenseStatusPayload(permit_id=business.permits[0].id_izin)
    status = await adapter.execute(call(lookup, "oss.license.status"))
    assert isinstance(status, Completed) and isinstance(status.result, LicenseStatusResult)
    assert status.result.status_code == "90"


async def test_inconsistent_update_is_rejected_invalid(adapter: OssAdapter, business: Business) -> None:
    """An update naming another business's NIB for the permit is refused as invalid data."""
    wrong = update(business).model_copy(update={"nib": "8000000000000"})
    with pytest.raises(AgencyRejected) as caught:
        await adapter.execute(call(wrong, "oss.license.status-update"))
    assert caught.value.slug == INVALID_DATA


async def test_final_permit_is_issued(adapter: OssAdapter, oss: MockAgency, business: Business) -> None:
    """oss.license.issue delivers the permit once and completes with its number."""
    outcome = await adapter.execute(call(issue(business), "oss.license.issue", "req_01HISSUEONCE0000000000001"))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseIssueResult)
    assert outcome.result.permit_number == "503/0042/SS/2026"
    assert oss.control.deliveries.count(reference="req_01HISSUEONCE0000000000001") == 1


async def test_reconcile_finds_an_update_that_landed_without_an_answer(
    adapter: OssAdapter, oss: MockAgency, business: Business
) -> None:
    """The update lands but the connection drops; reconcile sees it in OSS and completes without resending."""
    oss.control.faults.configure({"reset_rate": 1.0, "drop_after_processing": True})
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(call(update(business, "50"), "oss.license.status-update"))
    assert caught.value.sent is True
    oss.control.faults.reset()
    assert oss.control.deliveries.count("receiveLicenseStatus") == 1
    outcome = await adapter.reconcile(call(update(business, "50"), "oss.license.status-update"))
    assert isinstance(outcome, Completed) and outcome.agency_reference == business.permits[0].id_izin
    assert oss.control.deliveries.count("receiveLicenseStatus") == 1


async def test_reconcile_says_resend_when_nothing_landed(adapter: OssAdapter, business: Business) -> None:
    """When OSS still shows the old status, reconcile answers None: the gateway may send again."""
    assert await adapter.reconcile(call(update(business, "50"), "oss.license.status-update")) is None


async def test_through_the_gateway_a_submission_reaches_oss_once(
    oss_cluster: MockCluster, oss: MockAgency, business: Business, tmp_path: Path
) -> None:
    """POST /v1/requests with oss.license.status-update completes, delivered once under the request's id."""
    server = await start_gateway(oss_cluster, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {KEY_A}", "Idempotency-Key": "oss-status-update-1"}
        async with httpx.AsyncClient(base_url=str(server.make_url("")), headers=headers) as http:
            body: dict[str, Any] = {
                "service": "oss.license.status-update",
                "applicant": {"nik": business.owner.nik},
                "counter": {"mpp_id": "mpp-a", "desk": "loket-05", "operator": "op-3"},
                "payload": update(business, "45").model_dump(mode="json"),
            }
            resp = await http.post("/v1/requests", json=body, headers=WAIT, timeout=20)
            record = resp.json()
            assert record["status"] == "completed", record
            assert record["agency_reference"] == business.permits[0].id_izin
            assert oss.control.deliveries.count(reference=record["id"]) == 1
            assert oss.control.deliveries.count("receiveLicenseStatus") == 1
    finally:
        await server.close()


async def test_through_the_gateway_a_lost_answer_is_reconciled_not_resent(
    oss_cluster: MockCluster, oss: MockAgency, business: Business, tmp_path: Path
) -> None:
    """OSS applies the update but the answer is lost; the gateway reconciles and completes with one delivery."""
    server = await start_gateway(oss_cluster, tmp_path)
    oss.control.faults.configure({"reset_rate": 1.0, "drop_after_processing": True})
    try:
        headers = {"Authorization": f"Bearer {KEY_A}", "Idempotency-Key": "oss-status-update-lost"}
        async with httpx.AsyncClient(base_url=str(server.make_url("")), headers=headers, timeout=20) as http:
            body: dict[str, Any] = {
                "service": "oss.license.status-update",
                "applicant": {"nik": business.owner.nik},
                "counter": {"mpp_id": "mpp-a", "desk": "loket-05", "operator": "op-3"},
                "payload": update(business, "57").model_dump(mode="json"),
            }
            location = (await http.post("/v1/requests", json=body)).headers["Location"]
            for _ in range(500):
                if oss.control.deliveries.count("receiveLicenseStatus"):
                    break
                await asyncio.sleep(0.01)
            oss.control.faults.reset()  # the link heals before the gateway's next attempt
            for _ in range(500):
                record = (await http.get(location)).json()
                if record["status"] in {"completed", "rejected", "failed"}:
                    break
                await asyncio.sleep(0.02)
    finally:
        await server.close()
    assert record["status"] == "completed", record
    assert oss.control.deliveries.count("receiveLicenseStatus") == 1
    assert oss.control.deliveries.count(reference=record["id"]) == 1
