# The README's two commands. Each bootstraps .venv on its own, so a clean clone works with just
# `make run` or `make test`. Installs are pinned by constraints.txt (reproducible), the ranges in
# pyproject.toml stay lower bounds for people installing the package into their own environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/week.toml

.PHONY: run test test-fast lint bench system-deps clean

$(STAMP): pyproject.toml constraints.txt
	@echo "bootstrap: creating $(VENV) and installing the harness with [dev] extras ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

run: $(STAMP) system-deps
	$(BIN)/harness run $(SCENARIO)

# Everything, what CI runs (.ci/run): lint, then the unit, integration and e2e tiers.
test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest

# The inner loop: lint, unit and integration tiers (no full harness runs); keep it under 3 minutes
# (2 min 11 s on the 2-core reference machine).
test-fast: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -m "not e2e"

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
	rm -rf $(VENV) reports runs .pytest_cache .ruff_cache .mypy_cache
