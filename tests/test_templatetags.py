"""connections/templatetags/hostadmin.py: the table's cells, escaped."""

from __future__ import annotations

from datetime import UTC

import pytest
from django.utils.html import escape

from connections import presenters
from connections.templatetags.hostadmin import cell_spec, connection_cells
from tests.conftest import NOW, host_connection


def row(**overrides: object) -> presenters.Row:
    return presenters.present_row(host_connection(**overrides), UTC, NOW, "/c/1/?a=1&b=2")


def test_connection_cells_in_column_order() -> None:
    html = str(connection_cells(row()))
    assert html == (
        '<td title="Acme Lending"><a href="/c/1/?a=1&amp;b=2">Acme Lending</a></td>'
        '<td title="contact@acme.example">contact@acme.example</td>'
        '<td title="anna@acme.example">anna@acme.example</td>'
        '<td><span class="badge badge-connected">Connected</span></td>'
        "<td>No</td>"
        '<td><time datetime="2026-10-01 12:00:00+00:00" title="2026-10-01 12:00:00 UTC">'
        "1 month ago</time></td>"
        '<td><time datetime="2026-10-31 12:00:00+00:00" title="2026-10-31 12:00:00 UTC">'
        "1 day ago</time></td>"
        "<td>—</td><td>—</td><td>—</td>"
    )


@pytest.mark.parametrize(
    "name",
    ["<script>alert('x')</script> Lending", '"><img src=x onerror=alert(1)>', "Müller & Söhne"],
)
def test_connection_cells_escape_every_text(name: str) -> None:
    html = str(connection_cells(row(host_name=name, owner_email='"o"@x.example')))
    assert name not in html
    link = f'<a href="/c/1/?a=1&amp;b=2">{escape(name)}</a>'
    assert f'<td title="{escape(name)}">{link}</td>' in html
    assert '<td title="&quot;o&quot;@x.example">&quot;o&quot;@x.example</td>' in html


def test_connection_cells_with_action_and_archive() -> None:
    html = str(
        connection_cells(
            row(
                archived=True,
                archived_at="2026-11-01T10:59:59.5",
                active_action_type="analytics_request",
                active_action_updated_at="2026-11-01T11:58:00Z",
            )
        )
    )
    assert "<td>Yes</td>" in html
    assert 'title="2026-11-01 10:59:59 UTC">1 hour ago</time>' in html
    assert "<td>Analytics request</td>" in html
    assert 'title="2026-11-01 11:58:00 UTC">2 minutes ago</time></td>' in html


def test_connection_cells_follow_the_chosen_columns_in_their_order() -> None:
    spec = cell_spec(("status", "host_name", "created_at"), "absolute")
    html = str(connection_cells(row(), spec))
    assert html == (
        '<td><span class="badge badge-connected">Connected</span></td>'
        '<td title="Acme Lending"><a href="/c/1/?a=1&amp;b=2">Acme Lending</a></td>'
        '<td><time datetime="2026-10-01 12:00:00+00:00" title="1 month ago">'
        "2026-10-01 12:00:00 UTC</time></td>"
    )
