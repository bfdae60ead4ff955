"""Mixpanel Engage profiles: the pages of ``mixpanel/profiles/`` into ``raw.mixpanel_profiles``.

Profiles are point-in-time state, not events: each load replaces the whole table in one
transaction. A profile's "line" in the quarantine and ledger is its position in its page's
``results`` (1-based). When a ``$distinct_id`` appears on several pages, the last one wins.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from sources import layout
from sources.errors import UnreadableFileError
from sources.loader import FileCounts, fingerprint

SOURCE = layout.MIXPANEL_PROFILES


def _text(key: str) -> str:
    return f"""nullif(p ->> '$."{key}"', '')"""


def _timestamp(key: str) -> str:
    return f"try_cast({_text(key)} as timestamp)"


def load_profiles(
    con: duckdb.DuckDBPyConnection, exports: Path, *, force: bool = False
) -> tuple[bool, list[FileCounts], float]:
    """Load every Engage page; return (skipped, per-page counts, seconds)."""
    started = time.perf_counter()
    pages = layout.profile_pages(exports)
    # Pages pruned after a load keep what they loaded, as pruned export days do.
    if not pages:
        return True, _counts(con), time.perf_counter() - started
    for page in pages:
        layout.check_inside(exports, page)
    names = {p: p.relative_to(exports).as_posix() for p in pages}
    prints = {(names[p], fingerprint(p)) for p in pages}
    recorded = set(
        con.execute(
            "select export_file, fingerprint from raw.load_ledger where source = ?", [SOURCE]
        ).fetchall()
    )
    if not force and prints == recorded:
        return True, _counts(con), time.perf_counter() - started

    _read_pages(con, pages, names)
    con.execute(
        f"""
        create or replace temp table _profiles as
        select file, line_number, p::varchar as raw,
               {_text("$distinct_id")} as distinct_id,
               case when {_text("$distinct_id")} is null
                    then 'no $distinct_id: a profile must name the user it describes' end as reason,
               coalesce(p -> '$."$properties"', '{{}}') as properties
        from _pages
        """
    )
    fields = {
        "email": _text("$email"),
        "first_name": _text("$first_name"),
        "last_name": _text("$last_name"),
        "city": _text("$city"),
        "region": _text("$region"),
        "country_code": _text("$country_code"),
        "created_at": _timestamp("$created"),
        "last_seen_at": _timestamp("$last_seen"),
    }
    select_fields = ", ".join(
        f"{expr.replace('p ->>', 'properties ->>')} as {name}" for name, expr in fields.items()
    )
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.mixpanel_profiles")
        con.execute("delete from raw.quarantine where source = ?", [SOURCE])
        con.execute("delete from raw.load_ledger where source = ?", [SOURCE])
        con.execute(
            f"""insert into raw.mixpanel_profiles
                select distinct_id, {select_fields}, properties, file, now()::timestamp
                from _profiles where reason is null
                qualify row_number() over (
                    partition by distinct_id order by file desc, line_number desc) = 1"""
        )
        con.execute(
            """insert into raw.quarantine
               select ?, file, line_number, raw, reason, null, now()::timestamp
               from _profiles where reason is not null""",
            [SOURCE],
        )
        # One statement for all pages (one per page ranked every profile again for each page);
        # a page without profiles still gets its line, of zeros.
        ledger = sorted(prints)
        con.execute(
            """insert into raw.load_ledger
               select ?, f.file, null, coalesce(n.lines_read, 0), coalesce(n.loaded, 0),
                      coalesce(n.duplicates, 0), coalesce(n.quarantined, 0), now()::timestamp,
                      f.file, f.fingerprint
               from (select unnest(?) as file, unnest(?) as fingerprint) f
               left join (
                   select file, count(*) as lines_read, count(*) filter (where kept) as loaded,
                          count(*) filter (where reason is null and not kept) as duplicates,
                          count(*) filter (where reason is not null) as quarantined
                   from (select *, reason is null and row_number() over (
                             partition by reason is null, distinct_id
                             order by file desc, line_number desc) = 1 as kept
                         from _profiles)
                   group by file) n using (file)
               order by f.file""",
            [SOURCE, [name for name, _ in ledger], [fp for _, fp in ledger]],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists _pages; drop table if exists _profiles")
    return False, _counts(con), time.perf_counter() - started


_PAGES = (
    "read_json({}, columns = {{'results': 'JSON[]'}}, format = 'unstructured', filename = true)"
)


def _read_pages(con: duckdb.DuckDBPyConnection, pages: list[Path], names: dict[Path, str]) -> None:
    """Every profile of ``pages`` into ``_pages`` (file, line_number, p), in one scan; when the
    scan fails, the page that breaks it is named."""
    con.execute(
        "create or replace temp table _names as select unnest(?) as filename, unnest(?) as file",
        [[str(p) for p in pages], [names[p] for p in pages]],
    )
    try:
        con.execute(
            f"""create or replace temp table _pages as
                select n.file, i as line_number, results[i] as p from (
                    select filename, results, unnest(generate_series(1, len(results))) as i
                    from {_PAGES.format("?")}) r
                join _names n using (filename)""",
            [[str(p) for p in pages]],
        )
    except duckdb.Error as failed:
        shown, cause = ", ".join(str(p) for p in pages), failed
        for page in pages:
            try:
                con.execute(f"select count(*) from {_PAGES.format('?')}", [str(page)]).fetchall()
            except duckdb.Error as one:
                shown, cause = str(page), one
                break
        raise UnreadableFileError(
            f"cannot read the Engage page {shown}: {cause}. Expected an Engage API response "
            'with a "results" list; export the profiles again'
        ) from cause
    finally:
        con.execute("drop table if exists _names")


def _counts(con: duckdb.DuckDBPyConnection) -> list[FileCounts]:
    rows = con.execute(
        "select file, lines_read, loaded, duplicates, quarantined from raw.load_ledger "
        "where source = ? order by file",
        [SOURCE],
    ).fetchall()
    return [FileCounts(*row) for row in rows]
