"""The journey catalog: definitions loaded from files and checked against the service catalog before the gateway starts.

Shipped definitions live in ``gateway/journeys/definitions/*.yaml``; an MPP adds its own in the folder
``MPP_JOURNEYS_DIR`` names (``*.yaml``, ``*.yml`` or ``*.json``, one journey per file). Each is checked at load:

- the file parses and has the shape of :class:`~._definition.JourneyDefinition`; ``payload_schema`` is a valid
  JSON Schema (2020-12) of an object;
- every step's service exists (a shipped journey whose services this gateway does not load is left out, with one
  ``journey.unavailable`` log line; in the MPP's folder it is an error);
- every reference is well formed and resolves to a field of the payload schema or of the referenced step's service
  result schema (``$ref``/``$defs``, ``anyOf``/``oneOf``/``allOf`` and ``items`` followed); a step reads only other
  steps, and reading one makes it a dependency; ``needs`` names existing steps; the dependencies have no cycle;
- conditions parse; step payloads fit their service's payload schema where that can be told before the journey runs:
  no field the service does not take, every field it requires, literals valid, references of a compatible type.

Any fault raises :class:`JourneyDefinitionError`, whose message is one line naming file, journey, step and field.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs
import orjson
import structlog
import yaml  # type: ignore[import-untyped]  # no stubs
from pydantic import ValidationError

from contracts import (
    JourneyDescriptor,
    JourneyStepDescriptor,
    ServiceDescriptor,
    StepStatus,
)

from ._definition import JourneyDefinition, StepDefinition
from ._expressions import Reference, parse_condition, references

__all__ = [
    "CompiledJourney",
    "JourneyCatalog",
    "JourneyDefinitionError",
    "compile_journey",
    "load_journeys",
    "parse_definition",
]

_SUFFIXES = (".yaml", ".yml", ".json")
_STATUS_SCHEMA: dict[str, Any] = {"type": "string", "enum": [status.value for status in StepStatus]}
_MAX_REF_DEPTH = 32
#: Checks a journey's payload_schema as ``check_schema`` does, built once (building it is most of a check's time).
_META_SCHEMA = jsonschema.Draft202012Validator(
    jsonschema.Draft202012Validator.META_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


class JourneyDefinitionError(ValueError):
    """A journey definition the gateway refuses; ``str()`` is one line naming file, journey, step and field."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        journey: str | None = None,
        step: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.journey = journey
        self.step = step
        self.field = field
        self.message = message
        where = [f"journey {journey}"] if journey else []
        where += [f"step {step}"] if step else []
        where += [f"field {field}"] if field else []
        super().__init__(f"{source}: {', '.join(where)}{': ' if where else ''}{message}")


@dataclasses.dataclass(frozen=True)
class CompiledJourney:
    """A definition checked against the service catalog, with its dependency graph worked out."""

    definition: JourneyDefinition
    #: The file it came from.
    source: str
    #: step -> the steps that must be final before it starts (its ``needs`` and the steps it references).
    dependencies: Mapping[str, frozenset[str]]
    #: A topological order of the steps (definition order among independent ones).
    order: tuple[str, ...]
    #: True when any step's service reads personal data: the journey needs consent.
    personal_data: bool
    #: Its ``GET /v1/journeys`` entry.
    descriptor: JourneyDescriptor

    @property
    def id(self) -> str:
        """The journey id."""
        return self.definition.id

    def ready(self, statuses: Mapping[str, StepStatus]) -> list[str]:
        """The pending steps (absent ones count as pending) whose dependencies are all final, in ``order``."""
        pending = StepStatus.PENDING
        return [
            name
            for name in self.order
            if statuses.get(name, pending) is pending
            and all(statuses.get(dep, pending).final for dep in self.dependencies[name])
        ]


class JourneyCatalog:
    """The journeys this gateway offers, by id."""

    def __init__(self, journeys: Iterable[CompiledJourney] = ()) -> None:
        self._journeys: dict[str, CompiledJourney] = {}
        for journey in journeys:
            if (other := self._journeys.get(journey.id)) is not None:
                raise JourneyDefinitionError(
                    f"defined again (first in {other.source})", source=journey.source, journey=journey.id
                )
            self._journeys[journey.id] = journey

    def get(self, journey_id: str) -> CompiledJourney | None:
        """The journey ``journey_id``, or ``None``."""
        return self._journeys.get(journey_id)

    def __iter__(self) -> Iterator[CompiledJourney]:
        return iter(self._journeys.values())

    def __len__(self) -> int:
        return len(self._journeys)

    def __contains__(self, journey_id: object) -> bool:
        return journey_id in self._journeys

    def descriptors(self) -> list[JourneyDescriptor]:
        """Every journey's ``GET /v1/journeys`` entry, in load order."""
        return [journey.descriptor for journey in self._journeys.values()]


def load_journeys(services: Mapping[str, ServiceDescriptor], *, folder: Path | None = None) -> JourneyCatalog:
    """The shipped journeys whose services are all in ``services``, plus every journey in ``folder``.

    :class:`JourneyDefinitionError` for any fault in any file (a shipped journey whose services are not all loaded
    is left out instead).
    """
    log = structlog.get_logger("gateway")
    compiled: list[CompiledJourney] = []
    shipped = importlib.resources.files("gateway.journeys") / "definitions"
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(_SUFFIXES):
            continue
        source = f"gateway/journeys/definitions/{entry.name}"
        definition = parse_definition(entry.read_text(encoding="utf-8"), source=source)
        if missing := sorted({step.service for step in definition.steps} - services.keys()):
            log.info("journey.unavailable", journey=definition.id, missing_services=missing)
            continue
        compiled.append(compile_journey(definition, services, source=source))
    if folder is not None:
        compiled.extend(_load_folder(Path(folder), services))
    return JourneyCatalog(compiled)


def _load_folder(folder: Path, services: Mapping[str, ServiceDescriptor]) -> Iterator[CompiledJourney]:
    if not folder.is_dir():
        raise JourneyDefinitionError("is not a folder (MPP_JOURNEYS_DIR)", source=str(folder))
    for path in sorted(folder.iterdir()):
        if path.suffix in _SUFFIXES and path.is_file():
            source = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise JourneyDefinitionError(f"cannot be read: {exc}", source=source) from None
            yield compile_journey(parse_definition(text, source=source), services, source=source)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # no stubs; libyaml if built
    """YAML as a definition is read: a key given twice is an error, and dates stay strings (as JSON has them)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: Any, node: Any, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, str) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"found the key {key!r} twice", key_node.start_mark
            )
        if isinstance(key, str):
            seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_definition(text: str, *, source: str) -> JourneyDefinition:
    """One definition file's text (YAML, or JSON for a ``.json`` source) as a :class:`JourneyDefinition`."""
    try:
        raw = orjson.loads(text) if source.endswith(".json") else yaml.load(text, Loader=_Loader)  # noqa: S506
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())
        raise JourneyDefinitionError(f"is not valid {'JSON' if source.endswith('.json') else 'YAML'}: {detail}",
                                     source=source) from None  # fmt: skip
    if not isinstance(raw, dict):
        raise JourneyDefinitionError("must hold one journey definition, an object", source=source)
    journey = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        return JourneyDefinition.model_validate(raw)
    except ValidationError as exc:
        raise _shape_error(exc, raw, source=source, journey=journey) from None


def _shape_error(exc: ValidationError, raw: Mapping[str, Any], *, source: str, journey: str | None) -> Exception:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = list(first["loc"])
    step = None
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = raw.get("steps")
        named = steps[loc[1]] if isinstance(steps, list) and loc[1] < len(steps) else None
        name = named.get("name") if isinstance(named, dict) else None
        step = name if isinstance(name, str) else f"#{loc[1] + 1}"
        loc = loc[2:]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    field = ".".join(str(part) for part in loc) or None
    return JourneyDefinitionError(f"{first['msg']}{more}", source=source, journey=journey, step=step, field=field)


def compile_journey(
    definition: JourneyDefinition, services: Mapping[str, ServiceDescriptor], *, source: str
) -> CompiledJourney:
    """Check ``definition`` against ``services`` and work out its graph (:class:`JourneyDefinitionError`)."""
    return _Compiler(definition, services, source).compile()


class _Compiler:
    def __init__(self, definition: JourneyDefinition, services: Mapping[str, ServiceDescriptor], source: str) -> None:
        self.definition = definition
        self.services = services
        self.source = source
        self.names = {step.name for step in definition.steps}

    def error(self, message: str, *, step: str | None = None, field: str | None = None) -> JourneyDefinitionError:
        return JourneyDefinitionError(
            message, source=self.source, journey=self.definition.id, step=step, field=field
        )

    def compile(self) -> CompiledJourney:
        self.check_payload_schema()
        for step in self.definition.steps:
            if step.service not in self.services:
                raise self.error(f"unknown service {step.service!r}", step=step.name, field="service")
        dependencies = {step.name: self.dependencies_of(step) for step in self.definition.steps}
        order = self.topological(dependencies)
        for step in self.definition.steps:
            self.check_step_payload(step)
        result_schema = self.result_schema(dependencies)
        personal_data = any(self.services[step.service].personal_data for step in self.definition.steps)
        definition = self.definition
        descriptor = JourneyDescriptor(
            id=definition.id,
            title=definition.title,
            description=definition.description,
            visit_budget_seconds=definition.visit_budget_seconds,
            personal_data=personal_data,
            payload_schema=definition.payload_schema,
            result_schema=result_schema,
            steps=[
                JourneyStepDescriptor(
                    name=step.name,
                    service=step.service,
                    title=step.title or self.services[step.service].title,
                    needs=[name for name in order if name in dependencies[step.name]],
                    required=step.required,
                    conditional=step.when is not None,
                )
                for step in definition.steps
            ],
        )
        return CompiledJourney(
            definition=definition,
            source=self.source,
            dependencies={name: frozenset(deps) for name, deps in dependencies.items()},
            order=order,
            personal_data=personal_data,
            descriptor=descriptor,
        )

    # -- the journey payload ----------------------------------------------------------------------------------

    def check_payload_schema(self) -> None:
        schema = self.definition.payload_schema
        if (fault := _schema_fault(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))) is not None:
            where, message = fault
            raise self.error(f"not a valid JSON Schema: {message}",
                             field="payload_schema" + (f".{where}" if where else ""))  # fmt: skip
        if schema.get("type") != "object":
            raise self.error("the journey payload is an object: give 'type: object'", field="payload_schema.type")

    # -- references and the graph ----------------------------------------------------------------------------------

    def references_in(self, template: Any, *, step: str | None, field: str) -> list[Reference]:
        try:
            return references(template)
        except ValueError as exc:
            raise self.error(str(exc), step=step, field=field) from None

    def dependencies_of(self, step: StepDefinition) -> set[str]:
        found: set[str] = set()
        for need in step.needs:
            if need not in self.names:
                raise self.error(f"needs unknown step {need!r}", step=step.name, field="needs")
            if need == step.name:
                raise self.error("a step cannot need itself", step=step.name, field="needs")
            found.add(need)
        read: list[tuple[str, Reference]] = []
        for key, value in step.payload.items():
            field = f"payload.{key}"
            read += [(field, ref) for ref in self.references_in(value, step=step.name, field=field)]
        if step.when is not None:
            try:
                condition = parse_condition(step.when)
            except ValueError as exc:
                raise self.error(str(exc), step=step.name, field="when") from None
            read += [("when", ref) for ref in condition.references()]
        for field, reference in read:
            if reference.step == step.name:
                raise self.error(f"{reference.text}: a step cannot read its own result", step=step.name, field=field)
            self.schema_of(reference, step=step.name, field=field)
            if reference.step is not None:
                found.add(reference.step)
        if step.when is not None:
            self.check_comparisons(step.when, step.name, "")
        return found

    def check_comparisons(self, raw: Mapping[str, Any], step: str, where: str) -> None:
        """Refuse a comparison that can never hold: a field compared with a literal (or field) of another type, or
        ``in`` a field that is not a list."""
        [(form, operand)] = raw.items()
        here = f"{where}.{form}" if where else str(form)
        if form in ("not",):
            self.check_comparisons(operand, step, here)
        elif form in ("all", "any"):
            for index, item in enumerate(operand):
                self.check_comparisons(item, step, f"{here}[{index}]")
        elif form in ("equals", "not_equals"):
            left, right = (self.operand_types(value, step) for value in operand)
            if left is not None and right is not None and not (left & right):
                raise self.error(f"{here}: compares {_describe(left)} with {_describe(right)}, which never match",
                                 step=step, field="when")  # fmt: skip
        elif form == "in":
            item, choices = operand
            have = self.operand_types(item, step)
            if isinstance(choices, str):
                listed = self.operand_types(choices, step)
                if listed is not None and "array" not in listed:
                    raise self.error(f"{here}: {choices} is {_describe(listed)}, not a list", step=step, field="when")
            elif have is not None and all(
                (types := self.operand_types(choice, step)) is not None and not (have & types) for choice in choices
            ):
                raise self.error(f"{here}: {item} is {_describe(have)}; none of the choices is", step=step,
                                 field="when")  # fmt: skip

    def operand_types(self, operand: Any, step: str) -> set[str] | None:
        """The JSON types an operand may have (``None``: unknown, or a template holding references)."""
        if isinstance(operand, str) and "${" in operand:
            [reference] = references(operand)
            schema, document = self.schema_of(reference, step=step, field="when")
            return _types(schema, document)
        if any(_has_reference(operand)):
            return None
        return {_type_of(operand)}

    def schema_of(self, reference: Reference, *, step: str | None, field: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The schema of the value ``reference`` stands for, and the document its ``$ref``s resolve in."""
        if reference.root == "journey":
            document, what = self.definition.payload_schema, "the journey payload_schema"
        else:
            assert reference.step is not None
            if reference.step not in self.names:
                raise self.error(f"{reference.text}: unknown step {reference.step!r}", step=step, field=field)
            if reference.part == "status":
                return _STATUS_SCHEMA, _STATUS_SCHEMA
            service = self.services[self.definition.step(reference.step).service]
            document, what = service.result_schema, f"the result of {service.id}"
        found = _schema_at(document, reference.path)
        if found is None:
            path = ".".join(str(part) for part in reference.path)
            raise self.error(f"{reference.text}: {what} has no field {path!r}", step=step, field=field)
        return found, document

    def topological(self, dependencies: Mapping[str, set[str]]) -> tuple[str, ...]:
        order: list[str] = []
        placed: set[str] = set()
        names = [step.name for step in self.definition.steps]
        while len(order) < len(names):
            ready = [n for n in names if n not in placed and dependencies[n] <= placed]
            if not ready:
                cycle = _cycle({n: dependencies[n] for n in names if n not in placed})
                raise self.error(f"the steps {' -> '.join(cycle)} depend on each other in a cycle",
                                 step=cycle[0], field="needs")  # fmt: skip
            order += ready
            placed.update(ready)
        return tuple(order)

    # -- step payloads against the services' payload schemas -------------------------------------------------------

    def check_step_payload(self, step: StepDefinition) -> None:
        document = self.services[step.service].payload_schema
        _Fit(self, step, document).check(step.payload, document, "payload")

    # -- the combined answer ---------------------------------------------------------------------------------------

    def result_schema(self, dependencies: Mapping[str, set[str]]) -> dict[str, Any]:
        certain: dict[str, bool] = {}
        for name in self.topological(dependencies):
            step = self.definition.step(name)
            certain[name] = step.required and step.when is None and all(certain[d] for d in dependencies[name])
        properties: dict[str, Any] = {}
        required: list[str] = []
        for key, template in self.definition.result.items():
            field = f"result.{key}"
            refs = self.references_in(template, step=None, field=field)
            sure = True
            for reference in refs:
                self.schema_of(reference, step=None, field=field)
                if reference.part == "result" and reference.step is not None and not certain[reference.step]:
                    sure = False
            schema = self.template_schema(template, field)
            properties[key] = schema if sure else {"anyOf": [schema, {"type": "null"}]}
            if sure:
                required.append(key)
        return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}

    def template_schema(self, template: Any, field: str) -> dict[str, Any]:
        if isinstance(template, str) and "${" in template:
            [reference] = references(template)
            schema, document = self.schema_of(reference, step=None, field=field)
            inlined: dict[str, Any] = _inline(schema, document)
            return inlined
        if isinstance(template, dict):
            return {
                "type": "object",
                "properties": {k: self.template_schema(v, f"{field}.{k}") for k, v in template.items()},
            }
        if isinstance(template, list):
            return {"type": "array", "prefixItems": [self.template_schema(v, field) for v in template]}
        return {"const": template}


class _Fit:
    """Checks one step's payload template against its service's payload schema."""

    def __init__(self, compiler: _Compiler, step: StepDefinition, document: dict[str, Any]) -> None:
        self.compiler = compiler
        self.step = step
        self.document = document

    def error(self, message: str, field: str) -> JourneyDefinitionError:
        return self.compiler.error(message, step=self.step.name, field=field)

    def check(self, template: Any, schema: Any, field: str) -> None:
        if isinstance(template, str) and "${" in template:
            self.check_reference(template, schema, field)
        elif isinstance(template, dict) and (shape := _object_alternative(schema, self.document)) is not None:
            self.check_object(template, shape, field)
        elif isinstance(template, list) and (items := _items_alternative(schema, self.document)) is not None:
            for index, item in enumerate(template):
                self.check(item, items, f"{field}.{index}")
        elif isinstance(template, dict | list) and any(_has_reference(template)):
            types = _types(schema, self.document)
            wanted = "object" if isinstance(template, dict) else "array"
            if types is not None and wanted not in types:
                raise self.error(f"the service expects {_describe(types)} here, not an {wanted}", field)
        else:
            self.check_literal(template, schema, field)

    def check_object(self, template: dict[str, Any], shape: dict[str, Any], field: str) -> None:
        properties = shape.get("properties", {})
        extra = shape.get("additionalProperties", True)
        service = self.step.service
        for key, value in template.items():
            if key in properties:
                self.check(value, properties[key], f"{field}.{key}")
            elif extra is False:
                raise self.error(f"{service} takes no field {key!r}", f"{field}.{key}")
            else:
                self.check(value, extra if isinstance(extra, dict) else {}, f"{field}.{key}")
        for key in shape.get("required", []):
            if key not in template:
                raise self.error(f"{service} requires this field", f"{field}.{key}")

    def check_reference(self, template: str, schema: Any, field: str) -> None:
        [reference] = references(template)
        source, document = self.compiler.schema_of(reference, step=self.step.name, field=field)
        have, want = _types(source, document), _types(schema, self.document)
        if have is not None and want is not None and not (have & want):
            raise self.error(f"{reference.text} is {_describe(have)}; the service expects {_describe(want)}", field)

    def check_literal(self, value: Any, schema: Any, field: str) -> None:
        if not isinstance(schema, dict):
            return
        validator = jsonschema.Draft202012Validator(
            {**schema, "$defs": self.document.get("$defs", {})}, format_checker=jsonschema.FormatChecker()
        )
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            raise self.error(f"does not fit {self.step.service}: {_one_line(error.message)}", field)


@functools.lru_cache(maxsize=256)
def _schema_fault(schema: bytes) -> tuple[str, str] | None:
    """Where and why a JSON Schema (serialised) is not valid, or ``None``; remembered, as every start checks the
    same shipped schemas again."""
    for fault in _META_SCHEMA.iter_errors(orjson.loads(schema)):
        return ".".join(str(part) for part in fault.path), _one_line(fault.message)
    return None


# -- JSON Schema walking --------------------------------------------------------------------------------------------

_ANNOTATIONS = {"title", "description", "default", "examples", "format", "deprecated", "readOnly", "writeOnly"}


def _deref(schema: Any, document: Mapping[str, Any], depth: int = 0) -> Any:
    """``schema`` with a local ``$ref`` followed (its siblings merged over the target)."""
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < _MAX_REF_DEPTH:
        target = _pointer(document, schema["$ref"])
        if target is None:
            return {}
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings} if isinstance(target, dict) else target
        depth += 1
    return schema


def _pointer(document: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = document
    for part in [p for p in ref[1:].split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _alternatives(schema: Any, document: Mapping[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """The schemas a value may match: ``$ref`` followed, ``anyOf``/``oneOf``/``allOf`` flattened; ``true`` is ``{}``."""
    schema = _deref(schema, document)
    if schema is True:
        return [{}]
    if not isinstance(schema, dict) or depth > _MAX_REF_DEPTH:
        return []
    found: list[dict[str, Any]] = []
    branches = [b for key in ("anyOf", "oneOf", "allOf") for b in schema.get(key, [])]
    own = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "allOf")}
    if not branches or _constrains(own):
        found.append(own)
    for branch in branches:
        found += _alternatives(branch, document, depth + 1)
    return found


def _constrains(schema: Mapping[str, Any]) -> bool:
    return any(not (key in _ANNOTATIONS or key.startswith("x-") or key == "$defs") for key in schema)


def _open(schema: Mapping[str, Any]) -> bool:
    """True for a schema that says nothing of the value's shape: any path below it may exist."""
    return not _constrains(schema)


def _schema_at(document: Mapping[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    """The schema of the value at ``path`` below ``document``, or ``None`` when no such field can exist."""
    current: list[dict[str, Any]] = _alternatives(document, document)
    for key in path:
        following: list[dict[str, Any]] = []
        for alternative in current:
            if _open(alternative):
                return {}
            child = _child(alternative, key)
            if child is not None:
                following += _alternatives(child, document)
        if not following:
            return None
        current = following
    if len(current) == 1:
        return current[0]
    return {"anyOf": current}


def _child(schema: Mapping[str, Any], key: str | int) -> Any:
    if isinstance(key, int):
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and key < len(prefix):
            return prefix[key]
        if isinstance(schema.get("items"), dict | bool) and schema.get("items") is not False:
            return schema["items"]
    name = str(key)
    properties = schema.get("properties")
    if isinstance(properties, dict) and name in properties:
        return properties[name]
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        if re.search(pattern, name):
            return sub
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return None


def _types(schema: Any, document: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a value of ``schema`` may have (``integer`` counts as ``number``); ``None``: any."""
    found: set[str] = set()
    for alternative in _alternatives(schema, document):
        if "const" in alternative:
            found.add(_type_of(alternative["const"]))
        elif isinstance(alternative.get("enum"), list):
            found.update(_type_of(value) for value in alternative["enum"])
        elif isinstance(alternative.get("type"), str):
            found.add(alternative["type"])
        elif isinstance(alternative.get("type"), list):
            found.update(t for t in alternative["type"] if isinstance(t, str))
        elif "properties" in alternative or "additionalProperties" in alternative:
            found.add("object")
        elif "items" in alternative or "prefixItems" in alternative:
            found.add("array")
        else:
            return None
    return {"number" if t == "integer" else t for t in found}


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _describe(types: set[str]) -> str:
    return " or ".join(sorted(types))


def _object_alternative(schema: Any, document: Mapping[str, Any]) -> dict[str, Any] | None:
    for alternative in _alternatives(schema, document):
        if alternative.get("type") == "object" or "properties" in alternative:
            return alternative
    return None


def _items_alternative(schema: Any, document: Mapping[str, Any]) -> Any:
    for alternative in _alternatives(schema, document):
        if alternative.get("type") == "array" and isinstance(alternative.get("items"), dict):
            return alternative["items"]
    return None


def _has_reference(template: Any) -> Iterator[bool]:
    if isinstance(template, str):
        yield "${" in template
    elif isinstance(template, dict):
        for value in template.values():
            yield from _has_reference(value)
    elif isinstance(template, list):
        for value in template:
            yield from _has_reference(value)


def _inline(schema: Any, document: Mapping[str, Any], expanding: frozenset[str] = frozenset()) -> Any:
    """``schema`` with every local ``$ref`` replaced by its target, so it stands alone in another document (a
    recursive one becomes ``{}`` where it recurs)."""
    if isinstance(schema, dict) and isinstance(ref := schema.get("$ref"), str):
        if ref in expanding:
            return {}
        target = _pointer(document, ref)
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        merged = {**target, **siblings} if isinstance(target, dict) else siblings
        return _inline(merged, document, expanding | {ref})
    if isinstance(schema, dict):
        return {key: _inline(value, document, expanding) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline(value, document, expanding) for value in schema]
    return schema


def _cycle(graph: Mapping[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (every node of which has a dependency left), first node repeated at the end."""
    start = next(iter(graph))
    path = [start]
    while True:
        following = next(dep for dep in sorted(graph[path[-1]]) if dep in graph)
        if following in path:
            cycle = path[path.index(following):]
            return [*cycle, following]
        path.append(following)


def _one_line(text: str) -> str:
    return " ".join(text.split())
