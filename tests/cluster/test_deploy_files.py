"""What deploy/'s files promise, checked on the running cluster: long request lines,
static files from collectstatic, one request id in nginx's and gunicorn's logs, health
endpoints answering HEAD, and a systemd stop timeout past gunicorn's graceful timeout."""

from __future__ import annotations

import os
import re
import runpy
import time

import httpx

from deploy.cluster import DEPLOY, Cluster, Unit
from tests.cluster.conftest import log_text, signed_in


def test_deploy_long_request_line_reaches_the_app(cluster: Cluster) -> None:
    """A detail link carries the list view it came from; gunicorn's default 4,094-byte
    request line would refuse it (limit_request_line 8190, nginx's 16k header buffers)."""
    client = signed_in(cluster.url)
    search = "é" * 255  # 1,530 bytes percent-encoded, the longest search there is
    path = f"/connections/?search_text={search}&order_by=host_email&" + "cols=host_name&" * 300
    assert len(httpx.URL(cluster.url + path).raw_path) > 6000
    for url in (cluster.url, cluster.instance_url(0)):
        page = client.get(url + path)
        assert page.status_code == 200, url
        assert "connections" in page.text


def test_deploy_static_files_from_collectstatic_cached_for_good(cluster: Cluster) -> None:
    page = httpx.get(f"{cluster.url}/login/")
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
    assert css, page.text[:500]  # a content-hashed name (ManifestStaticFilesStorage)
    response = httpx.get(cluster.url + css.group(1), headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Server"] == "nginx"  # nginx itself, not an instance
    assert response.headers["Content-Encoding"] == "gzip"  # whitenoise's .gz, gzip_static
    assert "css" in response.headers["Content-Type"]


def test_deploy_request_id_in_nginx_and_gunicorn_logs(cluster: Cluster) -> None:
    marker = f"/healthz-probe-{os.getpid()}-{time.monotonic_ns()}"
    httpx.get(f"{cluster.url}{marker}")  # a 404 from an instance, logged by both
    deadline = time.monotonic() + 5
    nginx_line = ""
    while not nginx_line and time.monotonic() < deadline:
        nginx_line = next(
            (li for li in log_text(cluster, "nginx-access").splitlines() if marker in li), ""
        )
        time.sleep(0.1)
    request_id = re.search(r" ([0-9a-f]{32}) ", nginx_line)
    assert request_id, nginx_line
    instances = "".join(log_text(cluster, f"instance-{p}") for p in cluster.instance_ports)
    assert f'{request_id.group(1)} "GET {marker}" 404' in instances


def test_deploy_health_endpoints_answer_head_through_nginx(cluster: Cluster) -> None:
    for path in ("/nginx-health", "/healthz", "/readyz"):
        assert httpx.head(cluster.url + path).status_code == 200, path
        assert httpx.get(cluster.url + path).status_code == 200, path
    ready = httpx.get(cluster.url + "/readyz").json()
    assert ready == {"status": "ok", "database": "ok", "cache": "ok"}


def test_deploy_systemd_waits_longer_than_the_graceful_timeout() -> None:
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    unit = Unit.read()
    assert conf["timeout"] == 0 and conf["worker_class"] == "gthread"
    assert unit.timeout_stop > conf["graceful_timeout"]
    assert "deploy/gunicorn.conf.py" in unit.command(8001)
    assert "127.0.0.1:8001" in unit.command(8001)
