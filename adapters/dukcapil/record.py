"""Wire <-> contract for Dukcapil's data retrieval (``CALL_NIK``): the civil record of the applicant's NIK.

Unlike verification, this hands the citizen's personal data to the counter, so the service requires consent. The
reply's upper-case Indonesian record becomes a clean English contract:

- Closed vocabularies Dukcapil fixes by regulation (sex, religion, marital status, blood type, education, relation
  in the family) become English codes through the tables below, matched case- and whitespace-blind. A value the
  table does not know is a reply the adapter cannot read, :class:`~adapters.AgencyProtocolError` (final, counted
  for operations): guessing would misstate a citizen's record, and a new spelling needs a human to place it. The
  wire key is named, never the value.
- Occupation is an open list of about ninety names: it stays Dukcapil's text (``"KARYAWAN SWASTA"``).
- Names and places stay as the registry writes them (upper case): changing a name's case is not ours to do.
- Region numbers come back as components (``NO_KAB`` "73"); the result carries full Kemendagri codes
  (province ``32``, regency ``3273``, district ``327301``, village ``3273011001``), which need no context to read.
  RT and RW come back as numbers and are padded to three digits, as printed on the ID card; a level whose number
  is missing or malformed has a ``null`` code, and so has every level below it.
- Empty values, ``"-"`` and ``"TIDAK TAHU"`` (unknown) are ``null``. A success reply without the NIK, the name,
  the birth date or the sex (or with a malformed one) is not a record the adapter can read: a protocol error,
  final, naming the wire key (``NAMA_LGKP``). A record of another NIK than the one asked for is never passed on:
  a protocol error too. Only what is not Dukcapil's ``content`` list at all (HTML, truncated JSON) stays
  transient, in :mod:`.client`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict

from adapters import AgencyProtocolError, ContractError

from .errors import DUPLICATE_CODE, response_code

__all__ = [
    "NIK_METHOD",
    "CivilAddress",
    "CivilRecord",
    "NikLookupPayload",
    "Region",
    "nik_fields",
    "parse_record",
]

AGENCY = "dukcapil"
NIK_METHOD = "CALL_NIK"

Religion = Literal["islam", "protestant", "catholic", "hindu", "buddhist", "confucian", "indigenous_belief"]
MaritalStatus = Literal["single", "married", "married_unregistered", "divorced", "widowed"]
BloodType = Literal["A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"]
Education = Literal[
    "none", "primary_incomplete", "primary", "junior_secondary", "senior_secondary", "diploma_1_2", "diploma_3",
    "bachelor", "master", "doctorate",
]
FamilyRelation = Literal[
    "head", "husband", "wife", "child", "child_in_law", "grandchild", "parent", "parent_in_law", "other_relative",
    "household_staff", "other",
]


def _key(text: str) -> str:
    """Table lookup key: upper case without any whitespace ("S. MUDA" and "S.MUDA" are one spelling)."""
    return "".join(text.upper().split())


def _table(entries: Mapping[str, str]) -> dict[str, str]:
    return {_key(wire): ours for wire, ours in entries.items()}


SEXES = _table({"LAKI-LAKI": "male", "LAKI LAKI": "male", "L": "male", "PEREMPUAN": "female", "P": "female"})
RELIGIONS = _table({
    "ISLAM": "islam",
    "KRISTEN": "protestant",  # "Kristen" on an ID card is Protestant Christianity, apart from "Katholik"
    "PROTESTAN": "protestant",
    "KATHOLIK": "catholic",
    "KATOLIK": "catholic",
    "HINDU": "hindu",
    "BUDHA": "buddhist",
    "BUDDHA": "buddhist",
    "KONGHUCU": "confucian",
    "KHONGHUCU": "confucian",
    "KEPERCAYAAN TERHADAP TUHAN YME": "indigenous_belief",
    "KEPERCAYAAN TERHADAP TUHAN YANG MAHA ESA": "indigenous_belief",
})
MARITAL_STATUSES = _table({
    "BELUM KAWIN": "single",
    "KAWIN": "married",
    "KAWIN TERCATAT": "married",
    "KAWIN BELUM TERCATAT": "married_unregistered",
    "CERAI HIDUP": "divorced",
    "CERAI MATI": "widowed",
})
BLOOD_TYPES = _table({t: t for t in ("A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")})
EDUCATION = _table({
    "TIDAK/BELUM SEKOLAH": "none",
    "BELUM TAMAT SD/SEDERAJAT": "primary_incomplete",
    "TAMAT SD/SEDERAJAT": "primary",
    "SLTP/SEDERAJAT": "junior_secondary",
    "SLTA/SEDERAJAT": "senior_secondary",
    "DIPLOMA I/II": "diploma_1_2",
    "AKADEMI/DIPLOMA III/S. MUDA": "diploma_3",
    "DIPLOMA IV/STRATA I": "bachelor",
    "STRATA II": "master",
    "STRATA III": "doctorate",
})
FAMILY_RELATIONS = _table({
    "KEPALA KELUARGA": "head",
    "SUAMI": "husband",
    "ISTRI": "wife",
    "ANAK": "child",
    "MENANTU": "child_in_law",
    "CUCU": "grandchild",
    "ORANG TUA": "parent",
    "MERTUA": "parent_in_law",
    "FAMILI LAIN": "other_relative",
    "PEMBANTU": "household_staff",
    "LAINNYA": "other",
})
#: Values that mean "not recorded".
_UNKNOWN = frozenset({"", "-", _key("TIDAK TAHU")})
# Region component -> its width in the full Kemendagri code.
_REGION_WIDTHS = (("NO_PROP", 2), ("NO_KAB", 2), ("NO_KEC", 2), ("NO_KEL", 4))

_PERSONAL: JsonDict = {"x-personal-data": True}

#: Contract field path -> the wire key it is read from, to name what could not be read (never its value).
_WIRE_KEYS: Mapping[str, str] = {
    "nik": "NIK",
    "family_card_number": "NO_KK",
    "full_name": "NAMA_LGKP",
    "birth_place": "TMPT_LHR",
    "birth_date": "TGL_LHR",
    "sex": "JENIS_KLMIN",
    "religion": "AGAMA",
    "marital_status": "STATUS_KAWIN",
    "blood_type": "GOL_DARAH",
    "education": "PDDK_AKH",
    "occupation": "JENIS_PKRJN",
    "mother_name": "NAMA_LGKP_IBU",
    "father_name": "NAMA_LGKP_AYAH",
    "family_relation": "STAT_HBKEL",
    "address.street": "ALAMAT",
    "address.rt": "NO_RT",
    "address.rw": "NO_RW",
    "address.province.code": "NO_PROP",
    "address.province.name": "PROP_NAME",
    "address.regency.code": "NO_KAB",
    "address.regency.name": "KAB_NAME",
    "address.district.code": "NO_KEC",
    "address.district.name": "KEC_NAME",
    "address.village.code": "NO_KEL",
    "address.village.name": "KEL_NAME",
}


class NikLookupPayload(BaseModel):
    """Nothing: the record retrieved is the applicant's, whose NIK the request envelope carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(BaseModel):
    """One level of the administrative hierarchy: its Kemendagri code and its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str | None = Field(default=None, pattern=r"^[0-9]{2,10}$", description="Full Kemendagri code, digits only.")
    name: str | None = Field(default=None, description="Name as the registry writes it.")


class CivilAddress(BaseModel):
    """The address on the family card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    street: str | None = Field(default=None, description="Street address (ALAMAT).", json_schema_extra=_PERSONAL)
    rt: str | None = Field(default=None, pattern=r"^[0-9]{3}$", description="RT, three digits.")
    rw: str | None = Field(default=None, pattern=r"^[0-9]{3}$", description="RW, three digits.")
    village: Region = Field(description="Village (kelurahan or desa), 10-digit code.")
    district: Region = Field(description="District (kecamatan), 6-digit code.")
    regency: Region = Field(description="Regency or city (kabupaten/kota), 4-digit code.")
    province: Region = Field(description="Province, 2-digit code.")


class CivilRecord(BaseModel):
    """The applicant's record in the population database (``CALL_NIK``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nik: str = Field(pattern=r"^[0-9]{16}$", description="The NIK.", json_schema_extra=_PERSONAL)
    family_card_number: str | None = Field(
        default=None, pattern=r"^[0-9]{16}$", description="Family card number (NO_KK).", json_schema_extra=_PERSONAL
    )
    full_name: str = Field(description="Full name (NAMA_LGKP).", json_schema_extra=_PERSONAL)
    birth_place: str | None = Field(default=None, description="Place of birth (TMPT_LHR).", json_schema_extra=_PERSONAL)
    birth_date: dt.date = Field(description="Date of birth (TGL_LHR).", json_schema_extra=_PERSONAL)
    sex: Literal["male", "female"] = Field(description="Sex (JENIS_KLMIN).", json_schema_extra=_PERSONAL)
    religion: Religion | None = Field(default=None, description="Religion (AGAMA).", json_schema_extra=_PERSONAL)
    marital_status: MaritalStatus | None = Field(
        default=None, description="Marital status (STATUS_KAWIN).", json_schema_extra=_PERSONAL
    )
    blood_type: BloodType | None = Field(
        default=None, description="Blood type (GOL_DARAH); null when unknown.", json_schema_extra=_PERSONAL
    )
    education: Education | None = Field(
        default=None, description="Highest education (PDDK_AKH).", json_schema_extra=_PERSONAL
    )
    occupation: str | None = Field(
        default=None, description="Occupation as Dukcapil names it (JENIS_PKRJN), e.g. KARYAWAN SWASTA."
    )
    mother_name: str | None = Field(
        default=None, description="Mother's full name (NAMA_LGKP_IBU).", json_schema_extra=_PERSONAL
    )
    father_name: str | None = Field(
        default=None, description="Father's full name (NAMA_LGKP_AYAH).", json_schema_extra=_PERSONAL
    )
    family_relation: FamilyRelation | None = Field(
        default=None, description="Relation to the head of the family (STAT_HBKEL)."
    )
    address: CivilAddress
    duplicate_record: bool = Field(
        default=False, description="Dukcapil flags the record as a duplicate (code 12); the data is still valid."
    )


def nik_fields(nik: str) -> dict[str, str]:
    """The method's body fields for ``nik``, credentials excluded."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        raise ContractError("the applicant's NIK must be 16 digits", slug="validation-error")
    return {"NIK": nik}


def parse_record(content: Mapping[str, Any], nik: str) -> CivilRecord:
    """Build the record from a success reply's ``content[0]`` (after :func:`.errors.raise_for_content`)."""
    if _text(content.get("NIK")) != nik:
        if _text(content.get("NIK")) is None:
            raise AgencyProtocolError(
                agency=AGENCY, method=NIK_METHOD, field="NIK", detail=f"{AGENCY} answered {NIK_METHOD} without a record"
            )
        raise AgencyProtocolError(
            agency=AGENCY,
            method=NIK_METHOD,
            field="NIK",
            detail=f"{AGENCY} answered {NIK_METHOD} with the record of another NIK; it was discarded",
        )
    data = {
        "nik": nik,
        "family_card_number": _text(content.get("NO_KK")),
        "full_name": _text(content.get("NAMA_LGKP")),
        "birth_place": _text(content.get("TMPT_LHR")),
        "birth_date": _date(content.get("TGL_LHR")),
        "sex": _coded(content, "JENIS_KLMIN", SEXES),
        "religion": _coded(content, "AGAMA", RELIGIONS),
        "marital_status": _coded(content, "STATUS_KAWIN", MARITAL_STATUSES),
        "blood_type": _coded(content, "GOL_DARAH", BLOOD_TYPES),
        "education": _coded(content, "PDDK_AKH", EDUCATION),
        "occupation": _text(content.get("JENIS_PKRJN")),
        "mother_name": _text(content.get("NAMA_LGKP_IBU")),
        "father_name": _text(content.get("NAMA_LGKP_AYAH")),
        "family_relation": _coded(content, "STAT_HBKEL", FAMILY_RELATIONS),
        "address": _address(content),
        "duplicate_record": response_code(content) == DUPLICATE_CODE,
    }
    try:
        return CivilRecord.model_validate(data)
    except ValidationError as exc:
        # Only ``loc`` is read: the model's field names (it has no dict fields, so no key from the reply). The
        # message and ``input`` quote the citizen's data and are dropped with ``exc`` at the end of this block.
        field = _wire_key(exc.errors()[0]["loc"]) if exc.errors() else "content"
    # Raised outside the handler: the validation error holds the citizen's data and must not ride along.
    raise AgencyProtocolError(agency=AGENCY, method=NIK_METHOD, field=field)


def _wire_key(loc: tuple[int | str, ...]) -> str:
    """The wire key behind the contract field path ``loc``; the path itself if no wire key maps to it."""
    path = ".".join(str(part) for part in loc)
    return _WIRE_KEYS.get(path, path or "content")


def _text(value: object) -> str | None:
    """A wire value as trimmed, whitespace-collapsed text; numbers as digits; empty and "-" as ``None``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return None if _key(text) in _UNKNOWN else text


def _coded(content: Mapping[str, Any], wire: str, table: Mapping[str, str]) -> str | None:
    text = _text(content.get(wire))
    if text is None:
        return None
    code = table.get(_key(text))
    if code is None:
        raise AgencyProtocolError(
            agency=AGENCY,
            method=NIK_METHOD,
            field=wire,
            detail=f"{AGENCY} answered {NIK_METHOD} with a {wire} value the adapter's table does not know: add it to "
            "record.py",
        )
    return code


def _date(value: object) -> dt.date | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return dt.datetime.strptime(text, "%d-%m-%Y").date()
    except ValueError:
        return None


def _address(content: Mapping[str, Any]) -> dict[str, Any]:
    codes: list[str | None] = []
    prefix: str | None = ""
    for wire, width in _REGION_WIDTHS:
        part = _text(content.get(wire))
        # A missing or malformed level leaves it and every level below it without a code.
        if prefix is None or part is None or not part.isdigit() or len(part) > width:
            prefix = None
        else:
            prefix += part.zfill(width)
        codes.append(prefix)
    province, regency, district, village = codes
    return {
        "street": _text(content.get("ALAMAT")),
        "rt": _neighbourhood(content.get("NO_RT")),
        "rw": _neighbourhood(content.get("NO_RW")),
        "province": {"code": province, "name": _text(content.get("PROP_NAME"))},
        "regency": {"code": regency, "name": _text(content.get("KAB_NAME"))},
        "district": {"code": district, "name": _text(content.get("KEC_NAME"))},
        "village": {"code": village, "name": _text(content.get("KEL_NAME"))},
    }


def _neighbourhood(value: object) -> str | None:
    text = _text(value)
    if text is None or not text.isdigit() or len(text) > 3:
        return None
    return text.zfill(3)
