"""Deterministic data for the sandbox: organizations, API clients, host connections.

Everything is generated from a seed, so the same configuration always yields the same
rows. Large organizations are generated lazily, the first time they are asked for.
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = uuid.UUID("6f1c1f5e-3b1a-4c55-9a55-0c7e1e9a4b10")

STATUSES = ("connected", "disconnected")
SEARCH_FIELDS = ("host_name", "host_email", "owner_email")
ORDER_FIELDS = (
    "host_name",
    "host_email",
    "owner_email",
    "created_at",
    "updated_at",
    "archived_at",
    "active_action_updated_at",
)
ACTION_TYPES = ("analytics_request",)

# Name parts: plenty of non-ASCII, apostrophes and ampersands on purpose.
_FIRST = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Zürich",
    "Ørsted",
    "São Paulo",
    "Łódź",
    "Müller & Söhne",
    "O'Brien",
    "D'Angelo",
    "Nordlicht",
    "Kyōto",
    "Crédit du Nord",
    "Brightwater",
    "Redwood",
    "Bluebird",
    "Ironclad",
    "Silverline",
    "Evergreen",
    "Summit",
    "Harbor",
    "Lakeside",
    "Pinnacle",
    "Cascade",
    "Meridian",
    "Beacon",
    "Copperfield",
    "Ålesund",
    "Český",
    "Núñez",
    "Đà Nẵng",
    "Aurora",
    "Keystone",
    "Granite",
    "Juniper",
]
_SECOND = [
    "Capital",
    "Lending",
    "Credit Union",
    "Finance",
    "Holdings",
    "Partners",
    "Trust",
    "Savings",
    "Mortgage",
    "Leasing",
    "Factoring",
    "Bank",
    "Funding",
    "Ventures",
]
_PEOPLE = [
    "anna",
    "bjorn",
    "chloe",
    "dmitri",
    "elif",
    "farah",
    "goran",
    "hana",
    "ines",
    "jose",
    "kai",
    "lena",
    "mateo",
    "noor",
    "oskar",
    "priya",
    "quinn",
    "rafael",
    "sofia",
    "tomas",
]
# Hostile strings: the front end's HTML and CSV escaping must survive them.
_HOSTILE = [
    "<script>alert('x')</script> Lending",
    '=HYPERLINK("http://evil.example","Click me")',
    "+1 Capital",
    "-2 Credit",
    "@SUM(A1:A9) Holdings",
    "<img src=x onerror=alert(1)> Trust",
    "\tTabbed Finance",
]


@dataclass(frozen=True)
class Org:
    slug: str
    name: str
    id: str
    client_id: str
    client_secret: str


@dataclass
class OrgRows:
    """The rows of one organization, with per-order sorted copies cached."""

    rows: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]
    sorted_cache: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    filter_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict)


def org_uuid(slug: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"org:{slug}"))


def _org(slug: str, name: str) -> Org:
    return Org(
        slug=slug,
        name=name,
        id=org_uuid(slug),
        client_id=f"sandbox-{slug}",
        client_secret=f"sandbox-secret-{slug}",
    )


ORGS: tuple[Org, ...] = (
    _org("demo-lender", "Demo Lender"),
    _org("harbor-finance", "Harbor Finance"),
    _org("northwind-credit", "Northwind Credit"),
    _org("quiet-bank", "Quiet Bank"),
    _org("bench", "Benchmark Org"),
)
ORGS_BY_SLUG = {o.slug: o for o in ORGS}
ORGS_BY_ID = {o.id: o for o in ORGS}

# requester slug -> target slugs it may act on (besides itself).
MAY_ACT_ON: dict[str, frozenset[str]] = {
    "demo-lender": frozenset({"northwind-credit", "harbor-finance"}),
    "harbor-finance": frozenset({"northwind-credit"}),
    "northwind-credit": frozenset(),
    "quiet-bank": frozenset(),
    "bench": frozenset(),
}


def _iso_z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_naive(dt: datetime) -> str:
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds")


def _slugify(text: str) -> str:
    out = "".join(ch.lower() if ch.isascii() and ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in out.split("-") if part) or "org"


def _make_row(rng: random.Random, guest_id: str, index: int, now: datetime) -> dict[str, Any]:
    if index % 37 == 5:
        name = _HOSTILE[(index // 37) % len(_HOSTILE)]
    else:
        name = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
        if rng.random() < 0.5:
            name = f"{name} {index}"
    domain = f"{_slugify(name)[:30]}.example"
    created = now - timedelta(days=rng.randint(30, 1500), seconds=rng.randint(0, 86_399))
    updated = created + timedelta(days=rng.randint(0, 29), seconds=rng.randint(0, 86_399))
    archived = rng.random() < 0.15
    archived_at = updated + timedelta(hours=rng.randint(1, 500)) if archived else None
    has_action = rng.random() < 0.3
    action_at = (
        updated + timedelta(minutes=rng.randint(1, 50_000), microseconds=rng.randint(0, 999_999))
        if has_action
        else None
    )
    return {
        "host_organization_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "guest_organization_id": guest_id,
        "host_name": name,
        "host_email": f"contact@{domain}",
        "owner_email": f"{rng.choice(_PEOPLE)}.{index}@{domain}",
        "status": "connected" if rng.random() < 0.8 else "disconnected",
        "archived": archived,
        "created_at": _iso_z(created),
        "updated_at": _iso_z(updated),
        "archived_at": _iso_naive(archived_at) if archived_at else None,
        "active_action_type": "analytics_request" if has_action else None,
        "active_action_updated_at": _iso_naive(action_at) if action_at else None,
    }


class Dataset:
    """All rows of all organizations, generated on first use and then read-only
    (except through the explicit mutation helpers the tests use)."""

    def __init__(
        self,
        *,
        seed: int = 7,
        rows_per_org: int = 300,
        rows_overrides: dict[str, int] | None = None,
    ) -> None:
        self.seed = seed
        self.rows_per_org = rows_per_org
        self.rows_overrides = dict(rows_overrides or {})
        self._orgs: dict[str, OrgRows] = {}
        self._lock = threading.Lock()
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def rows_for(self, org_id: str) -> OrgRows:
        with self._lock:
            found = self._orgs.get(org_id)
            if found is None:
                found = self._generate(org_id)
                self._orgs[org_id] = found
            return found

    def _generate(self, org_id: str) -> OrgRows:
        org = ORGS_BY_ID[org_id]
        count = self.rows_overrides.get(org.slug, self.rows_per_org)
        rng = random.Random(f"{self.seed}:{org.slug}")
        rows = [_make_row(rng, org.id, i, self.now) for i in range(count)]
        # Named orgs that may act on this one appear as its hosts, so a front end can
        # find their names through the detail endpoint.
        for other in ORGS:
            if org.slug in MAY_ACT_ON[other.slug] or other.slug in MAY_ACT_ON[org.slug]:
                row = _make_row(rng, org.id, count + len(rows), self.now)
                row.update(
                    host_organization_id=other.id,
                    host_name=other.name,
                    host_email=f"ops@{other.slug}.example",
                    owner_email=f"owner@{other.slug}.example",
                    status="connected",
                    archived=False,
                    archived_at=None,
                )
                rows.append(row)
        return OrgRows(rows=rows, by_id={r["host_organization_id"]: r for r in rows})

    # --- mutation helpers (tests of consistency use them) ---------------------------

    def insert_row(self, org_id: str, **overrides: Any) -> dict[str, Any]:
        org_rows = self.rows_for(org_id)
        rng = random.Random(f"insert:{len(org_rows.rows)}")
        row = _make_row(rng, org_id, len(org_rows.rows), self.now)
        row.update(overrides)
        with self._lock:
            org_rows.rows.append(row)
            org_rows.by_id[row["host_organization_id"]] = row
            org_rows.sorted_cache.clear()
            org_rows.filter_cache.clear()
        return row

    # --- queries ---------------------------------------------------------------------

    def sorted_rows(self, org_id: str, order_by: str, order_dir: str) -> list[dict[str, Any]]:
        org_rows = self.rows_for(org_id)
        key = (order_by, order_dir)
        cached = org_rows.sorted_cache.get(key)
        if cached is not None:
            return cached
        present = [r for r in org_rows.rows if r[order_by] is not None]
        missing = [r for r in org_rows.rows if r[order_by] is None]

        def sort_key(r: dict[str, Any]) -> tuple[str, str]:
            value = r[order_by]
            if order_by.endswith("_at"):
                # Both timestamp shapes sort by their UTC instant.
                value = value.rstrip("Z")
                value = value if "." in value else f"{value}.000000"
            else:
                value = value.casefold()
            return (value, r["host_organization_id"])

        present.sort(key=sort_key, reverse=(order_dir == "desc"))
        missing.sort(key=lambda r: r["host_organization_id"])
        result = present + missing  # nulls last in both directions
        org_rows.sorted_cache[key] = result
        return result

    def query(
        self,
        org_id: str,
        *,
        statuses: tuple[str, ...],
        search_field: str,
        search_text: str | None,
        order_by: str,
        order_dir: str,
        archived: bool | None,
        action_types: tuple[str, ...] | None,
    ) -> list[dict[str, Any]]:
        org_rows = self.rows_for(org_id)
        key = (statuses, search_field, search_text, order_by, order_dir, archived, action_types)
        cached = org_rows.filter_cache.get(key)
        if cached is not None:
            return cached
        needle = search_text.casefold() if search_text else None
        status_set = frozenset(statuses)
        action_set = frozenset(action_types) if action_types is not None else None
        result = [
            r
            for r in self.sorted_rows(org_id, order_by, order_dir)
            if r["status"] in status_set
            and (archived is None or r["archived"] is archived)
            and (action_set is None or r["active_action_type"] in action_set)
            and (needle is None or needle in r[search_field].casefold())
        ]
        if len(org_rows.filter_cache) > 128:
            org_rows.filter_cache.clear()
        org_rows.filter_cache[key] = result
        return result
