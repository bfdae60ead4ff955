"""Physical lines of NDJSON files, numbered, read by DuckDB's CSV scanner.

DuckDB's JSON reader cannot say on which line a bad record stands, so files are first read as
single-column CSV (no quoting, a delimiter that never occurs in JSON text): DuckDB reads that in
parallel at close to disk speed, keeps the file's order, and reports each line it cannot decode
(invalid UTF-8, over-long) in a rejects table with its line number. Good lines are numbered by
their position, shifted past the rejected ones.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from sources.errors import UnreadableFileError

MAX_LINE_BYTES = 16 * 1024 * 1024  # Mixpanel and DuckDB's JSON reader both cap one object at 16 MB

LINES_TABLE = "_lines"
REJECTS_TABLE = "_line_rejects"

_REJECT_REASONS = {
    "INVALID ENCODING": "invalid UTF-8: the line holds bytes that are not UTF-8 text",
    "LINE SIZE OVER MAXIMUM": f"line longer than {MAX_LINE_BYTES // 2**20} MB",
    # chr(1) inside a line splits it into columns; JSON text never holds a raw control character.
    "TOO MANY COLUMNS": "malformed JSON: the line holds a raw control character (0x01)",
}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def start(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the empty temp tables that :func:`read` appends to."""
    con.execute(
        f"""
        create or replace temp table {LINES_TABLE} (file varchar, line_number bigint, line varchar);
        create or replace temp table {REJECTS_TABLE} (
            file varchar, line_number bigint, line varchar, reason varchar);
        """
    )


def read(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> int:
    """Append the lines of ``path`` (plain or gzip) to the lines table as file ``name``.

    Returns the number of physical lines read, good and rejected.
    """
    scan = f"""
        read_csv({_literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false,
                 delim = chr(1), quote = '', escape = '', auto_detect = false,
                 max_line_size = {MAX_LINE_BYTES}, store_rejects = true,
                 rejects_scan = '_scan_info', rejects_table = '_scan_errors')
    """
    try:
        # A temp table keeps the file's order (insertion order is preserved), so rowid is position.
        con.execute(f"create or replace temp table _file_lines as select line from {scan}")
    except duckdb.Error as exc:
        raise UnreadableFileError(f"cannot read {path}: {exc}") from exc
    con.execute(
        f"""
        insert into {REJECTS_TABLE}
        select {_literal(name)}, line, csv_line,
               coalesce(case error_type::varchar {" ".join(f"when '{k}' then {_literal(v)}" for k, v in _REJECT_REASONS.items())} end,
                        error_message)
        from _scan_errors;
        """
    )
    rejected = con.execute("select count(*) from _scan_errors").fetchone()[0]
    if rejected == 0:
        number = "rowid + 1"
    else:
        # The k-th good line stands after every rejected line r_m (m-th reject) with r_m - m < k.
        number = """rowid + 1 + (select count(*) from (
                        select line as r, row_number() over (order by line) as m from _scan_errors)
                     where r - m < _file_lines.rowid + 1)"""
    con.execute(
        f"insert into {LINES_TABLE} select {_literal(name)}, {number}, line from _file_lines"
    )
    read_count = con.execute("select count(*) from _file_lines").fetchone()[0] + rejected
    con.execute(
        "drop table _file_lines; drop table if exists _scan_errors; drop table if exists _scan_info"
    )
    return read_count
