"""Shared plumbing of the benchmarks: the sandbox upstream and hostadmin under gunicorn,
each a real subprocess on loopback, a fresh SQLite database in a temporary folder, and a
signed-in httpx client, and the timing of calls interleaved so drift hits all alike. Used by
``bench_list.py``, ``bench_facets.py`` and ``bench_export.py``; not run alone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.data import ORGS_BY_SLUG  # noqa: E402

BENCH_ORG = ORGS_BY_SLUG["bench"]  # the sandbox's published demo credentials
BENCH_CLIENT_ID = BENCH_ORG.client_id


def machine_line() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at start {load}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def sandbox(bench_rows: int, latency_ms: float = 0.0) -> Iterator[str]:
    """The sandbox upstream as an HTTP server; yields its base URL (…/v1-beta)."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            str(port),
            "--bench-rows",
            str(bench_rows),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/_sandbox/health")
        warm_sandbox(f"http://127.0.0.1:{port}/v1-beta")
        yield f"http://127.0.0.1:{port}/v1-beta"
    finally:
        stop(proc)


def upstream_client(base: str) -> httpx.Client:
    """A client that calls the sandbox directly as the bench org's API client."""
    client = httpx.Client(base_url=base, timeout=120.0)
    token = client.post(
        "/oauth2/token",
        json={"client_id": BENCH_ORG.client_id, "client_secret": BENCH_ORG.client_secret},
    ).json()["access_token"]
    client.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Requester-Organization-ID": BENCH_ORG.id,
            "Target-Organization-ID": BENCH_ORG.id,
            "Accept": "application/json",
        }
    )
    return client


def default_view_params(offset: int = 0, limit: int = 100) -> list[tuple[str, str]]:
    """What hostadmin sends upstream for the default view."""
    return [
        ("statuses", "connected"),
        ("statuses", "disconnected"),
        ("search_field", "host_name"),
        ("order_by", "host_name"),
        ("order_dir", "asc"),
        ("limit", str(limit)),
        ("offset", str(offset)),
    ]


def warm_sandbox(base: str) -> None:
    """The sandbox builds and sorts its rows on first use: do it before measuring."""
    client = upstream_client(base)
    try:
        client.get("/host-connections", params=default_view_params()).raise_for_status()
    finally:
        client.close()


@dataclass
class Site:
    """A prepared database: the demo user may use the 'bench' org's API client."""

    env: dict[str, str]
    ctx: str


@contextlib.contextmanager
def site() -> Iterator[Site]:
    with tempfile.TemporaryDirectory(prefix="hostadmin-bench-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/db.sqlite3",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REDIS_URL", None)
        manage = [sys.executable, "manage.py"]
        run = {"cwd": ROOT, "env": env, "check": True, "stdout": subprocess.PIPE}
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], **run)  # type: ignore[call-overload]
        subprocess.run([*manage, "demo_setup"], **run)  # type: ignore[call-overload]
        grant = (
            "from django.contrib.auth.models import User\n"
            "from connections.models import ApiClient\n"
            f"c = ApiClient.objects.get(client_id={BENCH_CLIENT_ID!r})\n"
            "c.users.add(User.objects.get(username='demo'))\n"
            "print('CTX', c.pk)\n"
        )
        out = subprocess.run([*manage, "shell", "-c", grant], **run).stdout.decode()  # type: ignore[call-overload]
        match = re.search(r"CTX (\d+)", out)
        if not match:
            raise RuntimeError(f"could not grant access to the bench org: {out!r}")
        yield Site(env=env, ctx=match.group(1))


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]

    def worker_pid(self) -> int:
        """The single gunicorn worker: the child of the master process."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text()
                    ppid = int(stat.rsplit(")", 1)[1].split()[1])
                    if ppid == self.proc.pid:
                        return int(entry.name)
            time.sleep(0.05)
        raise RuntimeError("no gunicorn worker found")


@contextlib.contextmanager
def hostadmin(the_site: Site, upstream: str, **extra_env: str) -> Iterator[Server]:
    """hostadmin under gunicorn: one gthread worker, 8 threads, no worker timeout."""
    port = free_port()
    env = {**the_site.env, "UPSTREAM_BASE_URL": upstream, **extra_env}
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "hostadmin.wsgi",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "8",
            "--timeout",
            "0",
            "--limit-request-line",
            "8190",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz")
        yield Server(url=f"http://127.0.0.1:{port}", proc=proc)
    finally:
        stop(proc)


def signed_in(server: Server, **kwargs: object) -> httpx.Client:
    """An httpx client signed in as the demo user (demo/demo)."""
    client = httpx.Client(base_url=server.url, timeout=120.0, **kwargs)  # type: ignore[arg-type]
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    done = client.post(
        "/login/",
        data={"username": "demo", "password": "demo", "csrfmiddlewaretoken": token.group(1)},
    )
    if done.status_code != 302:
        raise RuntimeError(f"sign-in failed: {done.status_code}")
    return client


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a process, in kB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


def sampling_arguments(doc: str, what: str) -> argparse.Namespace:
    """The options of a benchmark that samples calls (``--samples``, ``--latency-ms``),
    printed under the machine line with ``what`` is measured."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    print(machine_line())
    print(
        f"{what}, {args.samples} samples each, upstream latency {args.latency_ms:g} ms, "
        "gunicorn gthread 1 worker x 8 threads"
    )
    return args


@contextlib.contextmanager
def upstream_and_site(rows: int, latency_ms: float) -> Iterator[tuple[str, Site]]:
    """The sandbox with ``rows`` in the bench org (its base URL) and a prepared site."""
    with sandbox(rows, latency_ms) as upstream_url, site() as the_site:
        yield upstream_url, the_site


Answer = httpx.Response | list[httpx.Response]


def timed(call: Callable[[int], Answer], i: int) -> float:
    """Milliseconds ``call(i)`` takes; an answer (or one of a list) other than 200 stops
    the run."""
    start = time.perf_counter()
    answer = call(i)
    elapsed = (time.perf_counter() - start) * 1000
    for response in answer if isinstance(answer, list) else [answer]:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url} answered {response.status_code}")
    return elapsed


def interleaved(
    calls: Mapping[str, Callable[[int], Answer]], samples: int, warm_up: int
) -> dict[str, list[float]]:
    """``samples`` timings of each call (passed the sample's number), after ``warm_up``
    untimed rounds; the order rotates each round, so drift hits all alike."""
    for i in range(warm_up):
        for call in calls.values():
            timed(call, i)
    timings: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for i in range(samples):
        turn = i % len(names)
        for name in names[turn:] + names[:turn]:
            timings[name].append(timed(calls[name], i))
    return timings


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) of samples, by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1]


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")
