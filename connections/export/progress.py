"""An export's records in the cache, so they work across worker processes: its progress
(owned by the user who started it), its cancel flag and the per-user count of running
exports."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from django.conf import settings
from django.core.cache import cache

from hostadmin.cache import CacheUnavailable

PROGRESS_TTL = 3600
_EXPORT_ID = re.compile(r"[0-9a-f]{32}")


def valid_export_id(raw: str) -> bool:
    return _EXPORT_ID.fullmatch(raw) is not None  # not match("^...$"): "$" lets "\n" through


def _progress_key(export_id: str) -> str:
    return f"hostadmin:export:{export_id}"


def _cancel_key(export_id: str) -> str:
    return f"hostadmin:export:{export_id}:cancel"


def _running_key(user_id: int) -> str:
    return f"hostadmin:exports-running:{user_id}"


# --- progress and cancellation ---------------------------------------------------------


def write_progress(export_id: str, user_id: int, written: int, total: int, state: str) -> None:
    entry = {"user": user_id, "written": written, "total": total, "state": state}
    cache.set(_progress_key(export_id), entry, PROGRESS_TTL)


def mark_starting(export_id: str, user_id: int) -> None:
    """Progress known from the start, so a cancel during the first page is honoured."""
    cache.delete(_cancel_key(export_id))  # an id reused later starts clean
    write_progress(export_id, user_id, written=0, total=0, state="running")


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


def keep_slot(user_id: int) -> None:
    """Each page keeps the user's count of running exports alive: an export killed
    mid-stream (its worker stopped past the graceful timeout) cannot give its slot back,
    and stops holding it EXPORT_SLOT_SECONDS after its last page."""
    cache.touch(_running_key(user_id), settings.EXPORT_SLOT_SECONDS)


def release_slot(user_id: int) -> None:
    # The counter expired (ValueError) or the cache is down: nothing to release.
    with contextlib.suppress(ValueError, CacheUnavailable):
        cache.decr(_running_key(user_id))
