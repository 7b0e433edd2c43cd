"""Properties of the contract under generated input: NIK rules and masking, every model's validation, and the
gateway's masking of free text. Runs are derandomized, so CI sees the same examples every time."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from adapters import discover_factories
from contracts import (
    PROVINCE_CODES,
    Applicant,
    Consent,
    Counter,
    Nik,
    Problem,
    RequestRecord,
    ServiceRequest,
    check_nik,
    mask_nik,
)
from gateway import AgencyConfig, Settings, build_registry, redact, redact_mapping
from tests.unit.contracts._strategies import from_json_schema, hostile_values, json_values, valid_niks

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)
# Models are many and each example validates twice; fewer examples per model keep the whole file in seconds.
PER_MODEL = settings(PROPERTY, max_examples=60, suppress_health_check=[HealthCheck.too_slow])

NIK = TypeAdapter(Nik)
ASCII_DIGITS = st.text("0123456789", min_size=16, max_size=16)
ANY_DIGITS = st.text(st.characters(categories=["Nd"]), min_size=16, max_size=16)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError("describing the services calls no agency")


class _Placeholders(dict[str, str]):
    """Whatever setting an adapter reads exists, spelled so that format checks (upper-case codes) pass."""

    def __missing__(self, key: str) -> str:
        return "PLACEHOLDER"

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]

    def __contains__(self, key: object) -> bool:
        return True


def payload_models() -> list[tuple[str, type[BaseModel]]]:
    """Every installed adapter's services, by id, with their payload models."""
    factories = discover_factories()
    placeholder = AgencyConfig(base_url="http://127.0.0.1:9", adapter_settings=_Placeholders())
    agencies = dict.fromkeys(factories, placeholder)
    registry = build_registry(Settings(agencies=agencies), httpx.MockTransport(_unreachable), factories)
    return sorted((service_id, service.payload_model) for service_id, (_, service) in registry.services.items())


MODELS: list[tuple[str, type[BaseModel]]] = [
    (m.__name__, m) for m in (ServiceRequest, Applicant, Counter, Consent, RequestRecord, Problem)
] + payload_models()
MODEL_IDS = [name for name, _ in MODELS]


@functools.cache
def _strategies(model: type[BaseModel]) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Values the model's JSON Schema allows, and hostile ones; built once, as compiling patterns is not free."""
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    return from_json_schema(schema, defs), hostile_values(schema, defs)


@PROPERTY
@given(st.text() | ASCII_DIGITS | ANY_DIGITS)
def test_check_nik_accepts_unchanged_or_raises_value_error(text: str) -> None:
    """check_nik returns its argument or raises ValueError (which never carries the value), on any text."""
    try:
        accepted = check_nik(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert accepted == text
        return
    assert text not in message or len(text) < 4  # a digit or two may well occur in "16 digits"


@PROPERTY
@given(json_values)
def test_nik_type_raises_only_validation_error(value: Any) -> None:
    """The Nik type validates any JSON value or raises pydantic's ValidationError, never anything else."""
    with contextlib.suppress(ValidationError):
        NIK.validate_python(value)


@PROPERTY
@given(ASCII_DIGITS | ANY_DIGITS)
def test_accepted_sixteen_digit_strings_keep_the_structural_rules(value: str) -> None:
    """A 16-digit string passes only with ASCII digits, a province in use, a real month and a non-zero serial."""
    try:
        check_nik(value)
    except ValueError:
        return
    assert value.isascii()
    assert value[:2] in PROVINCE_CODES
    assert 1 <= int(value[8:10]) <= 12
    assert value[12:] != "0000"


@PROPERTY
@given(valid_niks())
def test_structurally_valid_niks_are_accepted_and_round_trip(nik: str) -> None:
    """Every NIK built from the rules (women's day + 40 included) validates and survives a JSON round trip."""
    assert check_nik(nik) == nik
    applicant = Applicant.model_validate({"nik": nik})
    dumped = applicant.model_dump(mode="json")
    assert dumped == {"nik": nik}
    assert Applicant.model_validate_json(orjson.dumps(dumped)) == applicant


@PROPERTY
@given(st.text() | ASCII_DIGITS)
def test_mask_reveals_at_most_four_leading_and_two_trailing_characters(value: str) -> None:
    """mask_nik keeps the length, shows at most the first four and last two characters, and stars the rest."""
    masked = mask_nik(value)
    assert len(masked) == len(value)
    if len(value) <= 6:
        assert masked == "*" * len(value)
        return
    assert masked[:4] == value[:4] and masked[-2:] == value[-2:]
    assert set(masked[4:-2]) == {"*"}


@PROPERTY
@given(valid_niks())
def test_mask_of_a_nik_hides_district_birth_date_and_most_of_the_serial(nik: str) -> None:
    """A masked NIK shows province and regency and the serial's last two digits only."""
    assert mask_nik(nik) == nik[:4] + "*" * 10 + nik[-2:]


@PER_MODEL
@pytest.mark.parametrize("model", [m for _, m in MODELS], ids=MODEL_IDS)
@given(data=st.data())
def test_models_refuse_arbitrary_json_only_with_validation_error(model: type[BaseModel], data: st.DataObject) -> None:
    """Any JSON value either validates or raises ValidationError, for the contract and every service payload."""
    value = data.draw(_strategies(model)[1])
    with contextlib.suppress(ValidationError):
        model.model_validate(value)


@PER_MODEL
@pytest.mark.parametrize("model", [m for _, m in MODELS], ids=MODEL_IDS)
@given(data=st.data())
def test_valid_instances_round_trip_through_json(model: type[BaseModel], data: st.DataObject) -> None:
    """A value the model accepts dumps to JSON that validates back to an equal instance with the same dump."""
    value = data.draw(_strategies(model)[0])
    try:
        instance = model.model_validate(value)
    except ValidationError:
        assume(False)
        return
    dumped = instance.model_dump(mode="json")
    again = model.model_validate_json(orjson.dumps(dumped))
    assert again == instance
    assert again.model_dump(mode="json") == dumped


_FREE_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)


@PROPERTY
@given(before=_FREE_TEXT, nik=valid_niks(), after=_FREE_TEXT)
def test_redact_masks_a_nik_anywhere_in_free_text(before: str, nik: str, after: str) -> None:
    """Whatever surrounds it, a NIK in free text comes out of redact masked, and the text around it stays."""
    glued = redact(before + nik + after)
    assert nik not in glued
    assert redact(glued) == glued
    spaced = redact(f"{before} {nik} {after}")
    assert spaced == f"{redact(before)} {mask_nik(nik)} {redact(after)}"


_GROUPINGS = [(4, 4, 4, 4), (2, 2, 2, 6, 4), (6, 6, 4)]


@PROPERTY
@given(
    before=_FREE_TEXT,
    nik=valid_niks(),
    grouping=st.sampled_from(_GROUPINGS),
    sep=st.sampled_from([" ", ".", "-"]),
    after=_FREE_TEXT,
)
def test_redact_masks_a_nik_written_in_groups(
    before: str, nik: str, grouping: tuple[int, ...], sep: str, after: str
) -> None:
    """A NIK written in groups ("3201 0147 0890 0001", "32.01.01.470890.0001") comes out masked whole."""
    groups, start = [], 0
    for size in grouping:
        groups.append(nik[start : start + size])
        start += size
    written = sep.join(groups)
    masked = redact(f"{before} NIK {written}, {after}")
    assert written not in masked
    assert masked == f"{redact(before)} NIK {mask_nik(nik)}, {redact(after)}"


@PROPERTY
@given(key=st.text(max_size=12), nik=valid_niks(), value=json_values)
def test_redact_mapping_masks_a_nik_nested_anywhere(key: str, nik: str, value: Any) -> None:
    """A NIK nested at any depth of a log event, under any key, is masked in what redact_mapping returns."""
    event = {"event": "x", "data": [value, {key: nik}, {"text": f"nik {nik}."}]}
    assert nik not in orjson.dumps(redact_mapping(event)).decode()
