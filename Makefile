# The developer's entry points. `make up` runs the stack, `make test` runs every test
# against a real Keycloak. Both install what they need on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# `make up REPLICAS=2 DB=postgres`: portal processes behind the front door (empty: one,
# or compose's own count) and the platform's database (sqlite or postgres).
REPLICAS ?=
DB ?= sqlite

.PHONY: help venv chromium system-packages keycloak up down logs test test-unit bench lint format clean

help:
	@echo "make up      start Keycloak and the portal (http://127.0.0.1:8050)"
	@echo "             REPLICAS=2 DB=postgres: two portal processes, PostgreSQL and Redis"
	@echo "make down    stop them"
	@echo "make logs    show the last log lines"
	@echo "make test    run the whole test suite against a real Keycloak"
	@echo "make bench   run the benchmarks"
	@echo "make lint    ruff check and format check"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml appkit/pyproject.toml cli/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip install --quiet --no-deps -e ./appkit
	$(PY) -m pip install --quiet --no-deps -e ./cli
	@touch $(STAMP)

venv: $(STAMP)

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The front door (nginx), the app sandbox (bubblewrap), PostgreSQL and Redis, from the system's
# packages. The tests and `make up DB=postgres` run PostgreSQL and Redis as their own processes
# (portal/hosting/localdb.py) on free ports with private folders, so a system cluster the package
# may start on 5432 (or a system Redis on 6379) is never used and collides with nothing.
system-packages:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "installing nginx (the front door) with apt-get"; \
			$(SUDO) apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
		elif command -v brew >/dev/null 2>&1; then \
			echo "installing nginx (the front door) with brew"; brew install nginx; \
		else \
			echo "nginx (the front door) is missing: install it with your package manager, e.g. 'sudo dnf install nginx'"; \
			exit 1; \
		fi; }
	@command -v bwrap >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
		echo "installing bubblewrap (the app sandbox) with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }
	@test -n "$$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null)" || command -v pg_ctl >/dev/null 2>&1 || \
		! command -v apt-get >/dev/null 2>&1 || { \
		echo "installing postgresql (the platform's database at scale, and the tests') with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
		echo "installing redis-server (sessions at scale, and the tests') with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

keycloak: venv
	$(PY) -m kcctl fetch

up: venv system-packages
	$(PY) scripts/stack.py up --replicas "$(REPLICAS)" --db "$(DB)"

down:
	@$(PY) scripts/stack.py down

logs:
	@$(PY) scripts/stack.py logs

test: venv chromium system-packages keycloak
	$(PY) -m pytest

test-unit: venv system-packages
	$(PY) -m pytest tests/unit

bench: venv keycloak
	$(PY) -m bench.run $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var test-artifacts .pytest_cache .ruff_cache
