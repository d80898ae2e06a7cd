# Every target sets up .venv itself when it is missing or stale.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean frontend

# The browser bundle (bpmn-js, dmn-js, the form renderer) from the pinned npm packages in frontend/package-lock.json,
# built into api/static/dist and served by the product itself.
DIST_STAMP := api/static/dist/.built
FRONTEND_SRC := $(shell find frontend/src -type f 2>/dev/null)

$(DIST_STAMP): frontend/package.json frontend/package-lock.json frontend/build.mjs $(FRONTEND_SRC)
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	cd frontend && node build.mjs
	touch $(DIST_STAMP)

frontend: $(DIST_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) $(DIST_STAMP)
	$(BIN)/tdkt demo && $(BIN)/tdkt serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# PYTEST_ARGS: extra pytest arguments (.ci/run's PostgreSQL pass leaves out the browser tests).
test: $(STAMP) $(DIST_STAMP) lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/tdkt bench

clean:
	rm -rf $(VENV) frontend/node_modules api/static/dist instance .pytest_cache .mypy_cache .ruff_cache
