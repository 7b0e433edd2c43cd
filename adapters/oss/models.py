"""The OSS services' payload and result models: the contract counters see, in English, validated strictly.

Identifiers and code lists come from :mod:`.codes`; wire field names are given in each description so that an
integrator can find them in the OSS guide. Fields about people carry ``x-personal-data`` in their schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from .codes import Kbli, Nib, OssId, PermitCode, PermitId, PermitStatusCode, ProjectId, RegionCode, RiskCode

__all__ = [
    "ChecklistPermit",
    "LicenseIssuePayload",
    "LicenseIssueResult",
    "LicenseStatusPayload",
    "LicenseStatusResult",
    "LicenseStatusUpdatePayload",
    "LicenseStatusUpdateResult",
    "NibCheckResult",
    "NibInquiryResult",
    "NibPayload",
    "PermitRef",
    "Project",
    "ResponsiblePerson",
]

_MODEL = ConfigDict(extra="forbid", frozen=True)
_PERSONAL: JsonDict = {"x-personal-data": True}
# Control characters have no place in names or numbers, and would reach OSS's records verbatim.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _text(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length, pattern=_PRINTABLE)


Scale = Literal["micro", "small", "medium", "large"]
RiskLevel = Literal["low", "medium-low", "medium-high", "high"]
AgencyCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z]{1,3}$")]
PermitType = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{2,3}$")]
FileUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s]+$")]


# -- payloads ----------------------------------------------------------------------------------------------------


class NibPayload(BaseModel):
    """An NIB to look up."""

    model_config = _MODEL

    nib: Nib = Field(description="Nomor Induk Berusaha, 13 digits (nib).")


class LicenseStatusPayload(BaseModel):
    """A permit to look up."""

    model_config = _MODEL

    permit_id: PermitId = Field(description="OSS permit id, 'I-' and 21 digits (id_izin).")


class PermitRef(BaseModel):
    """The identifiers every permit submission repeats, so OSS can check they belong together."""

    model_config = _MODEL

    nib: Nib = Field(description="The business's NIB (nib).")
    project_id: ProjectId = Field(description="OSS project id, 'R-' and 21 digits (id_proyek).")
    oss_id: OssId = Field(description="The OSS id of the NIB application, 25 characters (oss_id).")
    permit_id: PermitId = Field(description="OSS permit id, 'I-' and 21 digits (id_izin).")
    permit_code: PermitCode = Field(description="The permit type's code at the issuing agency, 12 digits (kd_izin).")


class LicenseStatusUpdatePayload(PermitRef):
    """A permit's new processing status, sent to OSS (receiveLicenseStatus)."""

    agency_code: AgencyCode = Field(description="Code of the agency that processes the permit (kd_instansi).")
    status_code: PermitStatusCode = Field(description="The new permit status (kd_status).")
    status_at: dt.datetime = Field(description="When the status was set; without an offset, Jakarta time.")
    officer_nip: Annotated[str, _text(50)] = Field(description="NIP of the officer who set it (nip_status).")
    officer_name: Annotated[str, _text(50)] = Field(
        description="Name of the officer who set it (nama_status).", json_schema_extra=_PERSONAL
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = Field(
        default="", description="Remarks for the business (keterangan)."
    )


class LicenseIssuePayload(PermitRef):
    """A final permit, sent to OSS (receiveLicense)."""

    region_code: RegionCode = Field(description="Permendagri code of the permit's region (kd_daerah).")
    permit_number: Annotated[str, _text(50)] = Field(description="The permit's number (nomor_izin).")
    issued_on: dt.date = Field(description="Date of issue (tgl_terbit_izin).")
    valid_until: dt.date | None = Field(default=None, description="Last day of validity (tgl_berlaku_izin).")
    signer_name: Annotated[str, _text(50)] = Field(
        description="Name of the signing official (nama_ttd).", json_schema_extra=_PERSONAL
    )
    signer_nip: Annotated[str, _text(25)] = Field(description="NIP of the signing official (nip_ttd).")
    signer_position: Annotated[str, _text(150)] = Field(description="Position of the signing official (jabatan_ttd).")
    status_code: PermitStatusCode = Field(default="50", description="The permit's status in OSS (status_izin).")
    file_url: FileUrl | None = Field(default=None, description="Link to the signed permit PDF (file_izin).")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] | None = Field(
        default=None, description="Remarks (keterangan)."
    )
    permit_type: PermitType | None = Field(default=None, description="Permit type, Lampiran 27 (jenis_perizinan).")

    @model_validator(mode="after")
    def _validity_after_issue(self) -> LicenseIssuePayload:
        if self.valid_until is not None and self.valid_until < self.issued_on:
            raise ValueError("valid_until must not be before issued_on")
        return self


# -- results -----------------------------------------------------------------------------------------------------


class ResponsiblePerson(BaseModel):
    """A person responsible for the business (penanggung_jwb)."""

    model_config = _MODEL

    name: str | None = Field(description="Full name.", json_schema_extra=_PERSONAL)
    position: str | None = Field(description="Position in the business, e.g. DIREKTUR.")
    identity_type: str | None = Field(description="Identity document type code, Lampiran 4 (01: KTP).")
    identity_number: str | None = Field(description="Identity number (NIK for a KTP).", json_schema_extra=_PERSONAL)
    foreign: bool | None = Field(description="A foreign national (flag_asing).")


class Project(BaseModel):
    """One business activity (data_proyek)."""

    model_config = _MODEL

    project_id: str | None = Field(description="OSS project id (id_proyek).")
    kbli: Kbli | None = Field(description="KBLI 2020 code, five characters, leading zeros kept.")
    description: str | None = Field(description="The activity as registered (uraian_usaha).")
    business_scale: Scale | None = Field(description="Business scale (skala_usaha).")
    risk: RiskCode | None = Field(description="Risk class: R, MR, MT or T (skala_resiko).")
    risk_level: RiskLevel | None = Field(description="The risk class in words.")


class ChecklistPermit(BaseModel):
    """A permit the business needs or holds (data_checklist)."""

    model_config = _MODEL

    permit_id: str | None = Field(description="OSS permit id (id_izin).")
    project_id: str | None = Field(description="The project it belongs to (id_proyek).")
    permit_code: str | None = Field(description="Permit type code (kd_izin).")
    name: str | None = Field(description="Permit name (nama_izin).")
    issuing_agency: str | None = Field(description="The agency that issues it (instansi).")
    checklist_flag: str | None = Field(description="Commitment checklist flag, Lampiran 28 (flag_checklist).")
    status_code: str | None = Field(description="Permit status code (status_checklist).")
    status: str | None = Field(description="The status in words, when the code is known.")
    permit_number: str | None = Field(description="Permit number once issued (no_izin).")
    issued_on: dt.date | None = Field(description="Date of issue (tgl_izin).")


class NibInquiryResult(BaseModel):
    """The NIB record as OSS holds it, in our terms."""

    model_config = _MODEL

    nib: Nib
    oss_id: str | None
    company_name: str | None = Field(description="Registered name (nama_perseroan).")
    npwp: str | None = Field(description="The business's tax number (npwp_perseroan).")
    company_type_code: str | None = Field(description="Legal form code, Lampiran 2 (jenis_perseroan).")
    company_type: str | None = Field(description="Legal form: PT, CV, PT Perorangan, BUM Desa, ...")
    investment_status: Literal["PMA", "PMDN"] | None = Field(description="Foreign or domestic investment.")
    nib_status_code: str | None = Field(description="NIB status code, Lampiran 14 (status_nib).")
    nib_active: bool = Field(description="The NIB is active (status 01).")
    nib_issued_on: dt.date | None = Field(description="Date the NIB was issued (tgl_terbit_nib).")
    business_scale: Scale | None = Field(description="The business's scale (skala_usaha).")
    bpjs_employer_number: str | None = Field(description="BPJS Ketenagakerjaan employer number (no_npp).")
    wlkp_number: str | None = Field(description="Mandatory manpower report number (no_wlkp).")
    responsible_persons: list[ResponsiblePerson]
    projects: list[Project]
    permits: list[ChecklistPermit]


class NibCheckResult(BaseModel):
    """Whether an NIB exists and is active."""

    model_config = _MODEL

    nib: Nib
    company_name: str | None = Field(description="Registered name (nama_perusahaan).")
    status_code: str | None = Field(description="NIB status code (status).")
    active: bool = Field(description="The NIB is active (status 01).")


class LicenseStatusResult(BaseModel):
    """A permit's current status in OSS."""

    model_config = _MODEL

    permit_id: PermitId
    nib: str | None
    project_id: str | None
    status_code: str | None = Field(description="Current permit status code (kd_status).")
    status: str | None = Field(description="The status in words, when the code is known.")


class LicenseStatusUpdateResult(BaseModel):
    """OSS accepted the status update."""

    model_config = _MODEL

    permit_id: PermitId
    status_code: PermitStatusCode
    status: str
    status_at: dt.datetime = Field(description="The status time as sent, in Jakarta time.")


class LicenseIssueResult(BaseModel):
    """OSS accepted the final permit."""

    model_config = _MODEL

    permit_id: PermitId
    permit_number: str = Field(description="The permit number OSS registered (its own if it returned one).")
    status_code: PermitStatusCode
    status: str
