# The README's two commands. Each bootstraps .venv on its own, so a clean clone works with just
# `make run` or `make test`. Installs are pinned by constraints.txt (reproducible), the ranges in
# pyproject.toml stay lower bounds for people installing the package into their own environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/week.toml
# The official DingTalk Node SDK for the test suite's Node SDK bot, installed like the venv.
NODE_STAMP := .node/.installed

.PHONY: run test test-fast lint bench system-deps node-sdk clean

$(STAMP): pyproject.toml constraints.txt
	@echo "bootstrap: creating $(VENV) and installing the harness with [dev] extras ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

# Offline-tolerant: says so and the Node SDK tests skip; with CI=true a failed install fails.
node-sdk: $(NODE_STAMP)

$(NODE_STAMP): tests/sdk_bots/package.json tests/sdk_bots/package-lock.json
	@scripts/install-node-sdk.sh

run: $(STAMP) system-deps
	$(BIN)/harness run $(SCENARIO)

# Everything, what CI runs (.ci/run): lint; the unit and integration tiers, TEST_JOBS at a time; the e2e
# tests that can share the machine, E2E_JOBS at a time (one module per worker: their runs mostly wait on
# real-time load, so three fit on two cores); then the solo e2e tests one at a time (tests/conftest.py).
# Every pass runs; the target fails if any did.
TEST_JOBS ?= 2
E2E_JOBS ?= 3
PARALLEL := -n $(TEST_JOBS) --dist loadfile
test: $(STAMP) system-deps node-sdk lint
	@status=0; \
	$(BIN)/python -m pytest $(PARALLEL) -m "not e2e" || status=1; \
	$(BIN)/python -m pytest -n $(E2E_JOBS) --dist loadfile -m "e2e and not solo" || status=1; \
	$(BIN)/python -m pytest -m "e2e and solo" || status=1; \
	exit $$status

# The inner loop: lint, unit and integration tiers (no full harness runs); keep it under 3 minutes
# (2 min 11 s on the 2-core reference machine).
test-fast: $(STAMP) system-deps node-sdk lint
	$(BIN)/python -m pytest $(PARALLEL) -m "not e2e"

# Style, the import contract (the layers of docs/architecture.md, [tool.importlinter] in pyproject.toml)
# and the type check of harness.core and harness.analysis ([tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/harness bench

clean:
	rm -rf $(VENV) .node tests/sdk_bots/node_modules reports runs .pytest_cache .ruff_cache .mypy_cache
