# Two commands on a fresh machine: `make demo` and `make test` (each sets up .venv when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format typecheck clean setup lab scheduler

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m csvdock.demo demo/users.csv
	$(BIN)/csvdock ingest demo/users.csv

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy lib

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Luigi central scheduler with its web UI on http://localhost:8082 (state and task history in
# the workspace, see luigi.cfg [scheduler]); run ingests with --scheduler-url http://localhost:8082.
scheduler: $(STAMP)
	mkdir -p .csvdock/luigid
	$(BIN)/luigid --port 8082 --state-path .csvdock/luigid/state.pickle

# JupyterLab on notebooks/ with the project's kernel: change a report's parameters to any past run.
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf .csvdock warehouse.duckdb demo
