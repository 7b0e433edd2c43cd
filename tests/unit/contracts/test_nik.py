"""The NIK type: structure rules from docs/agencies.md, and masking."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from contracts import Nik, check_nik, mask_nik


class Holder(BaseModel):
    nik: Nik


@pytest.mark.parametrize(
    "nik",
    [
        "3201014708900001",  # Jawa Barat, woman (day 47 = 7 + 40)
        "3171010101000001",  # DKI Jakarta, city code 71
        "1101013112990001",  # Aceh, 31 December
        "9601010101010001",  # Papua Barat Daya (2022 split)
        "9101017112000001",  # day 71: a woman born on the 31st
    ],
)
def test_valid_niks_pass(nik: str) -> None:
    """Structurally valid NIKs from across the provinces validate unchanged."""
    assert Holder(nik=nik).nik == nik


@pytest.mark.parametrize(
    ("nik", "rule"),
    [
        ("320101470890000", "16 digits"),
        ("32010147089000011", "16 digits"),
        ("32010147089000a1", "16 digits"),
        (
            "\uff13\uff12\uff10\uff11\uff10\uff11\uff14\uff17\uff10\uff18\uff19\uff10\uff10\uff10\uff10\uff11",
            "16 digits",
        ),  # full-width digits
        ("9901014708900001", "province"),
        ("2001014708900001", "province"),
        ("3200014708900001", "regency"),
        ("3270014708900001", "regency"),
        ("3201004708900001", "district"),
        ("3201010008900001", "birth day"),
        ("3201013208900001", "birth day"),
        ("3201014008900001", "birth day"),
        ("3201017208900001", "birth day"),
        ("3201014700900001", "birth month"),
        ("3201014713900001", "birth month"),
        ("3201014708900000", "serial"),
        ("0000000000000000", "province"),
    ],
)
def test_invalid_niks_name_the_broken_rule_without_echoing(nik: str, rule: str) -> None:
    """Each structural rule rejects with a message naming it, and the message never contains the number."""
    with pytest.raises(ValueError, match=rule) as info:
        check_nik(nik)
    assert nik not in str(info.value)
    with pytest.raises(ValidationError):
        Holder(nik=nik)


def test_birth_date_disagreeing_with_other_data_is_not_a_rejection() -> None:
    """The NIK is for life: only the structure is checked, not agreement with a declared birth date."""
    assert check_nik("3201010101010001") == "3201010101010001"


def test_mask_keeps_region_and_last_two_digits() -> None:
    """Masking shows province, regency and the last two digits only."""
    assert mask_nik("3201014708900001") == "3201**********01"
    assert mask_nik("123") == "***"
