# The two commands the README opens with: `make demo` and `make test`. Both work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Two workers; tests/conftest.py groups the tests that share a module's fixture and starts the long ones first.
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider -n 3 --dist loadgroup --no-loadscope-reorder
# Compiled bytecode is kept (in an ignored folder) even where the environment says not to write it: each worker
# and each `fairtrain` process the tests start would otherwise compile every module it imports again.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/.cache/pycache
DEMO_DIR ?= demo-data
DEMO_PORT ?= 8000

# axe-core (accessibility rules), injected into every page by the browser tests; an ignored folder, no package.json.
AXE := .cache/axe/node_modules/axe-core/axe.min.js
AXE_VERSION := 4.10.2

# The protego robots.txt corpus (its sdist's test data) is read by the RFC 9309 differential test.
PROTEGO_SDIST := $(HOME)/.cache/fairtrain/protego-0.7.0.tar.gz


.PHONY: venv demo demo-cli test test-sqlite test-postgres bench lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

# Plays the whole story on generated data (a CMO's repertoire ZIP, creators, a clearance, licences, payment,
# distribution, statements, the log, lookups; see the README's tour), then serves the web application on
# 127.0.0.1 with every page filled (Ctrl-C stops it). `make demo-cli` skips the server; a finished demo is reused.
demo: demo-cli
	$(BIN)/fairtrain --data-dir $(DEMO_DIR) serve --host 127.0.0.1 --port $(DEMO_PORT)

demo-cli: $(STAMP)
	$(BIN)/fairtrain --data-dir $(DEMO_DIR) demo

test: lint test-sqlite test-postgres

$(PROTEGO_SDIST):
	mkdir -p $(dir $@)
	$(BIN)/pip download -q --no-deps --no-binary :all: -d $(dir $@) protego==0.7.0

$(AXE):
	npm install --prefix .cache/axe --no-save --no-audit --no-fund axe-core@$(AXE_VERSION)

test-sqlite: $(STAMP) $(PROTEGO_SDIST) $(AXE)
	$(PYTEST) -q tests

test-postgres: $(STAMP) $(PROTEGO_SDIST) $(AXE)
	scripts/with-postgres.sh $(PYTEST) -q tests

# ruff: the lint rules and the formatting in pyproject.toml ([tool.ruff]); part of `make test` and so of CI.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/registry_import.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .hypothesis
