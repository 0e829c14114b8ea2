# Engawa: `make run` serves the demo network; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
# The address links in mails and calendars point at (core/config.py). Serving the
# LAN with HOST=0.0.0.0? Set BASE_URL to the address others use (or TRUSTED_HOSTS).
BASE_URL ?= http://$(HOST):$(PORT)
FLASK := $(BIN)/flask --app wsgi
CATALOGS := $(wildcard translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run prod test install install-dev lint format chromium nginx node vendor translations extract-messages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed translations vendor
install-dev: $(VENV)/.installed-dev translations vendor

# Front-end libraries from npm (package.json, locked in package-lock.json), copied
# into static/vendor: the app serves them itself, no CDN. axe-core stays in
# node_modules for the browser tests.
vendor: static/vendor/.installed
static/vendor/.installed: package.json package-lock.json tools/vendor-assets.mjs | node
	npm ci --no-audit --no-fund --loglevel=error
	node tools/vendor-assets.mjs
	touch $@

# Debian's Node.js and npm, for `make vendor`.
node:
	@if ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's nodejs and npm for the front-end libraries"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "npm is missing: run 'sudo apt-get install nodejs npm'"; exit 1; \
	  fi; \
	fi

translations: $(COMPILED)
%.mo: %.po | $(VENV)/.installed
	$(BIN)/pybabel compile -i $< -o $@ >/dev/null

# Re-extract the message catalogue after changing user-facing strings.
extract-messages: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_ngettext:1,2 -o translations/messages.pot --no-location --omit-header \
	  --ignore-dirs=".venv tests benchmarks migrations instance" .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

# The web server and the scheduler together; Ctrl-C (or any exit) stops both.
# Without SECRET_KEY every process reads the one key in instance/secret_key (the
# first to start writes it). To import calendars served from this machine or the
# LAN while developing: CALENDAR_ALLOW_PRIVATE_HOSTS=1 make run
run: install
	@export BASE_URL='$(BASE_URL)' && \
	$(FLASK) db upgrade && \
	$(FLASK) seed-demo && \
	trap 'kill $$scheduler 2>/dev/null; wait $$scheduler 2>/dev/null' EXIT && \
	{ $(FLASK) scheduler run & scheduler=$$!; } && \
	echo "Engawa on $(BASE_URL) with the scheduler (Ctrl-C stops both)" && \
	if [ -n "$$SMTP_HOST" ]; then \
	  echo "Mail: sent through $$SMTP_HOST (SMTP_PORT, SMTP_USER, SMTP_STARTTLS as set)"; \
	else \
	  echo "Mail: SMTP_HOST is not set, so no mail leaves this machine; each person reads theirs at $(BASE_URL)/dev/mail"; \
	fi && \
	$(FLASK) run --host $(HOST) --port $(PORT)

# The production processes on this machine (Procfile, run by honcho): gunicorn on
# 127.0.0.1:$(PROD_PORT) and two schedulers (one leads, the other stands by, ready to take
# over), on PostgreSQL: the database engawa_prod on 127.0.0.1:5432, made when missing,
# or DATABASE_URL when set. Ctrl-C stops them all (honcho: SIGTERM, SIGKILL after 5 s).
# Production's processes with development's settings: ENGAWA_ENV=production refuses an
# http BASE_URL, the demo network and the development mailbox, all of which a try on
# one machine needs. Logs are JSON lines as in production. Run the real thing with
# ENGAWA_ENV=production and its variables set (docs/OPERATIONS.md): no demo data then.
PROD_PORT ?= 8000
PROD_DB ?= engawa_prod
PROD_PG ?= host=127.0.0.1 port=5432 user=postgres dbname=postgres
prod: install
	@set -e; \
	if [ -z "$$DATABASE_URL" ]; then \
	  $(BIN)/python -c "import psycopg; c = psycopg.connect('$(PROD_PG)', autocommit=True); \
	    c.execute('SELECT 1 FROM pg_database WHERE datname = %s', ['$(PROD_DB)']).fetchone() \
	    or c.execute('CREATE DATABASE \"$(PROD_DB)\"')"; \
	  export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$(PROD_DB)"; \
	fi; \
	export PATH="$(CURDIR)/$(BIN):$$PATH"; \
	export GUNICORN_BIND="$${GUNICORN_BIND:-127.0.0.1:$(PROD_PORT)}"; \
	export WEB_CONCURRENCY="$${WEB_CONCURRENCY:-2}"; \
	export LOG_FORMAT="$${LOG_FORMAT:-json}"; \
	$(FLASK) db upgrade; \
	if [ "$$ENGAWA_ENV" != production ]; then \
	  export BASE_URL="$${BASE_URL:-http://127.0.0.1:$(PROD_PORT)}"; \
	  $(FLASK) seed-demo; \
	fi; \
	echo "Engawa on http://$$GUNICORN_BIND: gunicorn with WEB_CONCURRENCY=$$WEB_CONCURRENCY, and 2 schedulers (Ctrl-C stops all)"; \
	exec $(BIN)/honcho --no-colour start -c web=1,scheduler=2

# Debian's nginx, for the surge benchmark and its smoke test (benchmarks/surge.py).
nginx:
	@if [ ! -x /usr/sbin/nginx ] || ! command -v redis-server >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's nginx and redis-server for the surge benchmark"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx redis-server >/dev/null; \
	  else \
	    echo "nginx or redis-server is missing: run 'sudo apt-get install nginx redis-server' (the surge smoke test skips without them)"; \
	  fi; \
	fi

# Debian's Chromium for the browser tests (never a downloaded browser build).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install chromium' (browser tests skip without it)"; \
	  fi; \
	fi

# ruff, and the layers contract: every import points down (docs/ARCHITECTURE.md).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# One pytest worker per core (pytest-xdist); a test file's tests stay together on one
# worker. TEST_WORKERS=0 runs them all in this one process. The 40 slowest tests are
# listed at the end, to keep the run inside CI's budget.
TEST_WORKERS ?= auto
test: install-dev chromium nginx lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=40 $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python benchmarks/search_and_book.py

clean:
	rm -rf $(VENV) instance/engawa.db* .pytest_cache .ruff_cache node_modules static/vendor
