"""Wire <-> contract for OSS RBA: the fields each method sends, and the results read back from the replies.

Decisions the guide leaves open, and why:

- Empty strings are OSS's "no value" (its examples send ``""`` for everything absent): they become ``None``.
- ``kbli`` is a five-character string in every result. The guide types it as a number in places, so a number
  (or digits that lost a leading zero) is padded back: every KBLI 2020 code has five digits.
- ``skala_resiko`` is read as ``R``/``MR``/``MT``/``T`` or their Indonesian names; anything else is ``None``.
- The inquiry's result carries the responsible persons (names and identity numbers): the counter needs them to
  see whether the applicant may act for the business, so the service is marked ``personal_data`` and needs
  consent. Shareholders, the NIB processor's own details and addresses are left out: nothing at a counter needs
  them, and what is not returned cannot leak.
- ``tgl_status`` goes on the wire as ``YYYY-MM-DD HH:MM:SS`` in Jakarta time (WIB, UTC+7); a time given without
  an offset is taken as Jakarta time already.
- Every field the guide marks required (its field lists: a name without ``[brackets]``) is sent, as ``""`` when
  there is no value, as the guide's own examples send it: ``IZINSTATUS.id_produk`` (the contract carries no
  product id, so always ``""``) and ``IZINFINAL.tgl_berlaku_izin`` (``""`` for a permit without an end date). OSS
  refuses a request that leaves one out with kode 400. Optional ``IZINFINAL`` fields are left out rather than sent
  as ``""``. :data:`REQUIRED_FIELDS` is the guide's list per method, checked by the tests against what is sent.
- A kode-200 reply that is not about what we asked (another NIB, another permit), lacks its data object, or holds
  data out of shape is one the adapter cannot read: :class:`~adapters.AgencyProtocolError`, final, naming the
  method and the field, never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from adapters import AgencyProtocolError

from . import codes
from .models import (
    LicenseIssuePayload,
    LicenseIssueResult,
    LicenseStatusResult,
    LicenseStatusUpdatePayload,
    LicenseStatusUpdateResult,
    NibCheckResult,
    NibInquiryResult,
    PermitRef,
)

__all__ = [
    "CHECK_LICENSE_STATUS",
    "CHECK_NIB",
    "INQUIRY_NIB",
    "JAKARTA",
    "RECEIVE_LICENSE",
    "RECEIVE_LICENSE_STATUS",
    "REQUIRED_FIELDS",
    "WireMethod",
    "issue_fields",
    "issue_result",
    "parse_check",
    "parse_inquiry",
    "parse_license_status",
    "status_update_fields",
    "status_update_result",
]

M = TypeVar("M", bound=BaseModel)

AGENCY = "oss"
JAKARTA = dt.timezone(dt.timedelta(hours=7), "WIB")


class WireMethod(NamedTuple):
    """An OSS method and the key its body is wrapped in."""

    name: str
    wrapper: str


INQUIRY_NIB = WireMethod("inqueryNIB", "INQUERYNIB")
CHECK_NIB = WireMethod("checkNIB", "CHECKNIB")
CHECK_LICENSE_STATUS = WireMethod("checkLicenseStatus", "CHECKLICENSESTATUS")
RECEIVE_LICENSE_STATUS = WireMethod("receiveLicenseStatus", "IZINSTATUS")
RECEIVE_LICENSE = WireMethod("receiveLicense", "IZINFINAL")

REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    INQUIRY_NIB.name: ("nib",),
    CHECK_NIB.name: ("nib",),
    CHECK_LICENSE_STATUS.name: ("id_izin",),
    RECEIVE_LICENSE_STATUS.name: (
        "nib", "id_produk", "id_proyek", "oss_id", "id_izin", "kd_izin", "kd_instansi", "kd_status", "tgl_status",
        "nip_status", "nama_status", "keterangan",
    ),
    RECEIVE_LICENSE.name: (
        "nib", "id_proyek", "oss_id", "id_izin", "kd_izin", "kd_daerah", "nomor_izin", "tgl_terbit_izin",
        "tgl_berlaku_izin", "nama_ttd", "nip_ttd", "jabatan_ttd", "status_izin",
    ),
}  # fmt: skip
"""The fields the PIA OSS RBA guide (v4.3.22) marks required in each method's body, in the guide's order."""


def _jakarta(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=JAKARTA) if moment.tzinfo is None else moment.astimezone(JAKARTA)


def _ids(payload: PermitRef) -> dict[str, str]:
    return {
        "nib": payload.nib,
        "id_proyek": payload.project_id,
        "oss_id": payload.oss_id,
        "id_izin": payload.permit_id,
        "kd_izin": payload.permit_code,
    }


def status_update_fields(payload: LicenseStatusUpdatePayload) -> dict[str, str]:
    """The ``IZINSTATUS`` object for ``payload``: every required field, ``id_produk`` empty (we hold none)."""
    ids = _ids(payload)
    return {
        "nib": ids.pop("nib"),
        "id_produk": "",
        **ids,
        "kd_instansi": payload.agency_code,
        "kd_status": payload.status_code,
        "tgl_status": f"{_jakarta(payload.status_at):%Y-%m-%d %H:%M:%S}",
        "nip_status": payload.officer_nip,
        "nama_status": payload.officer_name,
        "keterangan": payload.note,
    }


def issue_fields(payload: LicenseIssuePayload) -> dict[str, str]:
    """The ``IZINFINAL`` object for ``payload``: every required field (``tgl_berlaku_izin`` ``""`` for a permit
    without an end date); optional fields are left out rather than sent empty."""
    fields = {
        **_ids(payload),
        "kd_daerah": payload.region_code,
        "nomor_izin": payload.permit_number,
        "tgl_terbit_izin": payload.issued_on.isoformat(),
        "tgl_berlaku_izin": payload.valid_until.isoformat() if payload.valid_until else "",
        "nama_ttd": payload.signer_name,
        "nip_ttd": payload.signer_nip,
        "jabatan_ttd": payload.signer_position,
        "status_izin": payload.status_code,
    }
    optional = {
        "file_izin": payload.file_url,
        "keterangan": payload.note,
        "jenis_perizinan": payload.permit_type,
    }
    return fields | {key: value for key, value in optional.items() if value is not None}


def _value(raw: Any) -> str | None:
    """A wire value as trimmed text; ``""``, ``null`` and non-scalars are no value."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | float):
        return str(raw)
    if isinstance(raw, str):
        return raw.strip() or None
    return None


def _date(raw: Any) -> dt.date | None:
    text = _value(raw)
    try:
        return dt.date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _flag(raw: Any) -> bool | None:
    text = (_value(raw) or "").upper()
    return {"Y": True, "N": False}.get(text)


def _rows(raw: Any) -> list[Mapping[str, Any]]:
    return [row for row in raw if isinstance(row, Mapping)] if isinstance(raw, list) else []


def _data(reply: Mapping[str, Any], key: str, method: str) -> Mapping[str, Any]:
    data = reply.get(key)
    if not isinstance(data, Mapping):
        raise AgencyProtocolError(
            agency=AGENCY, method=method, field=key, detail=f"OSS answered {method} with kode 200 but no {key} object"
        )
    return data


def _same(expected: str, got: Any, method: str, key: str) -> None:
    if _value(got) != expected:
        raise AgencyProtocolError(
            agency=AGENCY, method=method, field=key, detail=f"OSS answered {method} about another record ({key})"
        )


def _build(model: type[M], values: dict[str, Any], method: str, key: str) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        # The result model's field path: names only (``loc`` holds no input, unlike the message).
        field = ".".join([key, *(str(part) for part in exc.errors()[0]["loc"])]) if exc.errors() else key
    # Raised outside the ``except``: the validation error quotes the values, and an NIB record names people.
    raise AgencyProtocolError(agency=AGENCY, method=method, field=field)


def _project(row: Mapping[str, Any]) -> dict[str, Any]:
    scale = _value(row.get("skala_usaha"))
    risk = codes.normalise_risk(row.get("skala_resiko"))
    return {
        "project_id": _value(row.get("id_proyek")),
        "kbli": codes.normalise_kbli(row.get("kbli")),
        "description": _value(row.get("uraian_usaha")),
        "business_scale": codes.BUSINESS_SCALES.get(scale or ""),
        "risk": risk,
        "risk_level": codes.RISK_LEVELS.get(risk or ""),
    }


def _permit(row: Mapping[str, Any]) -> dict[str, Any]:
    status = _value(row.get("status_checklist"))
    return {
        "permit_id": _value(row.get("id_izin")),
        "project_id": _value(row.get("id_proyek")),
        "permit_code": _value(row.get("kd_izin")),
        "name": _value(row.get("nama_izin")),
        "issuing_agency": _value(row.get("instansi")),
        "checklist_flag": _value(row.get("flag_checklist")),
        "status_code": status,
        "status": codes.PERMIT_STATUSES.get(status or ""),
        "permit_number": _value(row.get("no_izin")),
        "issued_on": _date(row.get("tgl_izin")),
    }


def _person(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": _value(row.get("nama_penanggung_jwb")),
        "position": _value(row.get("jabatan_penanggung_jwb")),
        "identity_type": _value(row.get("jns_identitas_penanggung_jwb")),
        "identity_number": _value(row.get("no_identitas_penanggung_jwb")),
        "foreign": _flag(row.get("flag_asing")),
    }


def parse_inquiry(reply: Mapping[str, Any], nib: str) -> NibInquiryResult:
    """The result of an ``inqueryNIB`` success reply about ``nib``."""
    data = _data(reply, "dataNIB", INQUIRY_NIB.name)
    _same(nib, data.get("nib"), INQUIRY_NIB.name, "dataNIB.nib")
    company_type = _value(data.get("jenis_perseroan"))
    investment = _value(data.get("status_penanaman_modal"))
    status = _value(data.get("status_nib"))
    values = {
        "nib": nib,
        "oss_id": _value(data.get("oss_id")),
        "company_name": _value(data.get("nama_perseroan")),
        "npwp": _value(data.get("npwp_perseroan")),
        "company_type_code": company_type,
        "company_type": codes.COMPANY_TYPES.get(company_type or ""),
        "investment_status": codes.INVESTMENT_STATUSES.get(investment or ""),
        "nib_status_code": status,
        "nib_active": status == codes.NIB_ACTIVE,
        "nib_issued_on": _date(data.get("tgl_terbit_nib")),
        "business_scale": codes.BUSINESS_SCALES.get(_value(data.get("skala_usaha")) or ""),
        "bpjs_employer_number": _value(data.get("no_npp")),
        "wlkp_number": _value(data.get("no_wlkp")),
        "responsible_persons": [_person(row) for row in _rows(data.get("penanggung_jwb"))],
        "projects": [_project(row) for row in _rows(data.get("data_proyek"))],
        "permits": [_permit(row) for row in _rows(data.get("data_checklist"))],
    }
    return _build(NibInquiryResult, values, INQUIRY_NIB.name, "dataNIB")


def parse_check(reply: Mapping[str, Any], nib: str) -> NibCheckResult:
    """The result of a ``checkNIB`` success reply about ``nib``."""
    data = _data(reply, "dataNIB", CHECK_NIB.name)
    _same(nib, data.get("nib"), CHECK_NIB.name, "dataNIB.nib")
    status = _value(data.get("status"))
    values = {
        "nib": nib,
        "company_name": _value(data.get("nama_perusahaan")),
        "status_code": status,
        "active": status == codes.NIB_ACTIVE,
    }
    return _build(NibCheckResult, values, CHECK_NIB.name, "dataNIB")


def parse_license_status(reply: Mapping[str, Any], permit_id: str) -> LicenseStatusResult:
    """The result of a ``checkLicenseStatus`` success reply about ``permit_id``."""
    data = _data(reply, "dataIZIN", CHECK_LICENSE_STATUS.name)
    _same(permit_id, data.get("id_izin"), CHECK_LICENSE_STATUS.name, "dataIZIN.id_izin")
    status = _value(data.get("kd_status"))
    values = {
        "permit_id": permit_id,
        "nib": _value(data.get("nib")),
        "project_id": _value(data.get("id_proyek")),
        "status_code": status,
        "status": codes.PERMIT_STATUSES.get(status or ""),
    }
    return _build(LicenseStatusResult, values, CHECK_LICENSE_STATUS.name, "dataIZIN")


def status_update_result(payload: LicenseStatusUpdatePayload) -> LicenseStatusUpdateResult:
    """The result of an accepted status update (OSS's reply carries nothing but the kode)."""
    return LicenseStatusUpdateResult(
        permit_id=payload.permit_id,
        status_code=payload.status_code,
        status=codes.PERMIT_STATUSES[payload.status_code],
        status_at=_jakarta(payload.status_at),
    )


def issue_result(payload: LicenseIssuePayload, reply: Mapping[str, Any] | None = None) -> LicenseIssueResult:
    """The result of an accepted final permit; OSS's ``nomor_izin`` wins over ours when it sends one."""
    number = _value(reply.get("nomor_izin")) if reply is not None else None
    return LicenseIssueResult(
        permit_id=payload.permit_id,
        permit_number=(number or payload.permit_number)[:50],
        status_code=payload.status_code,
        status=codes.PERMIT_STATUSES[payload.status_code],
    )
