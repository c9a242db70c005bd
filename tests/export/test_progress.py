"""An export's records in the cache: progress owned by one user, the cancel flag and the
per-user limit of running exports."""

from __future__ import annotations

import uuid

import pytest

from connections.export import progress


def new_id() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("0123456789ABCDEF0123456789ABCDEF", False),
        ("0123456789abcdef0123456789abcde", False),
        ("0123456789abcdef0123456789abcdef\n", False),
        ("../../etc/passwd", False),
        ("", False),
    ],
)
def test_progress_valid_export_id(raw: str, valid: bool) -> None:
    assert progress.valid_export_id(raw) is valid


def test_progress_owner_only() -> None:
    export_id = new_id()
    progress.write_progress(export_id, 1, written=200, total=302, state="running")
    assert progress.progress_of(export_id, 1) == {
        "user": 1,
        "written": 200,
        "total": 302,
        "state": "running",
    }
    assert progress.progress_of(export_id, 2) is None
    assert progress.export_id_free(export_id, 1)
    assert not progress.export_id_free(export_id, 2)
    assert progress.export_id_free(new_id(), 2)


def test_progress_cancel_by_owner_only() -> None:
    export_id = new_id()
    progress.mark_starting(export_id, 1)
    assert not progress.request_cancel(export_id, 2)
    assert not progress.cancel_requested(export_id)
    assert progress.request_cancel(export_id, 1)
    assert progress.cancel_requested(export_id)


def test_progress_cancel_unknown_export_refused() -> None:
    export_id = new_id()
    assert not progress.request_cancel(export_id, 1)
    assert not progress.cancel_requested(export_id)


def test_progress_mark_starting_clears_an_old_cancel() -> None:
    export_id = new_id()
    progress.mark_starting(export_id, 1)
    progress.request_cancel(export_id, 1)
    progress.mark_starting(export_id, 1)  # the same id reused by a later export
    assert not progress.cancel_requested(export_id)
    assert progress.progress_of(export_id, 1) == {
        "user": 1,
        "written": 0,
        "total": 0,
        "state": "running",
    }


def test_progress_forget() -> None:
    export_id = new_id()
    progress.mark_starting(export_id, 1)
    progress.forget_progress(export_id)
    assert progress.progress_of(export_id, 1) is None


def test_progress_slots_limit_per_user(settings) -> None:
    settings.EXPORTS_PER_USER = 2
    assert progress.acquire_slot(1)
    assert progress.acquire_slot(1)
    assert not progress.acquire_slot(1)
    assert not progress.acquire_slot(1)  # a refusal counts nothing
    assert progress.acquire_slot(2)  # per user
    progress.release_slot(1)
    assert progress.acquire_slot(1)
    assert not progress.acquire_slot(1)


def test_progress_release_without_slot_is_harmless(settings) -> None:
    settings.EXPORTS_PER_USER = 1
    progress.release_slot(7)  # no counter yet
    assert progress.acquire_slot(7)
    assert not progress.acquire_slot(7)
