# One-command tasks. Needs only Python 3.13 and make: everything else is installed by `make install`.
PYTHON ?= python3.13
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
SAM_HOME := $(CURDIR)/.venv-sam
SAM := $(SAM_HOME)/bin/sam

.PHONY: install run test test-unit test-integration test-e2e lint format typecheck cfn-lint build deploy bench openapi clean

.venv/.installed: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed

run: install  ## the whole API on this machine: gateway on :3000, AWS endpoint on :4566
	$(RUN) agentmessage local

test: install  ## every test tier, then lint, types and the template check
	$(RUN) pytest
	$(MAKE) --no-print-directory lint typecheck cfn-lint

test-unit: install
	$(RUN) pytest tests/unit

test-integration: install
	$(RUN) pytest tests/integration

test-e2e: install
	$(RUN) pytest tests/e2e

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: install
	$(RUN) mypy layers/common functions local tests bench

cfn-lint: install
	$(RUN) cfn-lint infra/template.yaml

$(SAM):
	$(UV) venv --quiet $(SAM_HOME)
	$(UV) pip install --quiet --python $(SAM_HOME)/bin/python aws-sam-cli

build: $(SAM)  ## sam build: functions and the layer for python3.13 on arm64 (no Docker)
	SAM_CLI_TELEMETRY=0 $(SAM) build

deploy: build  ## sam deploy with samconfig.toml (ENV=prod for production)
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-env $(or $(ENV),default)

bench: install  ## cold start and warm time per function, against floors measured in the same run
	$(RUN) python bench/run.py

openapi: install
	$(RUN) agentmessage openapi > docs/openapi.json

clean:
	rm -rf .venv .venv-sam .aws-sam .pytest_cache .mypy_cache .ruff_cache
