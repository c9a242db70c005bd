"""Benchmark of the CSV export's own steps (issue 16): CPU per 1,000 rows of each, in one
thread, without HTTP, on the sandbox's 'bench' rows: what the worker spends on a page
besides fetching it. Each step is printed next to the plainer way it replaced, measured
in the same run (interleaved, best of several rounds, process CPU time).

Run from the project root:

    .venv/bin/python bench/bench_export_steps.py [--rows 20000] [--rounds 7]

Steps: reading a page's bytes (``api._parse_rows``, pydantic-core straight from the
bytes, against ``api._parse``, json.loads then validating the Python objects); parsing a
page (rows as text, ``api.HostConnectionRowPage``, against the models,
``api.HostConnectionPage``); a row's cells (``export.cells`` against the same cells from
the models, their datetimes formatted); the CSV text (``export.csv_chunk`` against
``csv.writer`` alone); the de-duplication (``export.SeenIds`` against a set of the ids,
with the memory of each at 100,000 ids). Takes about half a minute.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostadmin.settings")

import django  # noqa: E402
import httpx  # noqa: E402

django.setup()

from harness import machine_line  # noqa: E402

from connections import api, export  # noqa: E402
from sandbox.data import ORGS_BY_SLUG, Dataset  # noqa: E402


def model_cells(row: api.HostConnection) -> list[str]:
    """The cells as they were made from the models (the datetimes formatted back)."""

    def when(value: datetime | None) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""

    return [
        str(row.host_organization_id),
        export.safe_cell(row.host_name),
        export.safe_cell(row.host_email),
        export.safe_cell(row.owner_email),
        row.status,
        "true" if row.archived else "false",
        when(row.created_at),
        when(row.updated_at),
        when(row.archived_at),
        row.active_action_type or "",
        when(row.active_action_updated_at),
    ]


def writer_chunk(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def cpu_ms(pairs: dict[str, Callable[[], Any]], rounds: int, rows: int) -> dict[str, float]:
    """Best process CPU time of each callable over ``rounds``, interleaved, per 1,000 rows."""
    best = dict.fromkeys(pairs, float("inf"))
    for _ in range(rounds):
        for name, call in pairs.items():
            start = time.process_time()
            call()
            best[name] = min(best[name], time.process_time() - start)
    return {name: seconds * 1000 / (rows / 1000) for name, seconds in best.items()}


def peak_kib(build: Callable[[], Any]) -> float:
    tracemalloc.start()
    kept = build()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del kept
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(machine_line())
    dataset = Dataset(seed=7, rows_overrides={"bench": args.rows})
    raw = dataset.rows_for(ORGS_BY_SLUG["bench"].id).rows
    pages = [
        json.dumps({"items": raw[i : i + 100], "total_items": len(raw)}).encode()
        for i in range(0, len(raw), 100)
    ]
    rows_pages = [api.HostConnectionRowPage.model_validate_json(p).items for p in pages]
    model_pages = [api.HostConnectionPage.model_validate_json(p).items for p in pages]
    celled = [[export.cells(r) for r in page] for page in rows_pages]
    request = httpx.Request("GET", "http://upstream.test/v1-beta/host-connections")
    answers = [httpx.Response(200, content=p, request=request) for p in pages]
    ids = [str(r["host_organization_id"]) for page in rows_pages for r in page]

    def seen_ids() -> export.SeenIds:
        seen = export.SeenIds(len(ids))
        for i in ids:
            seen.add(i)
        return seen

    def plain_set() -> set[str]:
        seen: set[str] = set()
        for i in ids:
            if i not in seen:
                seen.add(i)
        return seen

    steps = [
        (
            "read a page",
            lambda: [api._parse_rows(a, "ref") for a in answers],
            lambda: [api._parse(api.HostConnectionRowPage, a, "ref") for a in answers],
            "from bytes",
            "json.loads",
        ),
        (
            "parse a page",
            lambda: [api.HostConnectionRowPage.model_validate_json(p) for p in pages],
            lambda: [api.HostConnectionPage.model_validate_json(p) for p in pages],
            "rows as text",
            "models",
        ),
        (
            "a row's cells",
            lambda: [[export.cells(r) for r in page] for page in rows_pages],
            lambda: [[model_cells(r) for r in page] for page in model_pages],
            "from text",
            "from models",
        ),
        (
            "CSV text",
            lambda: [export.csv_chunk(c) for c in celled],
            lambda: [writer_chunk(c) for c in celled],
            "csv_chunk",
            "csv.writer",
        ),
        ("de-duplication", seen_ids, plain_set, "SeenIds", "a set"),
    ]
    print(
        f"export steps, CPU per 1,000 rows ({len(raw):,} sandbox rows in pages of 100, "
        f"best of {args.rounds} rounds):"
    )
    total_now = 0.0
    for label, now, before, now_name, before_name in steps:
        figures = cpu_ms({now_name: now, before_name: before}, args.rounds, len(raw))
        if label != "parse a page":  # inside "read a page"
            total_now += figures[now_name]
        print(
            f"  {label:16s} {now_name:13s} {figures[now_name]:6.2f} ms   "
            f"{before_name:12s} {figures[before_name]:6.2f} ms   "
            f"({figures[before_name] / figures[now_name]:.1f}x)"
        )
    print(f"  {'all but parse (in read)':30s} {total_now:6.2f} ms")
    hundred_k = [str(uuid.UUID(int=i)) for i in range(100_000)]

    def seen_100k() -> export.SeenIds:
        seen = export.SeenIds(len(hundred_k))
        for i in hundred_k:
            seen.add(i)
        return seen

    def set_100k() -> set[str]:  # the set keeps each id's text alive, as parsed
        return {i[:18] + i[18:] for i in hundred_k}

    seen_kib, set_kib = peak_kib(seen_100k), peak_kib(set_100k)
    print(
        f"  memory for 100,000 ids: SeenIds {seen_kib / 1024:.1f} MiB, "
        f"a set of the ids {set_kib / 1024:.1f} MiB"
    )


if __name__ == "__main__":
    main()
