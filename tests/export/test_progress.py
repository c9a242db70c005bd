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
        "total": None,  # not known until the first page: "Preparing…", never "0 of 0"
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


def test_progress_recent_exports_per_user_newest_last() -> None:
    first, second, bobs = new_id(), new_id(), new_id()
    progress.mark_requested(first, 1, label="Whole view", params="ctx=1")
    progress.mark_starting(second, 1, label="This page")
    progress.mark_starting(bobs, 2)
    progress.mark_starting(first, 1, label="Whole view", params="ctx=1")  # its download began
    listed = progress.recent_exports(1)
    assert [i for i, _ in listed] == [second, first]
    assert listed[1][1]["state"] == "running" and listed[1][1]["params"] == "ctx=1"
    assert [i for i, _ in progress.recent_exports(2)] == [bobs]


def test_progress_recent_exports_keeps_the_newest() -> None:
    ids = [new_id() for _ in range(progress.RECENT_EXPORTS + 3)]
    for export_id in ids:
        progress.mark_starting(export_id, 1)
    assert [i for i, _ in progress.recent_exports(1)] == ids[-progress.RECENT_EXPORTS :]


def test_progress_recent_exports_skip_an_id_taken_by_another_user() -> None:
    export_id = new_id()
    progress.mark_starting(export_id, 1)
    progress.write_progress(export_id, 2, 0, None, "running")  # the entry is now bob's
    assert progress.recent_exports(1) == []


def test_progress_forget_export_owner_only() -> None:
    export_id = new_id()
    progress.mark_refused(export_id, 1, "busy")
    assert progress.recent_exports(1)[0][1]["reason"] == "busy"
    assert not progress.forget_export(export_id, 2)
    assert progress.forget_export(export_id, 1)
    assert progress.recent_exports(1) == []
    assert not progress.forget_export(export_id, 1)


def test_progress_running_count_reads_without_counting(settings) -> None:
    settings.EXPORTS_PER_USER = 2
    assert progress.running_count(3) == 0
    assert progress.acquire_slot(3)
    assert progress.running_count(3) == progress.running_count(3) == 1
    assert progress.acquire_slot(3)
    assert progress.running_count(3) == 2
