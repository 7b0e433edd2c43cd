"""A throwaway PostgreSQL server for the test run: ``initdb`` and ``pg_ctl`` in a temporary folder, on 127.0.0.1.

PostgreSQL refuses to run as root, so as root the server's binaries run as the ``postgres`` system user
(``runuser``), in a folder that user owns. Trust authentication on loopback only: the server lives as long as
the test session and holds nothing but test data. Databases are cheap (``CREATE DATABASE ... TEMPLATE``), so every
test gets its own, copied from one that ``db upgrade`` migrated once.

In CI (``CI=true``) PostgreSQL is required and a missing server fails the run; elsewhere the tests that need it
are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["TEMPLATE", "PostgresServer", "ServerUnavailable", "find_binaries", "postgres", "start_server"]

#: The database every test database is copied from: migrated to the latest version once per session.
TEMPLATE = "mpp_template"
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"


class ServerUnavailable(Exception):
    """No PostgreSQL server can be started here."""


def find_binaries() -> Path | None:
    """The folder with ``initdb``, ``pg_ctl`` and ``psql``: ``MPP_TEST_PG_BIN``, Debian's newest, or the PATH."""
    if configured := os.environ.get("MPP_TEST_PG_BIN"):
        return Path(configured)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class PostgresServer:
    """A running server; stop it with :meth:`stop`."""

    binaries: Path
    workdir: Path
    port: int
    run_as: tuple[str, ...]

    def dsn(self, database: str = "postgres") -> str:
        """A DSN for ``database`` as the superuser (trust authentication, no password)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql (blocking; usable from sync and async fixtures alike)."""
        done = subprocess.run(
            [str(self.binaries / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(database),
             "-c", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, template: str | None = TEMPLATE) -> str:
        """A new database (a copy of ``template``, or empty); returns its DSN."""
        name = "t_" + uuid.uuid4().hex[:16]
        self.psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        """Drop the database of ``dsn``, disconnecting whoever is still on it."""
        name = dsn.rsplit("/", 1)[-1]
        if not re.fullmatch(r"t_[0-9a-f]{16}", name):
            raise ValueError("only databases made by create_database are dropped")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [*self.run_as, str(self.binaries / "pg_ctl"), "-D", str(self.workdir / "data"), "-m", "immediate",
                 "-w", "stop"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_server() -> PostgresServer:
    """initdb, then pg_ctl start on a free loopback port; :class:`ServerUnavailable` when that cannot be done."""
    binaries = find_binaries()
    if binaries is None or not (binaries / "initdb").exists():
        raise ServerUnavailable("no PostgreSQL server binaries (initdb) found: install the postgresql package")
    run_as: tuple[str, ...] = ()
    workdir = Path(tempfile.mkdtemp(prefix="mpp-pg-"))
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir)
            raise ServerUnavailable("running as root and there is no postgres user to run the server as") from None
        run_as = ("runuser", "-u", "postgres", "--")
        shutil.chown(workdir, "postgres", "postgres")
    (workdir / "socket").mkdir()
    if run_as:
        shutil.chown(workdir / "socket", "postgres", "postgres")
    data, log = workdir / "data", workdir / "server.log"
    try:
        subprocess.run(
            [*run_as, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync",
             "-E", "UTF8", "--locale=C"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        # Another process may take the free port between the probe and the server's bind: try a few.
        for _ in range(3):
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir / 'socket'} {_FAST}"
            started = subprocess.run(
                [*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60",
                 "start"],
                capture_output=True, text=True, timeout=90, check=False,
            )  # fmt: skip
            if started.returncode == 0:
                return PostgresServer(binaries, workdir, port, run_as)
        raise ServerUnavailable(f"pg_ctl start failed: {started.stderr.strip()[-500:]}")
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        detail = exc.stderr.strip()[-500:] if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        raise ServerUnavailable(f"cannot start PostgreSQL: {detail}") from exc
    except ServerUnavailable:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _required() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, with the template database migrated by ``upgrade``."""
    from gateway.store import postgres_upgrade as upgrade

    try:
        server = start_server()
    except ServerUnavailable as exc:
        if _required():
            pytest.fail(f"PostgreSQL is required in CI and could not be started: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        server.psql(f'CREATE DATABASE "{TEMPLATE}"')
        # In a thread of its own: the fixture may be first requested while a test's event loop runs.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, upgrade(server.dsn(TEMPLATE))).result(timeout=120)
        yield server
    finally:
        server.stop()
