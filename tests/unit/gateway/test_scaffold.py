"""`mpp-gateway new-adapter`: names, refusals, the files written, and the example and guide kept in step with them.

``examples/mpp-imigrasi/`` is exactly what ``new-adapter imigrasi`` writes. After a change to the template
(``gateway/cli/templates/adapter/``), rewrite the example with
``MPP_UPDATE_EXAMPLE=1 .venv/bin/pytest tests/unit/gateway/test_scaffold.py -k example``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from gateway.cli import (
    MAX_NAME_LENGTH,
    AdapterNames,
    ScaffoldError,
    check_agency_name,
    main,
    render_adapter,
    write_adapter,
)
from mocks import AGENCY_PORTS

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "mpp-imigrasi"
#: What the example is: the generator's output for this agency and mock port.
EXAMPLE_NAMES = AdapterNames("imigrasi", 8105)
#: Left in the example's folder by installing and running it, not part of the package.
BUILD_LEFTOVERS = {"__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache", ".hypothesis"}
FILES = {
    "README.md",
    "pyproject.toml",
    "mpp_samsat/__init__.py",
    "mpp_samsat/client.py",
    "mpp_samsat/conformance.py",
    "mpp_samsat/errors.py",
    "mpp_samsat/manifest.json",
    "mpp_samsat/mapping.py",
    "mpp_samsat/mock.py",
    "mpp_samsat/py.typed",
    "mpp_samsat/quality.yaml",
    "mpp_samsat/services.py",
    "tests/conftest.py",
    "tests/test_samsat_adapter.py",
    "tests/test_samsat_conformance.py",
    "tests/test_samsat_e2e.py",
    "tests/test_samsat_mock.py",
}


def example_files() -> dict[str, str]:
    """The example package's own files (relative POSIX path -> text), without what builds leave behind."""
    found = {}
    for path in sorted(EXAMPLE.rglob("*")):
        relative = path.relative_to(EXAMPLE)
        if path.is_file() and not any(p in BUILD_LEFTOVERS or p.endswith(".egg-info") for p in relative.parts):
            found[relative.as_posix()] = path.read_text(encoding="utf-8")
    return found


def test_names_follow_from_the_slug() -> None:
    """Every name the template uses derives from the agency slug: distribution, package, classes, variables."""
    names = AdapterNames("bpn-kota", 8106)
    assert (names.distribution, names.package, names.ident) == ("mpp-bpn-kota", "mpp_bpn_kota", "bpn_kota")
    assert (names.class_prefix, names.env, names.code, names.title) == ("BpnKota", "BPN_KOTA", "BPN-KOTA", "Bpn Kota")
    assert names.placeholders()["{{port}}"] == "8106"


@pytest.mark.parametrize("name", ["samsat", "bpn-kota", "e2e", "x1-y2", "ab", "a" * MAX_NAME_LENGTH])
def test_valid_agency_names_are_accepted(name: str) -> None:
    """Lower-case letters and digits, words joined by single hyphens, starting with a letter, are accepted."""
    check_agency_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Samsat", "not an agency name"),
        ("bpn_kota", "not an agency name"),
        ("bpn--kota", "not an agency name"),
        ("-bpn", "not an agency name"),
        ("bpn-", "not an agency name"),
        ("1bpn", "not an agency name"),
        ("bpn kota", "not an agency name"),
        ("", "not an agency name"),
        ("s", "2 to 20 characters"),
        ("a" * (MAX_NAME_LENGTH + 1), "2 to 20 characters"),
        ("v1", "the gateway's own API"),
        ("docs", "the gateway's own API"),
    ],
)
def test_bad_agency_names_are_refused(name: str, message: str) -> None:
    """A name that cannot be a slug, an identifier and an environment variable part is refused, saying why."""
    with pytest.raises(ScaffoldError, match=message):
        check_agency_name(name)


def test_an_installed_agency_name_is_refused(tmp_path: Path) -> None:
    """A name an installed adapter or mock already uses is refused, and nothing is written."""
    with pytest.raises(ScaffoldError, match="already installed"):
        check_agency_name("dukcapil", taken={"dukcapil"})
    with pytest.raises(ScaffoldError, match="'imigrasi' is already installed"):
        write_adapter("imigrasi", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    """When mpp-NAME exists, it is left exactly as it was, and the call fails."""
    existing = tmp_path / "mpp-samsat"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="already exists"):
        write_adapter("samsat", tmp_path)
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]
    assert (existing / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_the_package_is_written_whole(tmp_path: Path) -> None:
    """The folder holds the complete package: entry points for adapter and mock, manifest, profile, tests."""
    package = write_adapter("samsat", tmp_path / "new" / "place")
    assert package.path == tmp_path / "new" / "place" / "mpp-samsat"
    written = {p.relative_to(package.path).as_posix() for p in package.path.rglob("*") if p.is_file()}
    assert written == FILES == set(package.files)
    texts = {name: (package.path / name).read_text(encoding="utf-8") for name in written}
    assert not [name for name, text in texts.items() if "{{" in text]
    project = tomllib.loads(texts["pyproject.toml"])["project"]
    assert project["name"] == "mpp-samsat"
    assert project["entry-points"] == {
        "mpp_gateway.adapters": {"samsat": "mpp_samsat:SamsatAdapter"},
        "mpp_gateway.mocks": {"samsat": "mpp_samsat.mock:MOCK"},
    }
    assert any(dependency.startswith("mpp-gateway") for dependency in project["dependencies"])
    manifest = json.loads(texts["mpp_samsat/manifest.json"])
    assert manifest["agency"] == "samsat"
    assert [s["env"] for s in manifest["settings"]] == ["MPP_AGENCY__SAMSAT__TOKEN", "MPP_AGENCY__SAMSAT__OFFICE"]
    assert 'conformance_tests("samsat")' in texts["tests/test_samsat_conformance.py"]


def test_the_mock_port_is_free_or_refused(tmp_path: Path) -> None:
    """The mock takes the first port from 8105 no installed mock uses; a taken or impossible port is refused."""
    taken = set(AGENCY_PORTS.values())
    package = write_adapter("samsat", tmp_path)
    assert package.names.mock_port == min(port for port in range(8105, 65536) if port not in taken)
    assert f"default_port={package.names.mock_port})" in (package.path / "mpp_samsat/mock.py").read_text()
    with pytest.raises(ScaffoldError, match="installed mock"):
        write_adapter("pajak", tmp_path, mock_port=AGENCY_PORTS["dukcapil"])
    with pytest.raises(ScaffoldError, match="between 1024 and 65535"):
        write_adapter("pajak", tmp_path, mock_port=80)
    assert not (tmp_path / "mpp-pajak").exists()


@pytest.mark.parametrize("name", ["abcdefghij-klmnopqrs", "abcdefghijklmnopqrst"])
def test_the_longest_names_keep_lines_within_the_limit(name: str) -> None:
    """Rendered for the longest slugs, every Python line stays within the 120 characters ruff allows."""
    assert len(name) == MAX_NAME_LENGTH
    files = render_adapter(AdapterNames(name, 65535))
    long = [f"{path}:{n}" for path, text in files.items() if path.endswith(".py")
            for n, line in enumerate(text.splitlines(), 1) if len(line) > 120]  # fmt: skip
    assert long == []


def test_the_example_is_what_the_generator_writes() -> None:
    """examples/mpp-imigrasi is, file for file and line for line, what `new-adapter imigrasi` writes."""
    rendered = render_adapter(EXAMPLE_NAMES)
    if os.environ.get("MPP_UPDATE_EXAMPLE") == "1":
        for stale in set(example_files()) - set(rendered):
            (EXAMPLE / stale).unlink()
        for relative, text in rendered.items():
            (EXAMPLE / relative).parent.mkdir(parents=True, exist_ok=True)
            (EXAMPLE / relative).write_text(text, encoding="utf-8")
    example = example_files()
    assert sorted(example) == sorted(rendered)
    differing = [name for name in rendered if example[name] != rendered[name]]
    assert differing == [], "edit the template, then rewrite the example (see this module's docstring)"


def quoted_blocks(document: Path) -> list[tuple[str, str]]:
    """``(example file, code)`` for each fenced block a ``<!-- example: path -->`` line announces."""
    text = document.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- example: (\S+) -->\n```[a-z]*\n(.*?)\n```", re.S)
    return [(match.group(1), match.group(2)) for match in pattern.finditer(text)]


@pytest.mark.parametrize("document", ["docs/writing-an-adapter.md", "README.md"])
def test_the_documents_quote_the_example_line_for_line(document: str) -> None:
    """Every block the guide and the README quote from the example appears in that file exactly, in one piece."""
    blocks = quoted_blocks(ROOT / document)
    assert blocks, f"{document} quotes nothing from the example"
    example = example_files()
    drifted = [f"{name}: {code.splitlines()[0]}" for name, code in blocks if f"{code}\n" not in example[name]]
    assert drifted == []


def test_the_command_writes_the_package_and_says_what_to_run_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`new-adapter NAME --dir PATH` writes mpp-NAME and prints the install, test, demo and curl commands."""
    monkeypatch.chdir(tmp_path)
    assert main(["new-adapter", "samsat", "--dir", "out"]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "out" / "mpp-samsat" / "mpp_samsat" / "__init__.py").is_file()
    assert "-m pip install -e './out/mpp-samsat[test]'" in printed
    assert "-m pytest ./out/mpp-samsat/tests" in printed
    assert "make run" in printed and '"service": "samsat.appointment.slots"' in printed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["new-adapter", "Samsat"], "not an agency name"),
        (["new-adapter", "dukcapil"], "already installed"),
        (["new-adapter", "samsat", "--mock-port", "8101"], "installed mock"),
    ],
)
def test_the_command_refuses_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A refused name or port exits 2 with the reason on stderr, and writes nothing."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
