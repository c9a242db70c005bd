"""The export endpoints through HTTP: what the download answers (headers, file name,
refusals and their statuses, the audit row), the progress and cancel endpoints and their
URLs. The rows of the file are the export package's tests (tests/test_export.py)."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from connections import api, export
from connections.export import ExportAborted, ExportCancelled
from connections.models import ApiClient, AuditEvent
from sandbox import Dataset, SandboxApp
from tests.conftest import FormClient, make_client, make_view, org_id

EXPORT = "/connections/export.csv"
START = "/connections/export/start/"
LIST = "/connections/"
HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/connections/?ctx=1"}
HEADER = b"Host organization ID,Host name,"
CSV_HEADER = (
    "Host organization ID,Host name,Host email,Owner email,Status,Archived,"
    "Created (UTC),Updated (UTC),Archived at (UTC),Active action,Action updated (UTC)\r\n"
)
NORTHWIND = org_id("northwind-credit")
QUIET = org_id("quiet-bank")


def export_url(ctx: Any, query: str = "", **extra: str) -> str:
    params = f"ctx={ctx}" + (f"&{query}" if query else "")
    for key, value in extra.items():
        params += f"&{key}={value}"
    return f"{EXPORT}?{params}"


def streamed(response: Any) -> bytes:
    assert response.status_code == 200, response.content[:500]
    return b"".join(response.streaming_content)


def new_export_id() -> str:
    return uuid.uuid4().hex


# --- the download ----------------------------------------------------------------------


def test_export_headers(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(export_url(demo_client.pk))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["X-Export-Rows"] == "302"
    assert "no-store" in response["Cache-Control"]
    assert streamed(response).startswith(HEADER)


def test_export_filename_pattern(alice: Client, demo_client: ApiClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = alice.get(export_url(demo_client.pk))
    match = re.fullmatch(
        r'attachment; filename="host-connections_demo-lender_(\d{8}T\d{6}Z)\.csv"',
        response["Content-Disposition"],
    )
    assert match, response["Content-Disposition"]
    stamp = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC) + timedelta(seconds=1)
    streamed(response)


def test_export_filename_pattern_other_target(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(export_url(f"{demo_client.pk}.{NORTHWIND}", "search_text=zzzz"))
    assert re.fullmatch(
        rf'attachment; filename="host-connections_{NORTHWIND}_\d{{8}}T\d{{6}}Z\.csv"',
        response["Content-Disposition"],
    )
    assert streamed(response).startswith(HEADER)


def test_export_audit_complete(alice: Client, user: User, demo_client: ApiClient) -> None:
    # Parameters in a non-canonical order: the audit keeps the canonical query.
    response = alice.get(
        export_url(demo_client.pk, "order_dir=desc&statuses=connected&order_by=created_at")
    )
    rows = streamed(response).count(b"\r\n") - 1
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    assert event.user == user
    assert event.context == "Demo Lender → self"
    assert event.detail["query"] == "statuses=connected&order_by=created_at&order_dir=desc"
    assert event.detail["scope"] == "all"
    assert event.detail["rows"] == event.detail["total"] == rows
    assert event.detail["outcome"] == "complete"
    assert isinstance(event.detail["duration_ms"], int) and event.detail["duration_ms"] >= 0


def test_export_id_of_another_user_is_not_reused(
    alice: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    bob = FormClient()
    bob.force_login(other_user)
    export_id = "b" * 32
    streamed(bob.get(export_url(demo_client.pk, export_id=export_id)))
    streamed(alice.get(export_url(demo_client.pk, export_id=export_id)))
    assert export.progress_of(export_id, int(other_user.pk))["state"] == "complete"
    assert export.progress_of(export_id, int(user.pk)) is None


# --- refusals: a page that says why, with the way back ---------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=1000", "Rows per page must be 20, 50 or 100"),
        ("offset=-5", "is not a valid position in the list"),
        ("order_by=password", "is not a valid column to sort by"),
        ("statuses=bogus", "is not a valid choice"),
        ("password=x", "Ignored unknown parameter"),
    ],
)
def test_export_bad_url_400(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, query: str, message: str
) -> None:
    response = alice.get(export_url(demo_client.pk, query))
    assert response.status_code == 400
    text = response.content.decode()
    assert "This export link is not valid" in text
    assert message in text
    assert not [s for s in sandbox.seen if "/host-connections" in s.path]


def test_export_refused_links_back_to_the_list_it_came_from(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.get(export_url(demo_client.pk, "order_dir=desc&limit=1000"))
    assert response.status_code == 400
    back = f"/connections/?ctx={demo_client.pk}&amp;order_dir=desc&amp;limit=100"
    assert f'<a href="{back}">Back to the list</a>' in response.content.decode()


def test_export_cap_refused_with_message(alice: Client, demo_client: ApiClient, settings) -> None:
    settings.EXPORT_MAX_ROWS = 301
    response = alice.get(export_url(demo_client.pk))
    assert response.status_code == 400
    assert not response.streaming
    text = response.content.decode()
    assert "This view matches 302 rows; exports are limited to 301." in text
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_export_post_not_allowed(alice: Client, demo_client: ApiClient) -> None:
    assert alice.post(export_url(demo_client.pk)).status_code == 405


def test_export_context_without_access_403(alice: Client, sandbox: SandboxApp) -> None:
    not_mine = make_client("quiet-bank")
    response = alice.get(export_url(not_mine.pk))
    assert response.status_code == 403
    assert not response.streaming
    assert not [s for s in sandbox.seen if "/host-connections" in s.path]


def test_export_target_not_allowed_upstream_is_refused(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.get(export_url(f"{demo_client.pk}.{QUIET}"))
    assert response.status_code == 403  # as on the list page, not a 503
    assert not response.streaming
    assert "may not act on" in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", EXPORT),
        ("get", "/connections/export/0123456789abcdef0123456789abcdef/progress/"),
        ("post", "/connections/export/0123456789abcdef0123456789abcdef/cancel/"),
    ],
)
def test_export_anonymous_redirects_to_login(
    client: Client, sandbox: SandboxApp, method: str, path: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert not sandbox.seen


# --- the list page's export buttons: asked first by POST, refused in place --------------


def start_url(ctx: Any, query: str = "", **extra: str) -> str:
    return export_url(ctx, query, **extra).replace(EXPORT, START)


def follow_download(response: Any) -> str:
    """The download the start answer tells the page to follow (its HX-Trigger event)."""
    event = json.loads(response["HX-Trigger"])["hostadmin:download"]
    assert event["url"].startswith(EXPORT + "?")
    return str(event["url"])


def test_export_start_answers_the_region_and_the_download(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    response = alice.post(start_url(demo_client.pk, "statuses=connected", view="7"), **HX)
    assert response.status_code == 200
    body = response.content.decode()
    export_id = re.search(r'<li class="export-item" id="export-([0-9a-f]{32})">', body)
    assert export_id, body
    assert "Preparing…" in body and "0 of 0" not in body
    assert 'aria-live="polite"></p>' in body  # the live region starts empty
    assert "Whole view, Demo Lender → self" in body
    url = follow_download(response)
    assert f"export_id={export_id.group(1)}" in url
    assert f"ctx={demo_client.pk}&view=7&statuses=connected" in url
    entry = export.progress_of(export_id.group(1), user.pk)
    assert entry is not None and entry["state"] == "starting"
    download = alice.get(url)
    assert streamed(download).startswith(HEADER)
    entry = export.progress_of(export_id.group(1), user.pk)
    assert entry is not None and entry["state"] == "complete" and entry["bytes"] > 0


def test_export_start_get_not_allowed_and_csrf_required(user: User, demo_client: ApiClient) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get(start_url(demo_client.pk)).status_code == 405
    assert browser.post(start_url(demo_client.pk), **HX).status_code == 403
    assert not export.recent_exports(user.pk)


def test_export_start_without_javascript_redirects_to_the_download(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.post(start_url(demo_client.pk, "limit=50", scope="page"))
    assert response.status_code == 302
    assert response["Location"].startswith(f"{EXPORT}?ctx={demo_client.pk}&limit=50&scope=page")
    assert re.search(r"&export_id=[0-9a-f]{32}$", response["Location"])


def test_export_start_over_the_limit_refused_in_place(
    alice: Client, user: User, demo_client: ApiClient, settings
) -> None:
    settings.EXPORTS_PER_USER = 1
    running = alice.get(export_url(demo_client.pk))
    next(iter(running.streaming_content))
    response = alice.post(start_url(demo_client.pk), **HX)
    assert response.status_code == 429
    assert response["Retry-After"] == "5"
    assert "HX-Trigger" not in response  # no download
    body = response.content.decode()
    assert '<li class="export-item export-refused">' in body
    assert '<p class="error" role="alert"><strong>The export did not start.</strong>' in body
    assert "You already have 1 exports running" in body
    assert "<html" not in body  # a fragment for the exports panel, not a page
    # "This page only" never counts against the limit.
    page_only = alice.post(start_url(demo_client.pk, "limit=20", scope="page"), **HX)
    assert page_only.status_code == 200
    assert len(data_rows(body_of(alice.get(follow_download(page_only))))) == 20
    body_of(running)


def test_export_start_over_the_cap_refused_in_place(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, settings
) -> None:
    settings.EXPORT_MAX_ROWS = 301
    response = alice.post(start_url(demo_client.pk), **HX)
    assert response.status_code == 400
    assert "This view matches 302 rows; exports are limited to 301." in response.content.decode()
    counted = [s for s in sandbox.seen if s.path.endswith("/host-connections")]
    assert len(counted) == 1 and "limit=0" in str(counted[0].query)  # a count, no rows
    assert alice.post(start_url(demo_client.pk, "limit=20", scope="page"), **HX).status_code == 200


def test_export_start_upstream_down_refused_in_place(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    sandbox.faults.add("status_500", path="/host-connections", times=None)
    response = alice.post(start_url(demo_client.pk), **HX)
    assert response.status_code == 503
    body = response.content.decode()
    assert 'role="alert"' in body and "reference" in body
    assert not export.recent_exports(int(response.wsgi_request.user.pk))


def test_export_start_bad_query_refused_in_place(alice: Client, demo_client: ApiClient) -> None:
    response = alice.post(start_url(demo_client.pk, "limit=1000"), **HX)
    assert response.status_code == 400
    assert "This export link is not valid: Rows per page must be 20, 50 or 100" in (
        response.content.decode()
    )


def test_export_refusal_page_links_back_to_the_exact_list(
    alice: Client, user: User, other_user: User, demo_client: ApiClient, settings
) -> None:
    """Without JavaScript: the refusal is a page whose link leads back to the list the
    export was asked from, its saved view included (only the user's own)."""
    settings.EXPORT_MAX_ROWS = 10
    mine = make_view(user, "Mine", demo_client)
    response = alice.get(export_url(demo_client.pk, "order_dir=desc", view=str(mine.pk)))
    assert response.status_code == 400
    back = f"/connections/?ctx={demo_client.pk}&amp;view={mine.pk}&amp;order_dir=desc"
    assert f'<a href="{back}">Back to the list</a>' in response.content.decode()
    theirs = make_view(other_user, "Theirs", demo_client)
    response = alice.get(export_url(demo_client.pk, "order_dir=desc", view=str(theirs.pk)))
    assert f"view={theirs.pk}" not in response.content.decode()


def test_export_refused_download_is_listed_with_its_reason_and_retry(
    alice: Client, user: User, demo_client: ApiClient, settings
) -> None:
    settings.EXPORT_MAX_ROWS = 10
    export_id = new_export_id()
    alice.get(export_url(demo_client.pk, "statuses=connected", export_id=export_id))
    page = alice.get(f"{LIST}?ctx={demo_client.pk}").content.decode()
    item = page[page.index(f'id="export-{export_id}"') :]
    item = item[: item.index("</li>")]
    assert "The export did not start: This view matches" in item
    retry = f'action="{START}?ctx={demo_client.pk}&amp;statuses=connected"'
    assert retry in item and ">Retry<" in item


# --- the exports panel --------------------------------------------------------------------


def test_export_panel_lists_running_and_finished_across_pages(
    alice: Client, user: User, other_user: User, demo_client: ApiClient
) -> None:
    running_id, done_id = new_export_id(), new_export_id()
    running = alice.get(export_url(demo_client.pk, export_id=running_id))
    next(iter(running.streaming_content))
    body_of(alice.get(export_url(demo_client.pk, "limit=20", scope="page", export_id=done_id)))
    page = alice.get(f"{LIST}?ctx={demo_client.pk}").content.decode()
    panel = page[
        page.index('<section id="exports"') : page.index(
            "</section>", page.index('<section id="exports"')
        )
    ]
    assert panel.index(running_id) < panel.index(done_id)  # oldest first
    assert "Exporting: 100 of 302 rows" in panel
    assert f'hx-post="/connections/export/{running_id}/cancel/"' in panel
    assert re.search(r"Export complete: 20 rows, \d+\.\d\xa0KB\.", panel)
    assert f'action="/connections/export/{done_id}/dismiss/"' in panel
    bob = FormClient()
    bob.force_login(other_user)
    assert running_id not in bob.get(f"{LIST}?ctx={demo_client.pk}").content.decode()
    body_of(running)


def test_export_panel_not_in_a_results_partial(alice: Client, demo_client: ApiClient) -> None:
    body_of(alice.get(export_url(demo_client.pk, "limit=20", scope="page")))
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}
    partial = alice.get(f"{LIST}?ctx={demo_client.pk}&limit=50", **headers).content.decode()
    assert 'id="exports"' not in partial and "Export complete" not in partial


def test_export_dismiss_takes_it_off_the_list(
    alice: Client, user: User, demo_client: ApiClient
) -> None:
    export_id = new_export_id()
    body_of(alice.get(export_url(demo_client.pk, "limit=20", scope="page", export_id=export_id)))
    url = f"/connections/export/{export_id}/dismiss/"
    assert alice.get(url).status_code == 405
    response = alice.post(url, **HX)
    assert (response.status_code, response.content) == (200, b"")
    assert export_id not in alice.get(f"{LIST}?ctx={demo_client.pk}").content.decode()
    assert alice.post(url).status_code == 404


def test_export_dismiss_of_a_running_export_cancels_it(
    alice: Client, demo_client: ApiClient
) -> None:
    export_id = new_export_id()
    running = alice.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(running.streaming_content)
    next(chunks)  # the header and the first page: running
    response = alice.post(f"/connections/export/{export_id}/dismiss/", **HX)
    assert (response.status_code, response.content) == (200, b"")
    with pytest.raises(ExportCancelled):  # seen before the next page
        for _ in chunks:
            pass
    assert export_id not in alice.get(f"{LIST}?ctx={demo_client.pk}").content.decode()


def test_export_dismiss_without_javascript_goes_back(alice: Client, demo_client: ApiClient) -> None:
    export_id = new_export_id()
    body_of(alice.get(export_url(demo_client.pk, "limit=20", scope="page", export_id=export_id)))
    url = f"/connections/export/{export_id}/dismiss/"
    here = f"/connections/?ctx={demo_client.pk}&limit=50"
    assert alice.post(url, {"next": here})["Location"] == here
    body_of(alice.get(export_url(demo_client.pk, "limit=20", scope="page", export_id=export_id)))
    assert alice.post(url, {"next": "//evil.example/"})["Location"] == "/connections/"


def test_export_progress_announced_throttled(alice: Client, user: User) -> None:
    """The live region hears the first poll, every tenth after it, and the end."""
    export_id = new_export_id()
    cache.set(
        f"hostadmin:export:{export_id}",
        {"user": user.pk, "written": 300, "total": 3000, "state": "running"},
    )
    oob = f'<p id="export-{export_id}-say" hx-swap-oob="innerHTML">'

    def announced(polls: int) -> bool:
        url = f"/connections/export/{export_id}/progress/?polls={polls}"
        return oob in alice.get(url).content.decode()

    assert [p for p in range(1, 25) if announced(p)] == [1, 11, 21]
    cache.set(
        f"hostadmin:export:{export_id}",
        {"user": user.pk, "written": 3000, "total": 3000, "state": "complete", "bytes": 2048},
    )
    body = alice.get(f"/connections/export/{export_id}/progress/?polls=5").content.decode()
    assert f"{oob}Export complete: 3,000 rows, 2.0\xa0KB.</p>" in body
    assert "hx-get" not in body  # polling stops


def test_export_progress_preparing_until_the_total_is_known(alice: Client, user: User) -> None:
    export_id = new_export_id()
    export.progress.mark_starting(export_id, user.pk)
    body = alice.get(f"/connections/export/{export_id}/progress/?polls=1").content.decode()
    assert "Preparing…" in body and "0 of 0" not in body and "<progress" not in body


def test_export_progress_stale_running_export_is_failed(
    alice: Client, user: User, settings
) -> None:
    export_id = new_export_id()
    export.progress.write_progress(
        export_id, user.pk, 200, 3000, "running", updated=time.time() - 61, params="ctx=1"
    )
    body = alice.get(f"/connections/export/{export_id}/progress/").content.decode()
    assert "The export failed after 200 of 3,000 rows (the export stopped answering)" in body
    assert ">Retry<" in body


# --- progress and cancel ---------------------------------------------------------------


def test_export_progress_shows_written_and_total(alice: Client, demo_client: ApiClient) -> None:
    export_id = new_export_id()
    progress_url = f"/connections/export/{export_id}/progress/"
    assert "Preparing…" in alice.get(progress_url).content.decode()
    response = alice.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    running = alice.get(progress_url)
    assert running.status_code == 200
    assert "Exporting: 100 of 302 rows" in running.content.decode()
    assert 'value="100"' in running.content.decode()
    for _ in chunks:
        pass
    done = alice.get(progress_url).content.decode()
    assert re.search(r"Export complete: 302 rows, \d+\.\d\xa0KB\.", done), done


def test_export_progress_numbers_stay_machine_readable(alice: Client, user: User) -> None:
    """Thousands are grouped for people ("5,700"), never inside attributes or URLs."""
    export_id = new_export_id()
    cache.set(
        f"hostadmin:export:{export_id}",
        {"user": user.pk, "written": 5700, "total": 20000, "state": "running"},
    )
    body = alice.get(f"/connections/export/{export_id}/progress/?polls=1001").content.decode()
    assert "Exporting: 5,700 of 20,000 rows" in body
    assert 'max="20000" value="5700"' in body
    assert "?polls=1002" in body


def test_export_progress_owner_scoped(
    alice: Client, demo_client: ApiClient, other_user: User
) -> None:
    export_id = new_export_id()
    response = alice.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    bob = FormClient()
    bob.force_login(other_user)
    seen_by_bob = bob.get(f"/connections/export/{export_id}/progress/").content.decode()
    assert "100 of 302" not in seen_by_bob
    assert "Preparing…" in seen_by_bob
    assert bob.post(f"/connections/export/{export_id}/cancel/").status_code == 404
    for _ in chunks:  # bob's cancel did not stop alice's export
        pass
    assert AuditEvent.objects.get(action=AuditEvent.Action.EXPORT).detail["outcome"] == "complete"


@pytest.mark.parametrize(
    "bad_id",
    ["not-an-id", "A" * 32, "a" * 31, "a" * 33, "a" * 32 + "%0A", "g" * 32, "a" * 31 + "%C2%B2"],
)
def test_export_progress_and_cancel_malformed_id_404(alice: Client, bad_id: str) -> None:
    assert alice.get(f"/connections/export/{bad_id}/progress/").status_code == 404
    assert alice.post(f"/connections/export/{bad_id}/cancel/").status_code == 404


def test_export_progress_gives_up_after_polls(alice: Client) -> None:
    url = f"/connections/export/{new_export_id()}/progress/?polls=20"
    assert "The export did not start" in alice.get(url).content.decode()


@pytest.mark.parametrize("polls", ["²", "-1", "abc", "9" * 10])
def test_export_progress_odd_polls_count_from_zero(alice: Client, polls: str) -> None:
    response = alice.get(f"/connections/export/{'a' * 32}/progress/", {"polls": polls})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Preparing…" in body
    assert "?polls=1" in body


def test_export_cancel_unknown_export_404(alice: Client) -> None:
    assert alice.post(f"/connections/export/{new_export_id()}/cancel/").status_code == 404


def test_export_cancel_csrf_required(user: User, demo_client: ApiClient) -> None:
    browser = FormClient(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get(f"/connections/?ctx={demo_client.pk}")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    export_id = new_export_id()
    response = browser.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    cancel_url = f"/connections/export/{export_id}/cancel/"
    assert browser.post(cancel_url).status_code == 403
    assert browser.post(cancel_url, HTTP_X_CSRFTOKEN=token).status_code == 200
    with pytest.raises(ExportCancelled):
        for _ in chunks:
            pass


def test_export_cancel_get_not_allowed(alice: Client) -> None:
    assert alice.get(f"/connections/export/{new_export_id()}/cancel/").status_code == 405


# --- the download's rows, limits and audit (moved from tests/test_export.py) ----------


BIG_ROWS = 4000  # northwind: 40+ pages, so a failure at page 37 is mid-export


DETAIL_LINK = re.compile(r'href="/connections/([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})/\?')


def linked_ids(html: str) -> list[str]:
    """The host organization ids the list's rows link to, in the CSV's hyphenated form."""
    return DETAIL_LINK.findall(html)


@pytest.fixture
def sandbox() -> SandboxApp:
    """300 rows per org as usual, but Quiet Bank starts empty (each test inserts exactly
    the rows it needs) and Northwind Credit has 4,002 rows."""
    return SandboxApp(
        Dataset(
            seed=7, rows_per_org=300, rows_overrides={"quiet-bank": 0, "northwind-credit": BIG_ROWS}
        )
    )


@pytest.fixture
def quiet_client(user: User) -> ApiClient:
    client = make_client("quiet-bank")
    client.users.add(user)
    return client


def body_of(response: Any) -> bytes:
    assert response.status_code == 200, response.content[:500]
    return b"".join(response.streaming_content)


def body_until_abort(response: Any, exc: type[Exception] = ExportAborted) -> bytes:
    """Consume the stream; it must end with ``exc``. Returns what was sent before."""
    assert response.status_code == 200
    got: list[bytes] = []
    with pytest.raises(exc):
        for chunk in response.streaming_content:
            got.append(chunk)
    return b"".join(got)


def parse(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


def data_rows(body: bytes) -> list[list[str]]:
    rows = parse(body)
    assert rows[0] == CSV_HEADER.rstrip("\r\n").split(",")
    return rows[1:]


def ids_of(body: bytes) -> list[str]:
    return [row[0] for row in data_rows(body)]


def the_audit() -> dict[str, Any]:
    event = AuditEvent.objects.get(action=AuditEvent.Action.EXPORT)
    return {"user": event.username, "context": event.context, **event.detail}


def insert_rows(sandbox: SandboxApp, count: int, org: str = QUIET, **overrides: Any) -> None:
    for i in range(count):
        sandbox.dataset.insert_row(
            org,
            host_name=f"Row {i:04d}",
            host_email=f"row{i}@quiet.example",
            owner_email=f"owner{i}@quiet.example",
            **overrides,
        )


def list_page_ids(client: Client, ctx: Any, query: str, total: int) -> list[str]:
    """The ids the list page shows for this query, walking its pages of 100 rows."""
    ids: list[str] = []
    for offset in range(0, total, 100):
        sep = "&" if query else ""
        response = client.get(f"/connections/?ctx={ctx}{sep}{query}&limit=100&offset={offset}")
        assert response.status_code == 200
        ids += linked_ids(response.content.decode())
    return ids


def test_export_exact_bytes_small_file(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient
) -> None:
    rows = [
        {
            "host_organization_id": "00000000-0000-4000-8000-000000000002",
            "host_name": 'Beta, "Quoted" & Söhne',
            "host_email": "ops@beta.example",
            "owner_email": "anna@beta.example",
            "status": "connected",
            "archived": False,
            "created_at": "2024-01-02T03:04:05Z",
            "updated_at": "2024-02-03T04:05:06.500000",
            "archived_at": None,
            "active_action_type": None,
            "active_action_updated_at": None,
        },
        {
            "host_organization_id": "00000000-0000-4000-8000-000000000001",
            "host_name": "=SUM(A1:A9)",
            "host_email": "-x@evil.example",
            "owner_email": "@owner.example",
            "status": "disconnected",
            "archived": True,
            "created_at": "2023-12-31T23:00:00-02:00",
            "updated_at": "2024-01-01T01:00:00Z",
            "archived_at": "2024-03-01T00:00:00",
            "active_action_type": "analytics_request",
            "active_action_updated_at": "2024-03-02T10:11:12.000001",
        },
        {
            "host_organization_id": "00000000-0000-4000-8000-000000000003",
            "host_name": "Gamma\nTwo lines",
            "host_email": "gamma@example.com",
            "owner_email": "o@gamma.example",
            "status": "connected",
            "archived": False,
            "created_at": "2022-06-07T08:09:10Z",
            "updated_at": "2022-06-07T08:09:10Z",
            "archived_at": None,
            "active_action_type": "analytics_request",
            "active_action_updated_at": "2022-06-08T00:00:00Z",
        },
    ]
    for row in rows:
        sandbox.dataset.insert_row(QUIET, **row)

    body = body_of(alice.get(export_url(quiet_client.pk)))

    assert body == (
        CSV_HEADER + "00000000-0000-4000-8000-000000000001,'=SUM(A1:A9),'-x@evil.example,"
        "'@owner.example,disconnected,true,2024-01-01T01:00:00Z,2024-01-01T01:00:00Z,"
        "2024-03-01T00:00:00Z,analytics_request,2024-03-02T10:11:12.000001Z\r\n"
        '00000000-0000-4000-8000-000000000002,"Beta, ""Quoted"" & Söhne",ops@beta.example,'
        "anna@beta.example,connected,false,2024-01-02T03:04:05Z,"
        "2024-02-03T04:05:06.500000Z,,,\r\n"
        '00000000-0000-4000-8000-000000000003,"Gamma\nTwo lines",gamma@example.com,'
        "o@gamma.example,connected,false,2022-06-07T08:09:10Z,2022-06-07T08:09:10Z,,"
        "analytics_request,2022-06-08T00:00:00Z\r\n"
    ).encode("utf-8")


def test_export_exact_bytes_headers(alice: Client, quiet_client: ApiClient) -> None:
    response = alice.get(export_url(quiet_client.pk))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["X-Export-Rows"] == "0"
    assert "no-store" in response["Cache-Control"]
    assert body_of(response) == CSV_HEADER.encode()


@pytest.mark.parametrize("count", [0, 1, 100, 101, 250])
def test_export_row_count_exact(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient, count: int
) -> None:
    insert_rows(sandbox, count)
    response = alice.get(export_url(quiet_client.pk))
    assert response["X-Export-Rows"] == str(count)
    body = body_of(response)
    names = [row[1] for row in data_rows(body)]
    assert names == [f"Row {i:04d}" for i in range(count)]
    audit = the_audit()
    assert (audit["rows"], audit["total"], audit["outcome"]) == (count, count, "complete")


def test_export_cap_plus_one_refused_with_message(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient, settings
) -> None:
    settings.EXPORT_MAX_ROWS = 100
    insert_rows(sandbox, 101)
    response = alice.get(export_url(quiet_client.pk))
    assert response.status_code == 400
    assert not response.streaming
    text = response.content.decode()
    assert "This view matches 101 rows; exports are limited to 100." in text
    assert "Narrow the filters" in text
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_export_cap_exactly_at_cap_allowed(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient, settings
) -> None:
    settings.EXPORT_MAX_ROWS = 100
    insert_rows(sandbox, 100)
    assert len(data_rows(body_of(alice.get(export_url(quiet_client.pk))))) == 100


def test_export_cap_refusal_frees_the_slot(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient, settings
) -> None:
    settings.EXPORT_MAX_ROWS = 100
    settings.EXPORTS_PER_USER = 1
    insert_rows(sandbox, 101)
    assert alice.get(export_url(quiet_client.pk)).status_code == 400
    assert alice.get(export_url(quiet_client.pk)).status_code == 400  # not 429
    response = alice.get(export_url(quiet_client.pk, "search_text=Row+000"))
    assert len(data_rows(body_of(response))) == 10


def test_export_cap_list_page_says_so_before_export(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient, settings
) -> None:
    settings.EXPORT_MAX_ROWS = 100
    insert_rows(sandbox, 101)
    text = alice.get(f"/connections/?ctx={quiet_client.pk}").content.decode()
    assert 'id="export-too-big"' in text
    assert "limited to 100 rows" in text


PREFIXES = {
    "equals": "=",
    "plus": "+",
    "minus": "-",
    "at": "@",
    "tab": "\t",
    "cr": "\r",
    "lf": "\n",
    "nul": "\0",
}


@pytest.mark.parametrize("prefix", list(PREFIXES.values()), ids=list(PREFIXES))
def test_export_formula_injection_prefix_neutralised(
    alice: Client, sandbox: SandboxApp, quiet_client: ApiClient, prefix: str
) -> None:
    dangerous = {
        "host_name": f'{prefix}HYPERLINK("http://evil.example","x")',
        "host_email": f"{prefix}1+1@evil.example",
        "owner_email": f"{prefix}cmd|' /C calc'!A0",
    }
    sandbox.dataset.insert_row(QUIET, **dangerous)
    sandbox.dataset.insert_row(
        QUIET, host_name="Plain - Co = fine", host_email="a-b@x.example", owner_email="o@x.example"
    )
    body = body_of(alice.get(export_url(quiet_client.pk, "order_by=host_email")))

    rows = data_rows(body)  # the file round-trips through csv.reader
    assert len(rows) == 2
    by_name = {row[1]: row for row in rows}
    bad = by_name["'" + dangerous["host_name"]]
    assert bad[1:4] == ["'" + dangerous[k] for k in ("host_name", "host_email", "owner_email")]
    good = by_name["Plain - Co = fine"]
    assert good[1:4] == ["Plain - Co = fine", "a-b@x.example", "o@x.example"]
    # In the raw bytes no cell, quoted or not, starts with the dangerous character.
    text = body.decode()
    for payload in ("HYPERLINK(", "1+1@evil", "cmd|"):
        assert f",{prefix}{payload}" not in text
        assert f',"{prefix}{payload}' not in text
        assert f"'{prefix}{payload}" in text


@pytest.mark.parametrize(
    "query",
    [
        "",
        "statuses=connected&order_by=created_at&order_dir=desc",
        "order_by=archived_at",
        "order_by=active_action_updated_at&order_dir=desc",
        "search_text=bank&search_field=host_name&order_by=owner_email",
        "archived=false&active_action_types=analytics_request&order_by=updated_at",
    ],
)
def test_export_rows_in_view_order(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, query: str
) -> None:
    response = alice.get(export_url(demo_client.pk, query))
    total = int(response["X-Export-Rows"])
    exported = ids_of(body_of(response))
    assert total > 20
    assert len(exported) == total
    assert exported == list_page_ids(alice, demo_client.pk, query, total)


def test_export_this_page_only_scope(alice: Client, demo_client: ApiClient) -> None:
    query = "order_by=owner_email&order_dir=desc&limit=20&offset=40"
    response = alice.get(export_url(demo_client.pk, query, scope="page"))
    assert response["X-Export-Rows"] == "20"
    exported = ids_of(body_of(response))
    page = alice.get(f"/connections/?ctx={demo_client.pk}&{query}").content.decode()
    assert exported == linked_ids(page)
    assert len(set(exported)) == 20
    audit = the_audit()
    assert (audit["scope"], audit["rows"], audit["outcome"]) == ("page", 20, "complete")


def test_export_this_page_only_ignores_cap(alice: Client, demo_client: ApiClient, settings) -> None:
    settings.EXPORT_MAX_ROWS = 50
    assert alice.get(export_url(demo_client.pk)).status_code == 400
    response = alice.get(export_url(demo_client.pk, "limit=50", scope="page"))
    assert len(data_rows(body_of(response))) == 50


@pytest.mark.parametrize("concurrency", [1, 4])
def test_export_upstream_failure_page_37_aborts(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, settings, concurrency: int
) -> None:
    settings.EXPORT_CONCURRENCY = concurrency
    ctx = f"{demo_client.pk}.{NORTHWIND}"
    alice.get(f"/connections/?ctx={ctx}")  # the context opened (and named) before the export
    sandbox.faults.add("status_500", path="/host-connections", after=36, times=None)
    response = alice.get(export_url(ctx, "order_by=created_at"))
    total = int(response["X-Export-Rows"])
    assert total >= 3700

    sent = body_until_abort(response)

    ids = ids_of(sent)
    if concurrency == 1:
        assert len(ids) == 3600  # pages 1..36 and not one row more
    assert 0 < len(ids) < total and len(ids) % 100 == 0
    expected = sandbox.dataset.query(
        NORTHWIND,
        statuses=("connected", "disconnected"),
        search_field="host_name",
        search_text=None,
        order_by="created_at",
        order_dir="asc",
        archived=None,
        action_types=None,
    )
    assert ids == [r["host_organization_id"] for r in expected[: len(ids)]]
    audit = the_audit()
    assert audit["outcome"] == "failed"
    assert audit["rows"] == len(ids)
    assert audit["total"] == total


def test_export_upstream_failure_shows_failed_progress(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    export_id = new_export_id()
    sandbox.faults.add("status_500", path="/host-connections", after=1, times=None)
    body_until_abort(alice.get(export_url(demo_client.pk, export_id=export_id)))
    text = alice.get(f"/connections/export/{export_id}/progress/").content.decode()
    assert "The export failed after 100 of 302 rows" in text


def test_export_upstream_retryable_error_is_retried_not_aborted(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    sandbox.faults.add("status_503", path="/host-connections", after=2, times=1)
    body = body_of(alice.get(export_url(demo_client.pk)))
    assert len(set(ids_of(body))) == 302
    assert the_audit()["outcome"] == "complete"


def test_export_upstream_down_at_start_503_frees_slot(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, settings
) -> None:
    settings.EXPORTS_PER_USER = 1
    rule = sandbox.faults.add("status_500", path="/host-connections", times=None)
    response = alice.get(export_url(demo_client.pk))
    assert response.status_code == 503
    assert "reference" in response.content.decode()
    sandbox.faults.rules.remove(rule)
    assert len(ids_of(body_of(alice.get(export_url(demo_client.pk))))) == 302


def test_export_total_items_change_aborts(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    response = alice.get(export_url(demo_client.pk))
    assert response["X-Export-Rows"] == "302"
    chunks = iter(response.streaming_content)
    first = next(chunks)
    assert len(data_rows(first)) == 100
    sandbox.dataset.insert_row(org_id("demo-lender"), host_name="Inserted Mid Export")
    with pytest.raises(ExportAborted, match="changed"):
        for _ in chunks:
            pass
    audit = the_audit()
    assert audit["outcome"] == "failed"
    assert audit["rows"] == 100


def _row(i: int) -> dict[str, Any]:
    return {
        "host_organization_id": str(uuid.UUID(int=i + 1)),
        "guest_organization_id": org_id("demo-lender"),
        "host_name": f"Host {i:04d}",
        "host_email": f"h{i}@example.com",
        "owner_email": f"o{i}@example.com",
        "status": "connected",
        "archived": False,
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }


def overlapping_upstream(total: int, pages: dict[int, range]) -> httpx.MockTransport:
    """An upstream whose page at each offset serves the given row indexes: a row that
    moved between two page fetches appears on both."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        offset = int(request.url.params["offset"])
        items = [_row(i) for i in pages[offset]]
        return httpx.Response(200, json={"items": items, "total_items": total})

    return httpx.MockTransport(handler)


def test_export_duplicates_across_pages_removed_count_check_aborts(
    alice: Client, demo_client: ApiClient
) -> None:
    # Rows 90..99 are served twice and rows 240..249 never: 240 distinct rows of 250.
    api.use_transport(
        overlapping_upstream(250, {0: range(0, 100), 100: range(90, 190), 200: range(190, 240)})
    )
    sent = body_until_abort(alice.get(export_url(demo_client.pk)))
    ids = ids_of(sent)
    assert len(ids) == len(set(ids)) == 240
    assert ids == [str(uuid.UUID(int=i + 1)) for i in range(240)]
    audit = the_audit()
    assert (audit["outcome"], audit["rows"], audit["total"]) == ("failed", 240, 250)


def test_export_duplicates_across_pages_removed_file_complete(
    alice: Client, demo_client: ApiClient
) -> None:
    # Rows 95..99 are served twice; every row is served at least once.
    api.use_transport(
        overlapping_upstream(250, {0: range(0, 100), 100: range(95, 195), 200: range(195, 250)})
    )
    ids = ids_of(body_of(alice.get(export_url(demo_client.pk))))
    assert ids == [str(uuid.UUID(int=i + 1)) for i in range(250)]
    assert the_audit()["outcome"] == "complete"


def test_export_concurrency_limit_third_gets_429(
    alice: Client, demo_client: ApiClient, other_user: User, settings
) -> None:
    settings.EXPORTS_PER_USER = 2
    first = alice.get(export_url(demo_client.pk))
    second = alice.get(export_url(demo_client.pk))
    assert (first.status_code, second.status_code) == (200, 200)
    next(iter(first.streaming_content))  # one started, one not: both count

    third = alice.get(export_url(demo_client.pk))
    assert third.status_code == 429
    assert not third.streaming
    assert "You already have 2 exports running" in third.content.decode()
    assert third["Retry-After"] == "5"  # a 429 always says when to try again

    bob = Client()
    bob.force_login(other_user)
    assert bob.get(export_url(demo_client.pk)).status_code == 200  # the limit is per user

    body_of(second)
    fourth = alice.get(export_url(demo_client.pk))
    assert fourth.status_code == 200
    assert alice.get(export_url(demo_client.pk)).status_code == 429
    body_of(first)
    body_of(fourth)


def test_export_concurrency_limit_released_after_failure(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, settings
) -> None:
    settings.EXPORTS_PER_USER = 1
    rule = sandbox.faults.add("status_500", path="/host-connections", after=1, times=None)
    body_until_abort(alice.get(export_url(demo_client.pk)))
    sandbox.faults.rules.remove(rule)
    assert len(ids_of(body_of(alice.get(export_url(demo_client.pk))))) == 302


def test_export_audit_cancelled_via_cancel_endpoint(alice: Client, demo_client: ApiClient) -> None:
    export_id = new_export_id()
    response = alice.get(export_url(demo_client.pk, export_id=export_id))
    chunks = iter(response.streaming_content)
    next(chunks)
    cancel = alice.post(f"/connections/export/{export_id}/cancel/")
    assert cancel.status_code == 200
    with pytest.raises(ExportCancelled):
        for _ in chunks:
            pass
    audit = the_audit()
    assert (audit["outcome"], audit["rows"], audit["total"]) == ("cancelled", 100, 302)
    progress = alice.get(f"/connections/export/{export_id}/progress/").content.decode()
    assert "Export cancelled after 100 of 302 rows" in progress


@pytest.mark.django_db(transaction=True)  # closing a response ends the request, as live
def test_export_audit_cancelled_when_browser_goes_away(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, settings
) -> None:
    settings.EXPORTS_PER_USER = 1
    settings.EXPORT_CONCURRENCY = 2
    ctx = f"{demo_client.pk}.{NORTHWIND}"
    response = alice.get(export_url(ctx))
    chunks = iter(response.streaming_content)
    next(chunks)
    next(chunks)
    response.close()  # what the WSGI server does when the browser drops the download
    audit = the_audit()
    assert (audit["outcome"], audit["rows"]) == ("cancelled", 200)
    # Paging stopped: page 1, page 2 and at most the window queued ahead (2 x concurrency).
    listed = [s for s in sandbox.seen if s.path.endswith("/host-connections")]
    assert len(listed) <= 1 + 1 + 2 * 2
    assert alice.get(export_url(demo_client.pk)).status_code == 200  # slot released


def test_export_audit_failed_records_rows_sent(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient, settings
) -> None:
    settings.EXPORT_CONCURRENCY = 1  # pages in order: page 3 is the first bad one
    sandbox.faults.add("bad_shape", path="/host-connections", after=2, times=None)
    sent = body_until_abort(alice.get(export_url(demo_client.pk)))
    audit = the_audit()
    assert audit["outcome"] == "failed"
    assert audit["rows"] == len(data_rows(sent)) == 200


def test_export_progress_bad_id_404(alice: Client) -> None:
    assert alice.get("/connections/export/not-an-id/progress/").status_code == 404
    assert alice.post("/connections/export/not-an-id/cancel/").status_code == 404


def test_export_bom_option(alice: Client, demo_client: ApiClient) -> None:
    with_bom = body_of(alice.get(export_url(demo_client.pk, bom="1")))
    without = body_of(alice.get(export_url(demo_client.pk)))
    assert with_bom.startswith(b"\xef\xbb\xbf" + CSV_HEADER.encode())
    assert without.startswith(CSV_HEADER.encode())
    assert with_bom.decode("utf-8-sig") == without.decode("utf-8")
    assert with_bom.count(b"\xef\xbb\xbf") == 1


@pytest.mark.django_db(transaction=True)  # closing a response ends the request, as live
def test_export_closed_before_reading_releases_slot_and_audits(
    alice: Client, demo_client: ApiClient, settings
) -> None:
    settings.EXPORTS_PER_USER = 1
    response = alice.get(export_url(demo_client.pk))
    assert response.status_code == 200
    response.close()  # the body was never read
    audit = the_audit()
    assert (audit["outcome"], audit["rows"]) == ("cancelled", 0)
    assert alice.get(export_url(demo_client.pk)).status_code == 200  # the slot is free


def test_export_cancel_before_first_chunk(alice: Client, demo_client: ApiClient) -> None:
    export_id = new_export_id()
    response = alice.get(export_url(demo_client.pk, export_id=export_id))
    cancel = alice.post(f"/connections/export/{export_id}/cancel/")
    assert cancel.status_code == 200  # known from the start, not a 404
    assert body_until_abort(response, ExportCancelled) == b""
    assert the_audit()["outcome"] == "cancelled"


def test_export_upstream_busy_429_carries_its_retry_after(
    alice: Client, sandbox: SandboxApp, demo_client: ApiClient
) -> None:
    sandbox.faults.add("status_429", times=10, seconds=7)
    response = alice.get(export_url(demo_client.pk))
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert "busy" in response.content.decode()
