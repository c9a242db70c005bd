"""The CSV's cells: the header, one row's cells, the formula guard and the RFC 4180 text."""

from __future__ import annotations

import csv
import io
import string
import unicodedata
from datetime import UTC, datetime

from connections.api import HostConnection

HEADER = [
    "Host organization ID",
    "Host name",
    "Host email",
    "Owner email",
    "Status",
    "Archived",
    "Created (UTC)",
    "Updated (UTC)",
    "Archived at (UTC)",
    "Active action",
    "Action updated (UTC)",
]
_FORMULA = frozenset("=+-@")
_PLAIN = frozenset(string.ascii_letters + string.digits)
# What a spreadsheet may trim, or a reader cannot see, before the character it decides on:
# separators (Zs, Zl, Zp), format, unassigned, private-use and surrogate code points
# (Cf, Cn, Co, Cs), marks (Mn, Me) and the letters and symbols that draw as blanks.
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cf", "Cn", "Co", "Cs", "Mn", "Me"})
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas: the cell keeps its text, with a leading single
    quote when a spreadsheet could take it for a formula.

    The decision is on the first character after leading whitespace and invisible
    characters, NFKC-normalised (so a full-width U+FF1D counts as =): = + - @ are dangerous, and
    so is any control character (tab, CR, LF, vertical tab, NUL, DEL, C1) met on the way.
    One rule, no exceptions: a lone "-" and negative numbers are quoted too."""
    if value[:1] in _PLAIN:  # most cells: one set look-up decides
        return value
    return f"'{value}" if _formula_like(value) else value


def _formula_like(value: str) -> bool:
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return True
        if category not in _INVISIBLE and char not in _BLANKS:
            return unicodedata.normalize("NFKC", char)[:1] in _FORMULA
    return False  # empty, or nothing visible: nothing to evaluate


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def cells(row: HostConnection) -> list[str]:
    return [
        str(row.host_organization_id),
        safe_cell(row.host_name),
        safe_cell(row.host_email),
        safe_cell(row.owner_email),
        row.status,
        "true" if row.archived else "false",
        _when(row.created_at),
        _when(row.updated_at),
        _when(row.archived_at),
        row.active_action_type or "",
        _when(row.active_action_updated_at),
    ]


def csv_chunk(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180 quoting
    return buffer.getvalue().encode()
