"""Wire <-> contract for the modelled BPJS Ketenagakerjaan service: membership lookup, BPU registration, status.

THE WIRE FORMAT IS THE PROJECT'S OWN (no public partner API exists). The contract side is what counters see and
would stay if a real API appeared; the wire side (Indonesian keys, ``P1``..``P5`` income bands, ``628...`` phone
numbers) is what this adapter and ``mocks.bpjs_ketenagakerjaan`` agree on, and is all that would change.

Decisions, and why:

- The membership lookup returns the KPJ number, category, status, programmes and start date, and nothing else
  of the person (no name, no birth date): the counter needs to know whether to register the citizen, not who they
  are. It is still personal data (a membership number and an insurance status), so the service requires consent.
- Registration follows the BPU rules of Permenaker 5/2021: work-accident (JKK) and death (JKM) cover are
  mandatory, old-age savings (JHT) optional, the pension (JP) is for wage earners only. Refusing those here gives
  the counter a field-level error at once instead of an agency round trip.
- Income is declared as a band; the agency derives the contribution from the band's floor (shown in the result).
- A well-formed ``00`` envelope whose ``data`` the adapter cannot read, or that is about another reference than
  the one asked, is :class:`~adapters.AgencyProtocolError`: final (the same question gets the same reply), naming
  the path and the wire field (``data.kode_iuran``), never a value, with no exception chained to it: pydantic
  errors carry the input, and the input is a citizen's data. What is not the envelope at all (HTML, truncated
  JSON) stays transient, in :mod:`.client`. The registration itself turns a protocol error back into "sent,
  outcome unknown" (see :class:`~adapters.bpjs_ketenagakerjaan.BpjsKetenagakerjaanAdapter`): the agency may hold
  it, so it is reconciled, never failed blindly.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from adapters import AgencyProtocolError, ContractError

from .client import VERIFY_PATH, Reply
from .errors import NOT_A_PARTICIPANT

__all__ = [
    "INCOME_BANDS",
    "OCCUPATIONS",
    "REFERENCE_PATTERN",
    "Address",
    "MembershipPayload",
    "MembershipResult",
    "RegisterPayload",
    "RegistrationResult",
    "StatusPayload",
    "contract_fields",
    "parse_membership",
    "parse_registration",
    "register_body",
    "status_body",
    "verify_body",
]

AGENCY = "bpjs-ketenagakerjaan"
KPJ_PATTERN = r"^[0-9]{11}$"
REFERENCE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Programme = Literal["JHT", "JKK", "JKM", "JP"]
BpuProgramme = Literal["JHT", "JKK", "JKM"]
MembershipStatus = Literal["active", "inactive", "awaiting_first_payment"]
Occupation = Literal[
    "trader", "farmer", "fisher", "driver", "online_driver", "craftsperson", "construction_worker",
    "domestic_worker", "freelancer", "other",
]
IncomeBand = Literal["below_2m", "2m_to_3m", "3m_to_5m", "5m_to_10m", "10m_and_above"]

#: Our occupation -> the wire's BPU occupation code.
OCCUPATIONS: Mapping[str, str] = {
    "trader": "PEDAGANG",
    "farmer": "PETANI",
    "fisher": "NELAYAN",
    "driver": "PENGEMUDI",
    "online_driver": "PENGEMUDI_DARING",
    "craftsperson": "PENGRAJIN",
    "construction_worker": "TUKANG",
    "domestic_worker": "PEKERJA_RUMAH_TANGGA",
    "freelancer": "PEKERJA_LEPAS",
    "other": "LAINNYA",
}
#: Our income band -> the wire's band code.
INCOME_BANDS: Mapping[str, str] = {
    "below_2m": "P1",
    "2m_to_3m": "P2",
    "3m_to_5m": "P3",
    "5m_to_10m": "P4",
    "10m_and_above": "P5",
}
_STATUS: Mapping[str, MembershipStatus] = {
    "AKTIF": "active",
    "NONAKTIF": "inactive",
    "MENUNGGU_IURAN_PERTAMA": "awaiting_first_payment",
}
_CATEGORY: Mapping[str, Literal["wage_earner", "non_wage_earner"]] = {"PU": "wage_earner", "BPU": "non_wage_earner"}
# Wire field -> contract field path, for naming what the agency refused (code 30).
_FIELD_PATHS = {
    "nik": "applicant.nik",
    "pekerjaan": "occupation",
    "penghasilan": "monthly_income",
    "program": "programmes",
    "no_hp": "phone",
    "email": "email",
    "alamat": "address",
    "alamat.jalan": "address.street",
    "alamat.rt": "address.rt",
    "alamat.rw": "address.rw",
    "alamat.kelurahan": "address.village",
    "alamat.kecamatan": "address.district",
    "alamat.kabupaten": "address.regency",
    "alamat.provinsi": "address.province",
    "alamat.kode_pos": "address.postal_code",
}

_M = TypeVar("_M", bound=BaseModel)
_PERSONAL: JsonDict = {"x-personal-data": True}
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_PHONE = re.compile(r"^(?:\+62|62|0)(8[1-9][0-9]{6,10})$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


def _text(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length, pattern=_PRINTABLE)


Place = Annotated[str, _text(60)]
Street = Annotated[str, _text(200)]
Neighbourhood = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{1,3}$")]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
]


class MembershipPayload(BaseModel):
    """Nothing: the lookup is about the applicant's NIK, which the request envelope carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MembershipResult(BaseModel):
    """Whether the applicant is a participant, and of what; no other personal data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    member: bool = Field(description="The NIK has a BPJS Ketenagakerjaan membership, active or not.")
    kpj: str | None = Field(
        default=None,
        pattern=KPJ_PATTERN,
        description="Membership number (KPJ), 11 digits.",
        json_schema_extra=_PERSONAL,
    )
    category: Literal["wage_earner", "non_wage_earner"] | None = Field(
        default=None, description="Wage earner (Penerima Upah, PU) or non-wage earner (Bukan Penerima Upah, BPU)."
    )
    status: MembershipStatus | None = Field(default=None, description="Membership status; null for a non-member.")
    programmes: list[Programme] = Field(
        default_factory=list,
        description="Programmes held: JHT old-age savings, JKK work accident, JKM death, JP pension.",
    )
    member_since: dt.date | None = Field(default=None, description="Start of the membership.")


class Address(BaseModel):
    """Where the worker lives and works (domicile, which may differ from the ID card's address)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    street: Street = Field(description="Street, number, building.", json_schema_extra=_PERSONAL)
    rt: Neighbourhood | None = Field(default=None, description="RT, 1-3 digits.", json_schema_extra=_PERSONAL)
    rw: Neighbourhood | None = Field(default=None, description="RW, 1-3 digits.", json_schema_extra=_PERSONAL)
    village: Place = Field(description="Village (kelurahan or desa).", json_schema_extra=_PERSONAL)
    district: Place = Field(description="District (kecamatan).", json_schema_extra=_PERSONAL)
    regency: Place = Field(description="Regency or city (kabupaten/kota).")
    province: Place = Field(description="Province.")
    postal_code: str | None = Field(default=None, pattern=r"^[1-9][0-9]{4}$", description="Postal code, 5 digits.")


class RegisterPayload(BaseModel):
    """A non-wage earner's (BPU) registration: what the counter asks; identity comes from the NIK."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    occupation: Occupation = Field(description="The kind of work the applicant does on their own account.")
    monthly_income: IncomeBand = Field(description="Declared monthly income band, in rupiah; sets the contribution.")
    programmes: list[Programme] = Field(
        min_length=2,
        max_length=3,
        description="JKK and JKM are mandatory for BPU, JHT is optional; JP is open to wage earners only.",
    )
    phone: str = Field(
        description="Mobile number (08..., 628... or +628...); stored as +628...", json_schema_extra=_PERSONAL
    )
    email: Email | None = Field(default=None, description="E-mail address, optional.", json_schema_extra=_PERSONAL)
    address: Address

    @field_validator("phone")
    @classmethod
    def _mobile_number(cls, value: str) -> str:
        match = _PHONE.match(_PHONE_SEPARATORS.sub("", value))
        if match is None:
            raise ValueError("must be an Indonesian mobile number: 08..., 628... or +628...")
        return "+62" + match.group(1)

    @model_validator(mode="after")
    def _bpu_programmes(self) -> RegisterPayload:
        chosen = set(self.programmes)
        if len(chosen) != len(self.programmes):
            raise ValueError("programmes must not repeat")
        if "JP" in chosen:
            raise ValueError("the pension programme (JP) is open to wage earners only, not to BPU participants")
        if not {"JKK", "JKM"} <= chosen:
            raise ValueError("BPU participants must take both JKK and JKM")
        return self


class StatusPayload(BaseModel):
    """Which registration to look up: the reference of the registration request (its gateway request id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(pattern=REFERENCE_PATTERN, description="The registration request's id, e.g. req_01J...")


class RegistrationResult(BaseModel):
    """A BPU registration as the agency holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kpj: str = Field(
        pattern=KPJ_PATTERN, description="Membership number (KPJ), 11 digits.", json_schema_extra=_PERSONAL
    )
    reference: str = Field(description="The reference the registration was made under.")
    status: MembershipStatus = Field(description="Cover starts once the first contribution is paid.")
    programmes: list[BpuProgramme] = Field(description="The programmes registered.")
    monthly_contribution: int = Field(ge=0, description="Monthly contribution in rupiah.")
    payment_code: str = Field(pattern=r"^[0-9]{16}$", description="Code to pay the contribution with (kode iuran).")
    registered_at: AwareDatetime = Field(description="When the agency registered the worker.")


class _WireMembership(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    kpj: str = Field(pattern=KPJ_PATTERN)
    kategori: Literal["PU", "BPU"]
    status: Literal["AKTIF", "NONAKTIF", "MENUNGGU_IURAN_PERTAMA"]
    program: list[Programme]
    tgl_kepesertaan: dt.date


class _WireRegistration(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    referensi: str
    kpj: str = Field(pattern=KPJ_PATTERN)
    status: Literal["AKTIF", "NONAKTIF", "MENUNGGU_IURAN_PERTAMA"]
    program: list[BpuProgramme]
    iuran_bulanan: int = Field(ge=0)
    kode_iuran: str = Field(pattern=r"^[0-9]{16}$")
    tgl_daftar: AwareDatetime


def _check_nik(nik: str) -> str:
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        # The gateway validates the applicant's NIK; this guards the wire.
        raise ContractError("the applicant's NIK must be 16 digits", slug="validation-error")
    return nik


def _check_reference(reference: str) -> str:
    if re.match(REFERENCE_PATTERN, reference) is None:
        raise ContractError("the reference must be 1-64 letters, digits, '_' or '-'", slug="validation-error")
    return reference


def verify_body(nik: str) -> dict[str, str]:
    """The membership lookup's body."""
    return {"nik": _check_nik(nik)}


def status_body(nik: str, reference: str) -> dict[str, str]:
    """The status enquiry's body: a registration is only disclosed to a caller who names both."""
    return {"referensi": _check_reference(reference), "nik": _check_nik(nik)}


def register_body(nik: str, reference: str, payload: RegisterPayload) -> dict[str, Any]:
    """The registration's body; ``reference`` is the idempotency reference the agency keys the registration on."""
    address = payload.address
    body: dict[str, Any] = {
        "referensi": _check_reference(reference),
        "nik": _check_nik(nik),
        "pekerjaan": OCCUPATIONS[payload.occupation],
        "penghasilan": INCOME_BANDS[payload.monthly_income],
        # A fixed order, so that a resend of the same payload is byte-identical whatever order the counter used.
        "program": sorted(payload.programmes),
        "no_hp": payload.phone.removeprefix("+"),
        "alamat": {
            "jalan": _collapse(address.street),
            "rt": None if address.rt is None else f"{int(address.rt):03d}",
            "rw": None if address.rw is None else f"{int(address.rw):03d}",
            "kelurahan": _collapse(address.village),
            "kecamatan": _collapse(address.district),
            "kabupaten": _collapse(address.regency),
            "provinsi": _collapse(address.province),
            "kode_pos": address.postal_code,
        },
    }
    if payload.email is not None:
        body["email"] = payload.email
    return body


def _collapse(text: str) -> str:
    return " ".join(text.split())


def parse_membership(reply: Reply) -> MembershipResult:
    """The lookup's result from a ``00`` or ``10`` reply (after :func:`.errors.raise_for_code`).

    Raises :class:`~adapters.AgencyProtocolError` when the ``00`` data is not one the adapter can read.
    """
    if reply.code == NOT_A_PARTICIPANT:
        return MembershipResult(member=False)
    wire = _validate(_WireMembership, reply.data, VERIFY_PATH)
    return MembershipResult(
        member=True,
        kpj=wire.kpj,
        category=_CATEGORY[wire.kategori],
        status=_STATUS[wire.status],
        programmes=sorted(set(wire.program)),
        member_since=wire.tgl_kepesertaan,
    )


def parse_registration(reply: Reply, reference: str, *, method: str) -> RegistrationResult:
    """The registration from a ``00`` reply to ``method`` (a path); it must be the one made under ``reference``.

    Raises :class:`~adapters.AgencyProtocolError` naming ``method`` and the field when the data is not one the
    adapter can read, or when it is about another reference (``data.referensi``; neither reference is quoted).
    """
    wire = _validate(_WireRegistration, reply.data, method)
    if wire.referensi != reference:
        raise AgencyProtocolError(
            agency=AGENCY,
            method=method,
            field="data.referensi",
            detail=f"{AGENCY} answered {method} about another reference than the one asked",
        )
    return RegistrationResult(
        kpj=wire.kpj,
        reference=wire.referensi,
        status=_STATUS[wire.status],
        programmes=sorted(set(wire.program)),
        monthly_contribution=wire.iuran_bulanan,
        payment_code=wire.kode_iuran,
        registered_at=wire.tgl_daftar,
    )


def contract_fields(wire_fields: tuple[str, ...]) -> tuple[str, ...]:
    """The contract paths of the wire fields the agency refused; names this adapter does not know are dropped."""
    paths = (_FIELD_PATHS.get(name) for name in wire_fields)
    return tuple(dict.fromkeys(path for path in paths if path is not None))


def _validate(model: type[_M], data: object, method: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Only ``loc`` is read: the wire model's field names and list indexes (it has no dict fields, so no key
        # from the reply). The message and ``input`` quote the citizen's data and go with ``exc`` at block end.
        field = ".".join(["data", *(str(part) for part in exc.errors()[0]["loc"])]) if exc.errors() else "data"
    # Raised outside the handler so that not even ``__context__`` keeps the validation error and its input.
    raise AgencyProtocolError(agency=AGENCY, method=method, field=field)
