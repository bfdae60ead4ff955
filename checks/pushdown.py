"""Row expectations counted inside DuckDB: a suite over millions of rows without reading them.

A suite with ``pushdown=True`` keeps its row query and its expectations, but the rows never reach
pandas. Each column expectation becomes the SQL condition of an *unexpected* row, DuckDB counts
the rows that meet each condition in one scan, great-expectations validates those counts (each
must be 0), and only the first failing rows of a failed expectation are read, as examples. The
outcome is the one :func:`checks.suite.validate` gives on the whole frame: the same labels, the
same "unexpected of rows" counts, the same example rows. Memory stays flat as history grows (the
10M-event figures are in docs/benchmarks.md, "Checks").

Semantics follow great-expectations' pandas engine: a null (and, in a float column, NaN) is
missing, so it fails ``not_null`` and is skipped by ``between`` and ``in_set``. Expectations on
the whole frame (row counts, distinct values) and regexes (Python's and DuckDB's dialects differ)
cannot be pushed down; a pushdown suite that uses one raises :class:`SuiteError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from checks.errors import SuiteError

if TYPE_CHECKING:
    from checks.suite import CheckOutcome, Expect, Sources, Suite

FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL")


def literal(value: Any) -> str:
    """``value`` as a SQL literal (numbers, booleans and text only)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise SuiteError("a NaN bound cannot be pushed down")
        return f"cast('{value!r}' as double)" if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise SuiteError(f"cannot push down the bound {value!r} ({type(value).__name__})")


def quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def unexpected_condition(expect: Expect, types: Mapping[str, str]) -> str:
    """The SQL condition of a row that fails ``expect``, on the row query's columns."""
    column = expect.kwargs.get("column")
    if column not in types:
        raise SuiteError(f"{expect.label!r}: the rows have no column {column!r}")
    col = quoted(column)
    missing = (
        f"({col} is null or isnan({col}))" if types[column] in FLOAT_TYPES else f"{col} is null"
    )
    if expect.type == "ExpectColumnValuesToNotBeNull":
        return missing
    if expect.type == "ExpectColumnValuesToBeNull":
        return f"not {missing}"
    if expect.type == "ExpectColumnValuesToBeInSet":
        values = ", ".join(literal(v) for v in expect.kwargs["value_set"])
        return f"not {missing} and {col} not in ({values})"
    if expect.type == "ExpectColumnValuesToBeBetween":
        outside = []
        if "min_value" in expect.kwargs:
            op = "<=" if expect.kwargs.get("strict_min") else "<"
            outside.append(f"{col} {op} {literal(expect.kwargs['min_value'])}")
        if "max_value" in expect.kwargs:
            op = ">=" if expect.kwargs.get("strict_max") else ">"
            outside.append(f"{col} {op} {literal(expect.kwargs['max_value'])}")
        return f"not {missing} and ({' or '.join(outside) or 'false'})"
    raise SuiteError(f"{expect.label!r}: {expect.type} cannot be counted in SQL (pushdown)")


def count_unexpected(
    suite: Suite, sources: Sources, expects: Sequence[Expect]
) -> tuple[int, list[str], list[int]]:
    """The row count, each expectation's unexpected-row condition and its count, in one scan."""
    rows_sql = str(suite.query)
    described = sources.query(f"describe {rows_sql}")
    types = {
        name: str(kind).split("(")[0].upper()
        for name, kind in zip(described["column_name"], described["column_type"], strict=True)
    }
    conditions = [unexpected_condition(e, types) for e in expects]
    counts = "".join(
        f", count(*) filter (where {c}) as unexpected_{i}" for i, c in enumerate(conditions)
    )
    frame = sources.query(f"select count(*) as rows{counts} from ({rows_sql}) as suite_rows")
    row = frame.iloc[0]
    return int(row["rows"]), conditions, [int(row[f"unexpected_{i}"]) for i in range(len(expects))]


def run(suite: Suite, sources: Sources, examples: int) -> CheckOutcome:
    """``suite`` validated inside DuckDB: see the module's docstring."""
    from checks.suite import (
        ExpectationOutcome,
        between,
        outcome,
        plain,
        run_great_expectations,
    )

    expects = list(suite.expectations(pd.DataFrame()))
    rows, conditions, unexpected = count_unexpected(suite, sources, expects)
    counts = pd.DataFrame({f"unexpected_{i}": [n] for i, n in enumerate(unexpected)})
    judged = run_great_expectations(
        suite.name,
        counts,
        [between(f"unexpected_{i}", e.label, max_value=0) for i, e in enumerate(expects)],
    )
    order = f" order by {suite.order_by}" if suite.order_by else ""
    outcomes, failing = [], []
    for expect, condition, n, (success, _) in zip(
        expects, conditions, unexpected, judged, strict=True
    ):
        found = pd.DataFrame()
        if not success:
            found = sources.query(
                f"select * from ({suite.query}) as suite_rows where {condition}{order} "
                f"limit {int(examples)}"
            )
            failing.append(found.assign(expectation=expect.label))
        column = expect.kwargs["column"]
        observed = {
            "unexpected": n,
            "rows": rows,
            "values": plain(found[column].tolist()) if column in found else [],
        }
        outcomes.append(ExpectationOutcome(expect.label, expect.type, success, observed))
    return outcome(suite, rows, outcomes, failing, pd.DataFrame())
