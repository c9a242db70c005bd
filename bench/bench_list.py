"""Benchmark of the connections list (issues 4 and 10): a 100-row page of the 'bench' org
(100,000 rows), measured in one run against the sandbox on loopback.

Run from the project root:

    .venv/bin/python bench/bench_list.py [--samples 200] [--latency-ms 0]

It starts the sandbox HTTP server (``python -m sandbox --bench-rows 100000``) and
hostadmin under gunicorn (one gthread worker, SQLite in a temporary folder, migrated and
seeded with ``demo_setup``; the demo user is given the bench org's API client), signs in
with httpx and measures, interleaved so drift hits all three alike:

* the upstream call alone (a direct GET to the sandbox with a token),
* the htmx partial (``HX-Request: true``, ``HX-Target: results``),
* the full page,

then the worker's CPU time per partial and per full page (a figure that stays comparable
on a loaded machine, where the wall times do not), the gzip'd partial's size on the wire
per row, and where those bytes go (each part's cost found by compressing the partial
without it). Targets are printed next to
figures: partial p50 <= upstream p50 + 12 ms on Intel Xeon machines (+ 20 ms on AMD EPYC
ones, about 1.6x slower); full p50 <= partial p50 + 3 ms (+ 5 ms); <= 100 bytes/row.
Takes about a minute.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path

import httpx
from harness import (
    Server,
    cpu_seconds,
    default_view_params,
    hostadmin,
    interleaved,
    pct,
    sampling_arguments,
    signed_in,
    timed,
    upstream_and_site,
    upstream_client,
    verdict,
)

ROWS = 100_000
PAGES = 50  # offsets cycled through, the same for all three measurements
ROW_LINK = re.compile(rb'<a href="/connections/[0-9a-f]{8}-[0-9a-f-]{27}/')
BYTES_PER_ROW = 100


def time_targets() -> tuple[float, float]:
    """(partial over upstream, full over partial) in ms: AMD EPYC machines of this kind
    run every timing about 1.6x slower than the Intel Xeon ones."""
    cpuinfo = Path("/proc/cpuinfo")
    amd = cpuinfo.exists() and "AMD" in cpuinfo.read_text()
    return (20.0, 5.0) if amd else (12.0, 3.0)


def main() -> None:
    args = sampling_arguments(__doc__, f"list benchmark: 100-row page of {ROWS:,} rows")
    with (
        upstream_and_site(ROWS, args.latency_ms) as (upstream_url, the_site),
        hostadmin(the_site, upstream_url) as server,
    ):
        up = upstream_client(upstream_url)
        web = signed_in(server, headers={"Accept-Encoding": "identity"})
        hx = {"HX-Request": "true", "HX-Target": "results", "HX-Current-URL": server.url}

        def page_url(offset: int) -> str:
            return f"/connections/?ctx={the_site.ctx}&limit=100&offset={offset}"

        def offset(i: int) -> int:
            return (i % PAGES) * 100

        calls: dict[str, Callable[[int], httpx.Response]] = {
            "upstream": lambda i: up.get(
                "/host-connections", params=default_view_params(offset(i))
            ),
            "partial": lambda i: web.get(page_url(offset(i)), headers=hx),
            "full": lambda i: web.get(page_url(offset(i))),
        }
        # Warm-up: the sandbox sorts its 100,000 rows once, Django loads its templates.
        samples = interleaved(calls, args.samples, warm_up=30)
        cpu = {
            name: worker_cpu_ms(server, calls[name], args.samples) for name in ("partial", "full")
        }

        # The partial's size on the wire with gzip on.
        with httpx.Client(base_url=server.url, cookies=web.cookies, timeout=30.0) as gz:
            with gz.stream("GET", page_url(0), headers={**hx, "Accept-Encoding": "gzip"}) as r:
                wire = b"".join(r.iter_raw())
                encoding = r.headers.get("Content-Encoding", "none")
            plain = web.get(page_url(0), headers=hx).content
        rows_on_page = len(ROW_LINK.findall(plain))

    p50 = {name: pct(values, 50) for name, values in samples.items()}
    p95 = {name: pct(values, 95) for name, values in samples.items()}
    print()
    print(f"{'':24}{'p50 ms':>10}{'p95 ms':>10}")
    for name, label in (
        ("upstream", "upstream call alone"),
        ("partial", "htmx partial"),
        ("full", "full page"),
    ):
        print(f"{label:24}{p50[name]:10.2f}{p95[name]:10.2f}")
    print(
        f"worker CPU per request (user + system, less moved by load): partial "
        f"{cpu['partial']:.2f} ms, full page {cpu['full']:.2f} ms"
    )
    print()
    partial_target, full_target = time_targets()
    partial_over = p50["partial"] - p50["upstream"]
    full_over = p50["full"] - p50["partial"]
    per_row = len(wire) / rows_on_page
    print(
        f"partial p50 - upstream p50 = {partial_over:+.2f} ms   "
        f"(target <= +{partial_target:g} ms)  {verdict(partial_over <= partial_target)}"
    )
    print(
        f"full p50 - partial p50     = {full_over:+.2f} ms   "
        f"(target <= +{full_target:g} ms)   {verdict(full_over <= full_target)}"
    )
    ok = per_row <= BYTES_PER_ROW and encoding == "gzip"
    print(
        f"partial on the wire        = {len(wire):,} bytes {encoding} "
        f"({len(plain):,} uncompressed, {rows_on_page} rows) = {per_row:.1f} bytes/row   "
        f"(target <= {BYTES_PER_ROW})  {verdict(ok)}"
    )
    padding = wire.index(b"\x00", 10) - 10 if encoding == "gzip" and wire[3] & 0x08 else 0
    print(f"  of which {padding} bytes are the gzip header's random padding (Heal the Breach)")
    print("  where the bytes go (gzip'd cost per row of each part, by leaving it out):")
    for label, cost in wire_breakdown(plain, rows_on_page):
        print(f"    {label:48}{cost:6.1f}")


def worker_cpu_ms(server: Server, call: Callable[[int], httpx.Response], requests: int) -> float:
    """The gunicorn worker's CPU time per ``call``, over ``requests`` calls in a row: unlike
    the wall times it barely moves when other processes load the machine."""
    worker = server.worker_pid()
    before = cpu_seconds(worker)
    for i in range(requests):
        timed(call, i)
    return (cpu_seconds(worker) - before) * 1000 / requests


def wire_breakdown(plain: bytes, rows: int) -> list[tuple[str, float]]:
    """Each part's share of the gzip'd partial: the size drop when it is left out."""
    text = plain.decode()

    def size(html: str) -> int:
        return len(gzip.compress(html.encode(), compresslevel=6, mtime=0))  # as Django

    whole = size(text)
    body = text[text.index("<tbody>") : text.index("</tbody>")]
    parts = {
        "host ids in the rows' detail links": re.sub(r"/connections/[0-9a-f-]{36}/", "/c/", body),
        "times (<time> with datetime and title)": re.sub(r"<time[^>]*>[^<]*</time>", "", body),
        "titles of the name and email cells": re.sub(r'<td title="[^"]*">', "<td>", body),
    }
    found = [
        (label, (whole - size(text.replace(body, rest))) / rows) for label, rest in parts.items()
    ]
    rest = (whole - size(text.replace(body, ""))) / rows - sum(cost for _, cost in found)
    outside = size(text.replace(body, "")) / rows
    return [
        *found,
        ("the rest of each row (names, emails, markup)", rest),
        ("outside the rows (header, pager, export, ...)", outside),
    ]


if __name__ == "__main__":
    main()
