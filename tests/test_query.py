"""Unit tests of ListQuery: parsing (never raises), canonical serialisation, upstream
parameters and the derived queries that links are built from."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.http import QueryDict
from pydantic import ValidationError

from connections.query import COLUMNS, MAX_SEARCH, ListQuery, PageParams, parse_int


def parse(querystring: str):
    """Parse exactly as the view does: through Django's QueryDict."""
    return ListQuery.parse(QueryDict(querystring))


# --- parse: good input -----------------------------------------------------------------


def test_parse_empty_is_default_and_clean() -> None:
    parsed = parse("")
    assert parsed.query == ListQuery()
    assert parsed.is_clean
    assert parsed.query.statuses == ("connected", "disconnected")
    assert parsed.query.limit == 20
    assert parsed.query.offset == 0


@pytest.mark.parametrize(
    ("querystring", "field", "expected"),
    [
        ("statuses=connected", "statuses", ("connected",)),
        ("statuses=disconnected&statuses=connected", "statuses", ("connected", "disconnected")),
        ("statuses=connected&statuses=connected", "statuses", ("connected",)),
        ("search_field=owner_email", "search_field", "owner_email"),
        ("search_text=acme", "search_text", "acme"),
        ("search_text=++acme++", "search_text", "acme"),
        ("search_text=%C5%81%C3%B3d%C5%BA", "search_text", "Łódź"),
        ("order_by=created_at", "order_by", "created_at"),
        ("order_dir=desc", "order_dir", "desc"),
        ("archived=true", "archived", True),
        ("archived=false", "archived", False),
        ("archived=TRUE", "archived", True),
        ("archived=0", "archived", False),
        ("active_action_types=analytics_request", "active_action_types", ("analytics_request",)),
        ("limit=50", "limit", 50),
        ("limit=100", "limit", 100),
        ("limit=+100+", "limit", 100),
        ("offset=40", "offset", 40),
        ("offset=10000001", "offset", 10_000_001),  # the upstream caps no offset
        (f"offset={2**64}", "offset", 2**64),
    ],
)
def test_parse_valid_value_is_kept_without_message(
    querystring: str, field: str, expected: object
) -> None:
    parsed = parse(querystring)
    assert getattr(parsed.query, field) == expected
    assert parsed.messages == {}


@pytest.mark.parametrize(
    "querystring",
    ["search_text=", "search_text=+++", "archived=", "limit=", "offset="],
)
def test_parse_blank_value_means_default(querystring: str) -> None:
    parsed = parse(querystring)
    assert parsed.query == ListQuery()
    assert parsed.is_clean


@pytest.mark.parametrize("key", ["ctx", "view", "bom", "scope", "export_id", "back", "polls"])
def test_parse_page_params_are_not_unknown(key: str) -> None:
    parsed = parse(f"{key}=3")
    assert parsed.is_clean
    assert parsed.query == ListQuery()


# --- parse: bad input falls back to the nearest valid value ---------------------------


@pytest.mark.parametrize(
    ("querystring", "field", "expected", "message_part"),
    [
        ("limit=1000", "limit", 100, "showing 100"),
        ("limit=0", "limit", 20, "showing 20"),
        ("limit=-5", "limit", 20, "showing 20"),
        ("limit=30", "limit", 20, "showing 20"),
        ("limit=75", "limit", 50, "showing 50"),
        ("limit=99", "limit", 100, "showing 100"),
        ("limit=abc", "limit", 20, "not “abc”"),
        ("limit=20.0", "limit", 20, "20, 50 or 100"),
        ("offset=-5", "offset", 0, "first page"),
        ("offset=abc", "offset", 0, "first page"),
        ("offset=1e3", "offset", 0, "first page"),
        ("offset=1_000", "offset", 0, "first page"),
        ("offset=\u0665", "offset", 0, "first page"),  # an Arabic-Indic five: int() takes it
        ("offset=" + "9" * 5000, "offset", 0, "first page"),
        ("order_by=password", "order_by", "host_name", "not a valid column"),
        ("order_by=status", "order_by", "host_name", "not a valid column"),
        ("order_dir=sideways", "order_dir", "asc", "ascending"),
        ("search_field=password", "search_field", "host_name", "not a valid choice"),
        ("statuses=bogus", "statuses", ("connected", "disconnected"), "“bogus”"),
        ("statuses=connected&statuses=bogus", "statuses", ("connected",), "“bogus”"),
        ("archived=maybe", "archived", None, "showing all"),
        ("active_action_types=nope", "active_action_types", None, "“nope”"),
        ("search_text=" + "a" * 300, "search_text", "a" * MAX_SEARCH, "255 characters"),
        ("search_text=ac%00me", "search_text", "acme", "Control characters"),
        ("search_text=ac%1bme%7f", "search_text", "acme", "Control characters"),
        ("search_text=a%C2%85b", "search_text", "ab", "Control characters"),
    ],
)
def test_parse_bad_value_falls_back_with_message(
    querystring: str, field: str, expected: object, message_part: str
) -> None:
    parsed = parse(querystring)
    assert getattr(parsed.query, field) == expected
    assert message_part in parsed.messages[field]
    assert set(parsed.messages) == {field}


def test_parse_only_control_characters_drops_search() -> None:
    parsed = parse("search_text=%00%01%02")
    assert parsed.query.search_text is None
    assert "search_text" in parsed.messages


@pytest.mark.parametrize(
    ("querystring", "field", "expected"),
    [
        ("limit=50&limit=100", "limit", 50),
        ("offset=20&offset=40", "offset", 20),
        ("order_by=created_at&order_by=host_email", "order_by", "created_at"),
        ("order_dir=desc&order_dir=asc", "order_dir", "desc"),
        ("search_text=a&search_text=b", "search_text", "a"),
        ("search_field=host_email&search_field=owner_email", "search_field", "host_email"),
        ("archived=true&archived=false", "archived", True),
    ],
)
def test_parse_duplicated_param_uses_first_with_message(
    querystring: str, field: str, expected: object
) -> None:
    parsed = parse(querystring)
    assert getattr(parsed.query, field) == expected
    assert "2 times" in parsed.messages[field]


def test_parse_unknown_params_message_is_general() -> None:
    parsed = parse("page=3&password=hunter2&limit=50")
    assert parsed.query.limit == 50
    assert set(parsed.messages) == {"general"}
    assert "“page”" in parsed.messages["general"]
    assert "“password”" in parsed.messages["general"]
    assert "hunter2" not in parsed.messages["general"]


def test_parse_unknown_param_names_are_shortened_and_cleaned() -> None:
    parsed = parse("x" * 100 + "%00=1")
    message = parsed.messages["general"]
    assert "\x00" not in message
    assert "x" * 41 not in message
    assert "…" in message


def test_parse_messages_never_repeat_control_characters() -> None:
    parsed = parse("order_by=pass%00word%1b")
    assert "\x00" not in parsed.messages["order_by"]
    assert "\x1b" not in parsed.messages["order_by"]
    assert "password" in parsed.messages["order_by"]


def test_parse_long_bad_value_is_shortened_in_message() -> None:
    parsed = parse("order_by=" + "z" * 500)
    assert len(parsed.messages["order_by"]) < 120


def test_parse_accepts_plain_mapping() -> None:
    parsed = ListQuery.parse({"statuses": ["connected"], "limit": "50"})
    assert parsed.query.statuses == ("connected",)
    assert parsed.query.limit == 50
    assert parsed.is_clean


def test_parse_many_bad_values_at_once_never_raises() -> None:
    parsed = parse(
        "limit=1000&offset=-5&order_by=password&statuses=bogus&archived=x"
        "&search_text=%00&order_dir=up&search_field=pw&active_action_types=x&junk=1"
    )
    assert parsed.query == ListQuery(limit=100)
    assert set(parsed.messages) == {
        "limit",
        "offset",
        "order_by",
        "statuses",
        "archived",
        "search_text",
        "order_dir",
        "search_field",
        "active_action_types",
        "general",
    }


# --- the model itself refuses bad values (defence in depth) ----------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 1000},
        {"offset": -1},
        {"statuses": ()},
        {"statuses": ("bogus",)},
        {"order_by": "password"},
        {"search_text": ""},
        {"search_text": "a" * (MAX_SEARCH + 1)},
        {"search_text": "a\x00b"},
        {"active_action_types": ()},
        {"unknown": 1},
    ],
)
def test_model_rejects_invalid_value(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ListQuery.model_validate(kwargs)


# --- serialisation ---------------------------------------------------------------------


def test_to_params_default_is_empty() -> None:
    assert ListQuery().to_params() == []
    assert ListQuery().querystring() == ""


def test_to_params_only_non_default_values_in_field_order() -> None:
    query = ListQuery(
        offset=40,
        limit=50,
        archived=False,
        order_dir="desc",
        order_by="created_at",
        search_text="a&b",
        search_field="host_email",
        statuses=("disconnected",),
        active_action_types=("analytics_request",),
    )
    assert query.to_params() == [
        ("statuses", "disconnected"),
        ("search_field", "host_email"),
        ("search_text", "a&b"),
        ("order_by", "created_at"),
        ("order_dir", "desc"),
        ("archived", "false"),
        ("active_action_types", "analytics_request"),
        ("limit", "50"),
        ("offset", "40"),
    ]


def test_to_params_without_offset() -> None:
    query = ListQuery(limit=50, offset=100)
    assert query.to_params(include_offset=False) == [("limit", "50")]
    assert query.querystring(include_offset=False) == "limit=50"


def test_querystring_encodes_special_characters() -> None:
    query = ListQuery(search_text="a&b=c d+é")
    assert query.querystring() == "search_text=a%26b%3Dc+d%2B%C3%A9"


def test_upstream_params_default_has_every_required_param() -> None:
    assert ListQuery().upstream_params() == [
        ("statuses", "connected"),
        ("statuses", "disconnected"),
        ("search_field", "host_name"),
        ("order_by", "host_name"),
        ("order_dir", "asc"),
        ("limit", "20"),
        ("offset", "0"),
    ]


def test_upstream_params_optional_filters_and_overrides() -> None:
    query = ListQuery(
        statuses=("connected",),
        search_text="acme",
        archived=True,
        active_action_types=("analytics_request",),
        limit=50,
        offset=100,
    )
    assert query.upstream_params(limit=100, offset=0) == [
        ("statuses", "connected"),
        ("search_field", "host_name"),
        ("search_text", "acme"),
        ("order_by", "host_name"),
        ("order_dir", "asc"),
        ("archived", "true"),
        ("active_action_types", "analytics_request"),
        ("limit", "100"),
        ("offset", "0"),
    ]
    assert ("archived", "false") in ListQuery(archived=False).upstream_params()


@pytest.mark.parametrize(
    "querystring",
    [
        "",
        "statuses=connected",
        "statuses=disconnected&archived=true&limit=100&offset=300",
        "search_field=owner_email&search_text=o%27brien+%26+co",
        "search_text=M%C3%BCller+%26+S%C3%B6hne&order_by=updated_at&order_dir=desc",
        "search_text=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "search_text=100%25+%2B+%3D+%3B+%23",
        "active_action_types=analytics_request&archived=false&offset=7",
        "order_by=active_action_updated_at&order_dir=desc&limit=50&offset=50",
        # Bad input parses to its nearest valid query, which round-trips too.
        "limit=1000&offset=-5&order_by=password&statuses=bogus",
        "search_text=" + "b" * 300,
        "search_text=%00ab%1fc",
    ],
)
def test_from_querystring_round_trip(querystring: str) -> None:
    query = parse(querystring).query
    again = ListQuery.from_querystring(query.querystring())
    assert again.query == query
    assert again.is_clean
    assert again.query.querystring() == query.querystring()


def test_from_querystring_matches_querydict_parse() -> None:
    querystring = "statuses=connected&search_text=a%26b&search_text=c&limit=50&bogus=1"
    via_parse_qs = ListQuery.from_querystring(querystring)
    via_querydict = parse(querystring)
    assert via_parse_qs == via_querydict
    assert parse_qs(querystring)  # sanity: the input is non-trivial


def test_from_querystring_junk_is_harmless() -> None:
    parsed = ListQuery.from_querystring("javascript:alert(1)&ctx=99&limit=%0A1000")
    assert parsed.query == ListQuery(limit=100)
    assert "general" in parsed.messages
    assert "ctx" not in parsed.query.querystring()


# --- derived queries -------------------------------------------------------------------


def test_page_from_offset_and_limit() -> None:
    assert ListQuery().page == 1
    assert ListQuery(offset=20).page == 2
    assert ListQuery(offset=39).page == 2
    assert ListQuery(limit=50, offset=100).page == 3


def test_changed_resets_offset_unless_given() -> None:
    query = ListQuery(offset=60, limit=20)
    assert query.changed(archived=True) == ListQuery(archived=True)
    assert query.changed(limit=50, offset=100) == ListQuery(limit=50, offset=100)
    assert query.offset == 60  # the original is untouched (frozen)


def test_changed_validates() -> None:
    with pytest.raises(ValidationError):
        ListQuery().changed(limit=7)


def test_sorted_by_other_column_sorts_ascending_on_first_page() -> None:
    query = ListQuery(order_by="host_name", order_dir="desc", offset=40)
    assert query.sorted_by("created_at") == ListQuery(order_by="created_at", order_dir="asc")


@pytest.mark.parametrize(("current", "toggled"), [("asc", "desc"), ("desc", "asc")])
def test_sorted_by_same_column_toggles_direction(current: str, toggled: str) -> None:
    query = ListQuery(order_by="updated_at", order_dir=current, offset=20)
    assert query.sorted_by("updated_at") == ListQuery(order_by="updated_at", order_dir=toggled)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(40, 40), (0, 0), (-20, 0), (10**30, 10**30)],
)
def test_at_offset_clamps(offset: int, expected: int) -> None:
    query = ListQuery(archived=True, offset=20)
    moved = query.at_offset(offset)
    assert moved.offset == expected
    assert moved.archived is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("statuses", ("connected",)),
        ("search_text", "acme"),
        ("archived", False),
        ("active_action_types", ("analytics_request",)),
        ("limit", 100),
    ],
)
def test_without_restores_default_and_first_page(field: str, value: object) -> None:
    query = ListQuery.model_validate({field: value, "order_by": "created_at", "offset": 100})
    cleared = query.without(field)
    assert getattr(cleared, field) == getattr(ListQuery(), field)
    assert cleared.order_by == "created_at"
    assert cleared.offset == 0


# --- the page's own parameters and the one integer parser ------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("42", 42),
        (" 42 ", 42),
        (str(2**70), 2**70),
        ("", None),
        (None, None),
        ("-1", None),
        ("+1", None),
        ("1_000", None),
        ("1e3", None),
        ("4.0", None),
        ("\u0665", None),  # int() reads this Arabic-Indic digit as 5
        ("\u00b2", None),  # "²".isdigit() is True
        ("9" * 5000, None),  # past Python's 4,300-digit limit: no ValueError
    ],
)
def test_parse_int_reads_ascii_digits_only(raw: str | None, expected: int | None) -> None:
    assert parse_int(raw) == expected


def test_page_params_defaults() -> None:
    assert PageParams.parse(QueryDict("")) == PageParams(
        view=None, back="", scope="all", bom=False, export_id="", polls=0
    )


def test_page_params_parsed_once() -> None:
    raw = "view=7&back=limit%3D50%26view%3D3&scope=page&bom=1&export_id=ab12&polls=4&limit=50"
    page = PageParams.parse(QueryDict(raw))
    assert page == PageParams(
        view=7, back="limit=50&view=3", scope="page", bom=True, export_id="ab12", polls=4
    )
    assert PageParams.from_querystring(page.back).view == 3  # the list a detail came from


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("view=x", PageParams()),
        ("view=-3", PageParams()),
        ("scope=everything", PageParams()),
        ("bom=yes", PageParams()),
        ("polls=%D9%A5", PageParams()),
        ("view=4&view=5", PageParams(view=4)),
    ],
)
def test_page_params_bad_values_fall_back(raw: str, expected: PageParams) -> None:
    assert PageParams.parse(QueryDict(raw)) == expected


# --- cols: the shown columns, in order ---------------------------------------------------


@pytest.mark.parametrize(
    ("querystring", "expected"),
    [
        ("cols=host_name&cols=status", ("host_name", "status")),
        ("cols=status,host_name", ("status", "host_name")),
        ("cols=+status+,+host_name", ("status", "host_name")),
        ("cols=", COLUMNS),
    ],
)
def test_parse_cols_keeps_the_order_given(querystring: str, expected: tuple[str, ...]) -> None:
    parsed = parse(querystring)
    assert parsed.is_clean, parsed.messages
    assert parsed.query.cols == expected


@pytest.mark.parametrize(
    ("querystring", "expected", "message"),
    [
        ("cols=nope", COLUMNS, "“nope” is not a column; showing the default columns."),
        (
            "cols=host_name,nope,status",
            ("host_name", "status"),
            "“nope” is not a column; it was left out.",
        ),
        ("cols=status,status,host_name", ("status", "host_name"), "Each column is shown once."),
        (
            "cols=status",
            ("host_name", "status"),
            "Host name is always shown: it links to the connection.",
        ),
        ("cols=<b>x</b>" + "y" * 60, COLUMNS, "is not a column"),
    ],
)
def test_parse_cols_bad_names_fall_back_with_message(
    querystring: str, expected: tuple[str, ...], message: str
) -> None:
    parsed = parse(querystring)
    assert parsed.query.cols == expected
    assert message in parsed.messages["cols"]
    assert len(parsed.messages["cols"]) < 120  # the bad value is shortened


def test_cols_default_is_left_out_of_the_url_and_never_sent_upstream() -> None:
    assert ListQuery(cols=COLUMNS).querystring() == ""
    query = parse("cols=status,host_name&statuses=connected").query
    assert query.querystring() == "statuses=connected&cols=status&cols=host_name"
    assert query.saved_querystring() == "statuses=connected&cols=status&cols=host_name"
    assert "cols" not in dict(query.upstream_params())
    assert ListQuery.from_querystring(query.saved_querystring()).query == query


@pytest.mark.parametrize("cols", [("status",), ("host_name", "host_name"), ()])
def test_model_rejects_cols_without_host_name_or_repeated(cols: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError):
        ListQuery(cols=cols)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("querystring", "expected"),
    [
        ("cols=host_name,status,archived&move=status:left", ("status", "host_name", "archived")),
        ("cols=host_name,status,archived&move=status:right", ("host_name", "archived", "status")),
        ("cols=host_name,status&move=host_name:left", ("host_name", "status")),  # at the end
        ("move=owner_email:left", ("host_name", "owner_email", "host_email", *COLUMNS[3:])),
        ("cols=host_name,status&move=status:left&move=status:left", ("status", "host_name")),
    ],
)
def test_parse_move_moves_one_shown_column(querystring: str, expected: tuple[str, ...]) -> None:
    parsed = parse(querystring)
    assert parsed.is_clean, parsed.messages
    assert parsed.query.cols == expected
    assert "move" not in parsed.query.querystring()


@pytest.mark.parametrize(
    "move", ["archived:left", "status:up", "status", "nope:right", "<b>" + "x" * 80]
)
def test_parse_move_of_no_shown_column_is_a_message(move: str) -> None:
    parsed = parse(f"cols=host_name,status&cols=nope&move={move}")
    assert parsed.query.cols == ("host_name", "status")
    message = parsed.messages["cols"]
    assert message.startswith("“nope” is not a column; it was left out. “")  # both said
    assert message.endswith("is not a move of a shown column; nothing moved.")
    assert len(message) < 160
