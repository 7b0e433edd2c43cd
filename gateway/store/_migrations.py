"""The versioned SQL migrations shipped in ``gateway/store/migrations/<dialect>/NNNN_name.sql``.

SQLite and PostgreSQL have one folder each, with the same version numbers for the same change: a test checks that
the two schemas have the same tables and columns, with compatible types.
"""

from __future__ import annotations

import importlib.resources

__all__ = ["DIALECTS", "migrations"]

DIALECTS = ("sqlite", "postgres")


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """The migrations of ``dialect`` in order, as ``(version, name, sql)``."""
    if dialect not in DIALECTS:
        raise ValueError(f"no migrations for {dialect!r}")
    folder = importlib.resources.files("gateway.store") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append((int(version), name, entry.read_text(encoding="utf-8")))
    return sorted(found)
