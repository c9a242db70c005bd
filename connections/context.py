"""The session's org context: which API client (requester) acts on which target org.

Stored in the session as ``{"client": <ApiClient pk>, "target": "<uuid>"}`` and checked
again on every request, so revoking access takes effect on the user's next request.
The context a view was made in travels in its URL as a short key (``ctx=3`` for self,
``ctx=3.<target uuid>`` otherwise). A link's key is that page's context only, re-checked
on every request: reading a page never writes the session. Only the header's switcher (a
POST) stores a context (``store``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables

from connections import api, selectors
from connections.crypto import SecretUnreadable
from connections.models import ApiClient
from connections.query import parse_int

SESSION_KEY = "org_ctx"
RECENT_KEY = "org_ctx_recent"
MAX_RECENT = 8


class ContextDenied(Exception):
    """The user may not use the requested context; the message names what is missing."""


@dataclass(frozen=True)
class OrgContext:
    client: ApiClient
    target_org_id: str

    @property
    def is_self(self) -> bool:
        return self.target_org_id == str(self.client.organization_id)

    @property
    def key(self) -> str:
        return str(self.client.pk) if self.is_self else f"{self.client.pk}.{self.target_org_id}"

    @property
    @sensitive_variables("secret", "credentials")
    def caller(self) -> api.Caller:
        """Who calls the upstream. Raises api.ApiAuthError when the stored secret cannot
        be decrypted (the encryption key changed), so pages show a message, not a 500."""
        try:
            secret = self.client.secret()
        except SecretUnreadable:
            raise api.ApiAuthError(
                "This API client's stored secret cannot be read; "
                "ask an administrator to enter it again."
            ) from None
        credentials = api.Credentials(
            client_id=self.client.client_id,
            client_secret=secret,
            requester_org_id=str(self.client.organization_id),
        )
        return api.Caller(credentials=credentials, target_org_id=self.target_org_id)

    @property
    def own(self) -> OrgContext:
        """The same API client acting on its own organization, which it always may."""
        return OrgContext(self.client, str(self.client.organization_id))

    def describe(self, target_label: str = "") -> str:
        target = "self" if self.is_self else (target_label or self.target_org_id)
        return f"{self.client.name} → {target}"


def parse_key(key: str) -> tuple[int, str | None] | None:
    """``"3"`` -> (3, None); ``"3.<uuid>"`` -> (3, "<uuid>"); anything else -> None."""
    client_part, dot, target_part = key.strip().partition(".")
    client = parse_int(client_part)
    if client is None or len(client_part) > 12 or (dot and not target_part):
        return None
    if not target_part:
        return client, None
    try:
        return client, str(uuid.UUID(target_part))
    except ValueError:
        return None


def usable_clients(request: HttpRequest) -> list[ApiClient]:
    """The API clients the signed-in user may use, read once per request."""
    cached: list[ApiClient] | None = getattr(request, "_usable_clients", None)
    if cached is None:
        cached = selectors.api_client_list(user=request.user)
        request._usable_clients = cached  # type: ignore[attr-defined]
    return cached


def usable_client(request: HttpRequest, client_pk: int | None) -> ApiClient | None:
    """The API client ``client_pk`` if the signed-in user may use it, else None."""
    return next((c for c in usable_clients(request) if c.pk == client_pk), None)


def build(request: HttpRequest, client_pk: int, target: str | None) -> OrgContext:
    """Validate a (client, target) pair for the signed-in user; raises ContextDenied."""
    return _checked(usable_client(request, client_pk), target)


def _checked(client: ApiClient | None, target: str | None) -> OrgContext:
    if client is None:
        raise ContextDenied(
            "You do not have access to this API client, or it is disabled. "
            "Ask an administrator for access."
        )
    return OrgContext(client=client, target_org_id=target or str(client.organization_id))


def current(request: HttpRequest) -> OrgContext | None:
    """The session's context, re-checked; else (none stored, or no longer allowed) the
    user's first client on its own organization. Reads only: nothing is stored."""
    stored = request.session.get(SESSION_KEY)
    if isinstance(stored, dict):
        try:
            return build(request, int(stored["client"]), stored.get("target"))
        except (ContextDenied, KeyError, TypeError, ValueError):
            pass
    return fallback(request)


def fallback(request: HttpRequest) -> OrgContext | None:
    """A context that works: the user's first usable API client on its own organization
    (None without any). The way out of a refused context, never back into it."""
    clients = usable_clients(request)
    return OrgContext(clients[0], str(clients[0].organization_id)) if clients else None


def from_key(request: HttpRequest, key: str) -> OrgContext:
    parsed = parse_key(key)
    if parsed is None:
        raise ContextDenied("This link names an organization context that does not exist.")
    return build(request, *parsed)


def store(request: HttpRequest, ctx: OrgContext, label: str = "") -> None:
    """Make ``ctx`` the session's context (the switcher's POST only), and remember its
    target among the recent ones."""
    request.session[SESSION_KEY] = {"client": ctx.client.pk, "target": ctx.target_org_id}
    if not ctx.is_self:
        label = label or target_label(request, ctx.target_org_id)  # one learned before
        recent = [
            r for r in request.session.get(RECENT_KEY, []) if r.get("target") != ctx.target_org_id
        ]
        recent.insert(0, {"target": ctx.target_org_id, "label": label[:100]})
        request.session[RECENT_KEY] = recent[:MAX_RECENT]


def target_label(request: HttpRequest, target: str) -> str:
    """The name the upstream gave a target when it was chosen, if any."""
    for recent in request.session.get(RECENT_KEY, []):
        if recent.get("target") == target:
            return str(recent.get("label") or "")
    return ""


def recent_targets(request: HttpRequest) -> list[dict[str, str]]:
    return list(request.session.get(RECENT_KEY, []))
