"""An export's records in the cache, so they work across worker processes: its progress
(owned by the user who started it), its cancel flag, the per-user count of running
exports and the per-user list of recent exports (what the list page's exports panel shows,
in every tab and after a reload).

A progress entry is ``{"user", "written", "total", "state"}`` plus the details the panel
shows: ``label``, ``params`` (the export's query string, to retry it), ``bytes``,
``reason`` (why it failed), ``started``, ``updated`` and ``ended`` (epoch seconds).
``total`` is None until the first page has said how many rows match."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from hostadmin.cache import CacheUnavailable

PROGRESS_TTL = 3600
RECENT_EXPORTS = 10  # the exports a user's list remembers, newest last
_EXPORT_ID = re.compile(r"[0-9a-f]{32}")


def valid_export_id(raw: str) -> bool:
    return _EXPORT_ID.fullmatch(raw) is not None  # not match("^...$"): "$" lets "\n" through


def _progress_key(export_id: str) -> str:
    return f"hostadmin:export:{export_id}"


def _cancel_key(export_id: str) -> str:
    return f"hostadmin:export:{export_id}:cancel"


def _running_key(user_id: int) -> str:
    return f"hostadmin:exports-running:{user_id}"


def _recent_key(user_id: int) -> str:
    return f"hostadmin:exports-of:{user_id}"


# --- progress and cancellation ---------------------------------------------------------


def write_progress(
    export_id: str,
    user_id: int,
    written: int,
    total: int | None,
    state: str,
    **details: Any,
) -> None:
    entry = {"user": user_id, "written": written, "total": total, "state": state, **details}
    cache.set(_progress_key(export_id), entry, PROGRESS_TTL)


def mark_requested(export_id: str, user_id: int, **details: Any) -> None:
    """The list page asked for an export that its download will start: "starting" until
    then, and listed among the user's exports."""
    write_progress(export_id, user_id, 0, None, "starting", started=time.time(), **details)
    remember_export(export_id, user_id)


def mark_starting(export_id: str, user_id: int, **details: Any) -> None:
    """Progress known from the start, so a cancel during the first page is honoured; the
    total is not known yet (None: "Preparing…", never "0 of 0 rows")."""
    cache.delete(_cancel_key(export_id))  # an id reused later starts clean
    write_progress(export_id, user_id, written=0, total=None, state="running", **details)
    remember_export(export_id, user_id)


def mark_refused(export_id: str, user_id: int, reason: str, **details: Any) -> None:
    """An export that did not start: failed, with the reason the panel shows."""
    now = time.time()
    write_progress(
        export_id, user_id, 0, None, "failed", reason=reason, started=now, ended=now, **details
    )
    remember_export(export_id, user_id)


def forget_progress(export_id: str) -> None:
    cache.delete(_progress_key(export_id))


def export_id_free(export_id: str, user_id: int) -> bool:
    """An id is usable unless another user's export holds it."""
    entry = cache.get(_progress_key(export_id))
    return not entry or entry.get("user") == user_id


def progress_of(export_id: str, user_id: int) -> dict[str, Any] | None:
    entry = cache.get(_progress_key(export_id))
    if not entry or entry.get("user") != user_id:
        return None
    return dict(entry)


def remember_export(export_id: str, user_id: int) -> None:
    """Add the export to the user's recent ones (the newest ``RECENT_EXPORTS``). Two
    exports started at the same instant in two tabs may race here: the loser is then
    missing from the list, while its own progress region still shows it."""
    ids = [i for i in cache.get(_recent_key(user_id)) or [] if i != export_id]
    cache.set(_recent_key(user_id), [*ids[-(RECENT_EXPORTS - 1) :], export_id], PROGRESS_TTL)


def forget_export(export_id: str, user_id: int) -> bool:
    """Drop an export from the user's list; False when it is not there. One still running
    is cancelled too (its Dismiss button only shows once it has ended, but an export
    must never go on unseen)."""
    ids = cache.get(_recent_key(user_id)) or []
    if export_id not in ids:
        return False
    entry = progress_of(export_id, user_id)
    if entry is not None and entry.get("state") in ("starting", "running"):
        request_cancel(export_id, user_id)
    cache.set(_recent_key(user_id), [i for i in ids if i != export_id], PROGRESS_TTL)
    return True


def recent_exports(user_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The user's recent exports that still have progress, oldest first: (id, entry)."""
    ids = cache.get(_recent_key(user_id)) or []
    entries = cache.get_many([_progress_key(i) for i in ids])
    found = [(i, entries.get(_progress_key(i))) for i in ids]
    return [(i, dict(e)) for i, e in found if e and e.get("user") == user_id]


def request_cancel(export_id: str, user_id: int) -> bool:
    if progress_of(export_id, user_id) is None:
        return False
    cache.set(_cancel_key(export_id), True, PROGRESS_TTL)
    return True


def cancel_requested(export_id: str) -> bool:
    return bool(cache.get(_cancel_key(export_id)))


# --- the per-user limit ----------------------------------------------------------------


def acquire_slot(user_id: int) -> bool:
    """Count one more running export for the user; False (and nothing counted) when the
    user already runs ``EXPORTS_PER_USER``."""
    key = _running_key(user_id)
    ttl = settings.EXPORT_SLOT_SECONDS
    cache.add(key, 0, ttl)
    try:
        running = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        running = 1
    cache.touch(key, ttl)  # the counter lives as long as the newest export
    if running > settings.EXPORTS_PER_USER:
        release_slot(user_id)
        return False
    return True


def running_count(user_id: int) -> int:
    """How many exports the user runs now, without counting one more. Raises
    CacheUnavailable when the shared cache is down (a miss would read as "none")."""
    try:
        return int(cache.incr(_running_key(user_id), 0))
    except ValueError:  # no counter: none running
        return 0


def keep_slot(user_id: int) -> None:
    """Each page keeps the user's count of running exports alive: an export killed
    mid-stream (its worker stopped past the graceful timeout) cannot give its slot back,
    and stops holding it EXPORT_SLOT_SECONDS after its last page."""
    cache.touch(_running_key(user_id), settings.EXPORT_SLOT_SECONDS)


def release_slot(user_id: int) -> None:
    # The counter expired (ValueError) or the cache is down: nothing to release.
    with contextlib.suppress(ValueError, CacheUnavailable):
        cache.decr(_running_key(user_id))
