"""Physical lines of NDJSON files, numbered, read by DuckDB's CSV scanner.

DuckDB's JSON reader cannot say on which line a bad record stands, so files are first read as
single-column CSV (no quoting, a delimiter that never occurs in JSON text): DuckDB reads that in
parallel at close to disk speed, keeps the files' order, and reports each line it cannot decode
(invalid UTF-8, over-long) in a rejects table with its file and line number. Good lines are
numbered by their position in their file, shifted past the rejected ones.

A carriage return inside a line (not before its newline) stops DuckDB's CSV scanner for the whole
file ("state machine reached an invalid state"). Only then is the file copied, in Python, with each
such line replaced by one the scanner rejects, and the line is quarantined with its own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from sources.errors import UnreadableFileError

MAX_LINE_BYTES = 16 * 1024 * 1024  # Mixpanel and DuckDB's JSON reader both cap one object at 16 MB
# The scanner's buffer defaults to 16 lines of the maximum (256 MB): a 370 MB file was read by one
# or two threads. Two lines' worth (32 MB) lets every core take a part: 1.05 s to 0.7 s for it.
BUFFER_BYTES = 2 * MAX_LINE_BYTES

_REJECT_REASONS = {
    "INVALID ENCODING": "invalid UTF-8: the line holds bytes that are not UTF-8 text",
    "LINE SIZE OVER MAXIMUM": f"line longer than {MAX_LINE_BYTES // 2**20} MB",
    # chr(1) inside a line splits it into columns; JSON text never holds a raw control character.
    "TOO MANY COLUMNS": "malformed JSON: the line holds a raw control character (0x01)",
}
STRAY_RETURN_REASON = (
    "malformed JSON: a carriage return (\\r) inside the line, which NDJSON does not allow "
    "(lines end with \\n); the rest of the file was read"
)
# What a line holding a stray carriage return becomes in the copy the scanner reads: chr(1)
# splits it into two columns, which the scanner rejects with the line's number.
_STRAY_MARK = b"\x01stray carriage return"
_STRAY = re.compile(rb"\r(?!\n)")
_CHUNK = 8 << 20


@dataclass(frozen=True)
class LineFile:
    """A file to read: where it is, its name in the ledger, and the export day it belongs to."""

    path: Path
    name: str
    partition: date


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _scan(paths: list[Path]) -> str:
    listed = ", ".join(_literal(str(p)) for p in paths)
    return f"""
        read_csv([{listed}], columns = {{'line': 'VARCHAR'}}, header = false,
                 delim = chr(1), quote = '', escape = '', auto_detect = false,
                 max_line_size = {MAX_LINE_BYTES}, buffer_size = {BUFFER_BYTES},
                 store_rejects = true,
                 rejects_scan = '_scan_info', rejects_table = '_scan_errors')
    """


def read(
    con: duckdb.DuckDBPyConnection, files: list[LineFile], scratch: Path | None = None
) -> dict[str, int]:
    """Read ``files`` (plain or gzip) in one scan into temp tables ``_lines`` and ``_line_rejects``.

    ``_lines`` holds (file, partition, line_number, line) for every decodable line and
    ``_line_rejects`` (file, partition, line_number, line, reason) for the others; :func:`drop`
    removes them. Returns the number of physical lines of each file, good and rejected.
    ``scratch`` is a folder for copies of files holding stray carriage returns.
    """
    if not files:
        con.execute(
            "create or replace temp table _line_rejects (file varchar, partition date, "
            "line_number bigint, line varchar, reason varchar); "
            "create or replace temp view _lines as "
            "select file, partition, line_number, line from _line_rejects"
        )
        return {}
    con.execute(
        "create or replace temp table _files "
        "(file_index bigint, path varchar, file varchar, partition date)"
    )
    # One statement with list parameters: executemany runs a statement per row.
    con.execute(
        "insert into _files select unnest(?), unnest(?), unnest(?), unnest(?)",
        [
            list(range(len(files))),
            [str(f.path) for f in files],
            [f.name for f in files],
            [f.partition for f in files],
        ],
    )
    strays: dict[str, dict[int, bytes]] = {}
    try:
        # A temp table keeps the files' order (insertion order is preserved), so rowid is position.
        # file_index (the file's place in the list) keeps the rows narrow and the joins on integers.
        con.execute(
            "create or replace temp table _file_lines as select file_index, line from "
            + _scan([f.path for f in files])
        )
    except duckdb.Error as exc:
        if scratch is None or "invalid state" not in str(exc):
            raise _unreadable(con, files, exc) from exc
        files, strays = _set_aside_stray_returns(con, files, scratch)
        try:
            con.execute(
                "create or replace temp table _file_lines as select file_index, line from "
                + _scan([f.path for f in files])
            )
        except duckdb.Error as again:
            raise _unreadable(con, files, again) from again
    reasons = " ".join(f"when '{k}' then {_literal(v)}" for k, v in _REJECT_REASONS.items())
    con.execute(
        f"""
        create or replace temp table _line_rejects as
        select f.file, f.partition, e.line as line_number, e.csv_line as line,
               coalesce(case e.error_type::varchar {reasons} end, e.error_message) as reason
        from _scan_errors e
        join _scan_info s on s.scan_id = e.scan_id and s.file_id = e.file_id
        join _files f on f.path = s.file_path;

        create or replace temp table _firsts as
        select f.file_index, f.file, f.partition, l.first_rowid, l.good
        from (select file_index, min(rowid) as first_rowid, count(*) as good
              from _file_lines group by file_index) l
        join _files f using (file_index);
        """
    )
    if strays:
        con.execute(
            "create or replace temp table _strays as select unnest(?) as file, "
            "unnest(?) as line_number, unnest(?) as line",
            [
                [name for name, found in strays.items() for _ in found],
                [n for found in strays.values() for n in found],
                [
                    raw.decode("utf-8", "replace")
                    for found in strays.values()
                    for raw in found.values()
                ],
            ],
        )
        con.execute(
            "update _line_rejects r set line = s.line, reason = ? from _strays s "
            "where r.file = s.file and r.line_number = s.line_number",
            [STRAY_RETURN_REASON],
        )
        con.execute("drop table _strays")
    positioned = """
        select s.file, s.partition, l.line, l.rowid - s.first_rowid + 1 as k
        from _file_lines l join _firsts s using (file_index)
    """
    if con.execute("select count(*) from _line_rejects").fetchone()[0] == 0:
        con.execute(
            f"create or replace temp view _lines as "
            f"select file, partition, k as line_number, line from ({positioned})"
        )
    else:
        con.execute(
            f"""
            -- The k-th good line of a file stands after every rejected line r_m (its m-th reject)
            -- with r_m - m < k, so its number is k plus the largest such m.
            create or replace temp table _shifts as
            select file, good_before, max(m) as m from (
                select file, line_number - row_number() over (partition by file order by line_number)
                           as good_before,
                       row_number() over (partition by file order by line_number) as m
                from _line_rejects)
            group by all;

            -- A view, not a copy: the text is read once more, by the parser.
            create or replace temp view _lines as
            select p.file, p.partition, p.k + coalesce(s.m, 0) as line_number, p.line
            from ({positioned}) p
            asof left join _shifts s on s.file = p.file and s.good_before < p.k;
            """
        )
    counts = {f.name: 0 for f in files}
    for name, n in con.execute(
        "select file, sum(n) from (select file, good as n from _firsts union all "
        "select file, count(*) from _line_rejects group by file) group by file"
    ).fetchall():
        counts[name] = n
    return counts


def drop_text(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the lines' text once it has been parsed (``_line_rejects`` and the counts stay)."""
    con.execute("drop view if exists _lines; drop table if exists _file_lines")


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what :func:`read` created, once the lines have been parsed."""
    con.execute(
        "drop view if exists _lines; drop table if exists _line_rejects; "
        "drop table if exists _file_lines; drop table if exists _shifts; "
        "drop table if exists _firsts; drop table if exists _files; "
        "drop table if exists _scan_errors; drop table if exists _scan_info"
    )


def _set_aside_stray_returns(
    con: duckdb.DuckDBPyConnection, files: list[LineFile], scratch: Path
) -> tuple[list[LineFile], dict[str, dict[int, bytes]]]:
    """Copy each file the scanner cannot read alone because of stray carriage returns, with those
    lines replaced; return the files to read and, per file, the replaced lines by number."""
    out, strays = [], {}
    for index, f in enumerate(files):
        try:
            con.execute(f"select count(*) from {_scan([f.path])}").fetchall()
            out.append(f)
            continue
        except duckdb.Error as exc:
            if "invalid state" not in str(exc):
                raise _unreadable(con, [f], exc) from exc
        copy = scratch / f"stray-returns-{index:05d}.jsonl"
        strays[f.name] = _copy_without_stray_returns(f.path, copy)
        out.append(LineFile(copy, f.name, f.partition))
        con.execute("update _files set path = ? where file_index = ?", [str(copy), index])
    con.execute("drop table if exists _scan_errors; drop table if exists _scan_info")
    return out, strays


def _copy_without_stray_returns(path: Path, target: Path) -> dict[int, bytes]:
    """Copy ``path`` to ``target`` with each line holding a carriage return that does not end it
    replaced by a line the scanner rejects; return the replaced lines (without their newline)
    by line number."""
    found: dict[int, bytes] = {}
    number, tail = 0, b""
    with open(path, "rb") as src, open(target, "wb") as out:
        while True:
            chunk = src.read(_CHUNK)
            data = tail + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            block, tail = data[:cut], data[cut:]
            if block and not _STRAY.search(block):
                out.write(block)
                number += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            elif block:
                parts = block.split(b"\n")
                if block.endswith(b"\n"):
                    parts.pop()
                for k, line in enumerate(parts):
                    number += 1
                    ending = b"\n" if k < len(parts) - 1 or block.endswith(b"\n") else b""
                    body = line[:-1] if ending and line.endswith(b"\r") else line
                    if b"\r" in body:
                        found[number] = body
                        out.write(_STRAY_MARK + ending)
                    else:
                        out.write(line + ending)
            if not chunk:
                return found


def _unreadable(
    con: duckdb.DuckDBPyConnection, files: list[LineFile], exc: duckdb.Error
) -> UnreadableFileError:
    """Find which file broke a scan of many, so the error names it (by its name in the export
    folder, never a temporary copy's path)."""
    for f in files:
        try:
            con.execute(f"select count(*) from {_scan([f.path])}").fetchall()
        except duckdb.Error as one:
            return UnreadableFileError(f"cannot read {f.name}: {one}")
    return UnreadableFileError(f"cannot read {', '.join(f.name for f in files)}: {exc}")
