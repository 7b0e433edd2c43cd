"""The chaos run: steady mixed traffic through a gateway that is SIGKILLed and restarted, against mock agencies
that inject faults and go fully down for a while. Afterwards it waits for the queue to drain and reports:
accepted, completed, rejected, failed (with reasons), lost, duplicated at the agency (from the mocks' delivery
counts), and requests missing an audit entry (read from the database once the gateway stopped: every stored request
has its ``request.accepted`` entry, every final one its ``request.<status>`` entry, every registration the agency
received names a stored request with its entry, and the chain verifies). Lost, duplicated and missing audit entries
must be 0 and every accepted request must reach a final state.

A share of the traffic is journeys (``business.micro-start``: Dukcapil, OSS and BPJS Ketenagakerjaan at once, then
the registration of an owner not yet a member), started and followed through ``/v1/journeys`` through the same
faults, outage and kills. The report adds journeys lost (accepted, then unknown), steps duplicated (a step that
ran as more requests than its runs: counted in the stopped gateway's database, by the journey's trace, which every
step's request carries) and journeys not final after the drain; all three must be 0.

Everything runs as separate processes on 127.0.0.1 and stops by itself: ``python -m tests.chaos.runner``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import importlib.resources
import json
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from gateway.audit import verify_store
from gateway.journeys import parse_definition
from gateway.store import SqliteStore, stored_data_keys
from tests.fakes import consent_given_at

LOOKUP = "dukcapil.nik.verify"
SUBMISSION = "bpjs-ketenagakerjaan.peserta.register"
SUBMISSION_METHOD = "peserta.bpu"
JOURNEY = "business.micro-start"
#: The share of the traffic that starts a journey instead of a request.
JOURNEY_SHARE = 0.2
FAULTS = {"error_rate": 0.20, "timeout_rate": 0.05, "reset_rate": 0.02, "malformed_rate": 0.01,
          "timeout_s": 4.0, "drop_after_processing": True}  # fmt: skip


@dataclasses.dataclass
class Options:
    duration: float = 120.0
    rate: float = 10.0
    kills: int = 2
    outage: float = 15.0
    drain_timeout: float = 180.0
    seed: int = 7


@dataclasses.dataclass
class Report:
    sent: int = 0
    accepted: int = 0
    statuses: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failures: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    lost: list[str] = dataclasses.field(default_factory=list)
    unfinished: list[str] = dataclasses.field(default_factory=list)
    duplicated: dict[str, int] = dataclasses.field(default_factory=dict)
    kills: int = 0
    submissions: int = 0
    delivered: int = 0
    resent_unapplied: int = 0
    #: Requests answered 503 (never stored), by problem type: an agency's open circuit, the store unavailable.
    refused: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: Requests whose audit entries are incomplete, each with what is missing.
    audit_missing: dict[str, str] = dataclasses.field(default_factory=dict)
    audit_entries: int = 0
    audit_intact: bool = False
    journeys_sent: int = 0
    journeys_accepted: int = 0
    journey_statuses: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: Failed journeys by the problem type of the step that failed them.
    journey_failures: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    journeys_lost: list[str] = dataclasses.field(default_factory=list)
    journeys_unfinished: list[str] = dataclasses.field(default_factory=list)
    #: ``journey id: step`` of each step that ran as more requests than it has runs.
    steps_duplicated: list[str] = dataclasses.field(default_factory=list)
    journey_steps: int = 0

    @property
    def ok(self) -> bool:
        return (
            not self.lost and not self.unfinished and not self.duplicated and not self.audit_missing
            and self.audit_intact and self.accepted > 0
            and not self.journeys_lost and not self.journeys_unfinished and not self.steps_duplicated
            and self.journeys_accepted > 0
        )  # fmt: skip

    def lines(self) -> list[str]:
        out = [
            f"sent (POSTs, retries of one request counted once): {self.sent}",
            f"accepted: {self.accepted} (submissions {self.submissions})",
            f"gateway SIGKILLs: {self.kills}",
            *(f"refused with 503 {slug}: {n}" for slug, n in self.refused.most_common()),
            f"completed: {self.statuses['completed']}",
            f"rejected: {self.statuses['rejected']}",
            f"failed: {self.statuses['failed']}",
        ]
        out += [f"  failed because {reason}: {n}" for reason, n in self.failures.most_common()]
        out += [
            f"not final after the drain: {len(self.unfinished)}",
            f"lost: {len(self.lost)}",
            f"submissions delivered to the agency: {self.delivered}",
            f"resent after reconciliation found nothing applied: {self.resent_unapplied}",
            f"duplicated at the agency: {len(self.duplicated)}",
            f"audit entries: {self.audit_entries}, chain intact: {'yes' if self.audit_intact else 'NO'}",
            f"requests missing an audit entry: {len(self.audit_missing)}",
        ]
        out += [f"  {request_id}: {missing}" for request_id, missing in sorted(self.audit_missing.items())[:20]]
        out += [
            f"journeys started: {self.journeys_sent}, accepted: {self.journeys_accepted}",
            *(f"journeys {status}: {n}" for status, n in sorted(self.journey_statuses.items())),
            *(f"  failed because {reason}: {n}" for reason, n in self.journey_failures.most_common()),
            f"journey steps run as requests: {self.journey_steps}",
            f"journeys lost: {len(self.journeys_lost)}",
            f"journey steps duplicated: {len(self.steps_duplicated)}",
            f"journeys not final after the drain: {len(self.journeys_unfinished)}",
        ]
        out += [f"  duplicated {step}" for step in self.steps_duplicated[:20]]
        out.append("RESULT: " + ("PASS" if self.ok else "FAIL"))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """The mocks process and the (restartable) gateway process."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = "mppk_chaos_" + secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env: dict[str, str] = {}
        self.controls: dict[str, str] = {}
        self.mocks: subprocess.Popen[str] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self._logs: list[Any] = []

    def start_mocks(self) -> None:
        log = (self.workdir / "mocks.log").open("w")
        self._logs.append(log)
        self.mocks = subprocess.Popen(
            [sys.executable, "-m", "gateway", "mocks", "--ephemeral-mock-ports"],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )  # fmt: skip
        assert self.mocks.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.mocks.stdout.readline()
            if not line:
                break
            if match := re.match(r"^(MPP_AGENCY__[A-Z_]+__[A-Z_]+)=(.*)$", line.strip()):
                self.env[match.group(1)] = match.group(2)
                if match.group(1).endswith("__BASE_URL"):
                    agency = match.group(1)[len("MPP_AGENCY__") : -len("__BASE_URL")].lower().replace("_", "-")
                    origin = re.match(r"^(https?://[^/]+)", match.group(2))
                    assert origin is not None
                    self.controls[agency] = origin.group(1)
            if len(self.controls) >= 1 and line.startswith("Mock agencies are ready"):
                break
        if not self.controls:
            raise RuntimeError("the mocks did not start")

    def start_gateway(self) -> None:
        clients = self.workdir / "clients.json"
        digest = __import__("hashlib").sha256(self.key.encode()).hexdigest()
        clients.write_text(json.dumps({"clients": [{"id": "chaos", "name": "Chaos counter", "key_sha256": [digest]}]}))
        env = {
            **os.environ,
            **self.env,
            "MPP_PORT": str(self.port),
            "MPP_STORE_PATH": str(self.workdir / "gateway.sqlite3"),
            "MPP_DATA_KEYS": stored_data_keys(self.workdir / "gateway.data-keys"),  # the same after every kill
            "MPP_CLIENTS_FILE": str(clients),
            "MPP_LEASE_SECONDS": "6",
            "MPP_SWEEP_INTERVAL_SECONDS": "0.5",
            "MPP_LOG_LEVEL": "warning",
            "MPP_ADAPTERS": "dukcapil,bpjs-ketenagakerjaan,oss",  # oss: the journeys' NIB check
        }
        for agency in self.controls:
            prefix = f"MPP_AGENCY__{agency.upper().replace('-', '_')}__"
            env.setdefault(prefix + "TIMEOUT", "2")
            env[prefix + "LOOKUP_CALL_TIMEOUT"] = "2"
            env[prefix + "SUBMISSION_CALL_TIMEOUT"] = "2"
            env[prefix + "SUBMISSION_DEFER"] = "1"
            env[prefix + "SUBMISSION_ATTEMPTS"] = "3"
            env[prefix + "BREAKER_OPEN_SECONDS"] = "2"
            env[prefix + "BUDGET_RATIO"] = "0.5"
        log = (self.workdir / "gateway.log").open("a")
        self._logs.append(log)
        self.gateway = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env,
                                        stdout=log, stderr=log)  # fmt: skip

    def kill_gateway(self) -> None:
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGKILL)
            self.gateway.wait()

    def stop(self) -> None:
        for proc in (self.gateway, self.mocks):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.mocks is not None and self.mocks.stdout is not None:
            self.mocks.stdout.close()
        for log in self._logs:
            log.close()


async def wait_ready(client: httpx.AsyncClient, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not become ready")


async def post_until_answered(
    client: httpx.AsyncClient, body: dict[str, Any], key: str, stop_at: float, path: str = "/v1/requests"
) -> Any:
    """A counter app's behaviour: resend with the same Idempotency-Key until the gateway answers."""
    while time.monotonic() < stop_at:
        try:
            resp = await client.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            await asyncio.sleep(0.2)
            continue
        if resp.status_code >= 500 and resp.status_code != 503:
            await asyncio.sleep(0.2)
            continue
        return resp
    return None


def journey_body(index: int, citizen: dict[str, Any], nib: str) -> dict[str, Any]:
    """A ``business.micro-start`` journey for ``citizen`` as the owner of the business ``nib``."""
    return {
        "journey": JOURNEY,
        "applicant": {"nik": citizen["nik"]},
        "counter": {"mpp_id": "mpp-chaos", "desk": f"loket-{index % 12:02d}", "operator": "op-1"},
        "consent": {"method": "written", "reference": f"J-{index}", "given_at": consent_given_at()},
        "payload": {"nib": nib, "owner": {"full_name": citizen["full_name"], "birth_date": citizen["birth_date"]},
                    "registration": register_payload(citizen)},
    }  # fmt: skip


def register_payload(citizen: dict[str, Any]) -> dict[str, Any]:
    return {
        "occupation": "trader",
        "monthly_income": "2m_to_3m",
        "programmes": ["JKK", "JKM", "JHT"],
        "phone": "081234567890",
        "address": {
            "street": citizen["address"],
            "village": citizen["village_name"],
            "district": citizen["district_name"],
            "regency": citizen["regency_name"],
            "province": citizen["province_name"],
        },
    }


async def run(options: Options, out: Any = sys.stdout) -> Report:
    rng = random.Random(options.seed)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="mpp-chaos-") as tmp:
        procs = Processes(Path(tmp))
        procs.start_mocks()
        procs.start_gateway()
        headers = {"Authorization": f"Bearer {procs.key}"}
        delivered: set[str] = set()
        async with httpx.AsyncClient(base_url=procs.url, headers=headers, timeout=10) as client, \
                httpx.AsyncClient(timeout=10) as control:  # fmt: skip
            try:
                await wait_ready(client)
                listing = await control.get(
                    f"{procs.controls['dukcapil']}/_control/citizens", params={"status": "active", "limit": 400}
                )
                citizens = listing.json()["citizens"]
                businesses = (await control.get(f"{procs.controls['oss']}/_control/businesses",
                                                params={"limit": 200})).json()["businesses"]  # fmt: skip
                nibs = [b["nib"] for b in businesses if b["status_nib"] == "01"]
                journeys: set[str] = set()
                for origin in procs.controls.values():
                    (await control.put(f"{origin}/_control/faults", json=FAULTS)).raise_for_status()
                accepted: dict[str, str] = {}
                submitted: set[str] = set()
                tasks: list[asyncio.Task[None]] = []
                start = time.monotonic()
                stop_at = start + options.duration
                kill_times = [start + options.duration * (i + 1) / (options.kills + 1) for i in range(options.kills)]
                outage_at = start + options.duration * 0.25
                outage_done = False
                outage_over = False

                async def journey(index: int, key: str) -> None:
                    body = journey_body(index, citizens[index % len(citizens)], nibs[index % len(nibs)])
                    resp = await post_until_answered(client, body, key, stop_at + 60, path="/v1/journeys")
                    report.journeys_sent += 1
                    if resp is not None and resp.status_code in (200, 202):
                        journeys.add(resp.json()["id"])
                    elif resp is not None and resp.status_code == 503:
                        slug = str(resp.json().get("type", "")).rsplit("/", 1)[-1]
                        report.refused[slug] += 1
                    elif resp is not None:
                        print(f"unexpected answer {resp.status_code}: {resp.text[:300]}", file=out)

                async def one(index: int) -> None:
                    citizen = citizens[index % len(citizens)]
                    key = str(uuid.UUID(int=rng.getrandbits(128)))
                    if rng.random() < JOURNEY_SHARE:
                        await journey(index, key)
                        return
                    if rng.random() < 0.3:
                        service, payload = SUBMISSION, register_payload(citizen)
                    else:
                        service, payload = LOOKUP, {"full_name": citizen["full_name"], "threshold": 80}
                    body = {"service": service, "applicant": {"nik": citizen["nik"]},
                            "counter": {"mpp_id": "mpp-chaos", "desk": f"loket-{index % 12:02d}", "operator": "op-1"},
                            "payload": payload}  # fmt: skip
                    if service == SUBMISSION:
                        body["consent"] = {"method": "written", "reference": f"F-{index}",
                                           "given_at": consent_given_at()}  # fmt: skip
                    resp = await post_until_answered(client, body, key, stop_at + 60)
                    report.sent += 1
                    if resp is not None and resp.status_code in (200, 202):
                        request_id = resp.json()["id"]
                        accepted[request_id] = service
                        if service == SUBMISSION:
                            submitted.add(request_id)
                    elif resp is not None and resp.status_code == 503:
                        slug = str(resp.json().get("type", "")).rsplit("/", 1)[-1]
                        report.refused[slug] += 1
                    elif resp is not None:
                        print(f"unexpected answer {resp.status_code}: {resp.text[:300]}", file=out)

                index = 0
                while time.monotonic() < stop_at:
                    now = time.monotonic()
                    if kill_times and now >= kill_times[0]:
                        kill_times.pop(0)
                        procs.kill_gateway()
                        report.kills += 1
                        print(f"[{now - start:5.1f}s] gateway SIGKILLed; restarting", file=out, flush=True)
                        await asyncio.sleep(1.0)
                        procs.start_gateway()
                    if not outage_done and now >= outage_at:
                        outage_done = True
                        await control.put(f"{procs.controls['bpjs-ketenagakerjaan']}/_control/faults",
                                          json={**FAULTS, "error_rate": 1.0, "timeout_rate": 0.0, "reset_rate": 0.0,
                                                "malformed_rate": 0.0})  # fmt: skip
                        print(f"[{now - start:5.1f}s] BPJS Ketenagakerjaan down", file=out, flush=True)
                    if outage_done and not outage_over and now >= outage_at + options.outage:
                        outage_over = True
                        await control.put(f"{procs.controls['bpjs-ketenagakerjaan']}/_control/faults", json=FAULTS)
                        print(f"[{now - start:5.1f}s] BPJS Ketenagakerjaan back", file=out, flush=True)
                    tasks.append(asyncio.create_task(one(index)))
                    index += 1
                    await asyncio.sleep(1.0 / options.rate)
                await asyncio.gather(*tasks)
                print(f"[{time.monotonic() - start:5.1f}s] load over; faults off; draining", file=out, flush=True)
                calm = {"error_rate": 0.0, "timeout_rate": 0.0, "reset_rate": 0.0, "malformed_rate": 0.0}
                for origin in procs.controls.values():
                    await control.put(f"{origin}/_control/faults", json=calm)
                report.accepted = len(accepted)
                report.submissions = len(submitted)
                report.journeys_accepted = len(journeys)
                drained_at = time.monotonic()
                await drain(client, accepted, report, options.drain_timeout)
                await drain_journeys(client, journeys, report, options.drain_timeout - (time.monotonic() - drained_at))
                # The mock counts every registration request it read, per reference (the gateway's request id).
                # A reference it registered and then received again is a duplicate: the gateway resent a
                # submission the agency had applied. (A refused submission, e.g. an existing membership, may be
                # resent after reconciliation finds nothing: nothing was applied, so nothing is duplicated.)
                origin = procs.controls["bpjs-ketenagakerjaan"]
                deliveries = (await control.get(f"{origin}/_control/deliveries")).json()
                registered = {
                    r["reference"]
                    for r in (await control.get(f"{origin}/_control/registrations")).json()["registrations"]
                }
                report.duplicated = {
                    ref: n for ref, n in deliveries["by_reference"].items() if n > 1 and ref in registered
                }
                report.resent_unapplied = sum(
                    1 for ref, n in deliveries["by_reference"].items() if n > 1 and ref not in registered
                )
                report.delivered = len(deliveries["by_reference"])
                delivered.update(deliveries["by_reference"])
                for reference in report.duplicated:
                    record = (await client.get(f"/v1/requests/{reference}")).json()
                    attempts = [(a["number"], a["outcome"], a["detail"]) for a in record["attempts"]]
                    print(f"duplicated {reference}: {record['status']} attempts={attempts}", file=out)
            finally:
                procs.stop()
            await audit_check(procs.workdir / "gateway.sqlite3", delivered, report)
            journey_check(procs.workdir / "gateway.sqlite3", report)
    for line in report.lines():
        print(line, file=out, flush=True)
    return report


async def audit_check(path: Path, delivered: set[str], report: Report) -> None:
    """Every stored request has its acceptance entry, every final one its final entry, every registration the
    agency received names such a request, and the chain verifies (read from the stopped gateway's database)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT r.id, r.status, "
            "EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.action = 'request.accepted'), "
            "EXISTS (SELECT 1 FROM audit_log a WHERE a.request_id = r.id AND a.action = 'request.' || r.status) "
            "FROM requests r"
        ).fetchall()
    finally:
        conn.close()
    stored = set()
    for request_id, status, has_accepted, has_final in rows:
        stored.add(request_id)
        missing = [] if has_accepted else ["request.accepted"]
        if status in {"completed", "rejected", "failed"} and not has_final:
            missing.append(f"request.{status}")
        if missing:
            report.audit_missing[request_id] = ", ".join(missing)
    for reference in delivered - stored:
        report.audit_missing[reference] = "delivered to the agency, not stored"
    store = SqliteStore(path)
    await store.open()
    try:
        verified = await verify_store(store, {})
    finally:
        await store.aclose()
    report.audit_entries, report.audit_intact = verified.entries, verified.intact


def journey_check(path: Path, report: Report) -> None:
    """Steps that ran as more requests than they have runs, read from the stopped gateway's database.

    Every request a journey's step makes carries the journey's trace id, so the requests of a journey are found
    without trusting the step rows' own links: per service, they must be as many as its steps' runs.
    """
    conn = sqlite3.connect(path)
    try:
        made = conn.execute(
            "SELECT j.id, r.service, COUNT(*) FROM journeys j JOIN requests r ON r.trace_id = j.trace_id "
            "GROUP BY j.id, r.service"
        ).fetchall()
        runs = conn.execute("SELECT journey_id, name, run, request_id FROM journey_steps").fetchall()
        journeys = dict(conn.execute("SELECT id, journey FROM journeys").fetchall())
    finally:
        conn.close()
    services = {}  # (journey, step) -> the step's service, from the shipped definitions
    for entry in (importlib.resources.files("gateway.journeys") / "definitions").iterdir():
        if entry.name.endswith(".yaml"):
            definition = parse_definition(entry.read_text(encoding="utf-8"), source=entry.name)
            services.update({(definition.id, step.name): step.service for step in definition.steps})
    expected: collections.Counter[tuple[str, str]] = collections.Counter()
    names: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for journey_id, name, run, request_id in runs:
        service = services.get((journeys.get(journey_id, ""), name), "?")
        names[(journey_id, service)].append(name)
        if request_id is not None:
            expected[(journey_id, service)] += run
    report.journey_steps = sum(n for _, _, n in made)
    report.steps_duplicated = sorted(
        f"{journey_id}: {'/'.join(names[(journey_id, service)]) or service} ({n} requests, "
        f"{expected[(journey_id, service)]} runs)"
        for journey_id, service, n in made if n > expected[(journey_id, service)]
    )  # fmt: skip


async def drain_journeys(client: httpx.AsyncClient, journeys: set[str], report: Report, within: float) -> None:
    """Wait for every accepted journey to be final: an unknown one is lost, one still running is unfinished."""
    pending = set(journeys)
    deadline = time.monotonic() + max(within, 30.0)
    while pending and time.monotonic() < deadline:
        for journey_id in list(pending):
            try:
                resp = await client.get(f"/v1/journeys/{journey_id}")
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if resp.status_code == 404:
                report.journeys_lost.append(journey_id)
                pending.discard(journey_id)
            elif resp.status_code == 200 and resp.json()["status"] != "running":
                record = resp.json()
                report.journey_statuses[record["status"]] += 1
                if record["status"] == "failed" and record["problem"]:
                    report.journey_failures[record["problem"]["type"].rsplit("/", 1)[-1]] += 1
                pending.discard(journey_id)
        if pending:
            await asyncio.sleep(0.5)
    report.journeys_unfinished = sorted(pending)


async def drain(client: httpx.AsyncClient, accepted: dict[str, str], report: Report, within: float) -> None:
    pending = set(accepted)
    deadline = time.monotonic() + within
    records: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for request_id in list(pending):
            try:
                resp = await client.get(f"/v1/requests/{request_id}")
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if resp.status_code == 404:
                report.lost.append(request_id)
                pending.discard(request_id)
            elif resp.status_code == 200 and resp.json()["status"] in {"completed", "rejected", "failed"}:
                records[request_id] = resp.json()
                pending.discard(request_id)
        if pending:
            await asyncio.sleep(0.5)
    report.unfinished = sorted(pending)
    for record in records.values():
        report.statuses[record["status"]] += 1
        if record["status"] == "failed":
            report.failures[record["problem"]["type"].rsplit("/", 1)[-1]] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=Options.duration)
    parser.add_argument("--rate", type=float, default=Options.rate)
    parser.add_argument("--kills", type=int, default=Options.kills)
    parser.add_argument("--outage", type=float, default=Options.outage)
    args = parser.parse_args()
    report = asyncio.run(run(Options(duration=args.duration, rate=args.rate, kills=args.kills, outage=args.outage)))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
