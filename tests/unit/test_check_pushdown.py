"""Pushdown suites (checks/pushdown.py) give the outcome great-expectations gives on the whole
frame: the same pass/fail, unexpected counts and example rows, with nulls, NaN, infinities,
strict bounds and value sets in the data, while reading only a few rows into Python."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checks import Sources, SuiteError, run_suite, validate
from checks.suite import Suite, between, in_set, is_null, matches, not_null, positive_finite
from sources.warehouse import connect


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    """A table of 2,000 rows with every awkward value: nulls, NaN, +-inf, bounds hit exactly."""
    rng = np.random.default_rng(3)
    n = 2_000
    score = rng.uniform(-0.2, 1.2, n)
    score[rng.choice(n, 40, replace=False)] = np.nan
    score[:4] = [0.0, 1.0, math.inf, -math.inf]
    frame = pd.DataFrame(
        {
            "id": [f"u{i:05d}" for i in range(n)],
            "score": score,
            "amount": rng.integers(-3, 50, n),
            "band": rng.choice(["low", "mid", "high", "odd", None], n),
            "problem": np.where(rng.random(n) < 0.01, "bad", None),
        }
    )
    frame.loc[rng.choice(n, 30, replace=False), "score"] = None
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.register("frame", frame)
        con.execute("create table t as select * from frame")
    return Sources(path)


def expectations(frame):
    return [
        not_null("score", "every row has a score"),
        between("score", "scores lie in [0, 1]", 0, 1),
        between("score", "scores lie in (0, 1)", 0, 1, strict_min=True, strict_max=True),
        positive_finite("score", "scores are positive and finite"),
        between("amount", "amounts are >= 0", min_value=0),
        between("amount", "amounts are at most 40", max_value=40),
        in_set("band", ["low", "mid", "high"], "bands are known"),
        not_null("band", "every row has a band"),
        is_null("problem", "no row names a problem"),
        not_null("id", "every row has an id"),
    ]


def suite(**changes) -> Suite:
    base = Suite(
        name="awkward",
        asset=("t",),
        severity="blocking",
        description="awkward values",
        query="select id, score, amount, band, problem from t",
        expectations=expectations,
        pushdown=True,
        order_by="id",
    )
    return dataclasses.replace(base, **changes)


def test_pushdown_counts_match_great_expectations_on_the_whole_frame(sources):
    pushed = run_suite(suite(), sources)
    frame = sources.query("select id, score, amount, band, problem from t order by id")
    whole = validate(suite(pushdown=False), frame)

    assert pushed.rows == whole.rows == 2_000
    assert pushed.passed is whole.passed is False
    got = {e.label: (e.success, e.observed["unexpected"]) for e in pushed.expectations}
    want = {e.label: (e.success, e.observed["unexpected"]) for e in whole.expectations}
    assert got == want
    # Counted independently with pandas, not by either engine:
    nan = frame["score"].isna()
    assert got["every row has a score"] == (False, int(nan.sum()))
    assert got["scores lie in [0, 1]"][1] == int(
        ((frame["score"] < 0) | (frame["score"] > 1)).sum()
    )
    assert got["scores are positive and finite"][1] == int(
        ((frame["score"] <= 0) | np.isinf(frame["score"])).sum()
    )
    assert got["every row has an id"] == (True, 0)
    # The same example rows, in the same order, with the same columns:
    cols = ["expectation", "id", "score", "amount", "band", "problem"]
    a, b = (o.failing_examples[cols].reset_index(drop=True) for o in (pushed, whole))
    a, b = (f.astype(object).where(f.notna(), None) for f in (a, b))  # None and NaN alike
    assert len(a) == 45
    pd.testing.assert_frame_equal(a, b)
    assert pushed.description == whole.description


def test_a_passing_pushdown_suite_reads_no_example(sources):
    outcome = run_suite(
        suite(expectations=lambda f: [not_null("id", "every row has an id")]), sources
    )
    assert outcome.passed and outcome.rows == 2_000 and outcome.failing_examples.empty


def test_expectations_that_need_the_rows_are_refused(sources):
    with pytest.raises(SuiteError, match="cannot be counted in SQL"):
        run_suite(suite(expectations=lambda f: [matches("id", "^u", "ids start with u")]), sources)
    with pytest.raises(SuiteError, match="no column 'nope'"):
        run_suite(suite(expectations=lambda f: [not_null("nope", "a column")]), sources)
    with pytest.raises(ValueError, match="must be SQL"):
        suite(query=lambda s: pd.DataFrame())
