"""The one masking step every output path goes through: log events, problem details, attempt details.

Structured values under personal-data keys are masked whole; free text is scanned for long numbers, written
together or in groups (NIK and KK numbers, card and membership numbers, phone numbers), which keep only their
first four and last two digits (``3201**********01``). Names, birth dates and addresses cannot be recognised in
free text, so the gateway never puts payload values into messages; this step is the safety net for identifiers
that can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from contracts import mask_nik

__all__ = ["IDENTIFIER_KEYS", "PERSONAL_KEYS", "redact", "redact_mapping"]

# NIK and KK numbers (16 digits), BPJS card (13) and membership (11) numbers, phone numbers: any run of ten or
# more digits is an identifier worth hiding; dates, amounts and codes are shorter. People also write them in
# groups ("3201 0147 0890 0001", "32.01.01.470890.0001", "0812-3456-7890"): groups of two to six digits joined
# by one kind of separator count as one number when they hold ten digits or more together. A date
# ("2026-11-22") holds eight and a date with its hour ("2026-11-22 10:15") mixes separators, so neither is one.
# Both shapes start with the digit the scan stops at, so that the scan skips everything else at C speed.
_LONG_NUMBER = re.compile(
    r"\d(?:(?<![\d.-]\d)\d{1,5}(?P<sep>[ .-])\d{2,6}(?:(?P=sep)\d{2,6})*(?!\d)|(?<!\d\d)\d{9,}(?!\d))"
)
_DIGITS = re.compile(r"\d")
# IPv4 addresses are grouped digits too, and an operator needs them whole.
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# Trace ids (32 lower-case hex digits) and span ids (16) are the gateway's own identifiers, not personal data: a
# random one holds ten or more decimal digits in a row about one time in nine, and must still be found in the logs
# as it was written. Within free text, a token of exactly that length with at least one letter a-f is such an id
# (a NIK or card number has no letters, so it is still masked).
_HEX = frozenset("0123456789abcdef")
_HEX_ID_LENGTHS = (16, 32)
# The shapes of identifiers the gateway makes, under the keys that carry them: kept whole even when all digits.
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_GATEWAY_ID = re.compile(r"(?:req|evt)_[0-9A-HJKMNP-TV-Z]{26}")

#: Keys whose values are identifiers the gateway makes, with the shape a value must have to be kept whole.
IDENTIFIER_KEYS: dict[str, re.Pattern[str]] = {
    "trace_id": _TRACE_ID,
    "span_id": _SPAN_ID,
    "parent_span_id": _SPAN_ID,
    "traceparent": _TRACEPARENT,
    "request_id": _GATEWAY_ID,
    "event_id": _GATEWAY_ID,
    "webhook_id": _GATEWAY_ID,
}

#: Keys whose values are personal data wherever they appear (contract names and agency wire names).
PERSONAL_KEYS: frozenset[str] = frozenset(
    {
        "nik",
        "kk",
        "no_kk",
        "family_card_number",
        "name",
        "full_name",
        "nama",
        "nama_lgkp",
        "birth_date",
        "tgl_lhr",
        "tgllahir",
        "birth_place",
        "tmpt_lhr",
        "mother_name",
        "nama_lgkp_ibu",
        "father_name",
        "nama_lgkp_ayah",
        "address",
        "alamat",
        "applicant",
        "payload",
        "result",
        "no_kartu",
        "nokartu",
        "phone",
        "no_telepon",
    }
)


def _in_hex_id(text: str, position: int) -> bool:
    """Whether ``text[position]`` lies in a token of exactly 16 or 32 lower-case hex digits with a letter a-f."""
    start = position
    while start > 0 and text[start - 1] in _HEX:
        start -= 1
    end = position
    while end < len(text) and text[end] in _HEX:
        end += 1
    if end - start not in _HEX_ID_LENGTHS:
        return False
    if (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
        return False
    return not text[start:end].isdigit()


def _in_traceparent(text: str, first: int, last: int) -> bool:
    """Whether ``text[first]`` or ``text[last]`` lies in a W3C ``traceparent`` (its span id may be all digits)."""
    return any(m.start() <= first < m.end() or m.start() <= last < m.end() for m in _TRACEPARENT.finditer(text))


def _mask_number(match: re.Match[str]) -> str:
    found = match.group(0)
    text = match.string
    first, last = match.start(), match.end() - 1
    if _in_hex_id(text, first) or _in_hex_id(text, last) or _in_traceparent(text, first, last):
        return found
    if match.group("sep") is None:
        return mask_nik(found)
    digits = "".join(_DIGITS.findall(found))
    if len(digits) < 10 or _IPV4.fullmatch(found):
        return found
    return mask_nik(digits)


def redact(text: str) -> str:
    """Mask every number of ten or more digits in ``text``, grouped or not, keeping its first four and last two."""
    return _LONG_NUMBER.sub(_mask_number, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_nik(value) if value.isdigit() and len(value) == 16 else "***"
    return "***"


def redact_value(value: Any) -> Any:
    """Redact strings inside any JSON-like value."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with personal keys masked and long numbers in strings masked."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        lowered = key.lower()
        if lowered in PERSONAL_KEYS:
            out[key] = _mask_value(value)
        elif isinstance(value, str) and (shape := IDENTIFIER_KEYS.get(lowered)) and shape.fullmatch(value):
            out[key] = value  # an identifier the gateway made, even one that happens to be all digits
        else:
            out[key] = redact_value(value)
    return out
