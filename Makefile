# The two set-up commands of the README:
#   make run   installs boxoffice and serves the demo on embedded PostgreSQL (http://127.0.0.1:8000)
#   make test  installs the test dependencies and runs the whole suite (types, the browser tests, then Python)
# Each step runs only when its inputs changed (a fresh clone does them all): pip install when
# pyproject.toml changes, npm ci when package-lock.json changes, the frontend build when its sources do.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP := frontend-sample
# Stamps live in the folders they describe: deleting .venv or node_modules redoes their step.
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test
NODE_MODULES := $(APP)/node_modules/.installed
BUILT := $(APP)/dist/index.html $(APP)/dist-graphiql/index.html
APP_SOURCES := $(shell find $(APP)/src $(APP)/graphiql -type f 2>/dev/null) $(APP)/index.html \
	$(wildcard $(APP)/*.ts $(APP)/tsconfig*.json) $(APP)/package.json
HAVE_NPM := $(shell command -v npm 2>/dev/null)

.PHONY: run test install install-test frontend schema

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(INSTALLED_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(INSTALLED)

install: $(INSTALLED)

install-test: $(INSTALLED_TEST)

$(NODE_MODULES): $(APP)/package-lock.json $(APP)/package.json
	@node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error("the frontend needs Node >= 20, this is " + process.version); process.exit(1); }'
	cd $(APP) && npm ci --no-audit --no-fund
	touch $@

# One build writes both: the fan app (dist/, served at /) and GraphiQL (dist-graphiql/, at /graphql).
$(BUILT): $(NODE_MODULES) $(APP_SOURCES)
	cd $(APP) && npm run build

ifneq ($(HAVE_NPM),)
frontend: $(BUILT)
else
frontend:
	@echo "npm is missing: serving the API only (the fan app and GraphiQL need Node >= 20)"
endif

run: install frontend
	$(BIN)/boxoffice demo
	$(BIN)/boxoffice serve

test: install-test $(BUILT)
	$(BIN)/mypy
	cd $(APP) && npm run test:e2e
	$(BIN)/pytest -q

schema: install
	$(BIN)/python -m boxoffice.schema.build
