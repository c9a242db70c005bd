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

import re
from collections.abc import Callable

from harness import (
    Answer,
    default_view_params,
    hostadmin,
    interleaved,
    pct,
    sampling_arguments,
    signed_in,
    upstream_and_site,
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


def main() -> None:
    args = sampling_arguments(__doc__, f"facets benchmark: default view of {ROWS:,} rows, 5 counts")
    with (
        upstream_and_site(ROWS, args.latency_ms) as (upstream_url, the_site),
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

        calls: dict[str, Callable[[int], Answer]] = {
            "one": lambda _: up.get("/host-connections", params=CHOICES[0]),
            "series": lambda _: [up.get("/host-connections", params=p) for p in CHOICES],
            "uncached": lambda _: uncached.get(url),
            "cached": lambda _: cached.get(url),
        }
        # Warm-up: the sandbox's filters, Django's templates, the cache.
        samples = interleaved(calls, args.samples, warm_up=20)

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
