"""Wire <-> contract for Dukcapil's verification (``CALL_VERIFY_BY_ELEMEN``).

The institution submits what it holds about the applicant; Dukcapil answers, field by field, whether it matches
its record: ``"Sesuai"`` (exact fields), ``"Sesuai (92)"`` (fuzzy fields, with a similarity score) or
``"Tidak Sesuai"``. No personal data comes back, only these verdicts.

Decisions the protocol leaves open, and why:

- Text goes on the wire upper-cased with its whitespace collapsed: Dukcapil keeps its records in upper case,
  and a case or spacing difference should not cost similarity points.
- ``NO_RT``/``NO_RW`` go without leading zeros (``"003"`` -> ``"3"``): Dukcapil stores them as numbers and the
  clients in the wild send ``"5"``.
- Every value, ``TRESHOLD`` included, is a JSON string, as those clients send them.
- ``"Tidak Sesuai (45)"`` is read as not matched with score 45; ``"Sesuai (92.5)"`` as score 92. Any other value
  of a submitted field (or of the NIK) is a reply the adapter cannot read: :class:`~adapters.AgencyProtocolError`,
  final (the same question gets the same reply), naming the method and the wire key, never the value.
- A submitted field the reply does not mention counts as not matched, score 0, so ``matched`` is ``False``:
  verification fails closed, and one field the agency skips must not make the whole service unusable. A reply
  that mentions none of the submitted fields (nor the NIK) is not a verification answer at all: a protocol error
  too. Only what is not Dukcapil's ``content`` list at all (HTML, truncated JSON) stays transient, in
  :mod:`.client`.
- The echoed ``NIK`` verdict is not in ``fields`` (the NIK is the applicant's, not the payload's), but a
  ``"Tidak Sesuai"`` there makes ``matched`` false.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict

from adapters import AgencyProtocolError, ContractError
from contracts import KkNumber

from .errors import DUPLICATE_CODE, response_code

__all__ = [
    "VERIFY_METHOD",
    "WIRE_FIELDS",
    "FieldMatch",
    "VerifyPayload",
    "VerifyResult",
    "parse_match",
    "parse_verify",
    "verify_fields",
]

AGENCY = "dukcapil"
VERIFY_METHOD = "CALL_VERIFY_BY_ELEMEN"

#: Our payload field name -> Dukcapil's wire key, in the order they go on the wire.
WIRE_FIELDS: Mapping[str, str] = {
    "full_name": "NAMA_LGKP",
    "birth_place": "TMPT_LHR",
    "birth_date": "TGL_LHR",
    "sex": "JENIS_KLMIN",
    "family_card_number": "NO_KK",
    "mother_name": "NAMA_LGKP_IBU",
    "address": "ALAMAT",
    "rt": "NO_RT",
    "rw": "NO_RW",
    "province_name": "PROP_NAME",
    "regency_name": "KAB_NAME",
    "district_name": "KEC_NAME",
    "village_name": "KEL_NAME",
}

_SEX = {"male": "LAKI-LAKI", "female": "PEREMPUAN"}
# Every payload field describes the citizen: the catalog marks them all, as contracts marks the NIK.
_PERSONAL: JsonDict = {"x-personal-data": True}
# Control characters have no place in a name or an address, and would end up in the agency's logs verbatim.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _text(max_length: int) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length, pattern=_PRINTABLE)


Name = Annotated[str, _text(100)]
Place = Annotated[str, _text(60)]
Address = Annotated[str, _text(200)]
Neighbourhood = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{1,3}$")]


class VerifyPayload(BaseModel):
    """What the institution holds about the applicant, to be checked against Dukcapil's record.

    Every field is optional; at least one must be given. The NIK is the request's applicant, not a field here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    full_name: Name | None = Field(
        default=None, description="Full name (NAMA_LGKP).", json_schema_extra=_PERSONAL
    )
    birth_place: Place | None = Field(
        default=None, description="Place of birth (TMPT_LHR).", json_schema_extra=_PERSONAL
    )
    birth_date: dt.date | None = Field(
        default=None, ge=dt.date(1900, 1, 1), description="Date of birth (TGL_LHR).", json_schema_extra=_PERSONAL
    )
    sex: Literal["male", "female"] | None = Field(
        default=None, description="Sex (JENIS_KLMIN).", json_schema_extra=_PERSONAL
    )
    family_card_number: KkNumber | None = Field(default=None, description="Family card number (NO_KK).")
    mother_name: Name | None = Field(
        default=None, description="Mother's full name (NAMA_LGKP_IBU).", json_schema_extra=_PERSONAL
    )
    address: Address | None = Field(
        default=None, description="Street address (ALAMAT).", json_schema_extra=_PERSONAL
    )
    rt: Neighbourhood | None = Field(
        default=None, description="RT, 1-3 digits (NO_RT).", json_schema_extra=_PERSONAL
    )
    rw: Neighbourhood | None = Field(
        default=None, description="RW, 1-3 digits (NO_RW).", json_schema_extra=_PERSONAL
    )
    province_name: Place | None = Field(
        default=None, description="Province name (PROP_NAME).", json_schema_extra=_PERSONAL
    )
    regency_name: Place | None = Field(
        default=None, description="Regency or city name (KAB_NAME).", json_schema_extra=_PERSONAL
    )
    district_name: Place | None = Field(
        default=None, description="District (kecamatan) name (KEC_NAME).", json_schema_extra=_PERSONAL
    )
    village_name: Place | None = Field(
        default=None, description="Village (kelurahan or desa) name (KEL_NAME).", json_schema_extra=_PERSONAL
    )
    threshold: int = Field(
        default=80, ge=0, le=100, description="Similarity cut-off for fuzzy fields, 0-100 (sent as TRESHOLD)."
    )

    @model_validator(mode="after")
    def _something_to_verify(self) -> VerifyPayload:
        if not self.submitted():
            raise ValueError("at least one field to verify is required")
        return self

    def submitted(self) -> list[str]:
        """The names of the fields given, in wire order."""
        return [name for name in WIRE_FIELDS if getattr(self, name) is not None]


class FieldMatch(BaseModel):
    """Dukcapil's verdict on one submitted field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: bool = Field(description="Dukcapil says the field matches its record (at or above the threshold).")
    score: int = Field(ge=0, le=100, description="Similarity, 0-100: 100 for an exact match, 0 for none.")


class VerifyResult(BaseModel):
    """Dukcapil's answer to a verification: verdicts only, no personal data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matched: bool = Field(description="Every submitted field matched.")
    threshold: int = Field(ge=0, le=100, description="The similarity cut-off that was applied.")
    fields: dict[str, FieldMatch] = Field(description="The verdict per submitted field, by payload field name.")
    duplicate_record: bool = Field(
        default=False, description="Dukcapil found the NIK but flags its record as a duplicate (code 12)."
    )


def verify_fields(nik: str, payload: VerifyPayload) -> dict[str, str]:
    """The method's body fields for ``payload`` about ``nik``, credentials excluded."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        # The gateway validates the applicant's NIK; this guards the wire, the agency judges the rest (code 15).
        raise ContractError("the applicant's NIK must be 16 digits", slug="validation-error")
    fields = {"NIK": nik, "TRESHOLD": str(payload.threshold)}
    for name in payload.submitted():
        fields[WIRE_FIELDS[name]] = _encode(name, getattr(payload, name))
    return fields


def _encode(name: str, value: Any) -> str:
    if isinstance(value, dt.date):
        return f"{value.day:02d}-{value.month:02d}-{value.year:04d}"
    if name == "sex":
        return _SEX[value]
    if name in ("rt", "rw"):
        return str(int(value))
    if name == "family_card_number":
        return str(value)
    return " ".join(str(value).split()).upper()


_VERDICT = re.compile(r"^(tidak\s+)?sesuai(?:\s*\(\s*(\d{1,3})(?:[.,]\d+)?\s*\))?$")


def parse_match(value: object, *, field: str) -> FieldMatch:
    """Read the verdict on the wire key ``field``: ``"Sesuai"`` -> 100, ``"Sesuai (N)"`` -> N, ``"Tidak Sesuai"``
    -> 0, all case-blind.

    Raises :class:`~adapters.AgencyProtocolError` for any other value, naming ``field`` and never the value: it is
    the agency's free text, not ours to put in a log line.
    """
    verdict = _VERDICT.match(value.strip().casefold()) if isinstance(value, str) else None
    if verdict is not None:
        matched = verdict.group(1) is None
        score = int(verdict.group(2)) if verdict.group(2) is not None else (100 if matched else 0)
        if score <= 100:
            return FieldMatch(match=matched, score=score)
    raise AgencyProtocolError(agency=AGENCY, method=VERIFY_METHOD, field=field)


def parse_verify(content: Mapping[str, Any], payload: VerifyPayload) -> VerifyResult:
    """Build the result from a success reply's ``content[0]`` (after :func:`.errors.raise_for_content`)."""
    submitted = payload.submitted()
    if "NIK" not in content and not any(WIRE_FIELDS[name] in content for name in submitted):
        raise AgencyProtocolError(
            agency=AGENCY,
            method=VERIFY_METHOD,
            field="NIK",
            detail=f"{AGENCY} answered {VERIFY_METHOD} without a verdict on the NIK or on any submitted field",
        )
    fields: dict[str, FieldMatch] = {}
    for name in submitted:
        wire = WIRE_FIELDS[name]
        fields[name] = parse_match(content[wire], field=wire) if wire in content else FieldMatch(match=False, score=0)
    nik_matched = parse_match(content["NIK"], field="NIK").match if "NIK" in content else True
    return VerifyResult(
        matched=nik_matched and all(verdict.match for verdict in fields.values()),
        threshold=payload.threshold,
        fields=fields,
        duplicate_record=response_code(content) == DUPLICATE_CODE,
    )
