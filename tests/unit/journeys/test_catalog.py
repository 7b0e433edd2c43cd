"""The journey catalog: loading definition files, checking them against the services, the graph and descriptors."""

from __future__ import annotations

import copy
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from adapters.bpjs_kesehatan.services import SERVICES as BPJS_KESEHATAN
from adapters.bpjs_ketenagakerjaan.services import SERVICES as BPJS_KETENAGAKERJAAN
from adapters.dukcapil.services import SERVICES as DUKCAPIL
from adapters.oss.services import SERVICES as OSS
from contracts import ServiceDescriptor, StepStatus
from gateway.journeys import (
    JourneyCatalog,
    JourneyDefinition,
    JourneyDefinitionError,
    compile_journey,
    load_journeys,
    parse_definition,
)

SERVICES: dict[str, ServiceDescriptor] = {
    s.id: s.descriptor() for s in (*DUKCAPIL, *BPJS_KESEHATAN, *BPJS_KETENAGAKERJAAN, *OSS)
}

#: A small valid definition the table of broken ones starts from.
BASE: dict[str, Any] = {
    "id": "test.base",
    "title": {"id": "Uji", "en": "Test"},
    "visit_budget_seconds": 60,
    "payload_schema": {
        "type": "object",
        "required": ["nib"],
        "properties": {"nib": {"type": "string"}, "flag": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "steps": [
        {"name": "nib", "service": "oss.nib.check", "payload": {"nib": "${journey.payload.nib}"}},
        {"name": "member", "service": "bpjs-ketenagakerjaan.peserta.verify"},
        {
            "name": "health",
            "service": "bpjs-kesehatan.peserta.by-nik",
            "payload": {"service_date": "2026-01-05"},
            "needs": ["nib"],
            "when": {"equals": ["${steps.member.result.member}", True]},
            "required": False,
        },
    ],
    "result": {"company": "${steps.nib.result.company_name}", "card": "${steps.health.result.card_number}"},
}


def compiled(raw: dict[str, Any], services: dict[str, ServiceDescriptor] = SERVICES) -> Any:
    return compile_journey(JourneyDefinition.model_validate(raw), services, source="test.yaml")


def write(folder: Path, name: str, raw: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(raw) if name.endswith(".json") else yaml.safe_dump(raw), encoding="utf-8")
    return path


def changed(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at ``path`` (dot-separated; digits index lists) replaced; ``...`` deletes it."""
    raw = copy.deepcopy(BASE)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = raw
    for part in parents:
        node = node[part]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return raw


# -- the graph --------------------------------------------------------------------------------------------------------


def test_dependencies_come_from_needs_and_references() -> None:
    """A step depends on the steps it needs and on those its payload or condition reads; others are independent."""
    journey = compiled(BASE)
    assert journey.dependencies == {"nib": frozenset(), "member": frozenset(), "health": {"nib", "member"}}
    assert journey.order == ("nib", "member", "health")


def test_order_is_topological_whatever_the_file_order() -> None:
    """A step listed before the steps it reads still comes after them in ``order``."""
    raw = copy.deepcopy(BASE)
    raw["steps"] = list(reversed(raw["steps"]))
    assert compiled(raw).order == ("member", "nib", "health")


def test_ready_gives_pending_steps_whose_dependencies_are_final() -> None:
    """Independent steps are ready at once; a step waits until every dependency is final, whatever its outcome."""
    journey = compiled(BASE)
    assert journey.ready({}) == ["nib", "member"]
    assert journey.ready({"nib": StepStatus.RUNNING, "member": StepStatus.RUNNING}) == []
    assert journey.ready({"nib": StepStatus.COMPLETED, "member": StepStatus.RUNNING}) == []
    assert journey.ready({"nib": StepStatus.FAILED, "member": StepStatus.COMPLETED}) == ["health"]
    assert journey.ready({"nib": StepStatus.SKIPPED, "member": StepStatus.REJECTED,
                          "health": StepStatus.PENDING}) == ["health"]  # fmt: skip
    assert journey.ready({"nib": StepStatus.COMPLETED, "member": StepStatus.COMPLETED,
                          "health": StepStatus.COMPLETED}) == []  # fmt: skip


# -- references against the services' schemas ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "reference"),
    [
        ("bpjs-kesehatan.peserta.by-nik", "${steps.source.result.status.active}"),  # through a $ref
        ("bpjs-kesehatan.peserta.by-nik", "${steps.source.result.primary_care_provider.name}"),  # anyOf[$ref, null]
        ("bpjs-kesehatan.peserta.by-nik", "${steps.source.result}"),
        ("bpjs-ketenagakerjaan.peserta.verify", "${steps.source.result.programmes.0}"),  # list items
        ("dukcapil.nik.verify", "${steps.source.result.fields.full_name.score}"),  # additionalProperties map
        ("dukcapil.nik.lookup", "${steps.source.result.address.province.name}"),  # $ref in $ref
        ("dukcapil.nik.lookup", "${steps.source.status}"),
    ],
)
def test_references_resolve_through_refs_unions_lists_and_maps(service: str, reference: str) -> None:
    """A reference into a result schema follows $ref/$defs, anyOf, array items and additionalProperties."""
    raw = {
        **BASE,
        "steps": [{"name": "source", "service": service, "payload": _payload_for(service)}],
        "result": {"value": reference},
    }
    compiled(raw)


def _payload_for(service: str) -> dict[str, Any]:
    return {"service_date": "2026-01-05"} if service == "bpjs-kesehatan.peserta.by-nik" else {}


# -- descriptors ------------------------------------------------------------------------------------------------------


def test_descriptor_describes_steps_with_service_titles_and_flags() -> None:
    """The catalog entry lists steps with their service's title (unless the step has its own), needs, required
    and conditional; personal_data is true when any step's service reads personal data."""
    raw = copy.deepcopy(BASE)
    raw["steps"][1]["title"] = {"id": "Kepesertaan", "en": "Membership"}
    journey = compiled(raw)
    steps = {step.name: step for step in journey.descriptor.steps}
    assert steps["nib"].title == SERVICES["oss.nib.check"].title
    assert steps["member"].title.en == "Membership"
    assert steps["health"].needs == ["nib", "member"]
    assert (steps["health"].required, steps["health"].conditional) == (False, True)
    assert (steps["nib"].required, steps["nib"].conditional, steps["nib"].needs) == (True, False, [])
    assert journey.personal_data is journey.descriptor.personal_data is True
    assert journey.descriptor.payload_schema == BASE["payload_schema"]
    assert journey.descriptor.title.id == "Uji"


def test_personal_data_is_false_when_no_step_reads_any() -> None:
    """A journey of services without personal data needs no consent."""
    raw = {**BASE, "steps": [BASE["steps"][0]], "result": {"company": "${steps.nib.result.company_name}"}}
    assert compiled(raw).personal_data is False


def test_result_schema_is_built_from_the_referenced_fields() -> None:
    """The combined answer's schema takes each referenced field's schema, $refs inlined; a field read from an
    optional or conditional step (or one depending on such a step) may be null and is not required, a step's
    status always is."""
    raw = copy.deepcopy(BASE)
    raw["result"] = {
        "company": "${steps.nib.result.company_name}",
        "active": "${steps.nib.result.active}",
        "card": "${steps.health.result.card_number}",
        "jkn": "${steps.health.result.status}",
        "health": "${steps.health.status}",
        "fixed": "v1",
        "both": {"nib": "${steps.nib.result.nib}", "member": "${steps.member.result.member}"},
    }
    schema = compiled(raw).descriptor.result_schema
    assert schema["required"] == ["company", "active", "health", "fixed", "both"]
    assert schema["additionalProperties"] is False
    properties = schema["properties"]
    assert properties["active"]["type"] == "boolean"
    assert properties["card"]["anyOf"][-1] == {"type": "null"}
    assert properties["jkn"]["anyOf"][0]["properties"]["active"]["type"] == "boolean"
    assert properties["health"]["enum"] == [status.value for status in StepStatus]
    assert properties["fixed"] == {"const": "v1"}
    assert properties["both"]["properties"]["member"]["type"] == "boolean"
    assert "$ref" not in json.dumps(schema)


# -- loading ----------------------------------------------------------------------------------------------------------


def test_shipped_journeys_load_with_every_service() -> None:
    """With every built-in adapter's services, the three shipped journeys load, titled in Indonesian and English."""
    catalog = load_journeys(SERVICES)
    assert sorted(journey.id for journey in catalog) == [
        "business.micro-start", "counter.membership-check", "oss.permit-flow"
    ]  # fmt: skip
    for descriptor in catalog.descriptors():
        assert descriptor.title.id and descriptor.title.en and descriptor.title.id != descriptor.title.en
        assert descriptor.description is not None
    assert all(journey.source.startswith("gateway/journeys/definitions/") for journey in catalog)


def test_a_shipped_journey_whose_services_are_not_loaded_is_left_out_with_a_log_line() -> None:
    """A gateway without some adapters still starts: the shipped journeys it cannot run are left out, one info
    line each naming the missing services."""
    only_oss = {sid: s for sid, s in SERVICES.items() if sid.startswith("oss.")}
    with structlog.testing.capture_logs() as logs:
        catalog = load_journeys(only_oss)
    assert [journey.id for journey in catalog] == ["oss.permit-flow"]
    left_out = {entry["journey"]: entry for entry in logs if entry["event"] == "journey.unavailable"}
    assert set(left_out) == {"business.micro-start", "counter.membership-check"}
    assert left_out["counter.membership-check"]["missing_services"] == [
        "bpjs-kesehatan.peserta.by-nik", "bpjs-ketenagakerjaan.peserta.verify", "dukcapil.nik.lookup"
    ]  # fmt: skip
    assert all(entry["log_level"] == "info" for entry in left_out.values())
    assert list(load_journeys({})) == []


def test_the_mpps_folder_adds_journeys_in_yaml_yml_and_json(tmp_path: Path) -> None:
    """Definitions in the MPP's folder are loaded beside the shipped ones (other files are ignored)."""
    folder = tmp_path / "journeys"
    write(folder, "a.yaml", {**BASE, "id": "mpp.a"})
    write(folder, "b.yml", {**BASE, "id": "mpp.b"})
    write(folder, "c.json", {**BASE, "id": "mpp.c"})
    write(folder, "README.md", {"not": "a definition"})
    catalog = load_journeys(SERVICES, folder=folder)
    ids = [journey.id for journey in catalog]
    assert ids[-3:] == ["mpp.a", "mpp.b", "mpp.c"] and len(ids) == 6
    journey = catalog.get("mpp.c")
    assert journey is not None and journey.source == str(folder / "c.json")
    assert catalog.get("mpp.none") is None and "mpp.a" in catalog


def test_a_folder_journey_whose_service_is_not_loaded_is_an_error(tmp_path: Path) -> None:
    """Unlike a shipped one, an MPP's journey naming a service this gateway does not load stops the start."""
    path = write(tmp_path / "j", "mine.yaml", {**BASE, "id": "mpp.mine"})
    without_bpjs = {sid: s for sid, s in SERVICES.items() if not sid.startswith("bpjs-kesehatan.")}
    with pytest.raises(JourneyDefinitionError) as caught:
        load_journeys(without_bpjs, folder=tmp_path / "j")
    error = caught.value
    assert (error.source, error.journey, error.step, error.field) == (str(path), "mpp.mine", "health", "service")
    assert str(error) == f"{path}: journey mpp.mine, step health, field service: unknown service " \
                         "'bpjs-kesehatan.peserta.by-nik'"  # fmt: skip


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    """MPP_JOURNEYS_DIR naming no folder stops the start, naming the path."""
    with pytest.raises(JourneyDefinitionError, match="is not a folder"):
        load_journeys(SERVICES, folder=tmp_path / "absent")


def test_a_journey_id_defined_twice_is_an_error(tmp_path: Path) -> None:
    """Two files defining one journey id (or an MPP file reusing a shipped id) are refused, naming both files."""
    write(tmp_path / "j", "a.yaml", {**BASE, "id": "counter.membership-check"})
    with pytest.raises(JourneyDefinitionError, match=r"defined again \(first in gateway/journeys/definitions/"):
        load_journeys(SERVICES, folder=tmp_path / "j")
    with pytest.raises(JourneyDefinitionError, match="defined again"):
        JourneyCatalog([compiled(BASE), compiled(BASE)])


# -- broken definitions -----------------------------------------------------------------------------------------------

BROKEN: list[tuple[str, dict[str, Any], str | None, str | None, str]] = [
    # (case, definition, step, field, message fragment)
    ("unknown key", changed("colour", "red"), None, "colour", "Extra inputs are not permitted"),
    ("no steps", changed("steps", []), None, "steps", "at least 1 item"),
    ("bad journey id", changed("id", "Test"), None, "id", "should match pattern"),
    ("bad step name", changed("steps.1.name", "Member"), "Member", "name", "should match pattern"),
    ("step without service", changed("steps.0.service", ...), "nib", "service", "Field required"),
    ("step named twice", changed("steps.1.name", "nib"), None, None, "step 'nib' is defined twice"),
    ("unknown service", changed("steps.1.service", "bpjs-ketenagakerjaan.peserta.lookup"), "member", "service",
     "unknown service 'bpjs-ketenagakerjaan.peserta.lookup'"),
    ("needs unknown step", changed("steps.2.needs", ["nibb"]), "health", "needs", "needs unknown step 'nibb'"),
    ("needs itself", changed("steps.2.needs", ["health"]), "health", "needs", "cannot need itself"),
    ("cycle through needs", changed("steps.0.needs", ["health"]), "nib", "needs",
     "the steps nib -> health -> nib depend on each other in a cycle"),
    ("cycle through references", changed("steps.1.payload", {"x": "${steps.health.result.name}"}), "member",
     "needs", "the steps member -> health -> member depend on each other in a cycle"),
    ("malformed reference", changed("steps.0.payload.nib", "${journey.nib}"), "nib", "payload.nib",
     "a journey reference reads ${journey.payload...}"),
    ("reference spliced into text", changed("steps.0.payload.nib", "NIB ${journey.payload.nib}"), "nib",
     "payload.nib", "is not a reference"),
    ("reference to an unknown step", changed("steps.2.payload.service_date", "${steps.visit.result.date}"),
     "health", "payload.service_date", "unknown step 'visit'"),
    ("reference to its own result", changed("steps.2.payload.service_date", "${steps.health.result.service_date}"),
     "health", "payload.service_date", "a step cannot read its own result"),
    ("result field that does not exist", changed("steps.2.when", {"equals": ["${steps.member.result.npp}", 1]}),
     "health", "when", "the result of bpjs-ketenagakerjaan.peserta.verify has no field 'npp'"),
    ("nested field that does not exist", changed("result.card", "${steps.health.result.status.colour}"), None,
     "result.card", "the result of bpjs-kesehatan.peserta.by-nik has no field 'status.colour'"),
    ("field below a scalar", changed("result.company", "${steps.nib.result.active.value}"), None,
     "result.company", "has no field 'active.value'"),
    ("journey payload field that does not exist", changed("steps.0.payload.nib", "${journey.payload.nbi}"), "nib",
     "payload.nib", "the journey payload_schema has no field 'nbi'"),
    ("malformed condition", changed("steps.2.when", {"equal": [1, 1]}), "health", "when",
     "equal: unknown condition"),
    ("condition with a bad reference", changed("steps.2.when", {"exists": "${steps.member.member}"}), "health",
     "when", "exists: '${steps.member.member}'"),
    ("condition that can never hold", changed("steps.2.when", {"equals": ["${steps.member.result.member}", "false"]}),
     "health", "when", "equals: compares boolean with string, which never match"),
    ("in a field that is not a list", changed("steps.2.when", {"in": ["JKK", "${steps.member.result.member}"]}),
     "health", "when", "in: ${steps.member.result.member} is boolean, not a list"),
    ("in choices of another type",
     changed("steps.2.when", {"not": {"all": [{"in": ["${steps.member.result.member}", ["yes", "no"]]}]}}),
     "health", "when", "not.all[0].in: ${steps.member.result.member} is boolean; none of the choices is"),
    ("invalid payload schema", changed("payload_schema.properties.nib", {"type": "text"}), None,
     "payload_schema.properties.nib.type", "not a valid JSON Schema"),
    ("payload schema not an object", changed("payload_schema", {"type": "string"}), None, "payload_schema.type",
     "the journey payload is an object"),
    ("field the service does not take", changed("steps.1.payload", {"nik": "3201010101010001"}), "member",
     "payload.nik", "bpjs-ketenagakerjaan.peserta.verify takes no field 'nik'"),
    ("field the service requires", changed("steps.2.payload", {}), "health", "payload.service_date",
     "bpjs-kesehatan.peserta.by-nik requires this field"),
    ("literal that does not fit", changed("steps.0.payload.nib", "12345"), "nib", "payload.nib",
     "does not fit oss.nib.check: '12345' does not match"),
    ("reference of another type", changed("steps.0.payload.nib", "${steps.member.result.member}"), "nib",
     "payload.nib", "${steps.member.result.member} is boolean; the service expects string"),
    ("journey payload of another type", changed("steps.0.payload.nib", "${journey.payload.flag}"), "nib",
     "payload.nib", "${journey.payload.flag} is boolean; the service expects string"),
    ("object where a string goes", changed("steps.0.payload.nib", {"v": "${journey.payload.nib}"}), "nib",
     "payload.nib", "the service expects string here, not an object"),
    ("nested field the service does not take",
     {**BASE, "steps": [{"name": "reg", "service": "bpjs-ketenagakerjaan.peserta.register", "payload": {
         "occupation": "trader", "monthly_income": "below_2m", "programmes": ["JKK", "JKM"], "phone": "0812",
         "address": {"street": "Jl. A", "village": "V", "district": "D", "regency": "R", "province": "P",
                     "city": "X"}}}], "result": {}},
     "reg", "payload.address.city", "takes no field 'city'"),
    ("result reference to an unknown step", changed("result.card", "${steps.card.result.x}"), None, "result.card",
     "unknown step 'card'"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw", "step", "field", "message"), BROKEN, ids=[case[0] for case in BROKEN])
def test_a_broken_definition_is_refused_naming_file_journey_step_and_field(
    tmp_path: Path, case: str, raw: dict[str, Any], step: str | None, field: str | None, message: str
) -> None:
    """Each kind of fault stops the load with one line naming the file, the journey, the step and the field."""
    path = write(tmp_path / "journeys", "broken.yaml", raw)
    with pytest.raises(JourneyDefinitionError) as caught:
        load_journeys(SERVICES, folder=tmp_path / "journeys")
    error = caught.value
    assert (error.source, error.step, error.field) == (str(path), step, field), str(error)
    assert error.journey == raw.get("id")
    assert message in str(error)
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"{path}: journey {raw['id']}")
    for part in (f"step {step}" if step else None, f"field {field}" if field else None):
        assert part is None or part in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: [unclosed", "is not valid YAML"),
        ("- a list\n- of things\n", "must hold one journey definition, an object"),
        ("", "must hold one journey definition, an object"),
    ],
)
def test_a_file_that_is_not_a_definition_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """A file that does not parse, or holds no object, is refused with one line naming it."""
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(JourneyDefinitionError) as caught:
        load_journeys(SERVICES, folder=folder)
    assert str(caught.value).startswith(f"{folder / 'bad.yaml'}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_invalid_json_is_refused() -> None:
    """A ``.json`` definition is read as JSON; a syntax error names the file."""
    with pytest.raises(JourneyDefinitionError, match=r"^x\.json: is not valid JSON"):
        parse_definition("{", source="x.json")


def test_several_shape_faults_report_the_first_and_count_the_rest() -> None:
    """The one line names the first shape fault and how many more there are."""
    raw = {**BASE, "colour": "red", "size": 3}
    with pytest.raises(JourneyDefinitionError, match=r"\(and 1 more\)$"):
        parse_definition(yaml.safe_dump(raw), source="x.yaml")


def test_the_documented_example_is_a_valid_definition() -> None:
    """The example in the definition format's docstring compiles against the real services."""
    module = inspect.getmodule(JourneyDefinition)
    assert module is not None and module.__doc__ is not None
    doc = module.__doc__
    example = textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\n", 1)[0])
    journey = compiled(yaml.safe_load(example))
    assert journey.dependencies["bpjstk_register"] == {"nib", "bpjstk"}


def test_a_key_given_twice_in_yaml_is_refused() -> None:
    """YAML would silently keep the last of two equal keys; a definition with one is refused, naming the line."""
    text = yaml.safe_dump(BASE, sort_keys=False).replace("steps:\n", "visit_budget_seconds: 5\nsteps:\n", 1)
    with pytest.raises(JourneyDefinitionError, match=r"found the key 'visit_budget_seconds' twice .* line"):
        parse_definition(text, source="x.yaml")


def test_yaml_dates_stay_strings_as_in_json() -> None:
    """An unquoted date in YAML is the string the service's JSON Schema expects, not a date object."""
    raw = copy.deepcopy(BASE)
    text = yaml.safe_dump(raw, sort_keys=False).replace("'2026-01-05'", "2026-01-05")
    assert "service_date: 2026-01-05\n" in text
    definition = parse_definition(text, source="x.yaml")
    assert definition.step("health").payload == {"service_date": "2026-01-05"}
    compile_journey(definition, SERVICES, source="x.yaml")


@pytest.mark.parametrize(
    "when",
    [
        {"in": ["JKK", "${steps.member.result.programmes}"]},
        {"in": ["${steps.member.result.status}", ["active", None]]},
        {"equals": ["${steps.member.result.kpj}", None]},
        {"not_equals": ["${steps.nib.result.nib}", "${journey.payload.nib}"]},
        {"any": [{"equals": ["${steps.nib.result.company_name}", "X"]}, {"exists": "${steps.member.result.kpj}"}]},
    ],
)
def test_comparisons_of_compatible_types_are_accepted(when: dict[str, Any]) -> None:
    """Comparisons that can hold (a list field with ``in``, nullable fields with null, two strings) load."""
    compiled(changed("steps.2.when", when))
