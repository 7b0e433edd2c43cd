"""References and conditions of journey definitions: how a step's input is taken from earlier steps' output.

A string that is exactly ``${...}`` is a reference:

- ``${journey.payload}`` or ``${journey.payload.<path>}``: the journey payload the counter sent;
- ``${steps.<name>.result}`` or ``${steps.<name>.result.<path>}``: an earlier step's result;
- ``${steps.<name>.status}``: an earlier step's status (``completed``, ``skipped``, ``failed``, ...).

A path is dot-separated; a part of digits only indexes a list (``${steps.nib.result.projects.0.id}``). A string that
holds ``${`` anywhere else is refused: references are whole values, never spliced into text.

A condition is a JSON/YAML object of one of these forms (no code is ever evaluated)::

    {equals: [a, b]}        {not_equals: [a, b]}      {in: [a, [x, y, ...]]}     {exists: "${...}"}
    {not: <condition>}      {all: [<condition>, ...]} {any: [<condition>, ...]}

Operands are literals or references. ``equals`` compares as JSON does (``false`` is not ``0``). ``exists`` holds when
its reference resolves to a value other than ``null``; every other form raises :class:`Unresolved` when an operand
it needs does not exist (the step it reads was skipped or failed, or the field is absent), so the engine can skip the
step naming why. ``all`` and ``any`` take their conditions in order and stop at the first that decides.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final, Literal, Protocol

import orjson

from contracts import STEP_NAME_PATTERN, StepStatus

__all__ = [
    "Condition",
    "JourneyContext",
    "Reference",
    "StepOutcome",
    "Unresolved",
    "is_reference",
    "parse_condition",
    "parse_reference",
    "references",
    "resolve",
    "value_of",
]

_REFERENCE = re.compile(r"^\$\{([^${}]*)\}$")
_STEP_NAME = re.compile(STEP_NAME_PATTERN)
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class Reference:
    """One ``${...}`` of a definition, parsed."""

    #: As written: ``${steps.nib.result.company_name}``.
    text: str
    root: Literal["journey", "steps"]
    #: The step read, for root ``steps``.
    step: str | None
    part: Literal["payload", "result", "status"]
    #: The path after the part; ints index lists.
    path: tuple[str | int, ...]

    def __str__(self) -> str:
        return self.text


class Unresolved(Exception):
    """A reference whose value does not exist: the step it reads was skipped, failed or has not run, or the field is
    absent from its result."""

    def __init__(self, reference: Reference, reason: str) -> None:
        super().__init__(f"{reference.text}: {reason}")
        self.reference = reference
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class StepOutcome:
    """What a journey knows of one of its steps so far."""

    status: StepStatus
    result: Mapping[str, Any] | None


@dataclasses.dataclass(frozen=True)
class JourneyContext:
    """What references resolve against: the journey payload and its steps so far."""

    payload: Mapping[str, Any]
    steps: Mapping[str, StepOutcome]


def is_reference(value: Any) -> bool:
    """True when ``value`` is a string of the form ``${...}`` (well formed or not)."""
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


def parse_reference(text: str) -> Reference:
    """The reference ``text`` (``${...}``) names; :class:`ValueError` saying what is wrong with it."""
    match = _REFERENCE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a reference: write it whole as ${{journey.payload.<field>}} or "
                         "${steps.<name>.result.<field>}")  # fmt: skip
    parts = match.group(1).split(".")
    if any(not _SEGMENT.match(part) for part in parts):
        raise ValueError(f"{text!r}: each part of a reference is letters, digits, '_' or '-', separated by dots")
    if parts[0] == "journey":
        if len(parts) < 2 or parts[1] != "payload":
            raise ValueError(f"{text!r}: a journey reference reads ${{journey.payload...}}")
        return Reference(text, "journey", None, "payload", _path(parts[2:]))
    if parts[0] == "steps":
        if len(parts) < 3 or not _STEP_NAME.match(parts[1]):
            raise ValueError(
                f"{text!r}: a step reference reads ${{steps.<name>.result...}} or ${{steps.<name>.status}}"
            )
        step, part = parts[1], parts[2]
        if part == "result":
            return Reference(text, "steps", step, "result", _path(parts[3:]))
        if part == "status" and len(parts) == 3:
            return Reference(text, "steps", step, "status", ())
        raise ValueError(f"{text!r}: after the step name comes 'result' (and a path) or 'status' (alone)")
    raise ValueError(f"{text!r}: a reference starts with 'journey.payload' or 'steps.<name>'")


def _path(parts: Sequence[str]) -> tuple[str | int, ...]:
    return tuple(int(part) if part.isdigit() else part for part in parts)


def references(template: Any) -> list[Reference]:
    """Every reference in a payload or result template, in document order (:class:`ValueError` for a malformed one,
    or for ``${`` inside a longer string)."""
    return list(_walk(template))


def _walk(template: Any) -> Iterator[Reference]:
    if isinstance(template, str):
        if is_reference(template) or "${" in template:
            yield parse_reference(template)
    elif isinstance(template, Mapping):
        for value in template.values():
            yield from _walk(value)
    elif isinstance(template, list | tuple):
        for value in template:
            yield from _walk(value)


_RAISE: Final[Any] = object()


def resolve(template: Any, context: JourneyContext, *, absent: Any = _RAISE) -> Any:
    """A copy of ``template`` with each reference replaced by its value.

    An unresolved reference raises :class:`Unresolved`, unless ``absent`` is given: then it stands for that value
    (what a journey's combined answer does with the output of a step that was skipped).
    """
    if isinstance(template, str):
        if not (is_reference(template) or "${" in template):
            return template
        reference = parse_reference(template)
        if absent is _RAISE:
            return value_of(reference, context)
        try:
            return value_of(reference, context)
        except Unresolved:
            return absent
    if isinstance(template, Mapping):
        return {key: resolve(value, context, absent=absent) for key, value in template.items()}
    if isinstance(template, list | tuple):
        return [resolve(value, context, absent=absent) for value in template]
    return template


def value_of(reference: Reference, context: JourneyContext) -> Any:
    """The value ``reference`` stands for in ``context`` (a copy); :class:`Unresolved` when it does not exist."""
    if reference.root == "journey":
        return _follow(reference, context.payload)
    assert reference.step is not None
    outcome = context.steps.get(reference.step)
    if outcome is None:
        raise Unresolved(reference, f"step {reference.step!r} has not run")
    if reference.part == "status":
        return outcome.status.value
    if outcome.result is None:
        raise Unresolved(reference, f"step {reference.step!r} has no result (it is {outcome.status.value})")
    return _follow(reference, outcome.result)


def _follow(reference: Reference, value: Any) -> Any:
    for depth, key in enumerate(reference.path):
        where = ".".join(str(part) for part in reference.path[: depth + 1])
        if isinstance(key, int) and isinstance(value, list):
            if key >= len(value):
                raise Unresolved(reference, f"{where} is absent")
            value = value[key]
        elif isinstance(value, Mapping) and str(key) in value:
            value = value[str(key)]
        else:
            raise Unresolved(reference, f"{where} is absent")
    return copy.deepcopy(value)


class Condition(Protocol):
    """A step's ``when``: it runs only when the condition holds."""

    def holds(self, context: JourneyContext) -> bool:
        """Whether the condition holds; :class:`Unresolved` when an operand it needs does not exist."""
        ...

    def references(self) -> list[Reference]:
        """Every reference the condition reads."""
        ...


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: ``false`` is not ``0``, ``1`` is ``1.0``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def _text(raw: Any) -> str:
    return orjson.dumps(raw, default=str).decode()


@dataclasses.dataclass(frozen=True)
class _Equals:
    left: Any
    right: Any
    negate: bool = False

    def holds(self, context: JourneyContext) -> bool:
        same = _equal(resolve(self.left, context), resolve(self.right, context))
        return not same if self.negate else same

    def references(self) -> list[Reference]:
        return references([self.left, self.right])

    def __str__(self) -> str:
        return _text({"not_equals" if self.negate else "equals": [self.left, self.right]})


@dataclasses.dataclass(frozen=True)
class _In:
    item: Any
    choices: Any

    def holds(self, context: JourneyContext) -> bool:
        item = resolve(self.item, context)
        choices = resolve(self.choices, context)
        if not isinstance(choices, list):
            reference = references(self.choices)[0]
            raise Unresolved(reference, "is not a list")
        return any(_equal(item, choice) for choice in choices)

    def references(self) -> list[Reference]:
        return references([self.item, self.choices])

    def __str__(self) -> str:
        return _text({"in": [self.item, self.choices]})


@dataclasses.dataclass(frozen=True)
class _Exists:
    reference: Reference

    def holds(self, context: JourneyContext) -> bool:
        try:
            return value_of(self.reference, context) is not None
        except Unresolved:
            return False

    def references(self) -> list[Reference]:
        return [self.reference]

    def __str__(self) -> str:
        return _text({"exists": self.reference.text})


@dataclasses.dataclass(frozen=True)
class _Not:
    condition: Condition

    def holds(self, context: JourneyContext) -> bool:
        return not self.condition.holds(context)

    def references(self) -> list[Reference]:
        return self.condition.references()

    def __str__(self) -> str:
        return f'{{"not":{self.condition}}}'


@dataclasses.dataclass(frozen=True)
class _Combined:
    conditions: tuple[Condition, ...]
    every: bool

    def holds(self, context: JourneyContext) -> bool:
        for condition in self.conditions:
            if condition.holds(context) is not self.every:
                return not self.every
        return self.every

    def references(self) -> list[Reference]:
        return [reference for condition in self.conditions for reference in condition.references()]

    def __str__(self) -> str:
        return f'{{"{"all" if self.every else "any"}":[{",".join(str(c) for c in self.conditions)}]}}'


_FORMS = ("equals", "not_equals", "in", "exists", "not", "all", "any")


def parse_condition(raw: Mapping[str, Any]) -> Condition:
    """The condition ``raw`` describes; :class:`ValueError` naming what is wrong and where (``all[1].equals``)."""
    return _parse(raw, "")


def _parse(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise ValueError(f"{where or 'condition'}: a condition is an object with one of {', '.join(_FORMS)}")
    [(form, operand)] = raw.items()
    here = f"{where}.{form}" if where else str(form)
    if form in ("equals", "not_equals", "in"):
        if not isinstance(operand, list) or len(operand) != 2:
            raise ValueError(f"{here}: takes a list of two operands")
        _operand_references(operand, here)
        if form == "in":
            if not (isinstance(operand[1], list) or is_reference(operand[1])):
                raise ValueError(f"{here}: the second operand is a list or a reference to one")
            return _In(operand[0], operand[1])
        return _Equals(operand[0], operand[1], negate=form == "not_equals")
    if form == "exists":
        if not is_reference(operand):
            raise ValueError(f"{here}: takes one reference, ${{...}}")
        return _Exists(_reference(operand, here))
    if form == "not":
        return _Not(_parse(operand, here))
    if form in ("all", "any"):
        if not isinstance(operand, list) or not operand:
            raise ValueError(f"{here}: takes a non-empty list of conditions")
        return _Combined(tuple(_parse(item, f"{here}[{i}]") for i, item in enumerate(operand)), every=form == "all")
    raise ValueError(f"{here}: unknown condition (one of {', '.join(_FORMS)})")


def _reference(text: str, where: str) -> Reference:
    try:
        return parse_reference(text)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _operand_references(operand: Any, where: str) -> None:
    try:
        references(operand)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
