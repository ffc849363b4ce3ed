PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAGE ?= dev

.PHONY: install test lint demo serve clean

$(BIN)/daskyard: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip<26.3'  # chalice 1.34 needs pip<26.3 to build packages
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

node_modules/.bin/asl-validator: package.json
	npm install --no-audit --no-fund --silent
	touch $@

install: $(BIN)/daskyard node_modules/.bin/asl-validator

test: install
	$(BIN)/python -m pytest -q -p no:logging

lint: install
	npx asl-validator --json-path stepfunctions/create_cluster.asl.json --json-path stepfunctions/destroy_cluster.asl.json
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint images/Dockerfile

demo: install
	$(BIN)/daskyard demo

serve: install
	$(BIN)/daskyard serve --local

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
