"""References and conditions of journey definitions: parsing, resolving, and the condition forms."""

from __future__ import annotations

import re
from typing import Any

import pytest

from contracts import StepStatus
from gateway.journeys import (
    JourneyContext,
    Reference,
    StepOutcome,
    Unresolved,
    parse_condition,
    parse_reference,
    references,
    resolve,
)

CONTEXT = JourneyContext(
    payload={"nib": "8120000000001", "owner": {"full_name": "Siti"}, "items": [{"code": "A"}, {"code": "B"}]},
    steps={
        "employment": StepOutcome(StepStatus.COMPLETED, {"member": False, "kpj": None, "programmes": ["JKK", "JKM"]}),
        "business": StepOutcome(StepStatus.COMPLETED, {"active": True, "status_code": "01", "count": 0}),
        "health": StepOutcome(StepStatus.FAILED, None),
        "register": StepOutcome(StepStatus.SKIPPED, None),
    },
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${journey.payload}", Reference("${journey.payload}", "journey", None, "payload", ())),
        ("${journey.payload.owner.full_name}",
         Reference("${journey.payload.owner.full_name}", "journey", None, "payload", ("owner", "full_name"))),
        ("${steps.nib.result}", Reference("${steps.nib.result}", "steps", "nib", "result", ())),
        ("${steps.nib.result.projects.0.id}",
         Reference("${steps.nib.result.projects.0.id}", "steps", "nib", "result", ("projects", 0, "id"))),
        ("${steps.bpjstk_register.status}",
         Reference("${steps.bpjstk_register.status}", "steps", "bpjstk_register", "status", ())),
    ],
)  # fmt: skip
def test_references_parse_into_root_step_part_and_path(text: str, expected: Reference) -> None:
    """Each reference form parses into its root, step, part and path; digits index lists."""
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "${}",
        "${applicant.nik}",
        "${journey.result.x}",
        "${journey}",
        "${steps.nib}",
        "${steps.Nib.result.x}",
        "${steps.nib.payload.x}",
        "${steps.nib.status.code}",
        "${steps.nib.result..x}",
        "${steps.nib.result.a b}",
        "NIB ${journey.payload.nib}",
        "${journey.payload.nib}${journey.payload.nib}",
    ],
)
def test_malformed_references_are_refused(text: str) -> None:
    """A malformed reference, or ``${`` spliced into a longer text, is a ValueError quoting it."""
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        references({"field": [text]})


def test_references_lists_every_reference_in_document_order() -> None:
    """``references`` walks nested objects and lists and ignores literals."""
    template = {
        "a": "${journey.payload.nib}",
        "b": {"c": ["${steps.x.result.y}", 3, "plain $ text"]},
        "d": "${steps.x.status}",
    }
    assert [r.text for r in references(template)] == ["${journey.payload.nib}", "${steps.x.result.y}",
                                                      "${steps.x.status}"]  # fmt: skip


def test_resolve_replaces_references_and_keeps_literals() -> None:
    """A resolved template has each reference's value in place, nested and indexed, literals as they were."""
    template = {
        "nib": "${journey.payload.nib}",
        "second": "${journey.payload.items.1.code}",
        "member": "${steps.employment.result.member}",
        "kpj": "${steps.employment.result.kpj}",
        "state": "${steps.register.status}",
        "fixed": {"status_code": "50", "list": [1, "${steps.business.result.active}"]},
    }
    assert resolve(template, CONTEXT) == {
        "nib": "8120000000001",
        "second": "B",
        "member": False,
        "kpj": None,
        "state": "skipped",
        "fixed": {"status_code": "50", "list": [1, True]},
    }


def test_resolved_values_are_copies() -> None:
    """Changing a resolved value leaves the context untouched."""
    value = resolve("${steps.employment.result.programmes}", CONTEXT)
    value.append("JHT")
    assert CONTEXT.steps["employment"].result == {"member": False, "kpj": None, "programmes": ["JKK", "JKM"]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("${steps.unknown.result.x}", "has not run"),
        ("${steps.health.result.status}", "has no result (it is failed)"),
        ("${steps.register.result.kpj}", "has no result (it is skipped)"),
        ("${steps.employment.result.category}", "category is absent"),
        ("${steps.employment.result.programmes.5}", "programmes.5 is absent"),
        ("${steps.employment.result.kpj.x}", "kpj.x is absent"),
        ("${journey.payload.registration.phone}", "registration is absent"),
    ],
)
def test_a_value_that_does_not_exist_is_unresolved(text: str, reason: str) -> None:
    """A reference to a step that did not run, has no result, or lacks the field raises Unresolved naming why."""
    with pytest.raises(Unresolved) as caught:
        resolve({"x": text}, CONTEXT)
    assert caught.value.reference.text == text
    assert reason in caught.value.reason


def test_resolve_with_absent_stands_in_for_unresolved_references() -> None:
    """Given ``absent``, an unresolved reference becomes that value instead of raising."""
    template = {"kpj": "${steps.register.result.kpj}", "member": "${steps.employment.result.member}"}
    assert resolve(template, CONTEXT, absent=None) == {"kpj": None, "member": False}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"equals": ["${steps.employment.result.member}", False]}, True),
        ({"equals": ["${steps.employment.result.member}", True]}, False),
        ({"equals": ["${steps.business.result.count}", False]}, False),  # JSON: 0 is not false
        ({"equals": ["${steps.business.result.active}", 1]}, False),
        ({"equals": ["${steps.employment.result.programmes}", ["JKK", "JKM"]]}, True),
        ({"not_equals": ["${steps.business.result.status_code}", "06"]}, True),
        ({"in": ["${steps.business.result.status_code}", ["01", "02"]]}, True),
        ({"in": ["JHT", "${steps.employment.result.programmes}"]}, False),
        ({"in": ["JKM", "${steps.employment.result.programmes}"]}, True),
        ({"exists": "${steps.employment.result.member}"}, True),
        ({"exists": "${steps.employment.result.kpj}"}, False),  # null does not exist
        ({"exists": "${steps.register.result.kpj}"}, False),  # a skipped step produced nothing
        ({"exists": "${journey.payload.registration}"}, False),
        ({"not": {"exists": "${journey.payload.registration}"}}, True),
        ({"all": [{"equals": ["${steps.business.result.active}", True]},
                  {"equals": ["${steps.employment.result.member}", False]}]}, True),
        ({"all": [{"equals": ["${steps.business.result.active}", True]},
                  {"equals": ["${steps.employment.result.member}", True]}]}, False),
        ({"any": [{"equals": ["${steps.business.result.active}", False]},
                  {"equals": ["${steps.employment.result.member}", False]}]}, True),
        ({"any": [{"equals": [1, 2]}, {"equals": ["a", "b"]}]}, False),
    ],
)  # fmt: skip
def test_conditions_hold_as_their_form_says(condition: dict[str, Any], holds: bool) -> None:
    """Each condition form evaluates against the journey's payload and steps, with JSON equality."""
    assert parse_condition(condition).holds(CONTEXT) is holds


def test_a_condition_reading_a_missing_value_is_unresolved() -> None:
    """Outside ``exists``, a condition whose operand does not exist raises Unresolved (the step is then skipped)."""
    with pytest.raises(Unresolved, match="register"):
        parse_condition({"equals": ["${steps.register.result.kpj}", None]}).holds(CONTEXT)
    with pytest.raises(Unresolved):
        parse_condition({"not": {"in": ["x", "${steps.business.result.status_code}"]}}).holds(CONTEXT)


def test_all_and_any_stop_at_the_first_condition_that_decides() -> None:
    """``all`` stops at the first false, ``any`` at the first true: a later unresolved operand is not read."""
    missing = {"equals": ["${steps.register.result.kpj}", "x"]}
    assert parse_condition({"all": [{"equals": [1, 2]}, missing]}).holds(CONTEXT) is False
    assert parse_condition({"any": [{"equals": [1, 1]}, missing]}).holds(CONTEXT) is True
    with pytest.raises(Unresolved):
        parse_condition({"all": [{"equals": [1, 1]}, missing]}).holds(CONTEXT)


def test_a_condition_lists_the_references_it_reads() -> None:
    """``references()`` gives every reference of a nested condition, which makes the steps it reads dependencies."""
    condition = parse_condition(
        {"all": [{"equals": ["${steps.a.result.x}", 1]}, {"not": {"exists": "${steps.b.status}"}},
                 {"in": ["${journey.payload.k}", ["${steps.c.result.y}"]]}]}
    )  # fmt: skip
    assert [(r.step, r.part) for r in condition.references()] == [
        ("a", "result"), ("b", "status"), (None, "payload"), ("c", "result")
    ]  # fmt: skip


def test_a_condition_renders_as_its_json_form() -> None:
    """``str()`` of a condition is its compact JSON form (what a skipped step's reason can quote)."""
    raw = {"all": [{"equals": ["${steps.a.result.x}", False]}, {"not": {"exists": "${journey.payload.y}"}}]}
    assert str(parse_condition(raw)) == '{"all":[{"equals":["${steps.a.result.x}",false]},' \
                                        '{"not":{"exists":"${journey.payload.y}"}}]}'  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "condition: a condition is an object with one of"),
        ({"equals": [1, 2], "not": {"equals": [1, 1]}}, "a condition is an object with one of"),
        ({"greater": [1, 2]}, "greater: unknown condition"),
        ({"equals": [1]}, "equals: takes a list of two operands"),
        ({"equals": "${steps.a.result.x}"}, "equals: takes a list of two operands"),
        ({"in": ["a", "b"]}, "in: the second operand is a list or a reference to one"),
        ({"exists": "steps.a.result.x"}, "exists: takes one reference"),
        ({"exists": "${steps.a.x}"}, "exists: '${steps.a.x}'"),
        ({"equals": ["${steps.a}", 1]}, "equals: '${steps.a}'"),
        ({"all": []}, "all: takes a non-empty list of conditions"),
        ({"any": [{"equals": [1, 1]}, {"nope": 1}]}, "any[1].nope: unknown condition"),
        ({"not": {"all": [{"exists": "x"}]}}, "not.all[0].exists: takes one reference"),
        ({"not": "x"}, "not: a condition is an object"),
    ],
)
def test_malformed_conditions_are_refused_naming_where(raw: Any, message: str) -> None:
    """A malformed condition is a ValueError naming the place in the condition and what is wrong."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_condition(raw)
