# The two set-up commands of the README:
#   make run   installs boxoffice and serves the demo on embedded PostgreSQL (http://127.0.0.1:8000)
#   make test  installs the test dependencies and runs the whole suite (types, the browser tests, then Python)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test frontend schema typecheck

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'

frontend:
	@if command -v npm >/dev/null 2>&1 && [ -f frontend-sample/package.json ]; then \
		cd frontend-sample && npm ci --no-audit --no-fund && npm run build; \
	else echo "npm or frontend-sample missing: serving the API only"; fi

run: install frontend
	$(BIN)/boxoffice demo
	$(BIN)/boxoffice serve

test: install-test
	$(BIN)/mypy
	cd frontend-sample && npm ci --no-audit --no-fund && npm run e2e
	$(BIN)/pytest -q

schema: install
	$(BIN)/python -m boxoffice.schema.build
