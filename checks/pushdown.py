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
    from checks.suite import CheckOutcome, Expect, Reader, Sources, Suite

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
    rows_sql: str, query: Reader, expects: Sequence[Expect]
) -> tuple[int, list[str], list[int]]:
    """The row count, each expectation's unexpected-row condition and its count, in one scan."""
    described = query(f"describe {rows_sql}")
    types = {
        name: str(kind).split("(")[0].upper()
        for name, kind in zip(described["column_name"], described["column_type"], strict=True)
    }
    conditions = [unexpected_condition(e, types) for e in expects]
    counts = "".join(
        f", count(*) filter (where {c}) as unexpected_{i}" for i, c in enumerate(conditions)
    )
    frame = query(f"select count(*) as rows{counts} from ({rows_sql}) as suite_rows")
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
    with sources.queries() as query:
        rows, conditions, unexpected = count_unexpected(str(suite.query), query, expects)
        found = {
            i: query(
                f"select * from ({suite.query}) as suite_rows where {conditions[i]}"
                f"{f' order by {suite.order_by}' if suite.order_by else ''} limit {int(examples)}"
            )
            for i, n in enumerate(unexpected)
            if n
        }
    counts = pd.DataFrame({f"unexpected_{i}": [n] for i, n in enumerate(unexpected)})
    judged = run_great_expectations(
        suite.name,
        counts,
        [between(f"unexpected_{i}", e.label, max_value=0) for i, e in enumerate(expects)],
    )
    outcomes, failing = [], []
    for i, (expect, n, (success, _)) in enumerate(zip(expects, unexpected, judged, strict=True)):
        examples_of = found.get(i, pd.DataFrame())
        if not success:
            failing.append(examples_of.assign(expectation=expect.label))
        column = expect.kwargs["column"]
        observed = {
            "unexpected": n,
            "rows": rows,
            "values": plain(examples_of[column].tolist()) if column in examples_of else [],
        }
        outcomes.append(ExpectationOutcome(expect.label, expect.type, success, observed))
    return outcome(suite, rows, outcomes, failing, pd.DataFrame())
