# One-command tasks. Needs only Python 3.13 and make: everything else is installed by `make install`.
PYTHON ?= python3.13
# uv: the one installed for $(PYTHON) (`python -m uv`), or, where $(PYTHON) refuses a pip install
# (PEP 668: an "externally managed" system Python), one bootstrapped into a venv of its own here.
UV_HOME := $(CURDIR)/.venv-uv
UV = $(shell test -x $(UV_HOME)/bin/uv && echo $(UV_HOME)/bin/uv || echo $(PYTHON) -m uv)
RUN = $(UV) run --frozen
SAM_HOME := $(CURDIR)/.venv-sam
SAM := $(SAM_HOME)/bin/sam
CHECKOV_HOME := $(CURDIR)/.venv-checkov

.PHONY: install uv run test test-unit test-integration test-e2e lint format typecheck cfn-lint checkov template-check build deploy bench bench-start bench-burst openapi clean

uv:  ## uv for $(PYTHON): already there, else pip-installed, else bootstrapped into .venv-uv
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || test -x $(UV_HOME)/bin/uv || \
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv 2>/dev/null || { \
	  echo "$(PYTHON) takes no pip install (PEP 668?): installing uv into $(UV_HOME)"; \
	  $(PYTHON) -m venv $(UV_HOME) && \
	  $(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check uv; }

.venv/.installed: pyproject.toml uv.lock | uv
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed

run: install  ## the whole API on this machine: gateway on :3000, AWS endpoint on :4566 (RUN_ARGS: more flags)
	$(RUN) agentmessage local $(RUN_ARGS)

test: install  ## every test tier, then lint, types and the template checks
	$(RUN) pytest
	$(MAKE) --no-print-directory lint typecheck template-check

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

template-check: cfn-lint checkov  ## the template: cfn-lint with the serverless rules, then checkov

cfn-lint: install
	$(RUN) cfn-lint infra/template.yaml --append-rules cfn_lint_serverless.rules

# checkov runs from an environment of its own, locked as pyproject.toml's `checkov` group. Any
# finding fails the build unless the template skips it with its reason (Metadata.checkov).
$(CHECKOV_HOME)/.installed: pyproject.toml uv.lock | uv
	UV_PROJECT_ENVIRONMENT=$(CHECKOV_HOME) $(UV) sync --quiet --frozen --only-group checkov
	@touch $@

checkov: $(CHECKOV_HOME)/.installed
	$(CHECKOV_HOME)/bin/checkov --file infra/template.yaml --framework cloudformation \
	  --quiet --compact --skip-download

$(SAM):
	$(UV) venv --quiet $(SAM_HOME)
	$(UV) pip install --quiet --python $(SAM_HOME)/bin/python aws-sam-cli

# sam build runs the layer's Makefile in a scratch folder, outside this checkout's .python-version:
# hand it the interpreter and uv by their paths.
build: $(SAM)  ## sam build: functions and the layer for python3.13 on arm64 (no Docker)
	SAM_CLI_TELEMETRY=0 PYTHON="$$($(PYTHON) -c 'import sys; print(sys.executable)')" \
	UV="$$(test -x $(UV_HOME)/bin/uv && echo $(UV_HOME)/bin/uv || $(PYTHON) -c 'import uv; print(uv.find_uv_bin())')" \
	$(SAM) build

deploy: build  ## sam deploy with samconfig.toml (ENV=prod for production)
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-env $(or $(ENV),default)

bench: install  ## cold start and warm time per function, against floors measured in the same run
	$(RUN) python bench/run.py

bench-start: install  ## seconds from `make run` to the first answered send (median of 5)
	$(RUN) python bench/local_start.py

bench-burst: install  ## a burst at the stage's rate limit for 60 s, and how long until every message is out
	$(RUN) python bench/burst.py

openapi: install
	$(RUN) agentmessage openapi > docs/openapi.json

clean:
	rm -rf .venv .venv-sam .venv-uv .venv-checkov .aws-sam .pytest_cache .mypy_cache .ruff_cache
