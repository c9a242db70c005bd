"""The production topology on loopback, from the files in deploy/: the sandbox upstream,
N hostadmin instances (gunicorn with deploy/gunicorn.conf.py, started as
deploy/systemd/hostadmin@.service starts them), one background export worker and the
sweep (as hostadmin-worker@.service and hostadmin-sweep.service run them) and Debian's
nginx with deploy/nginx/hostadmin.conf, on the machine's PostgreSQL and Redis.

    python -m deploy.cluster              # make cluster: in the foreground, Ctrl-C stops all
    python -m deploy.cluster nginx-conf --listen 80 --instances 8001,8002 \\
        --static-root /srv/hostadmin/var/staticfiles     # the site file for an operator

``make load`` (bench/load.py) and tests/cluster start the same topology through
``Cluster``, each on its own database, Redis database and free ports.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "hostadmin@.service"
SITE = DEPLOY / "nginx" / "hostadmin.conf"
UNIT_ROOT = "/srv/hostadmin"  # where the unit expects the checkout
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(
    url: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout} s")


# --- the files in deploy/ ------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """What the systemd unit says about starting and stopping an instance."""

    exec_start: list[str]
    environment: dict[str, str]  # every Environment= line; values may hold %i
    runtime_directory: str  # RuntimeDirectory= (under /run), "" if none
    kill_signal: signal.Signals
    timeout_stop: float

    @classmethod
    def read(cls, path: Path = UNIT) -> Unit:
        service: dict[str, str] = {}
        env: dict[str, str] = {}
        section = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif section == "Service" and "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                service[key] = value
                if key == "Environment":
                    env.update(item.partition("=")[::2] for item in shlex.split(value))
        return cls(
            exec_start=shlex.split(service["ExecStart"]),
            environment=env,
            runtime_directory=service.get("RuntimeDirectory", ""),
            kill_signal=signal.Signals[service.get("KillSignal", "SIGTERM")],
            timeout_stop=float(service.get("TimeoutStopSec", "90")),
        )

    def instance_environment(self, port: int, run: Path) -> dict[str, str]:
        """Environment= for instance ``port``, with ``run`` standing for /run and the
        RuntimeDirectory made there empty, as systemd makes it at each start."""
        if self.runtime_directory:
            folder = run / self.runtime_directory.replace("%i", str(port))
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        return {
            name: value.replace("%i", str(port)).replace("/run/", f"{run}/")
            for name, value in self.environment.items()
        }

    def command(self, port: int) -> list[str]:
        """ExecStart for instance ``port``, with this checkout for /srv/hostadmin."""
        venv_bin = f"{UNIT_ROOT}/.venv/bin/"
        out = []
        for arg in self.exec_start:
            arg = arg.replace("%i", str(port))
            if arg.startswith(venv_bin):
                arg = str(VENV_BIN / arg.removeprefix(venv_bin))
            out.append(arg.replace(UNIT_ROOT, str(ROOT)))
        return out


def nginx_site(*, listen: str, instances: list[int], static_root: Path, access_log: str) -> str:
    """deploy/nginx/hostadmin.conf with its @NAMES@ filled in."""
    servers = "\n    ".join(
        f"server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in instances
    )
    text = SITE.read_text()
    for name, value in {
        "@LISTEN@": listen,
        "@UPSTREAM_SERVERS@": servers,
        "@STATIC_ROOT@": str(static_root),
        "@ACCESS_LOG@": access_log,
    }.items():
        text = text.replace(name, value)
    return text


def nginx_main(prefix: Path) -> str:
    """The wrapper an operator gets from Debian's /etc/nginx/nginx.conf: a private pid file
    and temp folders, in the foreground, logging to stderr."""
    return f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    include {prefix}/hostadmin.conf;
}}
"""


def nginx_binary() -> str:
    """Debian's nginx (``make nginx`` installs it; it runs as a foreground process of
    ours, never as the system's service)."""
    found = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if not found:
        raise RuntimeError("nginx is not installed: `make nginx` (apt-get install nginx)")
    return found


def static_is_current() -> bool:
    """collectstatic's output is newer than the project's static files and the last
    install (post-processing every file again takes half a minute on two busy cores)."""
    manifest = ROOT / "var" / "staticfiles" / "staticfiles.json"
    if not manifest.exists():
        return False
    sources = [p for p in (ROOT / "static").rglob("*") if p.is_file()]
    sources += [p for p in (ROOT / ".venv").glob(".*") if p.is_file()]  # install stamps
    newest = max((p.stat().st_mtime for p in sources), default=0.0)
    return manifest.stat().st_mtime > newest


# --- the database ------------------------------------------------------------------------


def ensure_database(database_url: str, *, fresh: bool = False) -> None:
    """Create the PostgreSQL database of ``database_url`` if it is missing (``fresh``:
    drop it first), connecting to the server's ``postgres`` database."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
        if fresh:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def loopback_keys(folder: Path) -> dict[str, str]:
    """SECRET_KEY and FERNET_KEY of the loopback cluster, made once and kept in ``folder``
    (sessions and encrypted API client secrets survive a restart)."""
    path = folder / "keys.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    folder.mkdir(parents=True, exist_ok=True)
    keys = {
        "SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return keys


# --- the cluster -------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path | None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out: IO[bytes] | None = None
        if self.log is not None:
            out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
        if out is not None:
            out.close()  # the child has its own copy

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Stop and wait (SIGKILL after ``timeout``); the exit code."""
        if self.proc is None:
            return None
        self.send(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@dataclass
class Config:
    database_url: str
    redis_url: str
    port: int = 8080  # nginx
    instances: int = 2
    workdir: Path = ROOT / "var" / "cluster"
    sandbox_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # more settings for the instances
    logs_to_files: bool = False  # else everything prints to this terminal
    fresh_database: bool = False


class Cluster:
    """Start with ``with Cluster(config) as cluster:``; everything stops on the way out."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.unit = Unit.read()
        self.workdir = config.workdir
        self.sandbox_port = free_port()
        self.instance_ports = [free_port() for _ in range(config.instances)]
        self.processes: list[Process] = []
        self.instances: list[Process] = []

    # addresses
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.port}"

    def instance_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.instance_ports[i]}"

    @property
    def upstream_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}/v1-beta"

    @property
    def sandbox_control(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}/_sandbox"

    def log_of(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    @property
    def env(self) -> dict[str, str]:
        """The instances' environment: the unit's Environment=, the loopback keys, the
        dependencies, then the config's own settings."""
        keys = loopback_keys(self.workdir)
        shared = {k: v for k, v in self.unit.environment.items() if "%i" not in v}
        return {
            **os.environ,
            **shared,
            **keys,
            "FERNET_KEYS": keys["FERNET_KEY"],  # the key list's name in newer settings
            "PLAIN_HTTP": "1",  # no TLS on loopback
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": self.config.database_url,
            "REDIS_URL": self.config.redis_url,
            "UPSTREAM_BASE_URL": self.upstream_url,
            "GUNICORN_WORKERS": "1",  # one process per instance: two instances on two cores
            **self.config.env,
        }

    def manage(self, *args: str) -> str:
        """Run manage.py with the instances' settings; its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def manage_all(self, commands: list[list[str]]) -> None:
        """Several management commands in one process (Django starts once)."""
        script = "from django.core.management import call_command\n" + "".join(
            f"call_command(*{command!r})\n" for command in commands
        )
        self.manage("shell", "-c", script)

    # life cycle
    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self._spawn(
            "sandbox",
            [
                sys.executable,
                "-m",
                "sandbox",
                "--port",
                str(self.sandbox_port),
                *self.config.sandbox_args,
            ],
        )
        ensure_database(self.config.database_url, fresh=self.config.fresh_database)
        commands = [["migrate", "--noinput", "-v", "0"], ["demo_setup"]]
        if not static_is_current():
            commands.append(["collectstatic", "--noinput", "-v", "0"])
        self.manage_all(commands)
        for port in self.instance_ports:
            command = self.unit.command(port)
            self.instances.append(self._spawn(f"instance-{port}", command, self.instance_env(port)))
        wait_until_up(f"{self.sandbox_control}/health", proc=self.processes[0].proc)
        for i, instance in enumerate(self.instances):
            wait_until_up(f"{self.instance_url(i)}/healthz", proc=instance.proc)
        # Background exports: one task worker and the sweep (deploy/systemd's
        # hostadmin-worker@.service and hostadmin-sweep.service run the same commands).
        manage = [sys.executable, "manage.py"]
        self._spawn("worker", [*manage, "db_worker", "--interval", "1", "--worker-id", "w1"])
        self._spawn("sweep", [*manage, "exports_sweep", "--every", "30"])
        self._start_nginx()
        wait_until_up(f"{self.url}/nginx-health", proc=self.processes[-1].proc)

    def instance_env(self, port: int) -> dict[str, str]:
        """The environment of instance ``port``: the instances' one, then the unit's
        per-instance variables, its RuntimeDirectory (PROMETHEUS_MULTIPROC_DIR) an emptied
        folder in workdir/run/."""
        return {**self.env, **self.unit.instance_environment(port, self.workdir / "run")}

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Process:
        log = self.log_of(name) if self.config.logs_to_files else None
        process = Process(name, command, env or self.env, log)
        process.start()
        self.processes.append(process)
        return process

    def _start_nginx(self) -> None:
        prefix = self.workdir / "nginx"
        (prefix / "temp").mkdir(parents=True, exist_ok=True)
        access = str(self.log_of("nginx-access"))
        site = nginx_site(
            listen=f"127.0.0.1:{self.config.port}",
            instances=self.instance_ports,
            static_root=ROOT / "var" / "staticfiles",
            access_log=access,
        )
        (prefix / "hostadmin.conf").write_text(site)
        (prefix / "nginx.conf").write_text(nginx_main(prefix))
        binary = nginx_binary()
        conf = ["-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
        subprocess.run([binary, *conf, "-t", "-q"], check=True)
        self._spawn("nginx", [binary, *conf], env=dict(os.environ))

    def stop_instance(self, i: int, *, wait: bool = True) -> None:
        """Stop instance ``i`` as systemd would (KillSignal, then SIGKILL after
        TimeoutStopSec)."""
        instance = self.instances[i]
        if wait:
            instance.stop(self.unit.kill_signal, self.unit.timeout_stop)
        else:
            instance.send(self.unit.kill_signal)

    def start_instance(self, i: int) -> None:
        instance = self.instances[i]
        instance.env = self.instance_env(self.instance_ports[i])  # emptied, as at a start
        instance.start()
        wait_until_up(f"{self.instance_url(i)}/healthz", proc=instance.proc)

    def stop(self) -> None:
        for process in reversed(self.processes):
            timeout = self.unit.timeout_stop if process in self.instances else 10.0
            process.stop(signal.SIGTERM, timeout)

    def faults(self, body: dict[str, Any] | None) -> None:
        """Set the sandbox's faults (e.g. ``{"latency_ms": 20}``); None clears them."""
        if body is None:
            httpx.delete(f"{self.sandbox_control}/faults").raise_for_status()
        else:
            httpx.post(f"{self.sandbox_control}/faults", json=body).raise_for_status()


# --- make cluster ------------------------------------------------------------------------


def run(port: int) -> None:
    config = Config(
        database_url=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hostadmin"),
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1"),
        port=port,
    )
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    with Cluster(config) as cluster:
        print(
            f"\n  hostadmin cluster: {cluster.url}/   (username: demo, password: demo)\n"
            f"  nginx -> {', '.join(cluster.instance_url(i) for i in range(config.instances))}"
            f"  (gunicorn, deploy/gunicorn.conf.py)\n"
            f"  sandbox upstream: {cluster.upstream_url}   Ctrl-C stops all.\n"
            f"  nginx's access log: {cluster.log_of('nginx-access')}\n",
            flush=True,
        )
        try:
            while not stopping and all(p.running for p in cluster.processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        for p in cluster.processes:
            if not p.running:
                print(f"{p.name} exited; stopping the cluster", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    conf = sub.add_parser("nginx-conf", help="print deploy/nginx/hostadmin.conf filled in")
    conf.add_argument("--listen", default="80")
    conf.add_argument("--instances", default="8001,8002", help="instance ports")
    conf.add_argument("--static-root", default=f"{UNIT_ROOT}/var/staticfiles")
    conf.add_argument("--access-log", default="/var/log/nginx/hostadmin.access.log")
    args = parser.parse_args(argv)
    if args.command == "nginx-conf":
        print(
            nginx_site(
                listen=args.listen,
                instances=[int(p) for p in args.instances.split(",")],
                static_root=Path(args.static_root),
                access_log=args.access_log,
            )
        )
        return
    run(int(os.environ.get("CLUSTER_PORT", "8080")))


if __name__ == "__main__":
    main()
