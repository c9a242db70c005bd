# hostadmin: `make demo` runs the site against the sandbox; `make test` checks everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SANDBOX_PORT ?= 8100
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
CLUSTER_PORT ?= 8080

.PHONY: demo test test-postgres lint typecheck browser install bench clean cluster nginx test-cluster load

# Dependencies are PEP 735 groups in pyproject.toml (`pip install --group`, pip >= 25.1).
$(VENV)/.pip:
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "pip>=25.1"
	@touch $@

$(VENV)/.run: pyproject.toml $(VENV)/.pip
	$(PY) -m pip install --quiet --disable-pip-version-check --group run
	@touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.pip
	$(PY) -m pip install --quiet --disable-pip-version-check --group dev
	@touch $@ $(VENV)/.run

install: $(VENV)/.dev

# DEBUG off: anonymous visitors see the plain error pages, never Django's debug page;
# whitenoise serves static/ from the finders, as in development. The task worker and the
# sweep run the background exports (README, Exports in the background).
DEMO_ENV = DEBUG=0 ALLOWED_HOSTS=127.0.0.1,localhost \
  UPSTREAM_BASE_URL=http://127.0.0.1:$(SANDBOX_PORT)/v1-beta
demo: $(VENV)/.run
	@mkdir -p var
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py demo_setup
	@echo ""
	@echo "  hostadmin demo: http://127.0.0.1:$(PORT)/   (username: demo, password: demo)"
	@echo "  sandbox upstream: http://127.0.0.1:$(SANDBOX_PORT)/v1-beta   Ctrl-C stops all."
	@echo "  background exports: one task worker (manage.py db_worker) and the sweep."
	@echo ""
	@trap 'kill 0' INT TERM; \
	$(PY) -m sandbox --port $(SANDBOX_PORT) & \
	$(DEMO_ENV) $(PY) manage.py db_worker --interval 1 --worker-id demo & \
	$(DEMO_ENV) $(PY) manage.py exports_sweep --every 30 & \
	$(DEMO_ENV) $(VENV)/bin/gunicorn hostadmin.wsgi --worker-class gthread --workers 1 --threads 16 \
	  --timeout 0 --limit-request-line 8190 --bind 127.0.0.1:$(PORT) --access-logfile - & \
	wait

# Debian's Chromium for the end-to-end tests (Playwright drives it; no browser download).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

test: install browser lint typecheck
	REDIS_URL= $(VENV)/bin/pytest

# Every test again as deployed, Chromium ones included: PostgreSQL (127.0.0.1:5432, database
# `test`) and the Redis cache (127.0.0.1:6379, database 15, flushed by the tests).
test-postgres: install browser
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_TEST_URL) $(VENV)/bin/pytest -p no:cacheprovider

bench: install
	$(PY) bench/bench_list.py
	$(PY) bench/bench_export.py
	$(PY) bench/bench_export_steps.py
	$(PY) bench/bench_background_export.py

# Debian's nginx for the cluster (run as our own foreground process, never as a service).
nginx:
	@test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx >/dev/null; }

# The production topology on loopback, from deploy/: nginx on 127.0.0.1:$(CLUSTER_PORT) in
# front of two gunicorn instances, the sandbox, the machine's PostgreSQL (database
# `hostadmin`, or DATABASE_URL) and Redis (REDIS_URL, default database 1). Ctrl-C stops all.
cluster: $(VENV)/.run nginx
	CLUSTER_PORT=$(CLUSTER_PORT) $(PY) -m deploy.cluster

# The same topology under test (tests/cluster): PostgreSQL database `hostadmin_cluster_test`,
# Redis database 12 (flushed), free ports; a throwaway PostgreSQL and Redis for the outages.
test-cluster: install nginx
	REDIS_URL= $(VENV)/bin/pytest -p no:cacheprovider tests/cluster

# Locust against one instance and against the cluster; prints the figures and the machine.
load: install nginx
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
