# Two commands on a fresh machine: `make demo` and `make test` (each sets up .venv when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo kafka-demo test lint format typecheck clean setup lab scheduler bench bench-small bench-quick bench-scaling bench-parallel bench-corpus bench-pollution bench-untuned bench-kafka bench-single-pass

setup: $(STAMP)

# csvdock's own modules compiled first, as a wheel's install compiles them: where
# PYTHONDONTWRITEBYTECODE is set (as on the machines here), every csvdock process would compile
# them again (0.2-0.3 s a process; the tests start hundreds of them).
BYTECODE := $(BIN)/python -m compileall -q lib luigi_tasks

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BYTECODE)
	$(BIN)/python -m csvdock.edges.demo demo/users.csv
	$(BIN)/csvdock ingest demo/users.csv

kafka-demo: $(STAMP)
	$(BIN)/python -m csvdock.edges.kafka_demo

test: $(STAMP)
	$(BYTECODE)
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

# Benchmarks (PostgreSQL at $$CSVDOCK_BENCH_PG_DSN, default postgresql://postgres@127.0.0.1:5432/test).
# The pandas baseline needs SQLAlchemy 2 (the project pins 1.4 for luigid): its own small venv.
benchmarks/.venv-pandas/bin/python:
	$(PYTHON) -m venv benchmarks/.venv-pandas
	benchmarks/.venv-pandas/bin/python -m pip install --quiet pandas 'sqlalchemy>=2' psycopg2-binary

bench: $(STAMP) benchmarks/.venv-pandas/bin/python
	$(BYTECODE)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/small.py

# A tiny file with reports on and off, 200 files each its own table, 1,000 files with --workers 2,
# two wide files (2 x 2,000 and 54 x 1,093 columns).
bench-small: $(STAMP)
	$(BYTECODE)
	$(BIN)/python benchmarks/small.py

bench-kafka: $(STAMP)
	$(BIN)/python benchmarks/kafka.py

bench-quick: $(STAMP) benchmarks/.venv-pandas/bin/python
	$(BYTECODE)
	$(BIN)/python benchmarks/run.py --quick

# csvdock ETL and psql \copy at 1M, 5M and 20M records (~2.1 GB): linearity and peak memory.
bench-scaling: $(STAMP)
	$(BYTECODE)
	$(BIN)/python benchmarks/scaling.py

# One ADBC COPY stream against parallel streams into staging + INSERT ... SELECT.
bench-parallel: $(STAMP)
	$(BIN)/python benchmarks/parallel_copy.py

# Every CSV of ../shared/corpus/duckdb-csv ingested alone with defaults: shares loaded/quarantined.
bench-corpus: $(STAMP)
	cd benchmarks && ../$(BIN)/python corpus.py --out results/corpus.json

# Dialect accuracy and table finding on generated pollutions, against DuckDB's and Python's sniffers.
bench-pollution: $(STAMP)
	$(BIN)/python benchmarks/pollution.py --out benchmarks/results/pollution.json

# Dialect accuracy on a second corpus the detector is never tuned on (its own generator).
bench-untuned: $(STAMP)
	$(BIN)/python benchmarks/untuned.py --out benchmarks/results/untuned.json

bench-single-pass: $(STAMP)
	$(BIN)/python benchmarks/single_pass_parity.py

# JupyterLab on notebooks/ with the project's kernel: change a report's parameters to any past run.
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf .csvdock warehouse.duckdb demo
