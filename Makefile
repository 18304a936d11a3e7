# The README's two commands. Each bootstraps .venv on its own, so a clean clone works with just
# `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/week.toml

.PHONY: run test lint bench system-deps clean

$(STAMP): pyproject.toml
	@echo "bootstrap: creating $(VENV) and installing the harness with [dev] extras ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@scripts/install-system-deps.sh

run: $(STAMP) system-deps
	$(BIN)/harness run $(SCENARIO)

test: $(STAMP) system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/harness bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
