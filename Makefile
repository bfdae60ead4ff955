# Recur: `make demo` runs the whole story on synthetic data; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DO_NOT_TRACK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install browser java demo test dev bench bench-scale bench-daily bench-spark docs lint lock clean

install: $(VENV)/.installed

# uv installs the pinned set in seconds; requirements.lock is the resolved set of pyproject.toml.
# --compile-bytecode writes every package's .pyc once: uv leaves that to Python's first import,
# which cannot write them where PYTHONDONTWRITEBYTECODE is set (as on our CI machines), so every
# process (recur, each dbt, each test's subprocess) compiled ~2,800 modules again: 5-10 s each.
$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip sync -q --compile-bytecode --python $(PY) requirements.lock
	$(BIN)/uv pip install -q --compile-bytecode --python $(PY) --no-deps -e .
	$(BIN)/uv pip install -q --compile-bytecode --python $(PY) --no-deps $(DATA_PACKAGES)
	touch $@

# Packages the tests read data files from, never import: installed without their dependencies
# (retentioneering's would add 41 packages, 260 MB, for one 244 KB clickstream file).
DATA_PACKAGES := retentioneering==5.2.4

demo: install
	$(BIN)/recur demo

test: install browser java
	$(PY) -m pytest -q

# Debian packages some tests need, installed here when missing (as root, or with sudo that needs no
# password); elsewhere this stops with the command to run. $(call debian,<commands>,<package>,<why>)
define debian
	@for c in $(1); do if command -v $$c >/dev/null; then exit 0; fi; done; \
	if ! command -v apt-get >/dev/null; then \
		echo "make test needs $(2) for $(3): install it with your package manager" \
			"(Debian/Ubuntu: sudo apt-get install $(2))" >&2; exit 1; fi; \
	if [ "$$(id -u)" -eq 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else \
		echo "make test needs $(2) for $(3): sudo apt-get update &&" \
			"sudo apt-get install $(2)" >&2; exit 1; fi; \
	echo "installing Debian's $(2) for $(3) (once)"; \
	$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $(2) >/dev/null
endef

# The browser test (tests/e2e/test_browser.py) drives Debian's Chromium.
browser:
	$(call debian,chromium chromium-browser,chromium,the browser test)

# Local Spark (tests/integration/test_spark.py, docs/spark.md) runs on Java 17.
java:
	$(call debian,java,openjdk-17-jre-headless,the Spark test)

dev: install
	exec $(BIN)/dagster dev -w workspace.yaml

bench: install
	$(PY) -m bench

# The whole pipeline on ~50M events (730k people over 180 days, generated in two shards), DuckDB
# capped at 8 GB; not part of `make bench`: 42 minutes on 2 cores, about 65 GB of disk at the peak.
# Smaller: python -m bench.scale --users 20000 --days 30 (docs/benchmarks.md, "50M events").
bench-scale: install
	$(PY) -m bench.scale

# The daily run of the whole pipeline against its full build, at 45 and 90 days of history, on
# the dbt benchmark's ~10M events; not part of `make bench`: about 40 minutes on 2 cores.
bench-daily: install
	$(PY) -m bench.daily

# The whole dbt project on DuckDB and on local Spark, same data (docs/benchmarks.md, "DuckDB and
# Spark"); not part of `make bench`: about 15 minutes, most of it Spark's.
bench-spark: install java
	$(PY) -m bench.spark

# dbt's documentation site (models, columns, tests, lineage) of the warehouse `make demo` built.
docs: install
	cd dbt_project && RECUR_WAREHOUSE=$${RECUR_WAREHOUSE:-$(CURDIR)/data/warehouse.duckdb} \
		../$(BIN)/dbt docs generate --profiles-dir . --target-path target/docs
	@echo "open dbt_project/target/docs/index.html, or: cd dbt_project && ../$(BIN)/dbt docs serve --profiles-dir . --target-path target/docs"

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Re-resolve the pinned set after editing pyproject.toml's dependencies.
lock: install
	$(BIN)/uv pip compile -q --python $(PY) pyproject.toml --extra dev --extra spark -o requirements.lock

clean:
	rm -rf data bench/out .dagster_home/storage .dagster_home/history .dagster_home/schedules
