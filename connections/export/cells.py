"""The CSV's cells: the header, one row's cells, the formula guard and the RFC 4180 text."""

from __future__ import annotations

import csv
import io
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
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ or a control
    character gets a leading single quote."""
    return f"'{value}" if value.startswith(_DANGEROUS) else value


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
