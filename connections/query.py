"""The list query: the one place where the table's parameters are parsed and validated.

``ListQuery.parse(request.GET)`` never raises: a bad value falls back to the nearest valid
one and leaves a message keyed by the parameter it came from. The same object gives the
canonical URL, the upstream parameters, the string kept in a saved view and the CSV export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Annotated, Any, Literal, Protocol, get_args
from urllib.parse import parse_qs, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Status = Literal["connected", "disconnected"]
SearchField = Literal["host_name", "host_email", "owner_email"]
OrderBy = Literal[
    "host_name",
    "host_email",
    "owner_email",
    "created_at",
    "updated_at",
    "archived_at",
    "active_action_updated_at",
]
OrderDir = Literal["asc", "desc"]
ActionType = Literal["analytics_request"]
ColumnName = Literal[
    "host_name",
    "host_email",
    "owner_email",
    "status",
    "archived",
    "created_at",
    "updated_at",
    "archived_at",
    "active_action_type",
    "active_action_updated_at",
]

STATUSES: tuple[Status, ...] = get_args(Status)
SEARCH_FIELDS: tuple[SearchField, ...] = get_args(SearchField)
ORDER_FIELDS: tuple[OrderBy, ...] = get_args(OrderBy)
ACTION_TYPES: tuple[ActionType, ...] = get_args(ActionType)
COLUMNS: tuple[ColumnName, ...] = get_args(ColumnName)  # the table's columns, default order
KEY_COLUMN: ColumnName = "host_name"  # always shown: its cell links to the connection
PAGE_SIZES = (20, 50, 100)
MAX_SEARCH = 255
MAX_UNSAVED = 2000  # a list URL's query string: context, view and filters

LABELS: dict[str, str] = {
    "host_name": "Host name",
    "host_email": "Host email",
    "owner_email": "Owner email",
    "created_at": "Created",
    "updated_at": "Updated",
    "archived_at": "Archived at",
    "active_action_updated_at": "Action updated",
    "connected": "Connected",
    "disconnected": "Disconnected",
    "analytics_request": "Analytics request",
    "status": "Status",
    "archived": "Archived",
    "active_action_type": "Active action",
    "cols": "Columns",
}

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: never in user text
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class QueryDictLike(Protocol):
    def getlist(self, key: str) -> list[str]: ...
    def keys(self) -> Any: ...


class ListQuery(BaseModel):
    """Filters, sort and page of the connections table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statuses: Annotated[tuple[Status, ...], Field(min_length=1)] = STATUSES
    search_field: SearchField = "host_name"
    search_text: Annotated[str, Field(min_length=1, max_length=MAX_SEARCH)] | None = None
    order_by: OrderBy = "host_name"
    order_dir: OrderDir = "asc"
    archived: bool | None = None
    active_action_types: Annotated[tuple[ActionType, ...], Field(min_length=1)] | None = None
    limit: int = 20
    offset: Annotated[int, Field(ge=0)] = 0  # no cap: the upstream sets none
    cols: tuple[ColumnName, ...] = COLUMNS  # shown columns, in order; never sent upstream

    @field_validator("statuses", "active_action_types")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return tuple(sorted(set(value))) if value is not None else None

    @field_validator("cols")
    @classmethod
    def _columns(cls, value: tuple[ColumnName, ...]) -> tuple[ColumnName, ...]:
        if len(set(value)) != len(value) or KEY_COLUMN not in value:
            raise ValueError(f"columns must be distinct and include {KEY_COLUMN}")
        return value

    @field_validator("search_text")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        if value is not None and CONTROL_CHARS.search(value):
            raise ValueError("control characters are not allowed")
        return value

    @field_validator("limit")
    @classmethod
    def _page_size(cls, value: int) -> int:
        if value not in PAGE_SIZES:
            raise ValueError(f"limit must be one of {PAGE_SIZES}")
        return value

    # --- parsing -------------------------------------------------------------------

    @classmethod
    def parse(cls, params: QueryDictLike | Mapping[str, Sequence[str]]) -> ParsedQuery:
        """Build the nearest valid query from URL parameters; never raises."""
        getlist = _getlist(params)
        messages: dict[str, str] = {}
        raw: dict[str, Any] = {}
        unknown = sorted(
            k
            for k in list(params.keys())
            if k not in cls.model_fields and k not in PAGE_PARAMS and k != "move"
        )
        if unknown:
            names = ", ".join(f"“{_short(k)}”" for k in unknown[:5])
            messages["general"] = f"Ignored unknown parameter{'s' * (len(unknown) > 1)} {names}."

        def one(name: str) -> str | None:
            values = [v for v in getlist(name) if v != ""]
            if len(values) > 1:
                label = LABELS.get(name, name)
                messages[name] = f"{label} was given {len(values)} times; the first value is used."
            return values[0] if values else None

        def many(name: str, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
            values = [v for v in getlist(name) if v != ""]
            good = tuple(v for v in values if v in allowed)
            bad = [v for v in values if v not in allowed]
            if bad:
                choices = " or ".join(LABELS[a].lower() for a in allowed)
                messages[name] = f"“{_short(bad[0])}” is not a valid choice; choose {choices}."
            return good or None

        statuses = many("statuses", STATUSES)
        if statuses:
            raw["statuses"] = statuses
        elif "statuses" in list(params.keys()) and "statuses" not in messages:
            # The form sends a blank ``statuses`` before its boxes: none ticked is not "both".
            messages["statuses"] = "Choose at least one status; showing both."
        actions = many("active_action_types", ACTION_TYPES)
        if actions:
            raw["active_action_types"] = actions

        for name, allowed, fallback in (
            ("search_field", SEARCH_FIELDS, "host name"),
            ("order_by", ORDER_FIELDS, "host name"),
            ("order_dir", ("asc", "desc"), "ascending"),
        ):
            value = one(name)
            if value is None:
                continue
            if value in allowed:
                raw[name] = value
            else:
                what = "column to sort by" if name == "order_by" else "choice"
                messages[name] = f"“{_short(value)}” is not a valid {what}; using {fallback}."

        text = one("search_text")
        if text is not None:
            cleaned = CONTROL_CHARS.sub("", text).strip()
            if cleaned != text.strip():
                messages["search_text"] = "Control characters were removed from the search."
            if len(cleaned) > MAX_SEARCH:
                cleaned = cleaned[:MAX_SEARCH]
                messages["search_text"] = (
                    f"Search text is limited to {MAX_SEARCH} characters; it was shortened."
                )
            if cleaned:
                raw["search_text"] = cleaned

        archived = one("archived")
        if archived is not None:
            if archived.lower() in _TRUE:
                raw["archived"] = True
            elif archived.lower() in _FALSE:
                raw["archived"] = False
            else:
                messages["archived"] = (
                    f"“{_short(archived)}” is not a valid archived filter; showing all."
                )

        limit = one("limit")
        if limit is not None:
            number = parse_int(limit)
            if number in PAGE_SIZES:
                raw["limit"] = number
            else:
                nearest = _nearest_page_size(number)
                raw["limit"] = nearest
                messages["limit"] = (
                    f"Rows per page must be {_choices(PAGE_SIZES)}, not “{_short(limit)}”; "
                    f"showing {nearest}."
                )

        offset = one("offset")
        if offset is not None:
            number = parse_int(offset)
            if number is not None:
                raw["offset"] = number
            else:
                messages["offset"] = (
                    f"“{_short(offset)}” is not a valid position in the list; "
                    "showing the first page."
                )

        cols = _parse_columns(getlist("cols"), messages)
        move = [m for m in getlist("move") if m]
        if move:
            cols = _moved(cols or COLUMNS, move[0], messages)
        if cols is not None:
            raw["cols"] = cols

        return ParsedQuery(cls._validate_nearest(raw, messages), messages)

    @classmethod
    def _validate_nearest(cls, raw: dict[str, Any], messages: dict[str, str]) -> ListQuery:
        """Drop whatever still fails validation, one field at a time (defence in depth)."""
        for _ in range(len(cls.model_fields) + 1):
            try:
                return cls.model_validate(raw)
            except ValidationError as exc:
                for error in exc.errors():
                    name = str(error["loc"][0]) if error["loc"] else "general"
                    raw.pop(name, None)
                    messages.setdefault(name, f"{LABELS.get(name, name)} was not valid; reset.")
        return cls()

    # --- derived values ------------------------------------------------------------

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    def changed(self, **changes: Any) -> ListQuery:
        """A copy with changes; any filter or sort change goes back to the first page."""
        if "offset" not in changes:
            changes["offset"] = 0
        return self.model_validate({**self.model_dump(), **changes})

    def sorted_by(self, column: OrderBy) -> ListQuery:
        """The query a click on a column header leads to: toggle, or sort ascending."""
        if self.order_by == column:
            return self.changed(order_dir="desc" if self.order_dir == "asc" else "asc")
        return self.changed(order_by=column, order_dir="asc")

    def at_offset(self, offset: int) -> ListQuery:
        # Only the offset changes, clamped to its valid range: no re-validation needed.
        return self.model_copy(update={"offset": max(0, offset)})

    def without(self, name: str) -> ListQuery:
        """The query with one filter cleared (its default restored)."""
        return self.changed(**{name: type(self).model_fields[name].default})

    # --- serialisation -------------------------------------------------------------

    def to_params(self, *, include_offset: bool = True) -> list[tuple[str, str]]:
        """Canonical URL parameters: only values that differ from the default, in field order."""
        defaults = _defaults()
        params: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value == getattr(defaults, name) or (name == "offset" and not include_offset):
                continue
            params.extend((name, v) for v in _strings(value))
        return params

    def querystring(self, *, include_offset: bool = True) -> str:
        return urlencode(self.to_params(include_offset=include_offset))

    def saved_querystring(self) -> str:
        """What a saved view stores (and is compared with): the query without position."""
        return self.querystring(include_offset=False)

    def upstream_params(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[tuple[str, str]]:
        """The upstream's query: every required parameter, arrays as repeated keys."""
        params: list[tuple[str, str]] = [("statuses", s) for s in self.statuses]
        params.append(("search_field", self.search_field))
        if self.search_text is not None:
            params.append(("search_text", self.search_text))
        params += [("order_by", self.order_by), ("order_dir", self.order_dir)]
        if self.archived is not None:
            params.append(("archived", "true" if self.archived else "false"))
        if self.active_action_types is not None:
            params += [("active_action_types", a) for a in self.active_action_types]
        params.append(("limit", str(self.limit if limit is None else limit)))
        params.append(("offset", str(self.offset if offset is None else offset)))
        return params

    @classmethod
    def from_querystring(cls, querystring: str) -> ParsedQuery:
        return cls.parse(parse_qs(querystring, keep_blank_values=True))


def _parse_columns(values: list[str], messages: dict[str, str]) -> tuple[ColumnName, ...] | None:
    """``cols``: repeated (as the form sends it) or comma-separated (as people type it),
    in the order shown. Unknown names and repeats are dropped with a message; the host
    name is always shown (its cell is the row's link): put first when left out."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    bad = [n for n in names if n not in COLUMNS]
    cols: list[ColumnName] = []
    for name in names:
        if name in COLUMNS and name not in cols:
            cols.append(name)  # a ColumnName: checked above
    if bad and not cols:
        messages["cols"] = f"“{_short(bad[0])}” is not a column; showing the default columns."
        return None
    if not cols:
        return None
    problems = [f"“{_short(bad[0])}” is not a column; it was left out."] if bad else []
    if len(cols) + len(bad) < len(names):
        problems.append("Each column is shown once.")
    if KEY_COLUMN not in cols:
        cols.insert(0, KEY_COLUMN)
        problems.append("Host name is always shown: it links to the connection.")
    if problems:
        messages["cols"] = " ".join(problems)
    return tuple(cols)


def _moved(
    cols: tuple[ColumnName, ...], move: str, messages: dict[str, str]
) -> tuple[ColumnName, ...]:
    """``move``: a button of the column chooser, ``<column>:left`` or ``<column>:right``,
    moves a shown column one place. An instruction, not part of the view: the canonical
    URL has its result in ``cols``."""
    name, _, way = move.partition(":")
    if name not in cols or way not in ("left", "right"):
        problem = f"“{_short(move)}” is not a move of a shown column; nothing moved."
        messages["cols"] = f"{messages['cols']} {problem}" if "cols" in messages else problem
        return cols
    index = cols.index(name)
    other = index - 1 if way == "left" else index + 1
    if not 0 <= other < len(cols):
        return cols  # already at that end
    moved = list(cols)
    moved[index], moved[other] = moved[other], moved[index]
    return tuple(moved)


@dataclass(frozen=True)
class PageParams:
    """The page's own URL parameters, which are not filters: parsed here, once."""

    view: int | None = None  # the active saved view (the list, and the list a detail came from)
    back: str = ""  # detail: the list view to go back to, as a query string
    scope: Literal["all", "page"] = "all"  # export: the whole view or this page only
    bom: bool = False  # export: a byte-order mark, so Excel reads UTF-8
    export_id: str = ""  # export: the download's own id (its progress, its cancel button)
    polls: int = 0  # export progress: how often the page has asked
    unsaved: str = ""  # list: the modified saved view just left (its list URL's query string)

    @classmethod
    def parse(cls, params: QueryDictLike | Mapping[str, Sequence[str]]) -> PageParams:
        getlist = _getlist(params)

        def first(name: str) -> str:
            values = getlist(name)
            return values[0] if values else ""

        return cls(
            view=parse_int(first("view")),
            back=first("back"),
            scope="page" if first("scope") == "page" else "all",
            bom=first("bom") == "1",
            export_id=first("export_id"),
            polls=_poll_count(parse_int(first("polls"))),
            unsaved=first("unsaved")[:MAX_UNSAVED],  # parsed again, and checked, by its reader
        )

    @classmethod
    def from_querystring(cls, querystring: str) -> PageParams:
        return cls.parse(parse_qs(querystring, keep_blank_values=True))


def _poll_count(polls: int | None) -> int:
    """The progress poll counter: it only counts up from 0, so anything odd (or past any
    count a page reaches, 5 digits) starts again from 0."""
    return polls if polls is not None and polls < 100_000 else 0


# Parameters of the page, not of the query: known, so not "unknown" to ListQuery.parse.
PAGE_PARAMS = frozenset({"ctx", *(f.name for f in fields(PageParams))})


@cache
def _defaults() -> ListQuery:
    return ListQuery()


@dataclass(frozen=True)
class ParsedQuery:
    query: ListQuery
    messages: dict[str, str] = field(default_factory=dict)

    @property
    def is_clean(self) -> bool:
        return not self.messages


def _getlist(params: QueryDictLike | Mapping[str, Sequence[str]]) -> Any:
    if hasattr(params, "getlist"):
        return params.getlist

    def getlist(key: str) -> list[str]:
        value = params.get(key, [])
        return [value] if isinstance(value, str) else list(value)

    return getlist


def _strings(value: Any) -> list[str]:
    if isinstance(value, tuple):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _choices(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values[:-1])) + f" or {values[-1]}"


def _nearest_page_size(number: int | None) -> int:
    if number is None:
        return PAGE_SIZES[0]
    return min(PAGE_SIZES, key=lambda size: (abs(size - number), size))


def parse_int(raw: str | None) -> int | None:
    """The one integer parser of the URL: a whole number >= 0 in ASCII digits (spaces
    around it allowed), else None. ``int()`` alone also takes other scripts' digits,
    "1_000" and "-7"."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:  # past Python's limit of 4,300 digits
        return None


def _short(value: str, limit: int = 40) -> str:
    """A bad value, made safe to repeat in a message (templates escape it too)."""
    value = CONTROL_CHARS.sub("", value)
    return value if len(value) <= limit else value[: limit - 1] + "…"
