"""The integrator's path: `mpp-gateway new-adapter`, the package's own tests and the kit, then lookups through the
gateway and the demo against the package's mock, and what `serve` says when the adapter has no settings.

Nothing is installed into the environment: the package's metadata (its entry points, read from the generated
``pyproject.toml``, as ``pip install`` would register them) goes into a folder put on the path.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.conformance import PARTS, installed_adapters
from gateway import Settings, build_registry, build_transport
from gateway.cli import main
from gateway.store import generate_data_key
from mocks import AGENCY_PORTS, start_mocks
from tests.e2e.test_demo import free_port
from tests.fakes import KEY_A
from tests.integration.conftest import start_gateway

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "gateway"]
AGENCY = "samsat-kota"
PACKAGE = "mpp_samsat_kota"
NIK = "3273014708900001"
COUNTER = {"mpp_id": "mpp-a", "desk": "loket-07", "operator": "op-07"}


@dataclass(frozen=True)
class Generated:
    """A package `new-adapter` wrote, and path folders that make it look installed."""

    package: Path
    #: Its metadata with both entry points, as `pip install` registers them.
    site: Path
    #: Its metadata with the adapter's entry point only: an adapter without a mock.
    site_without_mock: Path
    stdout: str

    def pythonpath(self, site: Path | None = None) -> str:
        return os.pathsep.join([str(site or self.site), str(self.package), os.environ.get("PYTHONPATH", "")])


def register(package: Path, site: Path, groups: tuple[str, ...]) -> None:
    """Write the distribution's metadata and the entry points of ``groups`` from ``package``'s pyproject.toml."""
    project = tomllib.loads((package / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    requires = "".join(f"Requires-Dist: {dependency}\n" for dependency in project["dependencies"])
    metadata = f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n{requires}"
    (info / "METADATA").write_text(metadata, encoding="utf-8")
    sections = [
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in project["entry-points"][group].items())
        for group in groups
    ]
    (info / "entry_points.txt").write_text("\n".join(sections), encoding="utf-8")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """`python -m gateway new-adapter samsat-kota --dir <tmp>`, run as an integrator runs it."""
    folder = tmp_path_factory.mktemp("integrator")
    done = subprocess.run([*CLI, "new-adapter", AGENCY, "--dir", str(folder)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    package = folder / f"mpp-{AGENCY}"
    register(package, folder / "site", ("mpp_gateway.adapters", "mpp_gateway.mocks"))
    register(package, folder / "site-without-mock", ("mpp_gateway.adapters",))
    return Generated(package, folder / "site", folder / "site-without-mock", done.stdout)


@pytest.fixture
def installed(generated: Generated, monkeypatch: pytest.MonkeyPatch) -> Iterator[Generated]:
    """The generated package importable and its entry points visible in this process, for this test only."""
    monkeypatch.syspath_prepend(str(generated.package))
    monkeypatch.syspath_prepend(str(generated.site))
    yield generated
    for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_the_command_prints_the_next_commands(generated: Generated) -> None:
    """The output names the package written and the commands from installing it to a lookup through the demo."""
    assert f"mpp-{AGENCY}" in generated.stdout and f"{AGENCY.title().replace('-', '')}Adapter" in generated.stdout
    for command in ("-m pip install -e", "-m pytest", "make run", "curl -s -X POST", f"{AGENCY}.appointment.slots"):
        assert command in generated.stdout


def test_the_command_refuses_to_overwrite(generated: Generated) -> None:
    """Asked again for the same folder, the command exits 2 and leaves the package as it was."""
    before = sorted(p.relative_to(generated.package) for p in generated.package.rglob("*"))
    again = subprocess.run([*CLI, "new-adapter", AGENCY, "--dir", str(generated.package.parent)],
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert sorted(p.relative_to(generated.package) for p in generated.package.rglob("*")) == before


def test_the_generated_package_passes_its_own_tests_and_the_kit(generated: Generated) -> None:
    """Its tests (unit, mock, the conformance kit's every part, end to end) pass as generated."""
    env = {**os.environ, "PYTHONPATH": generated.pythonpath()}
    run = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"], cwd=generated.package,
                         env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    for part in PARTS:
        assert re.search(rf"test_conformance\[{AGENCY}-{part}\] PASSED", run.stdout), part
    assert " failed" not in run.stdout and " skipped" not in run.stdout


def test_the_generated_package_is_lint_and_type_clean(generated: Generated, tmp_path: Path) -> None:
    """ruff and mypy --strict, with the package's own configuration, find nothing in it as generated."""
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=generated.package,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert ruff.returncode == 0, ruff.stdout
    # The gateway's editable install is an import hook mypy cannot follow: its checkout is named explicitly.
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), PACKAGE]
    mypy = subprocess.run(command, cwd=generated.package, env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    assert mypy.returncode == 0, mypy.stdout


@pytest.mark.parametrize("part", PARTS)
def test_the_kit_passes_the_installed_package(installed: Generated, part: str) -> None:
    """Found through its entry point like any installed adapter, the package passes each part of the kit."""
    (adapter,) = installed_adapters([AGENCY])
    assert adapter.profile is not None, adapter.problem
    adapter.check(part).assert_ok()


async def test_a_lookup_through_the_gateway_reaches_the_generated_mock(installed: Generated, tmp_path: Path) -> None:
    """The gateway, finding the adapter by its entry point, answers a slot lookup from the mock over real sockets."""
    assert AGENCY_PORTS[AGENCY] not in {port for name, port in AGENCY_PORTS.items() if name != AGENCY}
    async with await start_mocks("127.0.0.1", {AGENCY: 0}) as cluster:
        server = await start_gateway(cluster, tmp_path)
        try:
            async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=20,
                                         headers={"Authorization": f"Bearer {KEY_A}"}) as client:  # fmt: skip
                services = [s["id"] for s in (await client.get("/v1/services")).json()["services"]]
                assert sorted(services) == [f"{AGENCY}.appointment.book", f"{AGENCY}.appointment.slots"]
                body = {"service": f"{AGENCY}.appointment.slots", "applicant": {"nik": NIK}, "counter": COUNTER,
                        "payload": {"days": 3}}  # fmt: skip
                resp = await client.post("/v1/requests", json=body, headers={"Prefer": "wait=10"})
        finally:
            await server.close()
    assert resp.status_code == 200, resp.text
    record = resp.json()
    assert (record["status"], record["agency"]) == ("completed", AGENCY)
    assert record["result"]["office"] == cluster.agencies[AGENCY].settings["office"]
    assert record["result"]["slots"], "the mock's schedule has free slots on the next weekdays"


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, ["BASE_URL", "TOKEN (secret)", "OFFICE"]),
        ({"TOKEN": "t0k3n-not-shown"}, ["BASE_URL", "OFFICE"]),
    ],
)
def test_serve_names_every_setting_the_adapter_lacks(
    installed: Generated,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    present: dict[str, str],
    missing: list[str],
) -> None:
    """`serve` with the adapter installed but unconfigured exits 2 listing each variable it still needs."""
    clients = tmp_path / "clients.json"
    clients.write_text('{"clients": [{"id": "c", "name": "C", "key_sha256": ["' + "0" * 64 + '"]}]}')
    for name in [name for name in os.environ if name.startswith("MPP_")]:
        monkeypatch.delenv(name)
    env = {"MPP_CLIENTS_FILE": str(clients), "MPP_DATA_KEYS": generate_data_key(), "MPP_ADAPTERS": AGENCY,
           "MPP_STORE_PATH": str(tmp_path / "never.sqlite3")}  # fmt: skip
    env |= {f"MPP_AGENCY__SAMSAT_KOTA__{name}": value for name, value in present.items()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--host", "127.0.0.1", "--port", "9"]) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.strip().startswith(f"{AGENCY} "))
    assert f"(installed by mpp-{AGENCY})" in line
    assert line.split(": ", 1)[1] == ", ".join(f"MPP_AGENCY__SAMSAT_KOTA__{name}" for name in missing)
    assert "MPP_ADAPTERS" in err and "t0k3n-not-shown" not in err
    assert not (tmp_path / "never.sqlite3").exists()


async def test_the_registry_names_the_settings_of_every_unconfigured_adapter(installed: Generated) -> None:
    """Building the adapters fails once, naming every unconfigured adapter's variables, not the first one's."""
    transport = build_transport()
    try:
        with pytest.raises(ValueError, match="2 adapters have no settings") as caught:
            build_registry(Settings(adapters=(AGENCY, "oss")), transport)
    finally:
        await transport.aclose()
    message = str(caught.value)
    assert "MPP_AGENCY__OSS__USER_KEY (secret)" in message
    assert "MPP_AGENCY__SAMSAT_KOTA__OFFICE" in message


class Demo:
    """`python -m gateway demo` with the generated package on the path, until stopped."""

    def __init__(self, generated: Generated, site: Path, tmp_path: Path) -> None:
        self.port = free_port()
        self.log = tmp_path / "demo.log"
        env = {**os.environ, "PYTHONPATH": generated.pythonpath(site),
               "MPP_STORE_PATH": str(tmp_path / "demo.sqlite3")}  # fmt: skip
        env.pop("MPP_ADAPTERS", None)
        with self.log.open("w") as stderr:
            self.proc = subprocess.Popen([*CLI, "demo", "--port", str(self.port), "--ephemeral-mock-ports"],
                                         stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)  # fmt: skip
        assert self.proc.stdout is not None
        self.key = ""
        self.mocks: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if m := re.search(r"Demo client API key: (\S+)", line):
                self.key = m.group(1)
            if m := re.search(r"Mock (\S+): (http://\S+)", line):
                self.mocks[m.group(1)] = m.group(2)
            if self.key and "dukcapil" in self.mocks and (AGENCY in self.mocks or site == generated.site_without_mock):
                return
        self.stop()
        pytest.fail(f"demo did not start: {self.log.read_text()}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=20,
                            headers={"Authorization": f"Bearer {self.key}", "Prefer": "wait=10"})  # fmt: skip

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return self.proc.returncode


def test_the_demo_serves_the_installed_adapter_from_its_mock(generated: Generated, tmp_path: Path) -> None:
    """`make run` (the demo) starts the package's mock, points the adapter at it, and a curl lookup completes."""
    demo = Demo(generated, generated.site, tmp_path)
    try:
        counter = {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"}
        body = {"service": f"{AGENCY}.appointment.slots", "applicant": {"nik": NIK}, "counter": counter,
                "payload": {"days": 3}}  # fmt: skip
        with demo.client() as client:
            resp = client.post("/v1/requests", json=body)
    finally:
        code = demo.stop()
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "completed" and resp.json()["result"]["slots"]
    assert code == 0
    log = demo.log.read_text()
    assert "Traceback" not in log and '"adapter.not_loaded"' not in log


def test_the_demo_names_what_an_adapter_without_a_mock_needs(generated: Generated, tmp_path: Path) -> None:
    """An installed adapter with no mock and no settings is left out of the demo, with a log line naming its
    variables; the other agencies still answer."""
    demo = Demo(generated, generated.site_without_mock, tmp_path)
    try:
        with demo.client() as client:
            services = [s["id"] for s in client.get("/v1/services").json()["services"]]
    finally:
        code = demo.stop()
    assert "dukcapil.nik.verify" in services and f"{AGENCY}.appointment.slots" not in services
    assert code == 0
    events = [json.loads(line) for line in demo.log.read_text().splitlines() if line.startswith("{")]
    (left_out,) = [event for event in events if event.get("event") == "adapter.not_loaded"]
    assert (left_out["agency"], left_out["reason"]) == (AGENCY, "no settings")
    variables = ["BASE_URL", "TOKEN (secret)", "OFFICE"]
    assert left_out["settings_to_set"] == ", ".join(f"MPP_AGENCY__SAMSAT_KOTA__{name}" for name in variables)


def test_the_demo_told_to_load_an_unconfigured_adapter_says_what_to_set(generated: Generated, tmp_path: Path) -> None:
    """`demo` with MPP_ADAPTERS naming an adapter that has no mock and no settings exits 2 naming its variables,
    without a traceback, and stops the mocks it had started."""
    env = {**os.environ, "PYTHONPATH": generated.pythonpath(generated.site_without_mock),
           "MPP_STORE_PATH": str(tmp_path / "demo.sqlite3"), "MPP_ADAPTERS": f"dukcapil,{AGENCY}"}  # fmt: skip
    done = subprocess.run([*CLI, "demo", "--port", str(free_port()), "--ephemeral-mock-ports"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot start the demo" in done.stderr
    assert "MPP_AGENCY__SAMSAT_KOTA__OFFICE" in done.stderr
