"""Which syncs use predicted LTV or churn, so that only those wait on the LTV models' checks.

A sync uses them when it sends one of their columns (its ``fields``), or when its audience
chooses members by one (a ``where``, ``having``, ``qualify`` or join condition of the model's
SQL names it). The columns keep their names through the audiences (aud_contact_traits passes
``ltv_tier``, ``predicted_ltv_12m``, ``churn_band`` and ``churn_score`` on), so a name is enough.
When a model's SQL cannot be read, the sync is taken to use them: the gate errs on holding back.

>>> condition_columns("select * from t where churn_band = 'high' and email is not null")
{'churn_band', 'email'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlglot
from sqlglot import exp

from checks.marts import PREDICTIONS
from syncs.spec import SyncSpec

#: the blocking-checked models the predictions come from
LTV_ASSETS = frozenset(
    {
        ("analytics", "ltv_model_params"),
        ("analytics", "customer_ltv"),
        ("analytics", "churn_risk"),
    }
)
#: their predicted columns, under the names the audiences keep
LTV_COLUMNS = frozenset(PREDICTIONS) | {"ltv_tier", "churn_score", "churn_band"}

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_JINJA_BLOCK = re.compile(r"\{%.*?%\}", re.S)
_REF = re.compile(r"\{\{\s*(?:ref|source)\(([^)]*)\)\s*\}\}")
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)


def _plain_sql(raw: str) -> str:
    """A dbt model's raw code as parseable SQL: comments and blocks dropped, each ref or source
    a table name, every other expression NULL (enough to see which columns conditions name)."""
    sql = _JINJA_BLOCK.sub(" ", _JINJA_COMMENT.sub(" ", raw))
    sql = _REF.sub(lambda m: re.findall(r"['\"]([^'\"]+)['\"]", m.group(1))[-1], sql)
    return _EXPRESSION.sub("NULL", sql)


def condition_columns(sql: str) -> set[str]:
    """Column names in the conditions that choose rows: where, having, qualify, join on."""
    columns: set[str] = set()
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        for clause in tree.find_all(exp.Where, exp.Having, exp.Qualify, exp.Join):
            condition = clause.args.get("on") if isinstance(clause, exp.Join) else clause
            if condition is not None:
                columns |= {column.name for column in condition.find_all(exp.Column)}
    return columns


def ltv_use(spec: SyncSpec, manifest: Mapping[str, Any]) -> list[str]:
    """Why ``spec`` uses predicted LTV or churn ([] when it does not), in words."""
    reasons = []
    sent = sorted(set(spec.columns) & LTV_COLUMNS)
    if sent:
        reasons.append(f"sends {', '.join(sent)}")
    nodes = [
        node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model"
        and node.get("name") == spec.audience
        and node.get("schema", spec.schema) == spec.schema
    ]
    for node in nodes:
        try:
            chosen = sorted(condition_columns(_plain_sql(node.get("raw_code") or "")) & LTV_COLUMNS)
        except sqlglot.errors.SqlglotError as error:
            reasons.append(f"its SQL could not be read ({error.__class__.__name__}), so assumed")
            continue
        if chosen:
            reasons.append(f"chooses members by {', '.join(chosen)}")
    return reasons
