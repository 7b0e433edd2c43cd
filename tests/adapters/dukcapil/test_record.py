"""adapters.dukcapil.record: CALL_NIK's record read into the English contract."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from adapters import AgencyMisconfigured, AgencyProtocolError, ContractError
from adapters.dukcapil import CivilAddress, CivilRecord, Region
from adapters.dukcapil.record import nik_fields, parse_record
from mocks import Population
from mocks.dukcapil import record as mock_record
from tests import fixtures

RECORD: dict[str, Any] = fixtures.load("dukcapil", "nik_record")["content"][0]
NIK = RECORD["NIK"]


def with_(**changes: Any) -> dict[str, Any]:
    """The recorded row with ``changes``; a value of ``None`` removes the key."""
    row = {**RECORD, **changes}
    return {key: value for key, value in row.items() if value is not None}


def test_recorded_reply_reads_into_the_contract() -> None:
    """Every field of the recorded CALL_NIK reply lands in its English contract field."""
    assert parse_record(RECORD, NIK) == CivilRecord(
        nik=NIK,
        family_card_number="3273012301150003",
        full_name="SITI AMINAH",
        birth_place="BANDUNG",
        birth_date=dt.date(1990, 8, 7),
        sex="female",
        religion="islam",
        marital_status="married",
        blood_type="O",
        education="bachelor",
        occupation="KARYAWAN SWASTA",
        mother_name="DEWI LESTARI",
        father_name="AHMAD SUBAGJA",
        family_relation="wife",
        address=CivilAddress(
            street="JL. MERDEKA NO. 5",
            rt="003",
            rw="012",
            village=Region(code="3273011001", name="BRAGA"),
            district=Region(code="327301", name="SUMUR BANDUNG"),
            regency=Region(code="3273", name="KOTA BANDUNG"),
            province=Region(code="32", name="JAWA BARAT"),
        ),
        duplicate_record=False,
    )


def test_duplicate_record_is_flagged_and_unknown_blood_type_is_null() -> None:
    """Code 12 next to the record sets duplicate_record; "TIDAK TAHU" is no blood type."""
    row = fixtures.load("dukcapil", "nik_record_duplicate")["content"][0]
    result = parse_record(row, row["NIK"])
    assert result.duplicate_record is True
    assert (result.blood_type, result.education, result.religion, result.family_relation, result.sex) == (
        None,
        "diploma_3",
        "catholic",
        "head",
        "male",
    )


@pytest.mark.parametrize(
    ("wire", "value", "field", "expected"),
    [
        ("AGAMA", "Katolik", "religion", "catholic"),
        ("AGAMA", "BUDDHA", "religion", "buddhist"),
        ("AGAMA", "KHONGHUCU", "religion", "confucian"),
        ("AGAMA", "Kepercayaan Terhadap Tuhan YME", "religion", "indigenous_belief"),
        ("STATUS_KAWIN", "kawin belum tercatat", "marital_status", "married_unregistered"),
        ("STATUS_KAWIN", "CERAI  MATI", "marital_status", "widowed"),
        ("PDDK_AKH", "AKADEMI/DIPLOMA III/S.MUDA", "education", "diploma_3"),
        ("PDDK_AKH", "STRATA III", "education", "doctorate"),
        ("STAT_HBKEL", "ORANG TUA", "family_relation", "parent"),
        ("STAT_HBKEL", "FAMILI LAIN", "family_relation", "other_relative"),
        ("GOL_DARAH", "AB+", "blood_type", "AB+"),
        ("JENIS_KLMIN", "L", "sex", "male"),
    ],
)
def test_spelling_variants_map_to_one_code(wire: str, value: str, field: str, expected: str) -> None:
    """Case, spacing and the registry's known spelling variants all read as the same code."""
    assert getattr(parse_record(with_(**{wire: value}), NIK), field) == expected


@pytest.mark.parametrize("wire", ["AGAMA", "STATUS_KAWIN", "GOL_DARAH", "PDDK_AKH", "STAT_HBKEL", "JENIS_KLMIN"])
def test_unknown_vocabulary_needs_a_human(wire: str) -> None:
    """A value outside the table is a final protocol error (still misconfigured), naming the key, never the value."""
    with pytest.raises(AgencyProtocolError, match=f"with a {wire} value the adapter's table does not know") as caught:
        parse_record(with_(**{wire: "NILAI ANEH"}), NIK)
    assert isinstance(caught.value, AgencyMisconfigured)
    assert (caught.value.method, caught.value.field) == ("CALL_NIK", wire)
    assert "NILAI ANEH" not in str(caught.value)


@pytest.mark.parametrize("empty", ["", "-", "  ", None])
def test_empty_optional_fields_are_null(empty: str | None) -> None:
    """Blank, "-" or absent optional fields are null, and the record is still read."""
    optional = ("NO_KK", "TMPT_LHR", "AGAMA", "STATUS_KAWIN", "GOL_DARAH", "PDDK_AKH", "JENIS_PKRJN", "ALAMAT",
                "NAMA_LGKP_IBU", "NAMA_LGKP_AYAH", "STAT_HBKEL", "NO_RT", "NO_RW")
    result = parse_record(with_(**dict.fromkeys(optional, empty)), NIK)
    assert result.family_card_number is result.religion is result.occupation is result.mother_name is None
    assert result.address.street is result.address.rt is None
    assert result.full_name == "SITI AMINAH"


def test_numbers_may_arrive_as_json_numbers() -> None:
    """RT, RW and region numbers sent as JSON numbers read as the same codes."""
    result = parse_record(with_(NO_RT=3, NO_RW=12, NO_PROP=32, NO_KAB=73, NO_KEC=1, NO_KEL=1001), NIK)
    assert (result.address.rt, result.address.rw, result.address.village.code) == ("003", "012", "3273011001")


@pytest.mark.parametrize(
    ("changes", "codes"),
    [
        ({"NO_KAB": None}, ("32", None, None, None)),
        ({"NO_KEC": "123"}, ("32", "3273", None, None)),
        ({"NO_KEL": "X1"}, ("32", "3273", "327301", None)),
        ({"NO_PROP": ""}, (None, None, None, None)),
    ],
)
def test_a_missing_region_level_leaves_the_levels_below_without_code(
    changes: dict[str, Any], codes: tuple[str | None, ...]
) -> None:
    """A missing or malformed level has no code, and neither has any level below it; names stay."""
    address = parse_record(with_(**changes), NIK).address
    assert (address.province.code, address.regency.code, address.district.code, address.village.code) == codes
    assert address.village.name == "BRAGA"


@pytest.mark.parametrize(
    ("changes", "wire"),
    [
        pytest.param({"NAMA_LGKP": None}, "NAMA_LGKP", id="no-name"),
        pytest.param({"TGL_LHR": "1990-08-07"}, "TGL_LHR", id="iso-birth-date"),
        pytest.param({"TGL_LHR": "31-02-1990"}, "TGL_LHR", id="impossible-date"),
        pytest.param({"JENIS_KLMIN": "-"}, "JENIS_KLMIN", id="no-sex"),
        pytest.param({"NO_KK": "12345"}, "NO_KK", id="short-kk"),
    ],
)
def test_unreadable_records_are_protocol_errors_naming_the_key_with_nothing_chained(
    changes: dict[str, Any], wire: str
) -> None:
    """A record missing what every record has is a final protocol error naming the wire key; no value rides along."""
    with pytest.raises(AgencyProtocolError) as caught:
        parse_record(with_(**changes), NIK)
    error = caught.value
    assert (error.agency, error.method, error.field) == ("dukcapil", "CALL_NIK", wire)
    assert error.detail == f"dukcapil answered CALL_NIK with a reply whose '{wire}' the adapter cannot read"
    assert error.__cause__ is None and error.__context__ is None
    kept = (str(error), repr(error), *(repr(arg) for arg in error.args), repr(vars(error)))
    for value in ("SITI", NIK, "12345", "1990-08-07", "31-02-1990", "MERDEKA"):
        assert not any(value in text for text in kept), value


def test_reply_without_a_record_is_a_protocol_error() -> None:
    """A success reply with no NIK at all is not a record the adapter can read: final, naming NIK."""
    with pytest.raises(AgencyProtocolError, match="without a record") as caught:
        parse_record({"RESPONSE_CODE": "01"}, NIK)
    assert (caught.value.method, caught.value.field) == ("CALL_NIK", "NIK")


def test_another_nik_s_record_is_never_handed_on() -> None:
    """A record of another NIK than asked is discarded as a final protocol error, neither NIK in the message."""
    other = "3273010504850002"
    with pytest.raises(AgencyProtocolError, match="another NIK") as caught:
        parse_record(with_(NIK=other), NIK)
    assert (caught.value.method, caught.value.field) == ("CALL_NIK", "NIK")
    assert NIK not in str(caught.value) and other not in str(caught.value)


@pytest.mark.parametrize("nik", ["", "327301470890000", "3273O14708900001"])
def test_bad_nik_never_reaches_the_wire(nik: str) -> None:
    """A NIK that is not 16 ASCII digits is a contract error; a good one is the whole body."""
    with pytest.raises(ContractError):
        nik_fields(nik)
    assert nik_fields(NIK) == {"NIK": NIK}


def test_every_synthetic_citizen_reads() -> None:
    """Every record the mock can send, for a large population, reads without a gap in the tables."""
    for citizen in Population.generate(seed=7, size=1500):
        result = parse_record(mock_record(citizen), citizen.nik)
        assert result.birth_date == citizen.birth_date
        assert result.address.village.code == citizen.village_code
