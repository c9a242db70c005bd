"""Benchmark of the streamed CSV export (issue 6), against the sandbox on loopback.

Run from the project root:

    .venv/bin/python bench/bench_export.py [--runs 5]

It starts the sandbox HTTP server twice (``--bench-rows 10000`` and ``--bench-rows 50000``,
both with ``--latency-ms 20``) and hostadmin under gunicorn (one gthread worker, SQLite in
a temporary folder, migrated and seeded with ``demo_setup``; the demo user is given the
bench org's API client), signs in with httpx and measures:

* 10,000 rows at 20 ms upstream latency: wall time against pages x latency / concurrency
  (target <= 1.5x) and against sequential paging (``EXPORT_CONCURRENCY=1``, target >= 3x
  slower than the concurrent export);
* time to first byte (target <= latency + 15 ms);
* peak memory growth of the worker (VmHWM from /proc, before and after one export, in a
  freshly started worker) at 10,000 and at 50,000 rows (target <= 8 MB at 50,000, and
  within 2 MB of the growth at 10,000);
* that a long export completes under the deployment default (gunicorn gthread, no
  worker timeout, as README.md documents): 100,000 rows at 50 ms upstream latency;
* hostadmin's own cost (issue 16), at 0 ms upstream latency and 100,000 rows: the export's
  wall time against fetching the same pages straight from the sandbox with the same
  concurrency and nothing else (target <= 1.25x), and the worker's CPU time (user +
  system, from /proc) per 1,000 rows exported.

The download is read with ``Accept-Encoding: identity`` (the raw CSV, as a script would).
Takes about three minutes; ``--speed-only`` runs the last part alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from harness import (
    Server,
    Site,
    cpu_seconds,
    default_view_params,
    hostadmin,
    machine_line,
    memory_kb,
    sandbox,
    signed_in,
    site,
    upstream_client,
)
from harness import verdict as ok

LATENCY_MS = 20.0
LONG_ROWS, LONG_LATENCY_MS = 100_000, 50.0
SPEED_ROWS = 100_000  # at 0 ms latency: what hostadmin itself costs
PAGE = 100
CONCURRENCY = 4


@dataclass
class Run:
    rows: int
    ttfb_ms: float
    wall_ms: float
    size: int


def export_once(client: httpx.Client, ctx: str, extra: str = "") -> Run:
    url = f"/connections/export.csv?ctx={ctx}{extra}"
    start = time.perf_counter()
    first: float | None = None
    size = 0
    newlines = 0
    last = b""
    with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"export answered {response.status_code}: {response.text[:300]}")
        announced = int(response.headers["X-Export-Rows"])
        for chunk in response.iter_raw():
            if first is None:
                first = time.perf_counter()
            size += len(chunk)
            newlines += chunk.count(b"\r\n") + (last == b"\r" and chunk[:1] == b"\n")
            last = chunk[-1:]  # a line end may be split between two reads
    end = time.perf_counter()
    rows = newlines - 1  # the sandbox's names hold no line breaks; minus the header
    if rows != announced:
        raise RuntimeError(f"the export sent {rows} rows; it announced {announced}")
    return Run(rows, ((first or end) - start) * 1000, (end - start) * 1000, size)


def warm_up(client: httpx.Client, the_site: Site) -> None:
    """Load the list page and a one-page export: code, templates, connections, token."""
    client.get(f"/connections/?ctx={the_site.ctx}").raise_for_status()
    export_once(client, the_site.ctx, "&scope=page&limit=20")


def memory_growth(the_site: Site, upstream: str) -> tuple[int, int, Run]:
    """Peak RSS growth (kB) of a fresh worker over one export; returns (growth, hwm, run)."""
    with hostadmin(the_site, upstream) as server:
        client = signed_in(server)
        warm_up(client, the_site)
        pid = server.worker_pid()
        before = memory_kb(pid)
        run = export_once(client, the_site.ctx)
        after = memory_kb(pid)
        client.close()
    return after["VmHWM"] - before["VmHWM"], after["VmHWM"], run


def timings(server: Server, the_site: Site, runs: int) -> list[Run]:
    client = signed_in(server)
    warm_up(client, the_site)
    export_once(client, the_site.ctx)  # one full export before measuring
    done = [export_once(client, the_site.ctx) for _ in range(runs)]
    client.close()
    return done


def fetch_pages(upstream: str, rows: int, concurrency: int) -> tuple[float, float]:
    """Wall time (ms) to GET every page of the default view straight from the sandbox,
    ``concurrency`` requests in flight, the bodies read and nothing else done; and this
    process's CPU for it per 1,000 rows (what a plain httpx client pays)."""
    client = upstream_client(upstream)
    client.get("/host-connections", params=default_view_params()).raise_for_status()

    def fetch(offset: int) -> int:
        response = client.get("/host-connections", params=default_view_params(offset))
        response.raise_for_status()
        return len(response.content)

    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        sizes = list(pool.map(fetch, range(0, rows, PAGE)))
    elapsed = (time.perf_counter() - start) * 1000
    cpu_per_1000 = (time.process_time() - cpu) * 1000 / (rows / 1000)
    client.close()
    if len(sizes) != -(-rows // PAGE):
        raise RuntimeError("not every page was fetched")
    return elapsed, cpu_per_1000


def speed(runs: int) -> None:
    """hostadmin's own cost: a 100,000-row export at 0 ms latency against fetching its
    pages alone, interleaved so drift hits both alike; the worker's CPU per 1,000 rows."""
    with (
        site() as the_site,
        sandbox(SPEED_ROWS, 0.0) as upstream,
        hostadmin(the_site, upstream, EXPORT_CONCURRENCY=str(CONCURRENCY)) as server,
    ):
        client = signed_in(server)
        warm_up(client, the_site)
        pid = server.worker_pid()
        exports: list[float] = []
        fetches: list[float] = []
        cpu: list[float] = []
        fetcher_cpu: list[float] = []
        for _ in range(runs):
            fetched_ms, fetched_cpu = fetch_pages(upstream, SPEED_ROWS, CONCURRENCY)
            fetches.append(fetched_ms)
            fetcher_cpu.append(fetched_cpu)
            before = cpu_seconds(pid)
            run = export_once(client, the_site.ctx)
            cpu.append((cpu_seconds(pid) - before) * 1000 / (run.rows / 1000))
            exports.append(run.wall_ms)
        client.close()
    export_ms = statistics.median(exports)
    fetch_ms = statistics.median(fetches)
    ratio = export_ms / fetch_ms
    print()
    print(f"at 0 ms latency, {SPEED_ROWS:,} rows, concurrency {CONCURRENCY}, median of {runs}:")
    print(f"pages fetched alone       {fetch_ms:8.0f} ms   (each run: {_each(fetches)})")
    print(
        f"hostadmin's export        {export_ms:8.0f} ms   (each run: {_each(exports)}); "
        f"ratio {ratio:.2f} (target <= 1.25)  {ok(ratio <= 1.25)}"
    )
    print(
        f"worker CPU per 1,000 rows {statistics.median(cpu):8.1f} ms   (user + system; "
        f"each run: {', '.join(f'{c:.1f}' for c in cpu)})"
    )
    print(
        f"a plain httpx fetcher     {statistics.median(fetcher_cpu):8.1f} ms   CPU per 1,000 "
        f"rows for the same pages (each run: {', '.join(f'{c:.1f}' for c in fetcher_cpu)})"
    )


def _each(samples: list[float]) -> str:
    return ", ".join(f"{s:.0f}" for s in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed exports per setting")
    parser.add_argument("--speed-runs", type=int, default=3, help="exports at 0 ms latency")
    parser.add_argument("--speed-only", action="store_true", help="only the 0 ms latency part")
    args = parser.parse_args()
    concurrency = CONCURRENCY
    print(machine_line())
    if args.speed_only:
        speed(args.speed_runs)
        return
    print(
        f"export benchmark: upstream latency {LATENCY_MS:g} ms, "
        f"gunicorn gthread 1 worker x 8 threads, EXPORT_CONCURRENCY={concurrency}"
    )
    with (
        site() as the_site,
        sandbox(10_000, LATENCY_MS) as small,
        sandbox(50_000, LATENCY_MS) as large,
    ):
        with hostadmin(the_site, small, EXPORT_CONCURRENCY=str(concurrency)) as server:
            fast = timings(server, the_site, args.runs)
        with hostadmin(the_site, small, EXPORT_CONCURRENCY="1") as server:
            slow = timings(server, the_site, max(1, args.runs // 2))
        growth_10k, hwm_10k, run_10k = memory_growth(the_site, small)
        growth_50k, hwm_50k, run_50k = memory_growth(the_site, large)
    with (
        site() as the_site,
        sandbox(LONG_ROWS, LONG_LATENCY_MS) as huge,
        hostadmin(the_site, huge) as server,
    ):
        client = signed_in(server)
        warm_up(client, the_site)
        long_run = export_once(client, the_site.ctx)  # raises unless every row came
        client.close()

    rows = fast[0].rows
    pages = -(-rows // PAGE)
    ideal = pages * LATENCY_MS / concurrency
    wall = statistics.median(r.wall_ms for r in fast)
    sequential = statistics.median(r.wall_ms for r in slow)
    ttfb = statistics.median(r.ttfb_ms for r in fast)
    print()
    print(f"rows exported             {rows:,} ({pages} pages, {fast[0].size / 1e6:.2f} MB)")
    print(
        f"wall time (median of {len(fast)})    {wall:8.0f} ms   ideal pages x latency / "
        f"concurrency = {ideal:.0f} ms; ratio {wall / ideal:.2f} (target <= 1.5)  "
        f"{ok(wall <= 1.5 * ideal)}"
    )
    print(
        f"sequential (median of {len(slow)})   {sequential:8.0f} ms   "
        f"speed-up {sequential / wall:.2f}x (target >= 3x)  {ok(sequential >= 3 * wall)}"
    )
    print(
        f"time to first byte        {ttfb:8.1f} ms   "
        f"(target <= {LATENCY_MS:g} + 15 = {LATENCY_MS + 15:g} ms)  {ok(ttfb <= LATENCY_MS + 15)}"
    )
    print(
        f"worker peak memory growth {growth_10k / 1024:8.2f} MB at {run_10k.rows:,} rows "
        f"(VmHWM {hwm_10k / 1024:.1f} MB)"
    )
    print(
        f"worker peak memory growth {growth_50k / 1024:8.2f} MB at {run_50k.rows:,} rows "
        f"(VmHWM {hwm_50k / 1024:.1f} MB; target <= 8 MB)  {ok(growth_50k <= 8 * 1024)}"
    )
    diff = abs(growth_50k - growth_10k) / 1024
    print(f"growth difference 50k vs 10k {diff:5.2f} MB   (target <= 2 MB)  {ok(diff <= 2)}")
    print(
        f"long export               {long_run.rows:,} rows at {LONG_LATENCY_MS:g} ms latency in "
        f"{long_run.wall_ms / 1000:.1f} s, every row (gthread, no worker timeout)  "
        f"{ok(long_run.rows == LONG_ROWS)}"
    )
    speed(args.speed_runs)


if __name__ == "__main__":
    main()
