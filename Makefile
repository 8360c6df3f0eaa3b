# The two commands the README opens with: `make demo` and `make test`. Both work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
DEMO_DIR ?= demo-data

.PHONY: venv demo test test-sqlite test-postgres bench lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/fairtrain --data-dir $(DEMO_DIR) demo

test: test-sqlite test-postgres

test-sqlite: $(STAMP)
	$(PYTEST) -q tests

test-postgres: $(STAMP)
	scripts/with-postgres.sh $(PYTEST) -q tests

bench: $(STAMP)
	$(BIN)/python benchmarks/registry_import.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .hypothesis
