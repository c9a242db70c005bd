"""The Exports page's state as one object (as ``listing.ConnectionList`` is the list's):
the user's background exports, each with what it shows and the URLs of its actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from connections import links
from connections.context import OrgContext
from connections.models import BackgroundExport
from connections.query import ListQuery


@dataclass(frozen=True)
class ExportItem:
    job: BackgroundExport
    view_url: str  # the list the export was made from ("" when its API client is gone)
    view_text: str  # the query, as the URL holds it ("all rows" without filters)
    download_url: str
    cancel_url: str
    retry_url: str
    delete_url: str

    @property
    def can_download(self) -> bool:
        return self.job.state == BackgroundExport.State.DONE and bool(self.job.file_name)

    @property
    def can_retry(self) -> bool:
        return self.job.state in ("failed", "cancelled", "expired")

    @property
    def percent(self) -> int:
        total = self.job.total or 0
        return min(100, self.job.written * 100 // total) if total else 0


class ExportsPage:
    """The user's exports; ``active`` says whether the page should keep polling."""

    def __init__(self, jobs: list[BackgroundExport], *, now: datetime) -> None:
        self.items = [_item(job) for job in jobs]
        self.active = any(job.active for job in jobs)
        self.now = now
        self.retention_days = settings.EXPORT_RETENTION_DAYS
        self.url = links.background_exports_url()


def _item(job: BackgroundExport) -> ExportItem:
    query = ListQuery.from_querystring(job.query).query
    view_url = ""
    if job.api_client is not None:
        view_url = links.list_url(OrgContext(job.api_client, str(job.target_org_id)), query)

    def action(name: str) -> str:
        return links.background_export_action_url(job.pk, name)

    return ExportItem(
        job=job,
        view_url=view_url,
        view_text=job.query or "all rows",
        download_url=action("download"),
        cancel_url=action("cancel"),
        retry_url=action("retry"),
        delete_url=action("delete"),
    )
