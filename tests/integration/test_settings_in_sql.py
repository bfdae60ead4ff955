"""The only environment setting dbt pastes into SQL, RECUR_AS_OF (var as_of), is refused by dbt
itself unless it is a YYYY-MM-DD day, so a direct `dbt build` is safe too (issue 13, item 3)."""

from __future__ import annotations

import pytest

from tests.conftest import run_dbt

MODEL = "customer_purchase_summary"  # reads observation_date_sql


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-14 12:00:00' as date)--"])
def test_dbt_refuses_an_as_of_that_is_not_a_day_and_names_it(tmp_path, value):
    with pytest.raises(AssertionError) as failed:
        run_dbt(["compile", "--select", MODEL], tmp_path / "wh.duckdb", tmp_path, RECUR_AS_OF=value)
    assert "as_of (RECUR_AS_OF)" in str(failed.value) and "YYYY-MM-DD" in str(failed.value)


def test_a_valid_as_of_compiles_to_the_same_sql(tmp_path):
    models = [MODEL, "funnel_conversion"]  # the second reads observation_end_sql
    run_dbt(
        ["compile", "--select", *models], tmp_path / "wh.duckdb", tmp_path, RECUR_AS_OF="2024-02-29"
    )
    compiled = {p.stem: p.read_text() for p in (tmp_path / "target" / "compiled").rglob("*.sql")}
    assert "cast('2024-02-29' as date)" in compiled[MODEL]
    assert (
        "(cast('2024-02-29' as timestamp) + cast(1 as bigint) * interval 1 day)"
        in compiled["funnel_conversion"]
    )
