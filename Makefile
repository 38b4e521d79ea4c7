# The two commands: `make run` serves Cognate on the embedded defaults, `make test` runs
# every check. Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint pytest chromium bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable '.[dev]'
	touch $(VENV)/.runtime $@

run: $(VENV)/.runtime
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_demo_pool --endpoint http://$(HOST):$(PORT)/aws
	$(BIN)/daphne -b $(HOST) -p $(PORT) config.asgi:application

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	SECRET_KEY=type-checking-only $(BIN)/mypy

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The browser tests drive Debian's Chromium (never a downloaded one). Installed with apt when
# missing and possible; without it those tests skip (and fail in CI).
chromium:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "Chromium is not installed at $(CHROMIUM): the browser tests will skip (and fail in CI)."

pytest: $(VENV)/.dev node_modules/.package-lock.json chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint pytest

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .ruff_cache
