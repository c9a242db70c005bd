"""The organizations an API client may act on, and the one place a target gets its name.

The contract has no call that lists them: an API client may act on its own organization,
and on a host of its connections only when a call in that host's context is not refused
(403). So the list is the client's connected hosts, each probed with a ``limit=0`` call
(a few at a time), kept in the shared cache for ``TARGETS_CACHE_SECONDS`` and worked out
by one request at a time (the others wait for its list). Every upstream call goes
through ``connections.api``.
"""

from __future__ import annotations

import contextvars
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from connections import api
from connections.context import OrgContext
from connections.models import ApiClient
from connections.query import ListQuery
from hostadmin.cache import computed_once

SELF = "self"
_PAGE = 100  # the contract's largest page
# How long a request waits for another one that is already listing the same client's
# targets (the switcher asks as soon as it gets focus, and again when the form is sent).
_LIST_WAIT_SECONDS = 30


@dataclass(frozen=True)
class Target:
    org_id: str
    name: str


class TargetUnresolved(Exception):
    """A typed name matches no target, or several; the message says which, for the field."""


def target_list(*, client: ApiClient) -> list[Target]:
    """The client's own organization (named "self") first, then every host it may act on,
    by name. Raises api.ApiError when the upstream cannot tell (nothing is cached then)."""
    listed = computed_once(
        _list_key(client),
        lambda: _listed(client),
        timeout=settings.TARGETS_CACHE_SECONDS,
        wait=_LIST_WAIT_SECONDS,
    )
    return [Target(org_id, name) for org_id, name in listed]


def _listed(client: ApiClient) -> list[tuple[str, str]]:
    """(org id, name) of the own organization and of every host the client may act on."""
    own = OrgContext(client, str(client.organization_id)).caller
    hosts = _connected_hosts(own)
    allowed = _probe(own, [org_id for org_id, _ in hosts])
    found = sorted((t for t in hosts if t[0] in allowed), key=lambda t: (t[1].casefold(), t[0]))
    return [(str(client.organization_id), SELF), *found]


def target_resolve(*, client: ApiClient, text: str) -> str:
    """The org id for what was typed in the switcher: a UUID as it is (the upstream proves
    it later), else a name (any case) that matches one target exactly, or as the only
    one containing it. Raises TargetUnresolved, or api.ApiError when the list is out of
    reach."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    needle = _folded(text)
    targets = target_list(client=client)
    exact = [t for t in targets if _folded(t.name) == needle]
    matches = exact or [t for t in targets if needle in _folded(t.name)]
    if len(matches) == 1:
        return matches[0].org_id
    if not matches:
        raise TargetUnresolved(
            f"{client.name} may act on no organization named “{text}”; "
            "pick a name from the list or paste the organization UUID."
        )
    names = ", ".join(t.name for t in matches[:5]) + (", …" if len(matches) > 5 else "")
    raise TargetUnresolved(
        f"“{text}” matches several organizations ({names}); "
        "type the full name or paste the organization UUID."
    )


def target_name(*, ctx: OrgContext) -> str:
    """The target's display name: "self", the name in the cached target list, else the
    upstream's name for it (as a host of the client's own organization, cached as long),
    else its UUID. Every heading and audit entry uses this."""
    if ctx.is_self:
        return SELF
    listed = dict(cache.get(_list_key(ctx.client)) or ())
    key = f"hostadmin:target-name:{ctx.client.pk}:{ctx.target_org_id}"
    name = listed.get(ctx.target_org_id) or cache.get(key)
    if name is None:
        name = _upstream_name(ctx)
        if name is not None:
            cache.set(key, name, settings.TARGETS_CACHE_SECONDS)
    return name or ctx.target_org_id


def options(found: list[Target]) -> list[tuple[str, str]]:
    """(value, label) for the switcher's list: a name types itself, except when two
    targets share it (their UUIDs then); "self" stands for the own organization."""
    counts: dict[str, int] = {}
    for t in found:
        counts[_folded(t.name)] = counts.get(_folded(t.name), 0) + 1
    return [
        (t.name if counts[_folded(t.name)] == 1 else t.org_id, t.name if t.name != SELF else "")
        for t in found
    ]


def context_describe(*, ctx: OrgContext) -> str:
    """ "Demo Lender → Northwind Credit": the context as headings and audit entries say it."""
    return ctx.describe(target_name(ctx=ctx))


def _list_key(client: ApiClient) -> str:
    return f"hostadmin:targets:{client.pk}:{client.organization_id}:{client.client_id}"


def _upstream_name(ctx: OrgContext) -> str | None:
    """The host name the upstream gives the target; "" when it has none for it (not a
    host), None when it could not answer (not worth remembering)."""
    own = OrgContext(ctx.client, str(ctx.client.organization_id))
    try:
        return api.get_host_connection(own.caller, uuid.UUID(ctx.target_org_id)).host_name
    except (api.ApiNotFound, api.ApiForbidden):
        return ""
    except api.ApiError:
        return None


def _connected_hosts(own: api.Caller) -> list[tuple[str, str]]:
    """(org id, name) of every connected host of the client's own organization."""
    query = ListQuery(statuses=("connected",))
    hosts: dict[str, str] = {}
    offset, total = 0, 1
    while offset < total:
        page = api.list_host_connections(own, query, limit=_PAGE, offset=offset)
        hosts.update((str(h.host_organization_id), h.host_name) for h in page.items)
        offset, total = offset + _PAGE, page.total_items
    hosts.pop(own.target_org_id, None)
    return list(hosts.items())


def _probe(own: api.Caller, org_ids: list[str]) -> set[str]:
    """The org ids the client may act on, probed ``TARGETS_PROBE_CONCURRENCY`` at a time
    (each thread carries the request's context: its correlation id)."""

    def may(org_id: str) -> bool:
        return api.may_act_on(api.Caller(credentials=own.credentials, target_org_id=org_id))

    with ThreadPoolExecutor(max_workers=settings.TARGETS_PROBE_CONCURRENCY) as pool:
        futures = [pool.submit(contextvars.copy_context().run, may, o) for o in org_ids]
        return {o for o, f in zip(org_ids, futures, strict=True) if f.result()}


def _folded(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())
