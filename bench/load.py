"""make load: locust (bench/locustfile.py) against one instance, then against the cluster.

The topology is make cluster's (deploy/cluster.py: nginx, two gunicorn instances from
deploy/gunicorn.conf.py, the sandbox at 20 ms latency, the machine's PostgreSQL in
database ``hostadmin_load`` and Redis database 13). "One instance" is instance 0 hit
directly; "cluster" is nginx in front of both. Each phase runs locust headless for
PHASE_SECONDS and prints requests/s, p50/p95, errors and the gunicorn workers' CPU time
per request. The htmx partial's unloaded p50 (sequential requests) is the yardstick of
the latency target.

Targets: 0 errors at 50 users; the htmx partial's p95 at 16 users <= 4 x its unloaded p50.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, VENV_BIN, machine_line, verdict

sys.path.insert(0, str(ROOT))
from deploy.cluster import Cluster, Config, free_port

PHASE_SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))
LATENCY_MS = 20
USERS = (16, 50)
PARTIAL = "htmx partial"
PARTIAL_HEADERS = {"HX-Request": "true", "HX-Target": "results"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def make_sessions(cluster: Cluster, count: int) -> list[str]:
    """One signed-in session for each of ``count`` users (load-1, load-2, ...: each has
    its own export limit, as real staff have), written straight to the database."""
    out = cluster.manage(
        "shell",
        "-c",
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.auth.models import User\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from connections.models import ApiClient\n"
        "clients = list(User.objects.get(username='demo').api_clients.all())\n"
        f"for n in range(1, {count + 1}):\n"
        "    u, _ = User.objects.get_or_create(username=f'load-{n}')\n"
        "    u.api_clients.set(clients)\n"
        "    s = SessionStore()\n"
        "    s[SESSION_KEY] = str(u.pk)\n"
        "    s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "    s[HASH_SESSION_KEY] = u.get_session_auth_hash()\n"
        "    s.create()\n"
        "    print('SESSION', s.session_key)\n",
    )
    return [line.split()[1] for line in out.splitlines() if line.startswith("SESSION ")]


def worker_pids(master_pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
                pids.append(int(entry.name))
    return pids


def cpu_ms(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total * 1000 / CLOCK_TICKS


def unloaded_partial_p50(url: str, session: str, samples: int = 60) -> float:
    with httpx.Client(base_url=url, headers={"Cookie": f"sessionid={session}"}) as client:
        times = []
        for i in range(samples + 5):
            started = time.perf_counter()
            response = client.get("/connections/?statuses=connected", headers=PARTIAL_HEADERS)
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if i >= 5:  # warm-up
                times.append(elapsed)
    return statistics.median(times)


def run_locust(
    url: str, users: int, sessions: list[str], folder: Path
) -> dict[str, dict[str, str]]:
    prefix = folder / f"locust-{free_port()}"
    subprocess.run(
        [
            str(VENV_BIN / "locust"),
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{PHASE_SECONDS}s",
            "--stop-timeout",
            "5",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "ERROR",
        ],
        env={**os.environ, "LOAD_SESSIONS": ",".join(sessions)},
        check=False,  # locust exits 1 when a request failed: the figures say so
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # its own summary; the figures come from its CSV
    )
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def main() -> None:
    print(
        f"make load: locust, signed-in users (list, filters, details, one-page export; think "
        f"time 0.5-1.5 s), {LATENCY_MS} ms upstream latency, {PHASE_SECONDS} s a phase"
    )
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="hostadmin-load-") as tmp:
        config = Config(
            database_url=os.environ.get(
                "LOAD_PG_URL", "postgres://postgres@127.0.0.1:5432/hostadmin_load"
            ),
            redis_url=os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/13"),
            port=free_port(),
            workdir=Path(tmp),
            logs_to_files=True,
            env={"GUNICORN_LOG_LEVEL": "warning"},
        )
        with Cluster(config) as cluster:
            cluster.faults({"latency_ms": LATENCY_MS})
            sessions = make_sessions(cluster, max(USERS))
            targets = {
                "one instance": (cluster.instance_url(0), cluster.instances[:1]),
                "cluster (nginx, 2)": (cluster.url, cluster.instances),
            }
            print(
                f"\n{'':20} {'users':>5} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6} "
                f"{'CPU ms/req':>10}   {PARTIAL}: p50 / p95 ms"
            )
            results: dict[tuple[str, int], dict[str, dict[str, str]]] = {}
            unloaded: dict[str, float] = {}
            for label, (url, instances) in targets.items():
                unloaded[label] = unloaded_partial_p50(url, sessions[0])
                pids = [pid for i in instances for pid in worker_pids(i.proc.pid)]  # type: ignore[union-attr]
                for users in USERS:
                    before = cpu_ms(pids)
                    stats = run_locust(url, users, sessions, Path(tmp))
                    used = cpu_ms(pids) - before
                    results[label, users] = stats
                    total, part = stats["Aggregated"], stats[PARTIAL]
                    requests = int(total["Request Count"])
                    print(
                        f"{label:20} {users:>5} {float(total['Requests/s']):>7.1f} "
                        f"{total['50%']:>7} {total['95%']:>7} {total['Failure Count']:>6} "
                        f"{used / max(requests, 1):>10.1f}   {part['50%']} / {part['95%']}"
                    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end {load} (other work on the machine inflates every figure)")
    for label in targets:
        base = unloaded[label]
        p95 = float(results[label, 16][PARTIAL]["95%"])
        errors = int(results[label, 50]["Aggregated"]["Failure Count"])
        print(
            f"{label}: {PARTIAL} unloaded p50 {base:.1f} ms; p95 at 16 users {p95:.0f} ms = "
            f"{p95 / base:.1f} x (target <= 4 x: {verdict(p95 <= 4 * base)}); "
            f"errors at 50 users {errors} (target 0: {verdict(errors == 0)})"
        )


if __name__ == "__main__":
    main()
