"""Benchmark of the facet counts (issue 11): ``GET /connections/facets/`` for the default
view of the 'bench' org (100,000 rows), five ``limit=0`` upstream calls, against the
sandbox on loopback.

Run from the project root:

    .venv/bin/python bench/bench_facets.py [--samples 200] [--latency-ms 0]

It starts the sandbox HTTP server and two hostadmin instances under gunicorn (one gthread
worker each, as ``bench_list.py`` does, see ``harness.py``): one with the counts' cache off
(``FACET_CACHE_SECONDS=0``, every request makes its five calls) and one as deployed (30 s,
warmed, so every request is a cache hit). It measures, interleaved so drift hits all alike:

* one ``limit=0`` count call alone (a direct GET to the sandbox with a token),
* the five count calls one after another, direct (what the counts would cost in series),
* the facets endpoint uncached (five concurrent calls),
* the facets endpoint cached (no upstream call).

The counts load after the rows, so they add nothing to the list page's own time; these
figures are their own. Takes under a minute.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

import httpx
from harness import (
    default_view_params,
    hostadmin,
    machine_line,
    pct,
    sandbox,
    signed_in,
    site,
    upstream_client,
)

ROWS = 100_000
SPAN = re.compile(r'<span id="(count-[^"]+)"[^>]*>\(([\d,]+)\)</span>')


# What hostadmin sends upstream for each choice of the default view.
_REST = [(k, v) for k, v in default_view_params(limit=0) if k != "statuses"]
_BOTH = [("statuses", "connected"), ("statuses", "disconnected")]
CHOICES = [
    [("statuses", "connected"), *_REST],
    [("statuses", "disconnected"), *_REST],
    [*_BOTH, *_REST, ("archived", "true")],
    [*_BOTH, *_REST, ("archived", "false")],
    [*_BOTH, *_REST, ("active_action_types", "analytics_request")],
]


def timed(call: Callable[[], httpx.Response | list[httpx.Response]]) -> float:
    start = time.perf_counter()
    answer = call()
    elapsed = (time.perf_counter() - start) * 1000
    for response in answer if isinstance(answer, list) else [answer]:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url} answered {response.status_code}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()

    print(machine_line())
    print(
        f"facets benchmark: default view of {ROWS:,} rows, 5 counts, {args.samples} samples "
        f"each, upstream latency {args.latency_ms:g} ms, gunicorn gthread 1 worker x 8 threads"
    )
    with (
        sandbox(ROWS, args.latency_ms) as upstream_url,
        site() as the_site,
        hostadmin(the_site, upstream_url, FACET_CACHE_SECONDS="0") as uncached_server,
        hostadmin(the_site, upstream_url) as cached_server,
    ):
        up = upstream_client(upstream_url)
        hx = {"HX-Request": "true", "Accept-Encoding": "identity"}
        uncached = signed_in(uncached_server, headers=hx)
        cached = signed_in(cached_server, headers=hx)
        url = f"/connections/facets/?ctx={the_site.ctx}"

        first = uncached.get(url)
        counts = dict(SPAN.findall(first.text))
        if len(counts) != 5:
            raise RuntimeError(f"expected five counts, got {first.status_code}: {first.text!r}")

        calls: dict[str, Callable[[], httpx.Response | list[httpx.Response]]] = {
            "one": lambda: up.get("/host-connections", params=CHOICES[0]),
            "series": lambda: [up.get("/host-connections", params=p) for p in CHOICES],
            "uncached": lambda: uncached.get(url),
            "cached": lambda: cached.get(url),
        }
        for _ in range(20):  # warm up: the sandbox's filters, Django's templates, the cache
            for call in calls.values():
                timed(call)

        samples: dict[str, list[float]] = {name: [] for name in calls}
        names = list(calls)
        for i in range(args.samples):
            for name in names[i % 4 :] + names[: i % 4]:  # rotate the order
                samples[name].append(timed(calls[name]))

    print("counts: " + ", ".join(f"{k.removeprefix('count-')} {v}" for k, v in counts.items()))
    print()
    print(f"{'':44}{'p50 ms':>10}{'p95 ms':>10}")
    for name, label in (
        ("one", "one limit=0 count call alone (direct)"),
        ("series", "five count calls in a row (direct)"),
        ("uncached", "facets endpoint, uncached (5 concurrent)"),
        ("cached", "facets endpoint, cached (no upstream call)"),
    ):
        print(f"{label:44}{pct(samples[name], 50):10.2f}{pct(samples[name], 95):10.2f}")


if __name__ == "__main__":
    main()
