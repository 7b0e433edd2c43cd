"""adapters.oss.mapping and models: payload validation, the fields on the wire, and the results read back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from adapters import AgencyProtocolError
from adapters.oss import (
    LicenseIssuePayload,
    LicenseStatusUpdatePayload,
    NibInquiryResult,
    NibPayload,
)
from adapters.oss.mapping import (
    REQUIRED_FIELDS,
    issue_fields,
    issue_result,
    parse_check,
    parse_inquiry,
    parse_license_status,
    status_update_fields,
    status_update_result,
)
from tests import fixtures

from ._support import ISSUE, NIB, OSS_ID, PERMIT_CODE, PERMIT_ID, PROJECT_ID, STATUS_UPDATE, assert_clean


def _inner(name: str) -> dict[str, Any]:
    (inner,) = fixtures.load("oss", name).values()
    assert isinstance(inner, dict)
    return inner


def test_inquiry_maps_the_record_to_the_contract() -> None:
    """The recorded inqueryNIB reply becomes the English result, labels from the code lists."""
    result = parse_inquiry(_inner("inquiry_nib"), NIB)
    assert (result.nib, result.oss_id, result.company_name) == (NIB, OSS_ID, "PT SUMBER REJEKI TANI")
    assert (result.company_type_code, result.company_type) == ("26", "PT Perorangan")
    assert result.investment_status == "PMDN"
    assert (result.nib_status_code, result.nib_active) == ("01", True)
    assert result.nib_issued_on == dt.date(2024, 1, 15)
    assert result.business_scale == "micro"
    assert (result.bpjs_employer_number, result.wlkp_number) == ("24012345", "32730120240000123")
    assert result.npwp == "012345678901000"
    [person] = result.responsible_persons
    assert (person.name, person.position, person.identity_type) == ("SITI AMINAH", "DIREKTUR", "01")
    assert (person.identity_number, person.foreign) == ("3201014708900001", False)
    assert [(p.kbli, p.risk, p.risk_level, p.business_scale) for p in result.projects] == [
        ("01112", "R", "low", "micro"),
        ("56101", "MR", "medium-low", "micro"),
    ]
    [permit] = result.permits
    assert (permit.permit_id, permit.project_id, permit.permit_code) == (PERMIT_ID, PROJECT_ID, PERMIT_CODE)
    assert (permit.status_code, permit.status) == ("45", "requirements verified")
    assert (permit.permit_number, permit.issued_on) == (None, None)


def test_kbli_leading_zero_survives_numbers_and_json() -> None:
    """kbli sent as the number 1112 comes back as the string 01112, also after JSON serialisation."""
    result = parse_inquiry(_inner("inquiry_nib_typed_as_numbers"), NIB)
    assert [p.kbli for p in result.projects] == ["01112", "56101"]
    assert [p.risk for p in result.projects] == ["R", "MR"]
    dumped = result.model_dump(mode="json")
    assert dumped["projects"][0]["kbli"] == "01112"
    assert NibInquiryResult.model_validate(dumped) == result


def test_inquiry_leaves_out_shareholders_and_the_processor() -> None:
    """Shareholders and the NIB processor's birth date are not carried into the result."""
    dumped = str(parse_inquiry(_inner("inquiry_nib"), NIB).model_dump())
    assert "1990-08-07" not in dumped
    assert "pemegang" not in dumped and "50000000" not in dumped


def test_unknown_codes_keep_their_code_without_a_label() -> None:
    """A legal form, scale or status code the lists do not know is passed on as a code with no label."""
    inner = _inner("inquiry_nib")
    inner["dataNIB"] |= {"jenis_perseroan": "99", "skala_usaha": "07", "status_nib": "03"}
    inner["dataNIB"]["data_checklist"][0]["status_checklist"] = "77"
    result = parse_inquiry(inner, NIB)
    assert (result.company_type_code, result.company_type, result.business_scale) == ("99", None, None)
    assert (result.nib_status_code, result.nib_active) == ("03", False)
    assert (result.permits[0].status_code, result.permits[0].status) == ("77", None)


def test_odd_list_items_are_skipped_not_fatal() -> None:
    """Non-object rows and non-list sections are ignored rather than failing the whole record."""
    inner = _inner("inquiry_nib")
    inner["dataNIB"] |= {"penanggung_jwb": "", "data_checklist": None}
    inner["dataNIB"]["data_proyek"].append("x")
    result = parse_inquiry(inner, NIB)
    assert result.responsible_persons == [] and result.permits == []
    assert len(result.projects) == 2


BAD_REPLIES = [
    pytest.param({"kode": 200, "keterangan": "Sukses"}, NIB, id="no-dataNIB"),
    pytest.param({"kode": 200, "dataNIB": []}, NIB, id="dataNIB-not-an-object"),
    pytest.param({"kode": 200, "dataNIB": {"nib": "9120001234562"}}, NIB, id="another-nib"),
    pytest.param({"kode": 200, "dataNIB": {"nib": "12345"}}, "12345", id="out-of-shape"),
]


@pytest.mark.parametrize(("reply", "nib"), BAD_REPLIES)
def test_unusable_inquiry_replies_are_protocol_errors(reply: dict[str, Any], nib: str) -> None:
    """A success reply without usable data, or about another NIB, is a final protocol error and echoes nothing."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_inquiry(reply, nib)
    assert (caught.value.agency, caught.value.method) == ("oss", "inqueryNIB")
    assert caught.value.field.startswith("dataNIB")
    assert_clean(caught.value)
    assert "9120001234562" not in str(caught.value)


def test_check_maps_name_and_status() -> None:
    """checkNIB's reply becomes name, status code and the active flag."""
    result = parse_check(_inner("check_nib"), NIB)
    assert (result.nib, result.company_name, result.status_code, result.active) == (
        NIB, "PT SUMBER REJEKI TANI", "01", True
    )


def test_check_about_another_nib_is_a_protocol_error() -> None:
    """A checkNIB reply naming another NIB is not an answer: a protocol error on dataNIB.nib."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_check({"kode": 200, "dataNIB": {"nib": "9120001234562"}}, NIB)
    assert (caught.value.method, caught.value.field) == ("checkNIB", "dataNIB.nib")
    assert "9120001234562" not in str(caught.value)


@pytest.mark.parametrize(("name", "code", "label"), [
    ("check_license_status", "45", "requirements verified"),
    ("check_license_status_guide_key", "50", "approved"),
])
def test_license_status_maps_code_and_label(name: str, code: str, label: str) -> None:
    """checkLicenseStatus's dataIZIN becomes the status code and its English label, OSS's text left out."""
    result = parse_license_status(_inner(name), PERMIT_ID)
    assert (result.permit_id, result.nib, result.project_id) == (PERMIT_ID, NIB, PROJECT_ID)
    assert (result.status_code, result.status) == (code, label)
    assert "Izin" not in str(result.model_dump())


def test_license_status_without_dataizin_is_a_protocol_error() -> None:
    """A checkLicenseStatus success without dataIZIN is not an answer: a protocol error on dataIZIN."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_license_status({"kode": 200, "keterangan": "Sukses"}, PERMIT_ID)
    assert (caught.value.method, caught.value.field) == ("checkLicenseStatus", "dataIZIN")


def test_status_update_fields_are_the_izinstatus_object() -> None:
    """IZINSTATUS carries every field of the guide, id_produk empty, the time as YYYY-MM-DD HH:MM:SS in WIB."""
    payload = LicenseStatusUpdatePayload.model_validate(STATUS_UPDATE)
    assert status_update_fields(payload) == {
        "nib": NIB,
        "id_produk": "",
        "id_proyek": PROJECT_ID,
        "oss_id": OSS_ID,
        "id_izin": PERMIT_ID,
        "kd_izin": PERMIT_CODE,
        "kd_instansi": "032",
        "kd_status": "45",
        "tgl_status": "2024-01-20 10:15:00",
        "nip_status": "198703152010011002",
        "nama_status": "Budi Santoso",
        "keterangan": "Persyaratan lengkap",
    }


@pytest.mark.parametrize(
    ("given", "wire"),
    [
        ("2024-01-20T03:15:00Z", "2024-01-20 10:15:00"),
        ("2024-01-20T10:15:00", "2024-01-20 10:15:00"),
        ("2024-01-20T23:30:00+07:00", "2024-01-20 23:30:00"),
        ("2024-01-20T20:00:00+00:00", "2024-01-21 03:00:00"),
    ],
)
def test_status_time_goes_on_the_wire_in_jakarta_time(given: str, wire: str) -> None:
    """Aware times are converted to WIB (UTC+7); naive ones are taken as WIB already."""
    payload = LicenseStatusUpdatePayload.model_validate({**STATUS_UPDATE, "status_at": given})
    assert status_update_fields(payload)["tgl_status"] == wire
    assert status_update_result(payload).status_at.utcoffset() == dt.timedelta(hours=7)


def test_issue_fields_are_the_izinfinal_object() -> None:
    """IZINFINAL carries the permit and its signer, tgl_berlaku_izin empty without one; optional fields left out."""
    payload = LicenseIssuePayload.model_validate({k: v for k, v in ISSUE.items() if k != "valid_until"})
    fields = issue_fields(payload)
    assert fields == {
        "nib": NIB,
        "id_proyek": PROJECT_ID,
        "oss_id": OSS_ID,
        "id_izin": PERMIT_ID,
        "kd_izin": PERMIT_CODE,
        "kd_daerah": "3273000000",
        "nomor_izin": "503/0042/SS/DPMPTSP/2024",
        "tgl_terbit_izin": "2024-01-22",
        "tgl_berlaku_izin": "",
        "nama_ttd": "Rina Kartika",
        "nip_ttd": "197005121995032001",
        "jabatan_ttd": "Kepala DPMPTSP Kota Bandung",
        "status_izin": "50",
    }


def test_every_field_the_guide_requires_is_sent_even_without_a_value() -> None:
    """The least a counter may send still puts every required field of IZINSTATUS and IZINFINAL on the wire."""
    update = LicenseStatusUpdatePayload.model_validate({k: v for k, v in STATUS_UPDATE.items() if k != "note"})
    issue = LicenseIssuePayload.model_validate({k: v for k, v in ISSUE.items() if k != "valid_until"})
    sent = {"receiveLicenseStatus": status_update_fields(update), "receiveLicense": issue_fields(issue)}
    for method, fields in sent.items():
        assert set(REQUIRED_FIELDS[method]) <= set(fields), method
        assert all(isinstance(fields[name], str) for name in REQUIRED_FIELDS[method])
    assert (status_update_fields(update)["keterangan"], issue_fields(issue)["tgl_berlaku_izin"]) == ("", "")


def test_the_adapter_and_the_mock_read_the_same_required_fields() -> None:
    """The adapter's list of required fields is the mock's, method by method (both from the guide)."""
    from mocks.oss import REQUIRED_FIELDS as MOCK_REQUIRED

    assert {m: f for m, f in MOCK_REQUIRED.items() if m in REQUIRED_FIELDS} == dict(REQUIRED_FIELDS)


def test_issue_optional_fields_are_sent_when_given() -> None:
    """Validity, file link, remarks and permit type go on the wire under the guide's names."""
    extra = {"file_url": "https://perizinan.example.go.id/izin/42.pdf", "note": "Terbit", "permit_type": "02"}
    fields = issue_fields(LicenseIssuePayload.model_validate({**ISSUE, **extra}))
    assert (fields["tgl_berlaku_izin"], fields["file_izin"]) == ("2029-01-22", extra["file_url"])
    assert (fields["keterangan"], fields["jenis_perizinan"]) == ("Terbit", "02")


@pytest.mark.parametrize(
    ("reply", "number"),
    [
        ({"nomor_izin": "OSS/2024/000042"}, "OSS/2024/000042"),
        ({"nomor_izin": ""}, ISSUE["permit_number"]),
        (None, ISSUE["permit_number"]),
    ],
)
def test_issue_result_prefers_osss_number(reply: dict[str, Any] | None, number: str) -> None:
    """The result's permit number is the one OSS returned, else the one submitted."""
    result = issue_result(LicenseIssuePayload.model_validate(ISSUE), reply)
    assert result.permit_number == number
    assert (result.status_code, result.status) == ("50", "approved")


INVALID_STATUS_UPDATES = [
    pytest.param({"nib": "912000123456"}, "nib", id="nib-12-digits"),
    pytest.param({"nib": "91200012345AB"}, "nib", id="nib-letters"),
    pytest.param({"oss_id": OSS_ID[:-1]}, "oss_id", id="oss-id-24"),
    pytest.param({"permit_id": "I-20240116081045003001"}, "permit_id", id="permit-id-20-digits"),
    pytest.param({"permit_id": "R-202401160810450030019"}, "permit_id", id="permit-id-wrong-prefix"),
    pytest.param({"project_id": "I-202401150931220120008"}, "project_id", id="project-id-wrong-prefix"),
    pytest.param({"permit_code": "03200000001"}, "permit_code", id="kd-izin-11-digits"),
    pytest.param({"status_code": "99"}, "status_code", id="status-not-in-list"),
    pytest.param({"status_code": 45}, "status_code", id="status-as-number"),
    pytest.param({"agency_code": "ABCD"}, "agency_code", id="agency-code-4"),
    pytest.param({"officer_name": "Budi\x00"}, "officer_name", id="control-character"),
    pytest.param({"officer_name": "x" * 51}, "officer_name", id="name-too-long"),
    pytest.param({"status_at": "20-01-2024"}, "status_at", id="time-not-iso"),
    pytest.param({"extra": "x"}, "extra", id="unknown-field"),
]


@pytest.mark.parametrize(("change", "field"), INVALID_STATUS_UPDATES)
def test_status_update_payload_refuses_bad_formats(change: dict[str, Any], field: str) -> None:
    """Each format the guide fixes is enforced before anything is sent, naming the field."""
    with pytest.raises(ValidationError) as caught:
        LicenseStatusUpdatePayload.model_validate({**STATUS_UPDATE, **change})
    assert {str(error["loc"][0]) for error in caught.value.errors()} == {field}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"valid_until": "2024-01-21"}, None),
        ({"region_code": "3"}, "region_code"),
        ({"file_url": "ftp://x/y.pdf"}, "file_url"),
        ({"permit_type": "2"}, "permit_type"),
        ({"status_code": "00"}, "status_code"),
    ],
    ids=["valid-before-issue", "region-code-1-digit", "file-not-http", "permit-type-1-digit", "status-00"],
)
def test_issue_payload_refuses_bad_data(change: dict[str, Any], field: str | None) -> None:
    """A permit valid before its issue, or with malformed codes or links, is refused."""
    with pytest.raises(ValidationError) as caught:
        LicenseIssuePayload.model_validate({**ISSUE, **change})
    if field is not None:
        assert {str(error["loc"][0]) for error in caught.value.errors()} == {field}


@pytest.mark.parametrize("nib", ["", "912000123456", "91200012345678", "912000123456x"])
def test_nib_payload_needs_13_digits(nib: str) -> None:
    """An NIB lookup needs exactly 13 digits."""
    with pytest.raises(ValidationError):
        NibPayload.model_validate({"nib": nib})


def test_nib_payload_strips_whitespace() -> None:
    """Blanks around a pasted NIB are dropped."""
    assert NibPayload.model_validate({"nib": f" {NIB} "}).nib == NIB
