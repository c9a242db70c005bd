"""The CSV's cells: one row's cells in the header's order, times in UTC, the formula
guard and RFC 4180 quoting."""

from __future__ import annotations

import csv
import io
import json
import random
from typing import Any

import pytest

from connections import api, export
from connections.export import HEADER, cells, csv_chunk, safe_cell
from connections.query import COLUMNS, ListQuery

ROW = {
    "host_organization_id": "0b4e7a0e-5f6c-4d7e-8f9a-0b1c2d3e4f50",
    "guest_organization_id": "7219c7b0-f2ff-516b-a528-7935861abf36",
    "host_name": "Müller & Söhne",
    "host_email": "ops@mueller.example",
    "owner_email": "anna@mueller.example",
    "status": "connected",
    "archived": False,
    "created_at": "2023-11-07T05:31:56Z",
    "updated_at": "2025-12-12T12:00:00.123456",
}


def row_of(**overrides: Any) -> Any:
    """A row as the export reads it from an upstream page."""
    page = {"items": [{**ROW, **overrides}], "total_items": 1}
    return api.HostConnectionRowPage.model_validate_json(json.dumps(page)).items[0]


def test_cells_in_header_order() -> None:
    got = cells(
        row_of(
            archived=True,
            archived_at="2025-12-13T00:00:00.000001",
            active_action_type="analytics_request",
            active_action_updated_at="2025-12-14T10:00:00Z",
        )
    )
    assert dict(zip(HEADER, got, strict=True)) == {
        "Host organization ID": "0b4e7a0e-5f6c-4d7e-8f9a-0b1c2d3e4f50",
        "Host name": "Müller & Söhne",
        "Host email": "ops@mueller.example",
        "Owner email": "anna@mueller.example",
        "Status": "connected",
        "Archived": "true",
        "Created (UTC)": "2023-11-07T05:31:56Z",
        "Updated (UTC)": "2025-12-12T12:00:00.123456Z",
        "Archived at (UTC)": "2025-12-13T00:00:00.000001Z",
        "Active action": "analytics_request",
        "Action updated (UTC)": "2025-12-14T10:00:00Z",
    }


def test_cells_nulls_and_absent_fields_are_empty() -> None:
    got = cells(row_of(archived_at=None, active_action_type=None))
    assert got[5:] == ["false", "2023-11-07T05:31:56Z", "2025-12-12T12:00:00.123456Z", "", "", ""]


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("2023-11-07T05:31:56Z", "2023-11-07T05:31:56Z"),
        ("2023-11-07T05:31:56", "2023-11-07T05:31:56Z"),  # naive: UTC
        ("2025-12-12T12:00:00.000000", "2025-12-12T12:00:00Z"),  # no zero microseconds
        ("2025-12-12T12:00:00.5Z", "2025-12-12T12:00:00.500000Z"),
        ("2023-12-31T23:00:00-02:00", "2024-01-01T01:00:00Z"),  # to UTC
        ("2024-01-01T05:30:00+05:30", "2024-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0001-01-01T00:00+01:00", "0001-01-01T00:00:00Z"),  # the edge of time
        ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59Z"),
    ],
)
def test_cells_times_in_utc_with_z(sent: str, written: str) -> None:
    assert cells(row_of(created_at=sent))[6] == written


def test_cells_id_hyphenated_lowercase() -> None:
    got = cells(row_of(host_organization_id="0B4E7A0E5F6C4D7E8F9A0B1C2D3E4F50"))
    assert got[0] == "0b4e7a0e-5f6c-4d7e-8f9a-0b1c2d3e4f50"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n", "\0"])
def test_cells_formula_guard_quotes_a_dangerous_start(start: str) -> None:
    value = f'{start}HYPERLINK("http://evil.example","x")'
    assert safe_cell(value) == "'" + value


# What a spreadsheet may trim or fold before it decides that a cell is a formula: the
# guard decides on the first character after whitespace and invisible characters,
# NFKC-normalised. Each of these passed unchanged before.
LOOK_ALIKES = {
    "space": " =1+1",
    "spaces-then-plus": "   +1",
    "nbsp": "\u00a0=1+1",
    "ideographic-space": "\u3000=1+1",
    "fullwidth-equals": "\uff1d1+1",
    "fullwidth-plus": "\uff0b1",
    "fullwidth-minus": "\uff0d1",
    "fullwidth-at": "\uff20SUM(A1)",
    "small-equals": "\ufe661+1",
    "superscript-plus": "\u207a1",
    "bom": "\ufeff=1+1",
    "zero-width-space": "\u200b=1+1",
    "right-to-left-override": "\u202e=1+1",
    "line-separator": "\u2028=1+1",
    "paragraph-separator": "\u2029=1+1",
    "variation-selector": "\ufe0f=1+1",
    "hangul-filler": "\u3164=1+1",
    "vertical-tab": "\x0b=1+1",
    "form-feed": "\x0cx",
    "unit-separator": "\x1fx",
    "del": "\x7fx",
    "c1-control": "\x85x",
    "space-then-tab": " \tx",
    "nbsp-bom-space-equals": "\u00a0\ufeff =1",
}


@pytest.mark.parametrize("value", list(LOOK_ALIKES.values()), ids=list(LOOK_ALIKES))
def test_cells_formula_guard_quotes_look_alikes(value: str) -> None:
    assert safe_cell(value) == "'" + value  # the original text, kept whole


@pytest.mark.parametrize(
    "value",
    [
        "Plain - Co = fine",
        "a-b@x.example",
        "Zürich",
        "Łódź",
        "Ørsted",
        "Kyōto",
        "O'Brien",
        "'quoted already",
        "(555) 010-0199",
        "1+1",  # a digit first: a spreadsheet reads text or a number, never a formula
        "\u00a0Zürich",  # invisible, then a letter
        "\uff21cme",  # full-width A: NFKC gives a letter
        "\u2212" + "5",  # MINUS SIGN is not hyphen-minus, and NFKC keeps it
        "",
        "   ",  # nothing visible: nothing to evaluate
        "\u200b",
    ],
)
def test_cells_formula_guard_leaves_harmless_text(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", ["-", "-5", "-12.50", "+49 30 1234567", "@"])
def test_cells_formula_guard_one_rule_no_exceptions(value: str) -> None:
    """A lone "-" and negative numbers are quoted too, as before: one rule that a reader
    can check beats a list of harmless exceptions (the quote costs nothing there)."""
    assert safe_cell(value) == "'" + value


def test_cells_formula_guard_on_every_text_column() -> None:
    got = cells(row_of(host_name="=1+1", host_email="+x@evil.example", owner_email="@o.example"))
    assert got[1:4] == ["'=1+1", "'+x@evil.example", "'@o.example"]


def test_csv_chunk_rfc4180() -> None:
    rows = [["a,b", 'say "hi"', "two\nlines", "plain"], ["", "x", "y", "z"]]
    text = csv_chunk(rows).decode()
    assert text == '"a,b","say ""hi""","two\nlines",plain\r\n,x,y,z\r\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == rows


def test_csv_chunk_same_bytes_as_csv_writer() -> None:
    """Rows of every troublesome character: the fast path writes what csv.writer does."""
    rng = random.Random(7)
    alphabet = ["a", "é", "Ł", ",", '"', "\r", "\n", "\r\n", " ", "'", "=", "\0", "\t", "\u2028"]
    rows = [
        ["".join(rng.choices(alphabet, k=rng.randint(0, 3))) for _ in range(11)]
        for _ in range(3000)
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    assert csv_chunk(rows) == buffer.getvalue().encode()
    assert csv_chunk([]) == b""


def test_csv_columns_follow_the_chosen_columns_in_their_order() -> None:
    chosen = export.csv_columns(("status", "host_name", "archived_at"))
    assert chosen.header == ["Host organization ID", "Status", "Host name", "Archived at (UTC)"]
    got = chosen.cells(row_of(host_name="=1+1", archived_at="2025-12-13T00:00:00"))
    assert got == [ROW["host_organization_id"], "connected", "'=1+1", "2025-12-13T00:00:00Z"]


def test_csv_columns_of_every_column_are_the_whole_export() -> None:
    every = export.columns(ListQuery())
    assert every.header == HEADER
    assert every.cells(row_of()) == cells(row_of())
    # Each column's own cell agrees with the whole row's (the fast path).
    for index, name in enumerate(COLUMNS, start=1):
        one = export.csv_columns(("host_name", name) if name != "host_name" else (name,))
        assert one.cells(row_of(archived=True))[-1] == cells(row_of(archived=True))[index]


def test_columns_for_reads_the_query() -> None:
    query = ListQuery.from_querystring("cols=owner_email,host_name").query
    assert export.columns(query).header == ["Host organization ID", "Owner email", "Host name"]
