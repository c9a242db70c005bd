"""deploy/'s files read as files (tests/cluster runs them): /metrics across the workers
of one instance."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from deploy.cluster import DEPLOY, Cluster, Config, Unit


def test_deploy_unit_gives_each_instance_its_metrics_directory() -> None:
    unit = Unit.read()
    assert unit.runtime_directory == "hostadmin-%i"
    assert unit.environment["PROMETHEUS_MULTIPROC_DIR"] == "/run/hostadmin-%i"
    assert unit.environment["DJANGO_ENV"] == "production"  # the other Environment= line


def test_deploy_gunicorn_child_exit_drops_the_dead_workers_live_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    for name in ("gauge_livesum_4242.db", "gauge_livesum_4343.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf["child_exit"](None, SimpleNamespace(pid=4242))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["counter_4242.db", "gauge_livesum_4343.db"]


def test_deploy_gunicorn_child_exit_without_the_variable_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    assert conf["child_exit"](None, SimpleNamespace(pid=4242)) is None
    assert (tmp_path / "gauge_livesum_4242.db").exists()


def test_deploy_cluster_empties_each_instances_metrics_directory(tmp_path: Path) -> None:
    cluster = Cluster(Config(database_url="postgres://x/y", redis_url="", workdir=tmp_path))
    first = cluster.instance_env(8001)["PROMETHEUS_MULTIPROC_DIR"]
    assert first == str(tmp_path / "run" / "hostadmin-8001")
    (Path(first) / "counter_1.db").write_bytes(b"stale")
    again = cluster.instance_env(8001)
    assert again["PROMETHEUS_MULTIPROC_DIR"] == first
    assert list(Path(first).iterdir()) == []  # emptied, as systemd's RuntimeDirectory
    assert cluster.instance_env(8002)["PROMETHEUS_MULTIPROC_DIR"] != first
    assert "PROMETHEUS_MULTIPROC_DIR" not in cluster.env  # manage.py runs use none
