"""The shipped journey definitions: wired to real fields, their conditions, and a bad MPP folder refused at start.

A small driver here plays a journey through ``ready``, conditions and references with the services' own pydantic
models checking every step payload, so a definition that would hand an agency a wrong payload fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from adapters import Service
from adapters.bpjs_kesehatan.services import SERVICES as BPJS_KESEHATAN
from adapters.bpjs_ketenagakerjaan.services import SERVICES as BPJS_KETENAGAKERJAAN
from adapters.dukcapil.services import SERVICES as DUKCAPIL
from adapters.oss.services import SERVICES as OSS
from contracts import StepStatus
from gateway.cli import main
from gateway.journeys import (
    CompiledJourney,
    JourneyContext,
    StepOutcome,
    Unresolved,
    load_journeys,
    parse_condition,
    resolve,
)
from tests.e2e.test_demo import free_port
from tests.store.test_schema import _serve_env

SERVICE_OBJECTS: dict[str, Service[Any, Any]] = {
    s.id: s for s in (*DUKCAPIL, *BPJS_KESEHATAN, *BPJS_KETENAGAKERJAAN, *OSS)
}
CATALOG = load_journeys({sid: s.descriptor() for sid, s in SERVICE_OBJECTS.items()})

REGION = {"code": "32", "name": "JAWA BARAT"}
RESULTS: dict[str, dict[str, Any]] = {
    "dukcapil.nik.lookup": {
        "nik": "3201014101900001", "full_name": "SITI AMINAH", "birth_date": "1990-01-01", "sex": "female",
        "address": {"village": REGION, "district": REGION, "regency": REGION, "province": REGION},
    },
    "dukcapil.nik.verify": {"matched": True, "threshold": 80, "fields": {"full_name": {"match": True, "score": 100}}},
    "bpjs-kesehatan.peserta.by-nik": {
        "card_number": "0001234567890", "name": "SITI AMINAH", "sex": "female", "birth_date": "1990-01-01",
        "status": {"code": "0", "description": "AKTIF", "active": True},
        "participant_type": {"code": "14", "description": "PEKERJA MANDIRI"}, "service_date": "2026-01-05",
        "information": {},
    },
    "bpjs-ketenagakerjaan.peserta.verify": {"member": False, "programmes": []},
    "bpjs-ketenagakerjaan.peserta.register": {
        "kpj": "12345678901", "reference": "REG-1", "status": "awaiting_first_payment", "programmes": ["JKK", "JKM"],
        "monthly_contribution": 16800, "payment_code": "8888123456789012", "registered_at": "2026-01-05T09:00:00Z",
    },
    "oss.nib.check": {"nib": "8120000000001", "company_name": "WARUNG SITI", "status_code": "01", "active": True},
    "oss.license.status-update": {"permit_id": "I-202601050900000000001", "status_code": "50", "status": "approved",
                                  "status_at": "2026-01-05T09:00:00+07:00"},
    "oss.license.issue": {"permit_id": "I-202601050900000000001", "permit_number": "503/001/DPMPTSP/2026",
                          "status_code": "50", "status": "approved"},
}  # fmt: skip

PAYLOADS: dict[str, dict[str, Any]] = {
    "counter.membership-check": {"service_date": "2026-01-05"},
    "business.micro-start": {
        "nib": "8120000000001",
        "owner": {"full_name": "Siti Aminah", "birth_date": "1990-01-01"},
        "registration": {
            "occupation": "trader", "monthly_income": "below_2m", "programmes": ["JKK", "JKM"],
            "phone": "081234567890",
            "address": {"street": "Jl. Merdeka 1", "rt": "001", "rw": "002", "village": "Sukajadi",
                        "district": "Sukajadi", "regency": "Kota Bandung", "province": "Jawa Barat"},
        },
    },
    "oss.permit-flow": {
        "permit": {"nib": "8120000000001", "project_id": "R-202601050900000000001",
                   "oss_id": "P0-2026010509000000000001", "permit_id": "I-202601050900000000001",
                   "permit_code": "100000000001"},
        "agency_code": "1", "approved_at": "2026-01-05T09:00:00+07:00",
        "officer": {"nip": "198001012000011001", "name": "Budi"},
        "region_code": "3273", "permit_number": "503/001/DPMPTSP/2026", "issued_on": "2026-01-05",
        "signer": {"name": "Dewi", "nip": "197501012000012001", "position": "Kepala DPMPTSP"},
    },
}  # fmt: skip


def journey(journey_id: str) -> CompiledJourney:
    found = CATALOG.get(journey_id)
    assert found is not None
    return found


def play(
    compiled: CompiledJourney, payload: dict[str, Any], results: dict[str, dict[str, Any] | None] | None = None
) -> tuple[dict[str, StepStatus], dict[str, dict[str, Any]], dict[str, Any]]:
    """Run the journey's graph the way the engine does, with canned results (``None``: the step fails).

    Returns each step's status, the payloads the services' own models accepted, and the combined answer.
    """
    jsonschema.validate(payload, compiled.definition.payload_schema)
    statuses: dict[str, StepStatus] = {}
    outcomes: dict[str, StepOutcome] = {}
    sent: dict[str, dict[str, Any]] = {}
    overrides = results or {}
    while ready := compiled.ready(statuses):
        context = JourneyContext(payload=payload, steps=outcomes)
        for name in ready:
            step = compiled.definition.step(name)
            try:
                runs = step.when is None or parse_condition(step.when).holds(context)
                step_payload = resolve(step.payload, context)
            except Unresolved:
                runs = False
            if not runs:
                statuses[name] = StepStatus.SKIPPED
                outcomes[name] = StepOutcome(StepStatus.SKIPPED, None)
                continue
            model = SERVICE_OBJECTS[step.service].payload_model
            sent[name] = model.model_validate(step_payload).model_dump(mode="json")
            result = overrides.get(name, RESULTS[step.service])
            if result is not None:
                result = SERVICE_OBJECTS[step.service].result_model.model_validate(result).model_dump(mode="json")
            status = StepStatus.COMPLETED if result is not None else StepStatus.FAILED
            statuses[name] = status
            outcomes[name] = StepOutcome(status, result)
    context = JourneyContext(payload=payload, steps=outcomes)
    answer = {name: resolve(t, context, absent=None) for name, t in compiled.definition.result.items()}
    jsonschema.validate(answer, compiled.descriptor.result_schema)
    return statuses, sent, answer


@pytest.mark.parametrize("journey_id", sorted(PAYLOADS))
def test_each_shipped_journey_hands_every_service_a_payload_its_model_accepts(journey_id: str) -> None:
    """Played through with valid agency answers, every step of a shipped journey runs with a payload the service's
    own model accepts, and the combined answer fits the published result schema."""
    statuses, sent, _ = play(journey(journey_id), PAYLOADS[journey_id])
    assert set(statuses.values()) == {StepStatus.COMPLETED}
    assert set(sent) == set(statuses)


def test_membership_check_asks_all_three_agencies_at_once() -> None:
    """The membership check's three lookups are independent: all ready at the start; the BPJS ones are optional."""
    compiled = journey("counter.membership-check")
    assert compiled.ready({}) == ["civil_record", "health", "employment"]
    assert {s.name: s.required for s in compiled.definition.steps} == {
        "civil_record": True, "health": False, "employment": False
    }  # fmt: skip
    assert compiled.personal_data is True


def test_membership_check_combines_the_answers_and_says_which_check_answered() -> None:
    """One combined answer; a BPJS check that failed leaves its fields null and shows as failed in ``checks``."""
    statuses, sent, answer = play(journey("counter.membership-check"), PAYLOADS["counter.membership-check"],
                                  {"health": None})  # fmt: skip
    assert statuses["health"] is StepStatus.FAILED
    assert sent["health"] == {"service_date": "2026-01-05"}
    assert answer["full_name"] == "SITI AMINAH" and answer["bpjstk_member"] is False
    assert answer["jkn_card_number"] is None and answer["jkn_active"] is None
    assert answer["checks"] == {"civil_record": "completed", "health": "failed", "employment": "completed"}


def test_micro_start_registers_an_owner_who_is_not_a_member() -> None:
    """Identity matched, NIB active, not a member: the owner is registered with the registration details given."""
    statuses, sent, answer = play(journey("business.micro-start"), PAYLOADS["business.micro-start"])
    assert statuses["registration"] is StepStatus.COMPLETED
    assert sent["business"] == {"nib": "8120000000001"}
    assert sent["identity"]["full_name"] == "Siti Aminah"
    assert sent["registration"]["occupation"] == "trader"
    assert sent["registration"]["address"]["village"] == "Sukajadi"
    assert answer["registration"] == "completed" and answer["registered_kpj"] == "12345678901"
    assert answer["business_name"] == "WARUNG SITI"


@pytest.mark.parametrize(
    ("results", "payload_change"),
    [
        ({"employment": {"member": True, "kpj": "11122233344", "programmes": ["JKK", "JKM"]}}, {}),
        ({"identity": {"matched": False, "threshold": 80, "fields": {}}}, {}),
        ({"business": {"nib": "8120000000001", "company_name": None, "status_code": "06", "active": False}}, {}),
        ({}, {"registration": None}),
    ],
    ids=["already a member", "identity not matched", "NIB not active", "no registration details"],
)
def test_micro_start_skips_the_registration_when_its_condition_is_false(
    results: dict[str, Any], payload_change: dict[str, Any]
) -> None:
    """A member, an unmatched identity, an inactive NIB or no registration details: the registration is skipped."""
    payload = {**PAYLOADS["business.micro-start"], **payload_change}
    payload = {key: value for key, value in payload.items() if value is not None}
    statuses, sent, answer = play(journey("business.micro-start"), payload, results)
    assert statuses["registration"] is StepStatus.SKIPPED and "registration" not in sent
    assert answer["registration"] == "skipped" and answer["registered_kpj"] is None


def test_micro_start_depends_on_all_three_checks_before_registering() -> None:
    """The three checks run at once; the registration waits for all of them (its condition reads each)."""
    compiled = journey("business.micro-start")
    assert compiled.ready({}) == ["identity", "business", "employment"]
    assert compiled.dependencies["registration"] == {"identity", "business", "employment"}


def test_permit_flow_issues_the_permit_oss_confirmed_after_the_approval() -> None:
    """The final permit goes after the status update and carries the permit id OSS confirmed in it."""
    compiled = journey("oss.permit-flow")
    assert compiled.ready({}) == ["approval"]
    assert compiled.dependencies["permit"] == {"approval"}
    statuses, sent, answer = play(compiled, PAYLOADS["oss.permit-flow"])
    assert statuses == {"approval": StepStatus.COMPLETED, "permit": StepStatus.COMPLETED}
    assert sent["approval"]["status_code"] == "50"
    assert sent["permit"]["permit_id"] == RESULTS["oss.license.status-update"]["permit_id"]
    assert answer["permit_number"] == "503/001/DPMPTSP/2026"
    assert compiled.personal_data is False


def test_permit_flow_sends_no_permit_when_oss_did_not_record_the_approval() -> None:
    """When OSS answers the status update with another status, the final permit is skipped."""
    other = {**RESULTS["oss.license.status-update"], "status_code": "45", "status": "requirements verified"}
    statuses, sent, _ = play(journey("oss.permit-flow"), PAYLOADS["oss.permit-flow"], {"approval": other})
    assert statuses["permit"] is StepStatus.SKIPPED and "permit" not in sent


# -- a bad MPP folder stops the gateway ------------------------------------------------------------------------------

BROKEN = """\
id: mpp.identity-check
title: {id: Cek identitas, en: Identity check}
visit_budget_seconds: 30
steps:
  - name: identity
    service: dukcapil.nik.verify
    payload: {full_name: "${journey.payload.name}"}
"""


def test_serve_with_a_bad_journey_folder_exits_2_with_one_line_naming_file_step_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve` refuses to start on a broken MPP journey definition: exit 2, one line naming file, step and field."""
    _serve_env(monkeypatch, tmp_path)
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "identity.yaml").write_text(BROKEN, encoding="utf-8")
    monkeypatch.delenv("MPP_STORE_DSN", raising=False)
    monkeypatch.setenv("MPP_STORE_PATH", str(tmp_path / "gateway.sqlite3"))
    monkeypatch.setenv("MPP_JOURNEYS_DIR", str(folder))

    async def served(*args: Any, **kwargs: Any) -> None:
        """Had the gateway started, it would end here at once rather than serve until signalled."""

    monkeypatch.setattr("gateway.cli._main.serve_app", served)
    assert main(["serve", "--host", "127.0.0.1"]) == 2
    stderr = capsys.readouterr().err
    err = [line for line in stderr.splitlines() if not line.startswith("{")]  # the JSON lines are start-up logs
    assert len(err) == 1 and "Traceback" not in stderr, err
    assert err[0] == (
        f"mpp-gateway: cannot start: {folder / 'identity.yaml'}: journey mpp.identity-check, step identity, "
        "field payload.full_name: ${journey.payload.name}: the journey payload_schema has no field 'name'"
    )


def test_demo_with_a_bad_journey_folder_exits_2_naming_the_fault(tmp_path: Path) -> None:
    """`demo` with a broken MPP journey definition exits 2 naming file, step and field, without a traceback."""
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "identity.yaml").write_text(BROKEN, encoding="utf-8")
    env = {**os.environ, "MPP_STORE_PATH": str(tmp_path / "demo.sqlite3"), "MPP_JOURNEYS_DIR": str(folder)}
    done = subprocess.run([sys.executable, "-m", "gateway", "demo", "--port", str(free_port()),
                           "--ephemeral-mock-ports"], capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "cannot start the demo" in done.stderr
    assert f"{folder / 'identity.yaml'}: journey mpp.identity-check, step identity, field payload.full_name" in (
        done.stderr
    )


def test_the_shipped_definitions_are_package_data() -> None:
    """The definition files ship in the wheel: pyproject lists them as package data of gateway.journeys."""
    pyproject = (Path(__file__).parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"gateway.journeys" = ["definitions/*.yaml"]' in pyproject
    shipped = Path(__file__).parents[3] / "gateway" / "journeys" / "definitions"
    assert sorted(p.name for p in shipped.glob("*.yaml")) == [f"{j}.yaml" for j in sorted(PAYLOADS)]
    assert sorted(PAYLOADS) == sorted(j.id for j in CATALOG)
