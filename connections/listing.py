"""One list page as one object (Django admin's ``ChangeList``): what list.html reads.

``ConnectionList.load`` asks the upstream for the page of a query; the object then holds
the sort headers, the filter chips, the rows, the pager, the export links and the state
of the saved view the page was opened as. Every URL comes from ``connections.links``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from django.conf import settings
from django.template.defaultfilters import filesizeformat, pluralize
from django.utils import timezone
from django.utils.formats import localize

from connections import api, export, facets, links, presenters, selectors
from connections.context import OrgContext
from connections.models import ApiClient, SavedView
from connections.presenters import Row
from connections.query import (
    COLUMNS,
    KEY_COLUMN,
    LABELS,
    ORDER_FIELDS,
    PAGE_SIZES,
    SEARCH_FIELDS,
    STATUSES,
    ListQuery,
)


class FieldMessages(dict[str, str]):
    """Messages about bad input, by field. The template asks every field for its message:
    one without reads as "" here, where a plain dict's missing key is a failed lookup for
    Django, which raises, catches and logs it (at DEBUG) for every field of every page."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    url: str = ""  # empty: not sortable
    aria_sort: str = ""  # "ascending" | "descending" | ""


@dataclass(frozen=True)
class ChooserColumn:
    """One line of the column chooser: a box to show or hide the column, and buttons that
    move a shown one left or right (``move`` in ListQuery.parse: the buttons submit the
    chooser's form, so they work without JavaScript)."""

    key: str
    label: str
    shown: bool
    fixed: bool = False  # the host name: always shown
    earlier: bool = False  # may move left
    later: bool = False  # may move right


@dataclass(frozen=True)
class Chip:
    label: str
    clear_url: str


@dataclass(frozen=True)
class PageLink:
    label: str  # "1,000": for people
    url: str | None  # None: a gap, or the current page
    current: bool = False
    number: int = 0  # 1000: for element ids (a comma would break a CSS selector)


@dataclass(frozen=True)
class Pager:
    first_row: int
    last_row: int
    total: int
    links: list[PageLink]
    first: str | None
    previous: str | None
    next: str | None
    last: str | None
    last_page_url: str
    past_end: bool  # an offset beyond the last row of a non-empty list


@dataclass(frozen=True)
class ExportLink:
    href: str  # the download itself (GET): what a browser without JavaScript follows
    start: str  # where the button first asks, by POST, whether the export may start


@dataclass(frozen=True)
class ExportLinks:
    rows: int
    cap: int
    too_big: bool  # more rows than one export may have: only "this page" is offered
    whole: ExportLink
    excel: ExportLink  # with a byte-order mark
    page: ExportLink
    all_columns: ExportLink | None = None  # the whole view with every column: when some are hidden


_COLUMN_LABELS: dict[str, str] = {key: LABELS[key] for key in COLUMNS}


class ConnectionList:
    """The connections list of one org context for one query."""

    search_fields = [(f, LABELS[f]) for f in SEARCH_FIELDS]
    statuses = [(s, LABELS[s]) for s in STATUSES]
    page_sizes = PAGE_SIZES
    no_counts = facets.FacetCounts.absent()  # a results answer without rows clears the counts

    def __init__(
        self,
        ctx: OrgContext,
        query: ListQuery,
        *,
        page: api.HostConnectionPage | api.ApiError,
        errors: dict[str, str] | None = None,
        view: SavedView | None = None,
        target_label: str = "",
        tz: tzinfo | None = None,
        now: datetime | None = None,
    ) -> None:
        self.ctx = ctx
        self.query = query
        self.errors = FieldMessages(errors or {})
        self.view = view  # the saved view the page was opened as, if any
        self.view_modified = view is not None and view.query != query.saved_querystring()
        self.ctx_label = ctx.describe(target_label)  # "Demo Lender → Northwind Credit"
        self._view_id = view.pk if view is not None else None  # kept by every list link
        self.canonical_url = self._url(query)
        # What a link that leaves this page carries when the saved view is modified, so the
        # next page can lead back to these unsaved changes (PageParams.unsaved).
        self.unsaved_state = self.canonical_url.partition("?")[2] if self.view_modified else ""
        self.reset_url = links.list_url(ctx)
        self.own_org_url = links.list_url(ctx.own)  # the way out of a refused target
        self.columns = self._columns()
        self.chooser = self._chooser()
        # The form's hidden cols: none while the columns are the default ones.
        self.chosen_columns = query.cols if query.cols != COLUMNS else ()
        # The column form's other fields: the rest of the view, its page included (a change
        # of the columns keeps the page).
        self.column_form_params = [p for p in query.to_params() if p[0] != "cols"]
        self.chips = self._chips()
        self.api_error = page if isinstance(page, api.ApiError) else None
        self.rows: list[Row] = []
        self.pager: Pager | None = None
        self.export: ExportLinks | None = None
        self.background_export = ""
        if isinstance(page, api.HostConnectionPage):
            detail_url = links.detail_urls(ctx, query, self._view_id)
            tz = tz or timezone.get_current_timezone()
            now = now or timezone.now()
            self.rows = presenters.present_rows(page.items, tz, now, detail_url)
            self.pager = self._pager(page.total_items, len(page.items))
            self.export = self._export(page.total_items)
            # "Export in the background" (a POST): any size, CSV or Excel
            self.background_export = links.background_export_start_url(ctx, query)
        # The filter choices' counts load after the rows (connections/facets.py); switched
        # off, the page has no room for them either.
        self.counts_on = settings.FACET_COUNTS
        self.facets_url = (
            links.facets_url(ctx, query) if self.counts_on and self.api_error is None else None
        )

    @classmethod
    def load(
        cls,
        ctx: OrgContext,
        query: ListQuery,
        *,
        errors: dict[str, str] | None = None,
        view: SavedView | None = None,
        target_label: str = "",
    ) -> ConnectionList:
        """The page of ``query`` with one upstream call; an ApiError shows on the page."""
        try:
            page: api.HostConnectionPage | api.ApiError = api.list_host_connections(
                ctx.caller, query
            )
        except api.ApiError as exc:
            page = exc
        return cls(ctx, query, page=page, errors=errors, view=view, target_label=target_label)

    @property
    def total(self) -> int:
        return self.pager.total if self.pager else 0

    @property
    def sort_errors(self) -> str:
        """The ids of the sort's messages (its controls are the column headers)."""
        return " ".join(f"err-{k}" for k in ("order_by", "order_dir") if k in self.errors)

    # --- the parts -------------------------------------------------------------------

    def _url(self, query: ListQuery) -> str:
        return links.list_url(self.ctx, query, self._view_id)

    def _columns(self) -> list[Column]:
        query, columns = self.query, []
        for key in query.cols:
            label = _COLUMN_LABELS[key]
            if key not in ORDER_FIELDS:
                columns.append(Column(key, label))
                continue
            sorted_here = query.order_by == key
            direction = "ascending" if query.order_dir == "asc" else "descending"
            url = self._url(query.sorted_by(key))
            columns.append(Column(key, label, url, direction if sorted_here else ""))
        return columns

    def _chooser(self) -> list[ChooserColumn]:
        """The shown columns in their order, then the hidden ones in the default order."""
        shown = self.query.cols
        items = [
            ChooserColumn(
                key,
                _COLUMN_LABELS[key],
                shown=True,
                fixed=key == KEY_COLUMN,
                earlier=index > 0,
                later=index < len(shown) - 1,
            )
            for index, key in enumerate(shown)
        ]
        hidden = [k for k in COLUMNS if k not in shown]
        return items + [ChooserColumn(k, _COLUMN_LABELS[k], shown=False) for k in hidden]

    def _chips(self) -> list[Chip]:
        query, chips = self.query, []
        if query.statuses != ListQuery().statuses:
            label = "Status: " + ", ".join(LABELS[s] for s in query.statuses)
            chips.append(Chip(label, self._url(query.without("statuses"))))
        if query.search_text:
            label = f"{LABELS[query.search_field]} contains “{query.search_text}”"
            cleared = query.changed(search_text=None, search_field="host_name")
            chips.append(Chip(label, self._url(cleared)))
        if query.archived is not None:
            label = "Archived only" if query.archived else "Not archived"
            chips.append(Chip(label, self._url(query.without("archived"))))
        if query.active_action_types:
            label = "Active action: " + ", ".join(LABELS[a] for a in query.active_action_types)
            chips.append(Chip(label, self._url(query.without("active_action_types"))))
        return chips

    def _pager(self, total: int, shown: int) -> Pager:
        query = self.query
        limit = query.limit
        page_count = max(1, -(-total // limit))  # ceiling division: exact at any size

        def at(offset: int) -> str:
            return self._url(query.at_offset(offset))

        page_links = []
        if total > limit and query.page <= page_count:  # past the end: no page to centre on
            for number in page_numbers(query.page, page_count):
                if number is None:
                    page_links.append(PageLink("…", None))
                else:
                    url = None if number == query.page else at((number - 1) * limit)
                    page_links.append(PageLink(f"{number:,}", url, number == query.page, number))
        has_previous = query.offset > 0
        has_next = query.offset + limit < total
        last_page_url = at((page_count - 1) * limit)
        return Pager(
            first_row=query.offset + 1 if shown else 0,
            last_row=query.offset + shown,
            total=total,
            links=page_links,
            first=at(0) if has_previous else None,
            previous=at(query.offset - limit) if has_previous else None,
            next=at(query.offset + limit) if has_next else None,
            last=last_page_url if has_next else None,
            last_page_url=last_page_url,
            past_end=shown == 0 and total > 0,
        )

    def _export(self, total: int) -> ExportLinks:
        ctx, query, view_id = self.ctx, self.query, self._view_id
        export_id = uuid.uuid4().hex  # without JavaScript; with it, export_start makes one

        def link(
            q: ListQuery = query, scope: Literal["all", "page"] = "all", bom: bool = False
        ) -> ExportLink:
            params = links.export_params(ctx, q, scope=scope, bom=bom, view_id=view_id)
            return ExportLink(links.export_url(params, export_id), links.export_start_url(params))

        every_column = query.model_copy(update={"cols": COLUMNS})
        return ExportLinks(
            rows=total,
            cap=settings.EXPORT_MAX_ROWS,
            too_big=total > settings.EXPORT_MAX_ROWS,
            whole=link(),
            excel=link(bom=True),
            page=link(scope="page"),
            all_columns=link(every_column) if query.cols != COLUMNS else None,
        )


def page_numbers(
    current: int, count: int, *, on_each_side: int = 2, on_ends: int = 1
) -> list[int | None]:
    """The page numbers a pager shows, None for a gap: Django's
    ``Paginator.get_elided_page_range``, which cannot count pages past 2**63
    (``len()`` of its object list), while an upstream total may be any size."""
    if count <= (on_each_side + on_ends) * 2:
        return list(range(1, count + 1))
    numbers: list[int | None] = []
    if current > 1 + on_each_side + on_ends + 1:
        numbers += [*range(1, on_ends + 1), None, *range(current - on_each_side, current + 1)]
    else:
        numbers += range(1, current + 1)
    if current < count - on_each_side - on_ends - 1:
        after = range(current + 1, current + on_each_side + 1)
        numbers += [*after, None, *range(count - on_ends + 1, count + 1)]
    else:
        numbers += range(current + 1, count + 1)
    return numbers


# --- a detail page's previous and next rows -----------------------------------------------


@dataclass(frozen=True)
class Neighbours:
    """The rows before and after one row of a list view, as links to their detail pages
    (each leading back to its own page of the list); None at the ends, or when unknown."""

    previous: str | None = None
    next: str | None = None


def detail_neighbours(
    ctx: OrgContext, query: ListQuery, view_id: int | None, host_org_id: uuid.UUID
) -> Neighbours:
    """One upstream call for the row's page with a row on either side; a second one only
    for the last row of a 100-row page (the upstream's limit). A failure is no links."""
    limit, start = min(100, query.limit + 2), max(0, query.offset - 1)
    try:
        for _ in range(2):
            page = api.list_host_connections(ctx.caller, query, limit=limit, offset=start)
            ids = [item.host_organization_id for item in page.items]
            at = ids.index(host_org_id) if host_org_id in ids else -1
            if at >= 0 and (at + 1 < len(ids) or start + len(ids) >= page.total_items):
                break
            if len(ids) < limit:
                return Neighbours()  # not in this view (any more)
            start += len(ids) - 2
        else:
            return Neighbours()
    except api.ApiError:
        return Neighbours()

    def link(index: int) -> str | None:
        if not 0 <= index < len(ids):
            return None
        back = query.at_offset((start + index) // query.limit * query.limit)
        return links.detail_url(ctx, ids[index], back, view_id)

    return Neighbours(previous=link(at - 1), next=link(at + 1))


# --- the saved-views panel ---------------------------------------------------------------


@dataclass(frozen=True)
class PanelView:
    view: SavedView
    url: str | None  # None: its context is gone, or the user lost access to it
    active: bool = False
    invalid: bool = False  # some of its saved filters are no longer valid
    href: str | None = None  # ``url``, leading back to the page's unsaved changes, if any

    @property
    def unavailable(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class UnsavedChanges:
    """The modified saved view the user left for this page: the panel leads back to it."""

    name: str
    url: str
    left: str = ""  # the link's ``unsaved`` parameter, kept in the page's address


@dataclass(frozen=True)
class ViewsPanel:
    mine: list[PanelView]
    shared: list[PanelView]


def views_panel(
    *, user: object, clients: Collection[ApiClient], active: SavedView | None, unsaved: str = ""
) -> ViewsPanel:
    """The user's saved views (marked when unusable) and those shared with them;
    ``unsaved``: the page's modified state, which their links carry (``leaving_url``)."""
    allowed = {c.pk for c in clients}
    own, shared_with_me = selectors.saved_view_list_panel(user=user, clients=clients)

    def leaving(url: str | None) -> str | None:
        return links.leaving_url(url, unsaved) if url else None

    mine = []
    for view in own:
        parsed = ListQuery.from_querystring(view.query)
        url = links.saved_view_url(view, parsed.query) if view.api_client_id in allowed else None
        is_active = active is not None and active.pk == view.pk
        valid = parsed.is_clean
        mine.append(PanelView(view, url, is_active, not valid, leaving(url)))
    shared = [
        PanelView(v, url, href=leaving(url))
        for v in shared_with_me
        for url in [links.saved_view_url(v)]
    ]
    return ViewsPanel(mine, shared)


# --- the exports panel -------------------------------------------------------------------

MAX_WAIT_POLLS = 20  # polls of 0.5 s for an export to start before giving up
START_WAIT_SECONDS = 10  # the same wait, for an export listed after a reload
ANNOUNCE_EVERY = 10  # polls: a screen reader hears a running export's progress every 5 s
SHOWN_SECONDS = 30 * 60  # a finished export stays listed this long (or until dismissed)


@dataclass(frozen=True)
class ExportStatus:
    """One export as its progress region shows it. ``state``: "preparing" (the total is
    not known yet), "running", "complete", "cancelled", "failed" or "missing" (it never
    started)."""

    export_id: str
    state: str
    written: int = 0
    total: int | None = None
    bytes: int = 0
    reason: str = ""
    label: str = ""
    retry_url: str | None = None
    polls: int = 0

    @property
    def polling(self) -> bool:
        return self.state in ("preparing", "running")

    @property
    def progress_url(self) -> str:
        return links.export_progress_url(self.export_id, self.polls + 1)

    @property
    def cancel_url(self) -> str:
        return links.export_cancel_url(self.export_id)

    @property
    def dismiss_url(self) -> str:
        return links.export_dismiss_url(self.export_id)

    @property
    def text(self) -> str:
        """The region's words, also read out by its live region."""
        written, total = localize(self.written), localize(self.total)
        if self.state == "preparing":
            return "Preparing…"
        if self.state == "running":
            return f"Exporting: {written} of {total} rows"
        if self.state == "complete":
            rows = f"{written} row{pluralize(self.written)}"
            return f"Export complete: {rows}, {filesizeformat(self.bytes)}."
        if self.state == "cancelled":
            of_total = f" of {total}" if self.total is not None else ""
            return f"Export cancelled after {written}{of_total} rows."
        if self.state == "missing":
            return "The export did not start."
        if self.total is None:
            return f"The export did not start: {self.reason}"
        because = f" ({self.reason})" if self.reason else ""
        failed = f"The export failed after {written} of {total} rows{because}"
        return f"{failed}; the download is incomplete."

    @property
    def tone(self) -> str:
        """The text's class: "error", "ok" or none."""
        return {"failed": "error", "missing": "error", "complete": "ok"}.get(self.state, "")

    @property
    def announce(self) -> bool:
        """Whether this answer to a poll is read out (the live region is throttled): the
        first poll, every ANNOUNCE_EVERY-th after it while it runs, and the end (when
        polling stops)."""
        return (self.polls - 1) % ANNOUNCE_EVERY == 0 or not self.polling


def export_status(
    export_id: str, entry: dict[str, Any] | None, *, polls: int = 0, now: float | None = None
) -> ExportStatus:
    """What one export's progress entry (progress.py; None when there is none, or it is
    someone else's) shows, ``polls`` answers after its region appeared."""
    now = time.time() if now is None else now
    if entry is None:
        return ExportStatus(export_id, "preparing" if polls < MAX_WAIT_POLLS else "missing")
    state, total = entry.get("state", "failed"), entry.get("total")
    reason = entry.get("reason") or ""
    if state == "starting":  # asked for; its download has not started yet
        waited = now - (entry.get("started") or now)
        state = "preparing" if waited < START_WAIT_SECONDS and polls < MAX_WAIT_POLLS else "missing"
    elif state == "running" and now - (entry.get("updated") or now) > settings.EXPORT_SLOT_SECONDS:
        state, reason = "failed", "the export stopped answering"  # its worker was stopped
    elif state == "running" and total is None:
        state = "preparing"
    params = entry.get("params")
    return ExportStatus(
        export_id,
        state,
        written=entry.get("written", 0),
        total=total,
        bytes=entry.get("bytes", 0),
        reason=reason,
        label=entry.get("label", ""),
        retry_url=links.export_start_url(params) if params else None,
        polls=polls,
    )


def exports_panel(*, user_id: int, now: float | None = None) -> list[ExportStatus]:
    """The user's exports (from any tab): running ones, and those that ended in the last
    SHOWN_SECONDS, oldest first."""
    now = time.time() if now is None else now
    shown = []
    for export_id, entry in export.recent_exports(user_id):
        ended = entry.get("ended")
        if ended is None or now - ended < SHOWN_SECONDS:
            shown.append(export_status(export_id, entry, now=now))
    return shown
