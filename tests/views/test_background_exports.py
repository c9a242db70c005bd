"""Background exports through HTTP: starting one from the list page, the Exports page,
downloads (owner only, access to the context checked now, audited) and the POSTed
actions. The export's file itself is tests/export/test_background.py's."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from connections.models import ApiClient, AuditEvent, BackgroundExport
from tests.conftest import FormClient, body_of, org_id

EXPORTS = "/exports/"
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def start(client: Client, ctx: Any, query: str = "", fmt: str = "csv") -> Any:
    url = f"{EXPORTS}start/?ctx={ctx}" + (f"&{query}" if query else "")
    return client.post(url, {"format": fmt})


def test_exports_start_queues_the_view_and_goes_to_the_page(
    alice: Client, demo_client: ApiClient, user: User
) -> None:
    response = start(alice, demo_client.pk, "statuses=connected&order_by=host_email")
    assert response.status_code == 303
    assert response["Location"] == EXPORTS
    job = BackgroundExport.objects.get()
    assert (job.owner, job.api_client, job.format) == (user, demo_client, "csv")
    assert job.query == "statuses=connected&order_by=host_email"
    assert job.state == "done"  # the tests' immediate backend ran it
    page = alice.get(EXPORTS)
    assert page.status_code == 200
    html = body_of(page)
    assert f'id="export-{job.pk}" data-state="done"' in html
    assert f'action="/exports/{job.pk}/download/"' in html
    assert "deleted on" in html and "7 days after they finish" in html
    assert 'id="exports-badge"' in html  # finished, not downloaded yet


def test_exports_start_is_a_post(alice: Client, demo_client: ApiClient) -> None:
    response = alice.get(f"{EXPORTS}start/?ctx={demo_client.pk}")
    assert response.status_code == 405
    assert not BackgroundExport.objects.exists()


def test_exports_start_bad_format_or_query_refused_in_place(
    alice: Client, demo_client: ApiClient
) -> None:
    response = start(alice, demo_client.pk, fmt="pdf")
    assert response.status_code == 400
    assert "Choose CSV, CSV for Excel or Excel." in body_of(response)
    response = start(alice, demo_client.pk, "order_by=password")
    assert response.status_code == 400
    assert "This export is not valid" in body_of(response)
    assert not BackgroundExport.objects.exists()


def test_exports_start_refused_context_403(alice: Client, user: User) -> None:
    response = start(alice, "999")
    assert response.status_code == 403
    assert not BackgroundExport.objects.exists()


def test_exports_start_over_the_limit_429(
    alice: Client, demo_client: ApiClient, settings: Any
) -> None:
    settings.TASKS = DUMMY
    settings.BACKGROUND_EXPORTS_PER_USER = 1
    assert start(alice, demo_client.pk).status_code == 303
    response = start(alice, demo_client.pk)
    assert response.status_code == 429
    assert response["Retry-After"] == "5"
    assert "already have 1 background exports" in body_of(response)
    assert BackgroundExport.objects.count() == 1


def test_exports_download_owner_gets_the_file_audited(
    alice: Client, demo_client: ApiClient, user: User
) -> None:
    start(alice, demo_client.pk, "statuses=disconnected", fmt="csv_excel")
    job = BackgroundExport.objects.get()
    assert alice.get(f"{EXPORTS}{job.pk}/download/").status_code == 405  # a GET changes nothing
    assert not AuditEvent.objects.filter(action="export_download").exists()
    response = alice.post(f"{EXPORTS}{job.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{job.download_name}"'
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeffHost organization ID,")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"), newline="")))
    assert len(rows) - 1 == job.total and {r[4] for r in rows[1:]} == {"disconnected"}
    audit = AuditEvent.objects.get(action="export_download")
    assert (audit.user, audit.detail["export"]) == (user, str(job.pk))
    assert 'id="exports-badge"' not in body_of(alice.get(EXPORTS))  # downloaded


def test_exports_another_user_gets_404(
    alice: Client, demo_client: ApiClient, other_user: User
) -> None:
    start(alice, demo_client.pk)
    job = BackgroundExport.objects.get()
    bob = FormClient()
    bob.force_login(other_user)
    for action in ("download", "cancel", "retry", "delete"):
        assert bob.post(f"{EXPORTS}{job.pk}/{action}/").status_code == 404
    assert str(job.pk) not in body_of(bob.get(EXPORTS))
    assert not AuditEvent.objects.filter(action="export_download").exists()
    assert BackgroundExport.objects.filter(pk=job.pk, state="done").exists()


def test_exports_download_after_losing_the_context_refused(
    alice: Client, demo_client: ApiClient, user: User
) -> None:
    start(alice, demo_client.pk)
    job = BackgroundExport.objects.get()
    demo_client.users.remove(user)
    response = alice.post(f"{EXPORTS}{job.pk}/download/")
    assert response.status_code == 403
    assert "do not have access to this API client" in body_of(response)
    assert not AuditEvent.objects.filter(action="export_download").exists()


def test_exports_download_signed_out_goes_to_sign_in(alice: Client, demo_client: ApiClient) -> None:
    start(alice, demo_client.pk)
    job = BackgroundExport.objects.get()
    alice.logout()
    response = alice.post(f"{EXPORTS}{job.pk}/download/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_exports_actions_are_posts(alice: Client, demo_client: ApiClient) -> None:
    start(alice, demo_client.pk)
    job = BackgroundExport.objects.get()
    for action in ("cancel", "retry", "delete"):
        assert alice.get(f"{EXPORTS}{job.pk}/{action}/").status_code == 405
    assert BackgroundExport.objects.filter(pk=job.pk, state="done").exists()


def test_exports_cancel_queued_then_retry_then_delete(
    alice: Client, demo_client: ApiClient, settings: Any
) -> None:
    settings.TASKS = DUMMY
    start(alice, demo_client.pk)
    job = BackgroundExport.objects.get()
    assert 'data-state="queued"' in body_of(alice.get(EXPORTS))
    response = alice.post(f"{EXPORTS}{job.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="export-{job.pk}" data-state="cancelled"' in body_of(response)
    assert "<html" not in body_of(response)  # the table alone
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    response = alice.post(f"{EXPORTS}{job.pk}/retry/")
    assert response.status_code == 303
    job.refresh_from_db()
    assert job.state == "done"
    assert alice.post(f"{EXPORTS}{job.pk}/delete/").status_code == 303
    assert not BackgroundExport.objects.exists()
    audit = AuditEvent.objects.filter(action__startswith="export").order_by("pk")
    actions = list(audit.values_list("action", flat=True))
    assert actions == ["export_start", "export_cancel", "export_start", "export_finish"]


def test_exports_delete_running_refused_with_a_message(
    alice: Client, demo_client: ApiClient, settings: Any
) -> None:
    settings.TASKS = DUMMY
    start(alice, demo_client.pk)
    job = BackgroundExport.objects.get()
    response = alice.post(f"{EXPORTS}{job.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Cancel the export before deleting it." in body_of(response)
    assert BackgroundExport.objects.filter(pk=job.pk).exists()


def test_exports_page_polls_while_one_runs(
    alice: Client, demo_client: ApiClient, settings: Any
) -> None:
    settings.TASKS = DUMMY
    assert 'hx-trigger="every 2s"' not in body_of(alice.get(EXPORTS))
    start(alice, demo_client.pk)
    BackgroundExport.objects.update(state="running", total=300, written=100)
    html = body_of(alice.get(EXPORTS))
    assert 'hx-trigger="every 2s"' in html
    assert "running 100 of 300 (33 %)" in html


def test_exports_list_page_offers_the_background_export(
    alice: Client, demo_client: ApiClient
) -> None:
    response = alice.get(f"/connections/?ctx={demo_client.pk}&statuses=connected")
    html = body_of(response)
    assert f'action="/exports/start/?ctx={demo_client.pk}&amp;statuses=connected"' in html
    assert "Export in the background" in html and 'value="xlsx"' in html
    assert 'href="/exports/" id="exports-link"' in html


@pytest.mark.parametrize("target", ["northwind-credit"])
def test_exports_other_target_named_in_the_context(
    alice: Client, demo_client: ApiClient, target: str
) -> None:
    response = start(alice, f"{demo_client.pk}.{org_id(target)}")
    assert response.status_code == 303
    job = BackgroundExport.objects.get()
    assert str(job.target_org_id) == org_id(target)
    assert job.context_label.startswith("Demo Lender → ")
