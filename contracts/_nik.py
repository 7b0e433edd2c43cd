"""The NIK (Nomor Induk Kependudukan) and KK (family card) number types.

A NIK is ``PP KK CC DD MM YY SSSS``: province, regency or city, district, birth day (women add 40), birth month,
birth year (century ambiguous) and a serial that is never ``0000``. There is no checksum. Validation errors name
the rule that failed and never echo the number itself, so that they are safe to show and to log.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

__all__ = ["PROVINCE_CODES", "KkNumber", "Nik", "check_nik", "contains_nik_like", "mask_nik"]

#: Province codes in use, Papua's 2022 split (91-96) included.
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 20)]
    + ["21"]
    + [str(n) for n in range(31, 37)]
    + ["51", "52", "53"]
    + [str(n) for n in range(61, 66)]
    + [str(n) for n in range(71, 77)]
    + ["81", "82"]
    + [str(n) for n in range(91, 97)]
)


def check_nik(value: str) -> str:
    """Return ``value`` when it is a structurally valid NIK; raise ``ValueError`` naming the broken rule."""
    if len(value) != 16 or not value.isascii() or not value.isdigit():
        raise ValueError("NIK must be exactly 16 digits")
    if value[0:2] not in PROVINCE_CODES:
        raise ValueError("NIK has an unknown province code (digits 1-2)")
    regency = int(value[2:4])
    if regency == 0 or regency == 70:
        raise ValueError("NIK has an invalid regency or city code (digits 3-4)")
    if value[4:6] == "00":
        raise ValueError("NIK has an invalid district code (digits 5-6)")
    day = int(value[6:8])
    if not (1 <= day <= 31 or 41 <= day <= 71):
        raise ValueError("NIK has an invalid birth day (digits 7-8: 01-31, or 41-71 for women)")
    month = int(value[8:10])
    if not 1 <= month <= 12:
        raise ValueError("NIK has an invalid birth month (digits 9-10)")
    if value[12:16] == "0000":
        raise ValueError("NIK serial (digits 13-16) must not be 0000")
    return value


# Sixteen digits written as one number: in a row, or in the groupings a NIK is printed and typed in (4-4-4-4,
# 6-6-4, 2-2-2-6-4), one kind of separator (a space, a dot or a dash) per number. The number stands on its own:
# a letter or digit right before or after it makes it part of a longer token (a UUID, a ULID, an 18-digit NIP).
_NIK_LIKE = re.compile(
    r"(?<![^\W_])"
    r"(?:\d{16}"
    r"|\d{4}(?P<a>[ .-])\d{4}(?P=a)\d{4}(?P=a)\d{4}"
    r"|\d{6}(?P<b>[ .-])\d{6}(?P=b)\d{4}"
    r"|\d{2}(?P<c>[ .-])\d{2}(?P=c)\d{2}(?P=c)\d{6}(?P=c)\d{4})"
    r"(?![^\W_])"
)


def contains_nik_like(value: str) -> bool:
    """True when ``value`` holds a NIK-like number: sixteen digits written as one number, not glued to other text.

    The digits may run together (``3201014708900001``) or come in the groups a NIK is written in, joined by one
    kind of separator: ``3201 0147 0890 0001``, ``320101-470890-0001``, ``32.01.01.470890.0001``. A letter or digit
    right before or after the number makes it part of a longer token, so the digits inside a UUID or a ULID, an
    18-digit staff number (NIP) or ``reg-2026-000123`` never count. Family card (KK) numbers have sixteen digits
    too and are caught alike. Only the shape is checked, not the NIK structure: a NIK mistyped by one digit is
    still a citizen's number.
    """
    return _NIK_LIKE.search(value) is not None


def _check_kk(value: str) -> str:
    if len(value) != 16 or not value.isascii() or not value.isdigit():
        raise ValueError("family card number must be exactly 16 digits")
    if value[0:2] not in PROVINCE_CODES:
        raise ValueError("family card number has an unknown province code (digits 1-2)")
    return value


def mask_nik(value: str) -> str:
    """Mask a 16-digit number as ``3201**********01``: province and regency visible, the rest hidden."""
    if len(value) <= 6:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 6) + value[-2:]


Nik = Annotated[
    str,
    Field(
        description="16-digit population number (NIK): province, regency, district, birth date, serial.",
        examples=["3201014708900001"],
        json_schema_extra={"pattern": "^[0-9]{16}$", "x-personal-data": True},
    ),
    AfterValidator(check_nik),
]
"""A structurally valid NIK. The value is personal data: mask it with :func:`mask_nik` before any output."""

KkNumber = Annotated[
    str,
    Field(
        description="16-digit family card number (Nomor Kartu Keluarga).",
        json_schema_extra={"pattern": "^[0-9]{16}$", "x-personal-data": True},
    ),
    AfterValidator(_check_kk),
]
"""A structurally valid family card (KK) number."""
