"""``mpp-gateway new-adapter NAME``: write a complete adapter package that passes the conformance kit as written.

The package is rendered from the template in ``gateway/cli/templates/adapter/`` (shipped as package data): every
``{{placeholder}}`` in a file's path or text is replaced by a name derived from the agency slug
(:class:`AdapterNames`), and the ``.tmpl`` suffix is dropped. What comes out is a distribution ``mpp-NAME`` with the
package ``mpp_NAME``: the adapter, its client, mapping, error table and services, a mock agency registered under
``mpp_gateway.mocks``, ``manifest.json``, ``quality.yaml``, the conformance profile, ``py.typed``, a README and tests
that run the conformance kit. Its wire format is invented (slots and bookings at the agency's counter): the
integrator replaces it with the agency's, keeping the kit green.

``examples/mpp-imigrasi/`` is exactly what ``new-adapter imigrasi`` writes, and a test keeps the two the same, so
the example, the template and ``docs/writing-an-adapter.md`` (which quotes the example) describe one package.
Nothing here imports the package it writes, and nothing is written outside the new folder.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Collection, Iterator
from importlib import metadata, resources, util
from importlib.abc import Traversable
from pathlib import Path, PurePosixPath

__all__ = [
    "FIRST_MOCK_PORT",
    "MAX_NAME_LENGTH",
    "AdapterNames",
    "AdapterPackage",
    "ScaffoldError",
    "check_agency_name",
    "render_adapter",
    "write_adapter",
]

MAX_NAME_LENGTH = 20
"""Longest agency slug: the generated office codes, slot ids and lines stay within their limits."""

FIRST_MOCK_PORT = 8105
"""The built-in mocks use 8101-8104; a generated mock takes the first port from here no installed mock uses."""

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# The first segment of the gateway's own paths: an adapter's inbound routes mount under /<agency>/.
_RESERVED = frozenset({"docs", "healthz", "metrics", "problems", "readyz", "v1"})
_ADAPTER_GROUP = "mpp_gateway.adapters"
_MOCK_GROUP = "mpp_gateway.mocks"
_SUFFIX = ".tmpl"


class ScaffoldError(ValueError):
    """The package cannot be written as asked (a bad or taken name, an existing folder); nothing was written."""


@dataclasses.dataclass(frozen=True)
class AdapterNames:
    """Every name the template uses, derived from the agency slug (``bpn-kota`` in the examples below)."""

    #: The agency slug: entry-point name, first part of every service id (``bpn-kota``).
    agency: str
    #: Default port of the generated mock (``MockSpec.default_port``).
    mock_port: int

    @property
    def ident(self) -> str:
        """The slug as a Python identifier part: ``bpn_kota``."""
        return self.agency.replace("-", "_")

    @property
    def package(self) -> str:
        """The import package: ``mpp_bpn_kota``."""
        return f"mpp_{self.ident}"

    @property
    def distribution(self) -> str:
        """The distribution, and the folder written: ``mpp-bpn-kota``."""
        return f"mpp-{self.agency}"

    @property
    def class_prefix(self) -> str:
        """The prefix of the adapter's and client's class names: ``BpnKota``."""
        return "".join(part.capitalize() for part in self.agency.split("-"))

    @property
    def env(self) -> str:
        """The agency's part of its settings' variables, ``MPP_AGENCY__BPN_KOTA__TOKEN``: ``BPN_KOTA``."""
        return self.ident.upper()

    @property
    def code(self) -> str:
        """The prefix of the mock's office codes: ``BPN-KOTA`` (``BPN-KOTA-BANDUNG``)."""
        return self.agency.upper()

    @property
    def title(self) -> str:
        """The agency's name in titles until the integrator writes the real one: ``Bpn Kota``."""
        return " ".join(part.capitalize() for part in self.agency.split("-"))

    def placeholders(self) -> dict[str, str]:
        """Each ``{{placeholder}}`` of the template and what it becomes."""
        return {
            "{{agency}}": self.agency,
            "{{ident}}": self.ident,
            "{{package}}": self.package,
            "{{distribution}}": self.distribution,
            "{{Class}}": self.class_prefix,
            "{{ENV}}": self.env,
            "{{CODE}}": self.code,
            "{{title}}": self.title,
            "{{port}}": str(self.mock_port),
        }


@dataclasses.dataclass(frozen=True)
class AdapterPackage:
    """A package :func:`write_adapter` wrote: where, under which names, and its files (relative, POSIX)."""

    path: Path
    names: AdapterNames
    files: tuple[str, ...]

    def next_steps(self, python: str = "python") -> str:
        """What to run next, from installing the package to a lookup through the demo; ``python`` is the
        interpreter of the gateway's environment."""
        names = self.names
        target = self.path.as_posix()
        if not self.path.is_absolute() and not target.startswith("."):
            target = f"./{target}"  # pip reads a bare name as a distribution to download, not a folder
        body = (
            f'{{"service": "{names.agency}.appointment.slots", "applicant": {{"nik": "3273014708900001"}}, '
            '"counter": {"mpp_id": "mpp-demo", "desk": "loket-01", "operator": "op-001"}, "payload": {"days": 3}}'
        )
        return "\n".join(
            [
                f"Wrote {target}: the distribution {names.distribution}, package {names.package}, adapter "
                f"{names.class_prefix}Adapter, its mock on port {names.mock_port} ({len(self.files)} files).",
                "It passes the conformance kit as it stands; its wire format is invented. Next:",
                "  1. install it next to the gateway:",
                f"     {python} -m pip install -e '{target}[test]'",
                "  2. run its tests and the conformance kit:",
                f"     {python} -m pytest {target}/tests",
                "  3. in the gateway's folder, start the demo (it loads the adapter and starts its mock):",
                "     make run",
                "  4. ask for free slots through the demo, with the key make run prints in $KEY:",
                '     curl -s -X POST http://127.0.0.1:8080/v1/requests -H "Authorization: Bearer $KEY" \\',
                "       -H 'Content-Type: application/json' -H 'Prefer: wait=10' \\",
                f"       -d '{body}'",
                "Then replace the invented wire format with the agency's, keeping the kit green:",
                "docs/writing-an-adapter.md in the gateway's repository says how.",
            ]
        )


def check_agency_name(name: str, *, taken: Collection[str] = ()) -> None:
    """Raise :class:`ScaffoldError` saying why ``name`` cannot be a new agency's slug; ``taken`` are installed ones."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{name!r} is not an agency name: use lower-case letters and digits, words joined by single '-', "
            "starting with a letter (for example 'samsat' or 'bpn-kota')"
        )
    if not 2 <= len(name) <= MAX_NAME_LENGTH:
        raise ScaffoldError(f"{name!r}: an agency name has 2 to {MAX_NAME_LENGTH} characters")
    if name in _RESERVED:
        raise ScaffoldError(f"{name!r} is a path of the gateway's own API; choose another agency name")
    if name in taken:
        raise ScaffoldError(
            f"an adapter or mock named {name!r} is already installed (entry points {_ADAPTER_GROUP}, "
            f"{_MOCK_GROUP}); choose another agency name"
        )


def render_adapter(names: AdapterNames) -> dict[str, str]:
    """The package's files for ``names``: relative POSIX path -> text, rendered from the template."""
    rendered: dict[str, str] = {}
    placeholders = names.placeholders()
    for relative, entry in _template_files(resources.files(__package__ or "gateway.cli") / "templates" / "adapter"):
        path = _substitute(relative.removesuffix(_SUFFIX), placeholders)
        text = _substitute(entry.read_text(encoding="utf-8"), placeholders)
        if "{{" in path or "{{" in text:
            raise RuntimeError(f"the adapter template has an unknown placeholder in {relative}")
        rendered[path] = text
    return dict(sorted(rendered.items()))


def write_adapter(name: str, parent: Path, *, mock_port: int | None = None) -> AdapterPackage:
    """Write the package for the agency ``name`` into ``parent/mpp-<name>``; raise :class:`ScaffoldError`, having
    written nothing, for a bad or installed name, a port an installed mock uses, or a folder that exists."""
    check_agency_name(name, taken=_installed_agencies())
    ports = _installed_mock_ports()
    if mock_port is None:
        mock_port = next(port for port in range(FIRST_MOCK_PORT, 65536) if port not in ports)
    elif not 1024 <= mock_port <= 65535:
        raise ScaffoldError(f"--mock-port must be between 1024 and 65535, not {mock_port}")
    elif mock_port in ports:
        raise ScaffoldError(f"port {mock_port} is the default port of an installed mock; choose another")
    names = AdapterNames(name, mock_port)
    if util.find_spec(names.package) is not None:
        raise ScaffoldError(f"a module {names.package} is already importable here; choose another agency name")
    files = render_adapter(names)
    target = parent / names.distribution
    if target.exists() or target.is_symlink():
        raise ScaffoldError(f"{target} already exists; nothing was written (remove it or choose another --dir)")
    parent.mkdir(parents=True, exist_ok=True)
    try:
        target.mkdir()
    except FileExistsError:
        raise ScaffoldError(f"{target} already exists; nothing was written") from None
    try:
        for relative, text in files.items():
            path = target.joinpath(*PurePosixPath(relative).parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return AdapterPackage(target, names, tuple(files))


def _template_files(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            yield from _template_files(entry, relative + "/")
        elif entry.name.endswith(_SUFFIX):
            yield relative, entry


def _substitute(text: str, placeholders: dict[str, str]) -> str:
    for placeholder, value in placeholders.items():
        text = text.replace(placeholder, value)
    return text


def _installed_agencies() -> set[str]:
    """Names under the adapter and mock entry-point groups; read, not loaded."""
    return {ep.name for group in (_ADAPTER_GROUP, _MOCK_GROUP) for ep in metadata.entry_points(group=group)}


def _installed_mock_ports() -> set[int]:
    from mocks import discover_mocks

    try:
        return {spec.default_port for spec in discover_mocks().values()}
    except Exception:  # a broken third-party mock must not stop a new package being written; its port is unknown
        return set()
