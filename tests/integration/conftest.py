"""Fixtures shared by integration test modules."""

from __future__ import annotations

import pytest

from sandbox.generate import generate
from syncs.state import StateStore
from tests.conftest import load_exports, run_dbt


@pytest.fixture(scope="session")
def analytics_build(tmp_path_factory):
    """600 people over 40 days with faults, loaded and built once for the whole session (default
    vars, no as_of). Yields ``(root, warehouse)``: dbt's target folder is ``root / "target"``.
    Modules open the warehouse read-only and close it when they end; nothing writes to it."""
    root = tmp_path_factory.mktemp("analytics")
    exports = root / "exports"
    generate(exports, users=600, days=40, seed=21, faults=0.01)
    warehouse = root / "warehouse.duckdb"
    load_exports(warehouse, exports)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RECUR_AS_OF", raising=False)  # the observation end must be the last event
        run_dbt(["build", "--exclude", "test_type:unit"], warehouse, root)
    return root, warehouse


@pytest.fixture
def state(tmp_path):
    """A sync state file of the test's own."""
    with StateStore(tmp_path / "state.duckdb") as s:
        yield s
