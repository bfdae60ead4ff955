# Recur: `make demo` runs the whole story on synthetic data; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DO_NOT_TRACK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test dev bench docs lint lock clean

install: $(VENV)/.installed

# uv installs the pinned set in seconds; requirements.lock is the resolved set of pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip sync -q --python $(PY) requirements.lock
	$(BIN)/uv pip install -q --python $(PY) --no-deps -e .
	touch $@

demo: install
	$(BIN)/recur demo

test: install
	$(PY) -m pytest -q

dev: install
	exec $(BIN)/dagster dev -w workspace.yaml

bench: install
	$(PY) -m bench

# dbt's documentation site (models, columns, tests, lineage) of the warehouse `make demo` built.
docs: install
	cd dbt_project && RECUR_WAREHOUSE=$${RECUR_WAREHOUSE:-$(CURDIR)/data/warehouse.duckdb} \
		../$(BIN)/dbt docs generate --profiles-dir . --target-path target/docs
	@echo "open dbt_project/target/docs/index.html, or: cd dbt_project && ../$(BIN)/dbt docs serve --profiles-dir . --target-path target/docs"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Re-resolve the pinned set after editing pyproject.toml's dependencies.
lock: install
	$(BIN)/uv pip compile -q --python $(PY) pyproject.toml --extra dev -o requirements.lock

clean:
	rm -rf data bench/out .dagster_home/storage .dagster_home/history .dagster_home/schedules
