"""A suite: rows read from the warehouse, great-expectations expectations on them, a severity.

great-expectations validates the rows as a pandas frame read with a short-lived read-only DuckDB
connection: its SQL datasource cannot read DuckDB (every expectation fails with
``MetricResolutionError``, reference/stack.md §6), and the connection must be closed before dbt
writes the file again. great_expectations is imported only inside :func:`validate` (it costs about
4 s), so importing this module, the suites or the Dagster definitions stays fast.

>>> import pandas as pd
>>> suite = Suite(
...     name="scores_in_range", asset=("analytics", "churn_risk"), severity="blocking",
...     description="Scores are probabilities.", query="select 1",
...     expectations=lambda frame: [between("score", "scores lie in [0, 1]", 0, 1)],
... )
>>> outcome = validate(suite, pd.DataFrame({"user_id": ["a", "b"], "score": [0.2, 1.7]}))
>>> outcome.passed, outcome.failing_examples[["user_id", "score"]].values.tolist()
(False, [['b', 1.7]])
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd

from checks.errors import SuiteError
from sources.warehouse import connect

Severity = Literal["blocking", "warning"]
SEVERITIES: tuple[Severity, ...] = ("blocking", "warning")
EXAMPLES = 5

# -- expectations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """One great-expectations expectation, named by its class in ``great_expectations.expectations``,
    with a sentence that says what it means for our data (shown when it fails)."""

    label: str
    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def not_null(column: str, label: str) -> Expect:
    """Every row has a value in ``column`` (NaN counts as missing)."""
    return Expect(label, "ExpectColumnValuesToNotBeNull", {"column": column})


def is_null(column: str, label: str) -> Expect:
    """No row has a value in ``column`` (a column that names a problem when there is one)."""
    return Expect(label, "ExpectColumnValuesToBeNull", {"column": column})


def in_set(column: str, values: Sequence[Any], label: str) -> Expect:
    """Every non-null value of ``column`` is one of ``values``."""
    return Expect(
        label, "ExpectColumnValuesToBeInSet", {"column": column, "value_set": list(values)}
    )


def between(
    column: str,
    label: str,
    min_value: Any = None,
    max_value: Any = None,
    *,
    strict_min: bool = False,
    strict_max: bool = False,
) -> Expect:
    """Every non-null value of ``column`` lies between the bounds (None: unbounded)."""
    kwargs: dict[str, Any] = {"column": column, "strict_min": strict_min, "strict_max": strict_max}
    if min_value is not None:
        kwargs["min_value"] = min_value
    if max_value is not None:
        kwargs["max_value"] = max_value
    return Expect(label, "ExpectColumnValuesToBeBetween", kwargs)


def positive_finite(column: str, label: str) -> Expect:
    """Every non-null value is > 0 and finite (infinity is above the largest double)."""
    return between(column, label, 0, sys.float_info.max, strict_min=True)


def matches(column: str, regex: str, label: str) -> Expect:
    """Every non-null value of ``column`` matches ``regex`` (anchor it with ^...$)."""
    # Capturing groups make pandas warn on every call; they capture nothing we use.
    plain = re.sub(r"(?<!\\)\((?!\?)", "(?:", regex)
    return Expect(label, "ExpectColumnValuesToMatchRegex", {"column": column, "regex": plain})


def rows_between(label: str, min_value: int | None = None, max_value: int | None = None) -> Expect:
    """The frame has between ``min_value`` and ``max_value`` rows."""
    kwargs = {
        k: v for k, v in (("min_value", min_value), ("max_value", max_value)) if v is not None
    }
    return Expect(label, "ExpectTableRowCountToBeBetween", kwargs)


def contains_values(column: str, values: Sequence[Any], label: str) -> Expect:
    """Each of ``values`` occurs in ``column``."""
    return Expect(
        label,
        "ExpectColumnDistinctValuesToContainSet",
        {"column": column, "value_set": list(values)},
    )


# -- suites -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    """Where suites read: the warehouse file and the sync state file (either may be absent)."""

    warehouse: Path
    state: Path | None = None

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """``sql`` on the warehouse, through a read-only connection closed right after."""
        with _reader(self.warehouse) as read:
            return read(sql, params)

    def queries(self) -> AbstractContextManager[Reader]:
        """A function that runs SQL on the warehouse through one read-only connection, open
        until the ``with`` block ends (opening one costs about 0.1 s on a big warehouse)."""
        return _reader(self.warehouse)

    def state_query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame | None:
        """``sql`` on the sync state file; None when there is no state file yet."""
        if self.state is None or not Path(self.state).exists():
            return None
        with _reader(Path(self.state)) as read:
            return read(sql, params)


Reader = Callable[..., pd.DataFrame]


@contextmanager
def _reader(path: Path) -> Iterator[Reader]:
    if not Path(path).exists():
        raise SuiteError(f"{path} does not exist: build the warehouse first (recur run)")
    con = connect(path, read_only=True)

    def read(sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        try:
            return con.execute(sql, params).df() if params is not None else con.sql(sql).df()
        except duckdb.CatalogException as exc:
            raise SuiteError(f"{path}: {exc}; build the table first (recur run)") from exc

    try:
        con.execute("set TimeZone = 'UTC'")
        yield read
    finally:
        con.close()


Query = str | Callable[[Sources], pd.DataFrame]


@dataclass(frozen=True)
class Suite:
    """Expectations on one frame, about one table (``asset``, its Dagster key).

    ``query`` is SQL on the warehouse, or a function of :class:`Sources` for frames that need
    more (the sync state file). ``expectations`` is called on the frame when the suite runs, so
    it can depend on the data (a rule only above 100 customers) and on the clock (now + 1 day).
    A ``blocking`` suite that fails stops the syncs downstream; a ``warning`` only reports.
    """

    name: str
    asset: tuple[str, ...]
    severity: Severity
    description: str
    query: Query
    expectations: Callable[[pd.DataFrame], Sequence[Expect]]
    params: Mapping[str, Any] = field(default_factory=dict)
    #: count the unexpected rows inside DuckDB instead of reading the rows (checks/pushdown.py):
    #: for SQL queries over history, whose column expectations do not depend on the rows
    pushdown: bool = False
    #: the order of a pushdown suite's example rows (its query has no ORDER BY of its own)
    order_by: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"suite {self.name}: severity must be one of {SEVERITIES}")
        if self.pushdown and callable(self.query):
            raise ValueError(f"suite {self.name}: a pushdown suite's query must be SQL")

    @property
    def blocking(self) -> bool:
        return self.severity == "blocking"

    def read(self, sources: Sources) -> pd.DataFrame:
        """The rows this suite validates."""
        if callable(self.query):
            return self.query(sources)
        return sources.query(self.query + (f" order by {self.order_by}" if self.order_by else ""))


# -- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result: ``observed`` holds counts (row expectations) or the observed
    value (table expectations)."""

    label: str
    type: str
    success: bool
    observed: dict[str, Any]


@dataclass(frozen=True)
class CheckOutcome:
    """A suite's result: passed when every expectation holds.

    ``failing_examples`` has a few failing rows per failed expectation, with the expectation's
    label in the first column, ``expectation``.
    """

    suite: str
    asset: tuple[str, ...]
    severity: Severity
    passed: bool
    rows: int
    expectations: tuple[ExpectationOutcome, ...]
    failing_examples: pd.DataFrame
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity == "blocking"

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.success]

    @property
    def observed(self) -> dict[str, Any]:
        """Observed values by expectation label, plus the number of rows validated."""
        return {"rows": self.rows, **{e.label: e.observed for e in self.expectations}}

    @property
    def description(self) -> str:
        """One line for people: what failed and how often, or that all held."""
        if self.passed:
            return f"{len(self.expectations)} expectations hold on {self.rows:,} rows"
        return "; ".join(f"{e.label}: {_how_often(e.observed)}" for e in self.failed)

    def examples_markdown(self) -> str:
        """The failing examples as a Markdown table ("none" when there are none)."""
        return markdown_table(self.failing_examples)


def _how_often(observed: Mapping[str, Any]) -> str:
    if "unexpected" in observed and observed["rows"] == 1 and observed.get("values"):
        return f"observed {observed['values'][0]}"  # a one-row summary frame: say its value
    if "unexpected" in observed:
        return f"{observed['unexpected']:,} of {observed['rows']:,} rows"
    if "missing" in observed:
        return f"missing {observed['missing']}"
    if "observed" in observed:
        return f"observed {observed['observed']}"
    return "failed"


def markdown_table(frame: pd.DataFrame, max_rows: int = 50) -> str:
    """``frame`` as a Markdown table, cells cut to 80 characters."""
    if frame.empty:
        return "none"

    def cell(v: Any) -> str:
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(plain(v))
        return text.replace("|", "\\|").replace("\n", " ")[:80]

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(cell(v) for v in row) + " |"
        for row in frame.head(max_rows).itertuples(index=False)
    ]
    return "\n".join([head, rule, *rows])


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: numpy scalars unwrapped, times as ISO text, NaN as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None if math.isnan(value) else str(value)
    return value


# -- running ----------------------------------------------------------------------------------


def run_suite(suite: Suite, sources: Sources, examples: int = EXAMPLES) -> CheckOutcome:
    """Validate ``suite`` on ``sources``: its rows read into pandas, or, for a pushdown suite,
    its unexpected rows counted inside DuckDB (the same outcome, without reading the rows)."""
    if suite.pushdown:
        from checks import pushdown

        return pushdown.run(suite, sources, examples)
    return validate(suite, suite.read(sources), examples=examples)


def validate(suite: Suite, frame: pd.DataFrame, examples: int = EXAMPLES) -> CheckOutcome:
    """Validate ``frame`` with ``suite``'s expectations in an ephemeral great-expectations context."""
    frame = frame.reset_index(drop=True)
    expects = list(suite.expectations(frame))
    if not expects:
        return CheckOutcome(
            suite.name,
            suite.asset,
            suite.severity,
            True,
            len(frame),
            (),
            frame.iloc[0:0],
            suite.params,
        )
    results = run_great_expectations(suite.name, frame, expects)
    outcomes: list[ExpectationOutcome] = []
    failing: list[pd.DataFrame] = []
    for expect, (success, result) in zip(expects, results, strict=True):
        observed, index = _observed(result, len(frame))
        outcomes.append(ExpectationOutcome(expect.label, expect.type, success, observed))
        if not success and index:
            rows = frame.loc[[i for i in index if i in frame.index][:examples]]
            failing.append(rows.assign(expectation=expect.label))
    return outcome(suite, len(frame), outcomes, failing, frame.iloc[0:0])


def outcome(
    suite: Suite,
    rows: int,
    outcomes: Sequence[ExpectationOutcome],
    failing: Sequence[pd.DataFrame],
    no_rows: pd.DataFrame,
) -> CheckOutcome:
    """The outcome of ``suite`` on ``rows`` rows: ``failing`` holds each failed expectation's
    example rows, labelled in an ``expectation`` column (``no_rows``: the columns when none)."""
    examples = pd.concat(failing, ignore_index=True) if failing else no_rows.assign(expectation=[])
    return CheckOutcome(
        suite=suite.name,
        asset=suite.asset,
        severity=suite.severity,
        passed=all(o.success for o in outcomes),
        rows=rows,
        expectations=tuple(outcomes),
        failing_examples=examples[
            ["expectation", *[c for c in examples.columns if c != "expectation"]]
        ],
        params=suite.params,
    )


def _observed(result: Mapping[str, Any], rows: int) -> tuple[dict[str, Any], list[Any]]:
    """Counts or the observed value of one expectation result, and the failing row indexes."""
    if "unexpected_count" in result:
        observed = {
            "unexpected": int(result["unexpected_count"]),
            "rows": int(result.get("element_count", rows)),
            "values": plain(result.get("partial_unexpected_list", [])[:EXAMPLES]),
        }
        if result.get("missing_count"):
            observed["null"] = int(result["missing_count"])
        return observed, list(result.get("partial_unexpected_index_list") or [])
    if result.get("partial_missing_list"):
        return {"missing": plain(result["partial_missing_list"])}, []
    return {"observed": plain(result.get("observed_value"))}, []


def run_great_expectations(
    name: str, frame: pd.DataFrame, expects: Sequence[Expect]
) -> list[tuple[bool, dict[str, Any]]]:
    """(success, result) per expectation, in the order given."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm on stderr
    batch = (
        context.data_sources.add_pandas("recur")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("all_rows")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=name))
    added = []
    for expect in expects:
        try:
            cls = getattr(gxe, expect.type)
        except AttributeError:
            raise SuiteError(f"suite {name}: great_expectations has no {expect.type}") from None
        added.append(gx_suite.add_expectation(cls(**expect.kwargs)))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch, suite=gx_suite)
    )
    run = definition.run(
        batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"}
    )
    # Results come grouped by column, not in the order added: match them by expectation id.
    by_id = {r.expectation_config.id: r for r in run.results}
    out = []
    for expect, configured in zip(expects, added, strict=True):
        r = by_id[configured.id]
        info = r.exception_info or {}
        errors = [info] if "raised_exception" in info else list(info.values())
        raised = [e for e in errors if isinstance(e, Mapping) and e.get("raised_exception")]
        if raised:
            raise SuiteError(
                f"suite {name}: {expect.label!r} could not be evaluated: "
                f"{raised[0].get('exception_message')}"
            )
        out.append((bool(r.success), dict(r.result or {})))
    return out
