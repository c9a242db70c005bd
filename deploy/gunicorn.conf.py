"""gunicorn settings of one hostadmin instance (``gunicorn -c deploy/gunicorn.conf.py``).

Used as is by the systemd unit (deploy/systemd/hostadmin@.service), ``make cluster``,
``make load`` and tests/cluster. The bind address comes from the command line (one port
per instance); a few numbers may be tuned through the environment.
"""

import os
from typing import Any

wsgi_app = "hostadmin.wsgi:application"

# Threads, not processes, do the waiting: a request spends most of its time on the
# upstream API, and nginx in front buffers slow clients, so a thread is never held by a
# client's network. One worker process per core, each with its own upstream pool.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "16"))

# No worker timeout: a 100,000-row CSV export streams for many seconds and must not be
# killed mid-file. On SIGTERM a worker stops accepting, finishes what is in flight for up
# to graceful_timeout seconds, then exits; an export cut then fails visibly (its chunked
# body never ends), never as a file that looks complete.
timeout = 0
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5  # nginx keeps idle upstream connections open (upstream keepalive 16)

# A detail link carries the list view it came from: longer than the default 4,094 bytes.
limit_request_line = 8190

# One access line per request, with nginx's request id (X-Request-ID), the time taken in
# milliseconds and the worker's pid. No query strings: they hold search text (customer
# data).
accesslog = "-"
access_log_format = '%(h)s %({x-request-id}i)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %(p)s'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Behind nginx on the same host: trust its X-Forwarded-* headers from loopback only.
forwarded_allow_ips = "127.0.0.1,::1"

# Instances are managed with signals (systemd, make cluster). gunicorn's control socket
# has one default path per user, which two instances on one host would share.
control_socket_disable = True


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: with PROMETHEUS_MULTIPROC_DIR set (the systemd unit sets it), drop
    its live gauges from /metrics (its counters stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
