"""Wire <-> contract for VClaim's participant lookups (``Peserta/nik`` and ``Peserta/nokartu``).

The decrypted ``response`` is ``{"peserta": {...}}`` with string fields (docs/agencies.md, section 1). The contract
renames them into plain English and real types: dates become dates, ``sex`` ``L``/``P`` becomes
``male``/``female``, ``statusPeserta`` gains ``active`` (``kode`` ``"0"``, the one documented active state).

Decisions the protocol leaves open, and why:

- An inactive or deceased participant is an answer, not an error: the lookup completes, ``status.active`` is
  ``False``, and the counter reads ``status.description``. Only "no such participant" (code 201) is a rejection.
- The fields that say who the participant is and what their cover is (card number, name, sex, birth date,
  status, participant type) must be present and well formed. A code-200 reply without them is one the adapter
  cannot read: :class:`~adapters.AgencyProtocolError`, final (the same question gets the same reply), naming the
  method and the wire field, never its value.
- The rest may be missing, ``null`` or empty (``None``): real replies carry ``null`` there. A participant whose
  cover lapsed for unpaid premiums (``statusPeserta`` ``"9"`` NON AKTIF KARNA PREMI) comes with
  ``provUmum {"kdProvider": null, "nmProvider": null}`` (a public capture of VClaim's reply shows exactly this),
  and that citizen is the one a counter most needs an answer about: ``primary_care_provider`` is then ``None``.
  A provider is known by its code: a name without a code is no provider, a code without a name is one. ``hakKelas``
  may be ``null`` too (VClaim's own referral replies carry ``"hakKelas": null``): ``care_class`` is then ``None``.
  ``mr``, ``informasi``, ``cob`` and ``umur`` are all-``null`` objects in most replies.
- ``nik`` is kept only when it is 16 digits; BPJS holds ``0000000000000000`` for newborns without a NIK yet, and
  that is passed on as it is, since the counter must see it.
- Ages come as free text (``"35 tahun ,4 bulan ,29 hari"``); only the whole years are read, and text in
  another shape gives ``None``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.config import JsonDict

from adapters import AgencyProtocolError, ContractError

from .errors import AGENCY

__all__ = [
    "ACTIVE_STATUS_CODE",
    "BY_CARD_METHOD",
    "BY_NIK_METHOD",
    "ByCardPayload",
    "ByNikPayload",
    "Coded",
    "CoordinationOfBenefits",
    "Participant",
    "ParticipantInformation",
    "ParticipantStatus",
    "Provider",
    "by_card_path",
    "by_nik_path",
    "parse_participant",
]

ACTIVE_STATUS_CODE = "0"
"""``statusPeserta.kode`` of an active participant (``AKTIF``), the only state docs/agencies.md documents."""

BY_NIK_METHOD = "Peserta/nik"
"""The lookup by NIK as metrics and protocol errors name it (no number: the path's values are personal data)."""
BY_CARD_METHOD = "Peserta/nokartu"
"""The lookup by card number as metrics and protocol errors name it."""

_PERSONAL: JsonDict = {"x-personal-data": True}
_JKN_START = dt.date(2014, 1, 1)

CardNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{13}$")]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEARS = re.compile(r"^\s*(\d{1,3})\s*tahun\b", re.IGNORECASE)
Sex = Literal["male", "female"]
_SEX: Mapping[str, Sex] = {"L": "male", "P": "female"}


class ByNikPayload(BaseModel):
    """A participant lookup by the applicant's NIK: only the service date; the NIK is the request's applicant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_date: dt.date = Field(
        ge=_JKN_START,
        description="Service date (tglSEP), from 2014-01-01 (the start of JKN): the state is given as of this day.",
    )


class ByCardPayload(BaseModel):
    """A participant lookup by BPJS Kesehatan card number (the JKN-KIS card)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card_number: CardNumber = Field(
        description="13-digit BPJS Kesehatan card number (noKartu).", json_schema_extra=_PERSONAL
    )
    service_date: dt.date = Field(
        ge=_JKN_START,
        description="Service date (tglSEP), from 2014-01-01 (the start of JKN): the state is given as of this day.",
    )


class Coded(BaseModel):
    """A value from one of BPJS's reference lists: its code and its Indonesian label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="BPJS's code (kode).")
    description: str = Field(description="BPJS's label, in Indonesian (keterangan).")


class ParticipantStatus(Coded):
    """The membership state on the service date (statusPeserta)."""

    active: bool = Field(description="The membership is active (code 0, AKTIF); false for every other state.")


class Provider(BaseModel):
    """A health care provider (faskes), known by its code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="BPJS provider code (kdProvider).")
    name: str | None = Field(default=None, description="Provider name (nmProvider); null when BPJS sends none.")


class CoordinationOfBenefits(BaseModel):
    """A private insurer that shares the costs (cob); present only when BPJS names one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    insurer_name: str | None = Field(default=None, description="Insurer name (nmAsuransi).")
    policy_number: str | None = Field(default=None, description="Insurance number (noAsuransi).")
    coverage_start: dt.date | None = Field(default=None, description="Start of the insurer's cover (tglTMT).")
    coverage_end: dt.date | None = Field(default=None, description="End of the insurer's cover (tglTAT).")


class ParticipantInformation(BaseModel):
    """Notes BPJS attaches to a participant (informasi); each absent when BPJS sends none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    social_services: str | None = Field(default=None, description="Social services office note (dinsos).")
    chronic_program: str | None = Field(
        default=None, description="Chronic disease (Prolanis) or referral-back (PRB) programme note (prolanisPRB)."
    )
    sktm_number: str | None = Field(default=None, description="Certificate of low income number (noSKTM).")
    esep: str | None = Field(default=None, description="Electronic SEP note (eSEP).")


class Participant(BaseModel):
    """A BPJS Kesehatan (JKN) participant as VClaim describes them on the service date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    card_number: CardNumber = Field(description="13-digit card number (noKartu).", json_schema_extra=_PERSONAL)
    nik: str | None = Field(
        default=None,
        pattern=r"^[0-9]{16}$",
        description="NIK BPJS holds for the participant (0000000000000000 for newborns without one yet).",
        json_schema_extra=_PERSONAL,
    )
    name: str = Field(description="Full name (nama).", json_schema_extra=_PERSONAL)
    sex: Sex = Field(description="Sex (sex: L or P).", json_schema_extra=_PERSONAL)
    birth_date: dt.date = Field(description="Date of birth (tglLahir).", json_schema_extra=_PERSONAL)
    age_at_service_years: int | None = Field(
        default=None, ge=0, description="Whole years of age on the service date (umur.umurSaatPelayanan)."
    )
    status: ParticipantStatus = Field(description="Membership state on the service date (statusPeserta).")
    participant_type: Coded = Field(description="Participant segment, e.g. 13 PEGAWAI SWASTA (jenisPeserta).")
    care_class: Coded | None = Field(
        default=None, description="Entitled ward class, 1-3 (hakKelas); null when BPJS sends none."
    )
    primary_care_provider: Provider | None = Field(
        default=None,
        description=(
            "Registered primary care provider (provUmum); null when BPJS names none, as for a participant whose "
            "cover lapsed for unpaid premiums (status 9, NON AKTIF KARNA PREMI)."
        ),
    )
    coverage_start: dt.date | None = Field(default=None, description="Start of membership (tglTMT).")
    coverage_end: dt.date | None = Field(default=None, description="End of membership (tglTAT).")
    card_printed: dt.date | None = Field(default=None, description="Date the card was printed (tglCetakKartu).")
    family_role_code: str | None = Field(
        default=None, description="Position in the family membership (pisa), as BPJS codes it."
    )
    mr_number: str | None = Field(
        default=None, description="Medical record number BPJS holds (mr.noMR).", json_schema_extra=_PERSONAL
    )
    phone: str | None = Field(
        default=None, description="Phone number BPJS holds (mr.noTelepon).", json_schema_extra=_PERSONAL
    )
    coordination_of_benefits: CoordinationOfBenefits | None = Field(
        default=None, description="Co-insurer (cob); absent when BPJS names none."
    )
    information: ParticipantInformation = Field(
        default_factory=ParticipantInformation, description="BPJS's notes (informasi)."
    )
    service_date: dt.date = Field(description="The service date the state was asked for (tglSEP).")


def by_nik_path(nik: str, service_date: dt.date) -> str:
    """``Peserta/nik/{nik}/tglSEP/{yyyy-MM-dd}``."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        # The gateway validates the applicant's NIK; this guards the wire, the agency judges the rest (code 201).
        raise ContractError("the applicant's NIK must be 16 digits", slug="validation-error")
    return f"Peserta/nik/{nik}/tglSEP/{service_date.isoformat()}"


def by_card_path(card_number: str, service_date: dt.date) -> str:
    """``Peserta/nokartu/{card13}/tglSEP/{yyyy-MM-dd}``."""
    if len(card_number) != 13 or not card_number.isascii() or not card_number.isdigit():
        raise ContractError("the card number must be 13 digits", slug="validation-error")
    return f"Peserta/nokartu/{card_number}/tglSEP/{service_date.isoformat()}"


class _BadReply(Exception):
    """A field of the reply is missing or malformed; carries the wire field's name, never its value."""


def _text(value: object) -> str | None:
    """A wire value as trimmed text; ``None`` for null or blank. Numbers are read as the digits they are."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _required(record: Mapping[str, Any], key: str, *, within: str = "") -> str:
    value = _text(record.get(key))
    if value is None:
        raise _BadReply(f"{within}.{key}" if within else key)
    return value


def _object(record: Mapping[str, Any], key: str, *, required: bool) -> Mapping[str, Any]:
    value = record.get(key)
    if isinstance(value, Mapping):
        return value
    if value is None and not required:
        return {}
    raise _BadReply(key)


def _date(value: object, key: str) -> dt.date | None:
    text = _text(value)
    if text is None:
        return None
    if not _DATE.fullmatch(text):
        raise _BadReply(key)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _BadReply(key) from None


def _coded(record: Mapping[str, Any], key: str) -> Coded:
    item = _object(record, key, required=True)
    return Coded(code=_required(item, "kode", within=key), description=_required(item, "keterangan", within=key))


def _optional_coded(record: Mapping[str, Any], key: str) -> Coded | None:
    """A coded value that BPJS may send as ``null`` or with both parts ``null``; half of one is malformed."""
    item = _object(record, key, required=False)
    if _text(item.get("kode")) is None and _text(item.get("keterangan")) is None:
        return None
    return Coded(code=_required(item, "kode", within=key), description=_required(item, "keterangan", within=key))


def _provider(record: Mapping[str, Any]) -> Provider | None:
    provider = _object(record, "provUmum", required=False)
    code = _text(provider.get("kdProvider"))
    return Provider(code=code, name=_text(provider.get("nmProvider"))) if code is not None else None


def _years(umur: Mapping[str, Any]) -> int | None:
    text = _text(umur.get("umurSaatPelayanan"))
    match = _YEARS.match(text) if text else None
    return int(match.group(1)) if match else None


def _cob(record: Mapping[str, Any]) -> CoordinationOfBenefits | None:
    cob = _object(record, "cob", required=False)
    found = CoordinationOfBenefits(
        insurer_name=_text(cob.get("nmAsuransi")),
        policy_number=_text(cob.get("noAsuransi")),
        coverage_start=_date(cob.get("tglTMT"), "cob.tglTMT"),
        coverage_end=_date(cob.get("tglTAT"), "cob.tglTAT"),
    )
    return found if found != CoordinationOfBenefits() else None


def _participant(peserta: Mapping[str, Any], service_date: dt.date) -> Participant:
    card = _required(peserta, "noKartu")
    if len(card) != 13 or not card.isdigit():
        raise _BadReply("noKartu")
    sex = _SEX.get(_required(peserta, "sex").upper())
    if sex is None:
        raise _BadReply("sex")
    birth_date = _date(peserta.get("tglLahir"), "tglLahir")
    if birth_date is None:
        raise _BadReply("tglLahir")
    status = _coded(peserta, "statusPeserta")
    mr = _object(peserta, "mr", required=False)
    info = _object(peserta, "informasi", required=False)
    nik = _text(peserta.get("nik"))
    return Participant(
        card_number=card,
        nik=nik if nik is not None and len(nik) == 16 and nik.isdigit() else None,
        name=_required(peserta, "nama"),
        sex=sex,
        birth_date=birth_date,
        age_at_service_years=_years(_object(peserta, "umur", required=False)),
        status=ParticipantStatus(**status.model_dump(), active=status.code == ACTIVE_STATUS_CODE),
        participant_type=_coded(peserta, "jenisPeserta"),
        care_class=_optional_coded(peserta, "hakKelas"),
        primary_care_provider=_provider(peserta),
        coverage_start=_date(peserta.get("tglTMT"), "tglTMT"),
        coverage_end=_date(peserta.get("tglTAT"), "tglTAT"),
        card_printed=_date(peserta.get("tglCetakKartu"), "tglCetakKartu"),
        family_role_code=_text(peserta.get("pisa")),
        mr_number=_text(mr.get("noMR")),
        phone=_text(mr.get("noTelepon")),
        coordination_of_benefits=_cob(peserta),
        information=ParticipantInformation(
            social_services=_text(info.get("dinsos")),
            chronic_program=_text(info.get("prolanisPRB")),
            sktm_number=_text(info.get("noSKTM")),
            esep=_text(info.get("eSEP")),
        ),
        service_date=service_date,
    )


def parse_participant(response: object, service_date: dt.date, *, method: str = BY_NIK_METHOD) -> Participant:
    """The participant in a code-200 ``response`` (already decrypted) to ``method``.

    Raises :class:`~adapters.AgencyProtocolError` when it is not one the adapter can read: final, naming ``method``
    and the wire field (``peserta`` for a success without one), never a value.
    """
    peserta = response.get("peserta") if isinstance(response, Mapping) else None
    if not isinstance(peserta, Mapping):
        raise AgencyProtocolError(agency=AGENCY, method=method, field="peserta")
    # The error is built inside the ``except`` but raised after it: a pydantic error quotes the input, and
    # ``from None`` would only hide it from tracebacks, not drop it from ``__context__``.
    try:
        return _participant(peserta, service_date)
    except _BadReply as exc:
        # The field's wire name is safe to report; its value is the citizen's and stays out.
        field = str(exc)
    except ValidationError as exc:
        # The result model's field path (names only: ``loc`` holds no input).
        field = ".".join(str(part) for part in exc.errors()[0]["loc"]) if exc.errors() else "peserta"
    raise AgencyProtocolError(agency=AGENCY, method=method, field=field)
