"""NIK-like values: what counts, what a counter's usual keys and ids look like instead, and the counter fields
of a request that refuse one because they are kept in clear."""

from __future__ import annotations

import string
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import Counter, ServiceRequest, contains_nik_like
from tests.unit.contracts._strategies import valid_niks

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)
NIK = "3201014708900001"
# Crockford's base32, the alphabet of ULIDs.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@pytest.mark.parametrize(
    "value",
    [
        NIK,
        "3201 0147 0890 0001",
        "3201.0147.0890.0001",
        "3201-0147-0890-0001",
        "320101 470890 0001",
        "320101-470890-0001",
        "32.01.01.470890.0001",
        "loket 3201014708900001",
        "op:3201014708900001",
        "nik=3201-0147-0890-0001;",
        "req_3201014708900001",
        "3201014708900001-retry",
        "1271020101200003",  # a family card (KK) number: sixteen digits too
        "9999999999999999",  # no NIK structure, still sixteen digits in a row
        "12 3201 0147 0890 0001",  # a NIK's groups after another number
    ],
)
def test_sixteen_digits_written_as_a_nik_are_nik_like(value: str) -> None:
    """Sixteen digits in a row, or in a NIK's groupings, standing on their own anywhere in the value, count."""
    assert contains_nik_like(value)


@pytest.mark.parametrize(
    "value",
    [
        "550e8400-e29b-41d4-a716-446655440000",  # UUID v4
        "12345678-1234-4123-8123-123456789012",  # a UUID that happens to be all digits
        "12345678123441238123123456789012",  # the same, written without dashes
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",  # ULID
        "01234567890123456789012345",  # a ULID that happens to be all digits
        "reg-2026-000123",
        "reg-0001",
        "loket-07-2026-11-22-0042",
        "loket-07",
        "op-001",
        "198507142010011002",  # an 18-digit staff number (NIP)
        "320101470890000",  # fifteen digits
        "32010147089000011",  # seventeen digits
        "x3201014708900001",  # glued to a letter: part of a longer token
        "3201014708900001x",
        "0812-3456-7890",  # a phone number (twelve digits)
        "2026-11-22T08:00:00+07:00",
    ],
)
def test_keys_ids_and_other_numbers_are_not_nik_like(value: str) -> None:
    """Common idempotency keys (UUID, ULID, ``reg-2026-000123``), staff numbers and shorter or longer numbers pass."""
    assert not contains_nik_like(value)


@PROPERTY
@given(st.integers(0, 2**128 - 1))
def test_no_uuid_is_nik_like(number: int) -> None:
    """No UUID is NIK-like, with or without its dashes: digit runs inside it are glued to its other characters."""
    value = uuid.UUID(int=number)
    assert not contains_nik_like(str(value))
    assert not contains_nik_like(value.hex)


@PROPERTY
@given(st.text(st.sampled_from(CROCKFORD), min_size=26, max_size=26))
def test_no_ulid_is_nik_like(ulid: str) -> None:
    """No ULID (26 characters of Crockford's base32) is NIK-like, even one made of digits only."""
    assert not contains_nik_like(ulid)


@PROPERTY
@given(
    before=st.text(string.ascii_letters + string.digits + "-_.:/ ", max_size=12),
    nik=valid_niks(),
    grouping=st.sampled_from([(16,), (4, 4, 4, 4), (6, 6, 4), (2, 2, 2, 6, 4)]),
    sep=st.sampled_from([" ", ".", "-"]),
    after=st.text(string.ascii_letters + string.digits + "-_.:/ ", max_size=12),
)
def test_a_nik_set_apart_by_a_space_is_nik_like_whatever_surrounds_it(
    before: str, nik: str, grouping: tuple[int, ...], sep: str, after: str
) -> None:
    """A NIK, whole or in its groups, with a space on each side, is found wherever it stands in the text."""
    groups, start = [], 0
    for size in grouping:
        groups.append(nik[start : start + size])
        start += size
    assert contains_nik_like(f"{before} {sep.join(groups)} {after}")


def request(**counter: str) -> dict[str, Any]:
    return {
        "service": "fake.thing.lookup",
        "applicant": {"nik": NIK},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-7", **counter},
        "payload": {},
    }


def refused_fields(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ServiceRequest.model_validate(body)
    return [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("counter", "fields"),
    [
        ({"desk": NIK}, ["counter.desk"]),
        ({"operator": "3201 0147 0890 0001"}, ["counter.operator"]),
        ({"mpp_id": NIK}, ["counter.mpp_id"]),
        ({"desk": f"loket {NIK}", "operator": f"op-{NIK}"}, ["counter.desk", "counter.operator"]),
    ],
    ids=["desk", "operator", "mpp-id", "both"],
)
def test_a_request_with_a_nik_in_a_counter_field_names_the_field(counter: dict[str, str], fields: list[str]) -> None:
    """A NIK-like value in a counter field is refused naming each such field, and the error never echoes it."""
    body = request(**counter)
    assert refused_fields(body) == fields
    with pytest.raises(ValidationError) as caught:
        ServiceRequest.model_validate(body)
    assert NIK not in str(caught.value) and "0147" not in str(caught.value)
    assert {e["msg"] for e in caught.value.errors()} == {
        "must not contain a NIK-like number (16 digits): this field is kept in clear"
    }


def test_the_nik_rule_is_reported_with_the_other_broken_fields() -> None:
    """A NIK-like desk is named alongside other broken fields of the same request, not after fixing them."""
    body = {**request(desk=NIK), "applicant": {"nik": "123"}}
    assert refused_fields(body) == ["applicant.nik", "counter.desk"]


def test_usual_counter_values_are_accepted() -> None:
    """Desk names, staff ids and 18-digit NIPs pass."""
    accepted = ServiceRequest.model_validate(request(desk="loket-07", operator="198507142010011002"))
    assert accepted.counter.operator == "198507142010011002"


def test_a_stored_counter_still_reads_back() -> None:
    """Counter alone (the record's view of a stored request) does not refuse: rows stored earlier stay readable."""
    assert Counter(mpp_id="mpp-a", desk=NIK, operator="op-7").desk == NIK
