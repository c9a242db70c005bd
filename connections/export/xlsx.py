"""The .xlsx of a background export, written by xlsxwriter in constant memory (one row
at a time, to temporary files) from the rows the CSV would hold: the same cells, so the
same formula guard; strings are never taken for formulas, numbers or links. Times (UTC
text) become date cells in the user's zone; the header row is frozen. Above Excel's
1,048,576 rows a sheet (the header and 1,048,575 rows), the rows continue on the next
sheet, each named by its rows, and a last sheet says so."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from typing import IO

import xlsxwriter

EXCEL_ROWS = 1_048_576  # rows a sheet holds, the header's included
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"


def write_xlsx(
    out: IO[bytes],
    *,
    header: list[str],
    times: frozenset[int],
    rows: Iterable[list[str]],
    total: int,
    time_zone: str,
    rows_per_sheet: int = EXCEL_ROWS - 1,
    on_part: Callable[[], None] = lambda: None,
) -> int:
    """Write the workbook to ``out``; returns the number of sheets holding rows.
    ``on_part`` is called every 10,000 rows (the worker's heartbeat and cancel check)."""
    zone = _zone(time_zone)
    book = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    book.use_zip64()  # a million rows pass 4 GB of XML before compression
    bold = book.add_format({"bold": True})
    when = book.add_format({"num_format": DATE_FORMAT})
    labels = [_zoned(label, time_zone) if i in times else label for i, label in enumerate(header)]
    sheets = max(1, -(-total // rows_per_sheet))
    names = [
        f"Rows {n * rows_per_sheet + 1}-{min(total, (n + 1) * rows_per_sheet)}"
        for n in range(sheets)
    ]
    if sheets == 1:
        names = ["Connections"]
    sheet, line, number = None, 0, -1
    for index, row in enumerate(rows):
        if index % rows_per_sheet == 0:
            number += 1
            sheet = book.add_worksheet(names[number])
            sheet.write_row(0, 0, labels, bold)
            sheet.freeze_panes(1, 0)
            line = 0
        line += 1
        assert sheet is not None
        for col, value in enumerate(row):
            if col in times and value:
                _write_time(sheet, line, col, value, zone, when)
            else:
                sheet.write_string(line, col, value)
        if index % 10_000 == 9_999:
            on_part()
    if sheet is None:  # no rows: the header alone
        book.add_worksheet(names[0]).write_row(0, 0, labels, bold)
    if sheets > 1:
        about = book.add_worksheet("About")
        about.write_string(
            0,
            0,
            f"This export has {total:,} rows. An Excel sheet holds {rows_per_sheet:,} rows "
            f"under its header, so they continue over {sheets} sheets: {', '.join(names)}.",
        )
    book.close()
    return sheets


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _zoned(label: str, time_zone: str) -> str:
    return label.replace("(UTC)", f"({time_zone})")


def _write_time(sheet: object, line: int, col: int, value: str, zone: tzinfo, fmt: object) -> None:
    """A UTC time as a date cell in the user's zone; one Excel cannot hold (before 1900,
    after 9999) stays text."""
    try:
        local = datetime.fromisoformat(value).astimezone(zone).replace(tzinfo=None)
    except (ValueError, OverflowError):
        local = None
    if local is None or not 1900 <= local.year <= 9999:
        sheet.write_string(line, col, value)  # type: ignore[attr-defined]
    else:
        sheet.write_datetime(line, col, local, fmt)  # type: ignore[attr-defined]
