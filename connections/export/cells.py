"""The CSV's cells: the header, one row's cells, the formula guard and the RFC 4180 text."""

from __future__ import annotations

import csv
import io
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from connections.api import HostConnectionRow
from connections.query import COLUMNS, ColumnName, ListQuery

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
    characters, NFKC-normalised (so a full-width U+FF1D counts as =): = + - @ are
    dangerous, and so is any control character (tab, CR, LF, vertical tab, NUL, DEL, C1)
    met on the way. One rule, no exceptions: a lone "-" and negative numbers are quoted
    too."""
    if value[:1] in _PLAIN:  # most cells: one look-up, half the guard's cost on sandbox rows
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


def utc_text(value: str | datetime | None) -> str:
    """A time as the CSV writes it: UTC, ISO 8601 with Z, microseconds only when not 0.

    Text is the upstream's own, already UTC (naive or with Z): it is kept as sent, never
    parsed and formatted back (bench/bench_export_steps.py: a row's cells at a third of the
    cost). Other shapes arrive as datetimes in UTC (see ``api.UtcText``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = value.removesuffix("Z")
    return (text[:19] if text.endswith(".000000") else text) + "Z"


def cells(row: HostConnectionRow) -> list[str]:
    return [
        str(row["host_organization_id"]),
        safe_cell(row["host_name"]),
        safe_cell(row["host_email"]),
        safe_cell(row["owner_email"]),
        row["status"],
        "true" if row["archived"] else "false",
        utc_text(row["created_at"]),
        utc_text(row["updated_at"]),
        utc_text(row.get("archived_at")),
        row.get("active_action_type") or "",
        utc_text(row.get("active_action_updated_at")),
    ]


_HEADERS: dict[ColumnName, str] = dict(zip(COLUMNS, HEADER[1:], strict=True))
_CELL: dict[ColumnName, Callable[[HostConnectionRow], str]] = {
    "host_name": lambda row: safe_cell(row["host_name"]),
    "host_email": lambda row: safe_cell(row["host_email"]),
    "owner_email": lambda row: safe_cell(row["owner_email"]),
    "status": lambda row: row["status"],
    "archived": lambda row: "true" if row["archived"] else "false",
    "created_at": lambda row: utc_text(row["created_at"]),
    "updated_at": lambda row: utc_text(row["updated_at"]),
    "archived_at": lambda row: utc_text(row.get("archived_at")),
    "active_action_type": lambda row: row.get("active_action_type") or "",
    "active_action_updated_at": lambda row: utc_text(row.get("active_action_updated_at")),
}


@dataclass(frozen=True)
class Columns:
    """What an export writes for a list of the table's columns: the host organization ID
    (the row's key, in every export) then those columns in their order; a row's cells; and
    which cells are times (UTC text, which the .xlsx writes as dates in the user's zone)."""

    names: tuple[ColumnName, ...]
    header: list[str]
    cells: Callable[[HostConnectionRow], list[str]]

    @property
    def times(self) -> frozenset[int]:
        return frozenset(i for i, label in enumerate(self.header) if label.endswith("(UTC)"))


def csv_columns(cols: Sequence[ColumnName] = COLUMNS) -> Columns:
    """Header and row cells of an export of ``cols``. All columns in their default order
    take ``cells``, the fast path."""
    names = tuple(cols)
    if names == COLUMNS:
        return Columns(names, HEADER, cells)
    getters = [_CELL[name] for name in names]

    def chosen(row: HostConnectionRow) -> list[str]:
        return [str(row["host_organization_id"]), *(get(row) for get in getters)]

    return Columns(names, [HEADER[0], *(_HEADERS[name] for name in names)], chosen)


def columns(query: ListQuery) -> Columns:
    """The one source of every export's header and cells (streamed and background): the
    columns the view shows, in its order."""
    return csv_columns(query.cols)


def csv_chunk(rows: list[list[str]]) -> bytes:
    """The rows as RFC 4180 text, each line ended by CRLF.

    A row none of whose cells holds a comma, a quote or a line break is its cells joined
    by commas: exactly what csv.writer writes for it, at a quarter of the cost
    (bench/bench_export_steps.py). Any other row goes through csv.writer."""
    lines = []
    for row in rows:
        line = ",".join(row)
        if line.count(",") >= len(row) or '"' in line or "\n" in line or "\r" in line:
            line = _quoted(row)
        lines.append(line)
    lines.append("")
    return "\r\n".join(lines).encode() if rows else b""


def _quoted(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)  # quotes what needs it
    return buffer.getvalue().removesuffix("\r\n")
