"""The OSS adapter against the OSS mock, which refuses bodies without a required field as OSS does."""

from __future__ import annotations

from adapters import Completed
from adapters.oss import LicenseIssuePayload, LicenseIssueResult, OssAdapter
from mocks import MockAgency
from mocks.oss import Business
from tests.integration.test_oss import adapter, business, call, issue, oss, oss_cluster, update

__all__ = ["adapter", "business", "oss", "oss_cluster"]  # fixtures, imported for pytest


async def test_a_permit_without_an_end_date_is_issued(adapter: OssAdapter, oss: MockAgency, business: Business) -> None:
    """No valid_until: IZINFINAL still carries tgl_berlaku_izin (as ""), so OSS accepts it and it completes."""
    payload = LicenseIssuePayload.model_validate(issue(business).model_dump() | {"valid_until": None})
    outcome = await adapter.execute(call(payload, "oss.license.issue", "req_01HNOENDDATE0000000000001"))
    assert isinstance(outcome, Completed) and isinstance(outcome.result, LicenseIssueResult)
    assert oss.control.deliveries.count(reference="req_01HNOENDDATE0000000000001") == 1


async def test_a_status_update_carries_id_produk_and_is_accepted(adapter: OssAdapter, business: Business) -> None:
    """IZINSTATUS carries id_produk (as ""), so OSS accepts the update instead of refusing a missing parameter."""
    outcome = await adapter.execute(call(update(business, "90"), "oss.license.status-update"))
    assert isinstance(outcome, Completed)
