"""Markdown for Dagster metadata: tables and previews of warehouse relations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb

PREVIEW_ROWS = 5


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table; cells are one line, pipes escaped, cut to 120 characters."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text.replace("|", "\\|").replace("\n", " ")[:120]

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


def preview(con: duckdb.DuckDBPyConnection, relation: str, rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` rows of ``relation`` as a Markdown table."""
    cursor = con.execute(f"select * from {relation} limit {int(rows)}")
    return markdown_table([d[0] for d in cursor.description], cursor.fetchall())
