"""Read an audience from the warehouse, as the rows a sync would send.

DuckDB does the work for the whole audience at once: each mapped column is rendered as text
(what destinations receive), fingerprinted, and checked. Rows with an empty or repeated match key
or an invalid email are marked invalid with a reason and never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from sources.warehouse import connect
from syncs.destinations.base import FieldInfo
from syncs.emails import (
    INVALID_EMAIL_REASON,
    email_columns,
    email_key_sql,
    valid_email_sql,
)
from syncs.errors import SyncConfigError
from syncs.spec import SyncSpec

_SEPARATOR = "\x1f"  # unit separator: cannot appear in rendered values by accident


@dataclass(frozen=True)
class Audience:
    """A sync's view of its audience: one row per audience row, values rendered as text.

    ``frame`` columns: ``key``, ``fingerprint``, ``invalid_reason``, ``person`` (the
    audience's ``holdout_person`` column, ``user_id`` by default, as text; the key when the
    audience has no such column), ``held_out`` (the row's person falls in the sync's holdout,
    :func:`holdout_sql`), then one ``v<i>`` column per mapped field (``fields[i]``), NULL
    rendered as "".
    """

    spec: SyncSpec
    fields: tuple[FieldInfo, ...]
    frame: pd.DataFrame

    @property
    def value_columns(self) -> list[str]:
        return [f"v{i}" for i in range(len(self.fields))]


def kind_of(sql_type: str) -> str:
    """The value kind of a DuckDB type: number, bool, date, datetime or string."""
    t = sql_type.upper()
    if (
        t.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL", "NUMERIC"))
        or t.endswith("INT")
        or t
        in {
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "HUGEINT",
            "UBIGINT",
            "UINTEGER",
        }
    ):
        return "number"
    if t == "BOOLEAN":
        return "bool"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    return "string"


def _render(column: str, sql_type: str) -> str:
    quoted = f'"{column}"'
    t = sql_type.upper()
    if t in {"DOUBLE", "FLOAT", "REAL"}:
        # 15 significant digits: what a double holds exactly, without binary noise (0.1 + 0.2).
        return f"format('{{:.15g}}', {quoted})"
    if t.startswith("TIMESTAMP"):
        return f"strftime({quoted}::timestamp, '%Y-%m-%dT%H:%M:%SZ')"
    if t == "BOOLEAN":
        return f"case when {quoted} then 'true' else 'false' end"
    return f"cast({quoted} as varchar)"


# A person's place in [0, 1): the first 15 hex digits of an MD5, over 16**15.
HASH_DIGITS = 15


def holdout_sql(spec: SyncSpec, person: str) -> str:
    """Whether the person (the SQL expression ``person``) is kept out of ``spec``'s destination:
    MD5 of audience, person and salt (joined by U+001F), its first 15 hex digits read as a number
    in [0, 16**15), below ``share * 16**15``. The same in any engine or language, e.g. Python:
    ``int(md5(f"{audience}\\x1f{person}\\x1f{salt}".encode()).hexdigest()[:15], 16)``.
    The audience and salt are bound as ``$holdout_audience`` and ``$holdout_salt``."""
    if not spec.holdout:
        return "false"
    limit = int(spec.holdout * 16**HASH_DIGITS)
    digest = f"md5($holdout_audience || chr(31) || {person} || chr(31) || $holdout_salt)"
    return f"('0x' || left({digest}, {HASH_DIGITS}))::ubigint < {limit}"


def read_audience(con: duckdb.DuckDBPyConnection, spec: SyncSpec) -> Audience:
    """The audience of ``spec`` from the warehouse connection ``con``.

    >>> con = duckdb.connect()
    >>> _ = con.execute("create schema audiences; create table audiences.aud_x as "
    ...     "select 'a@example.com' as email, 1.5 as score")
    >>> spec = SyncSpec("aud_x", "file", "email", (("score", "score"),))
    >>> read_audience(con, spec).frame[["key", "v0", "invalid_reason"]].values.tolist()
    [['a@example.com', '1.5', None]]
    """
    try:
        described = con.execute(f"describe {spec.relation}").fetchall()
    except duckdb.CatalogException:
        raise SyncConfigError(
            f"{spec.name}: the audience table {spec.relation} does not exist; "
            f"build it first (recur run --select {spec.schema}/{spec.audience})"
        ) from None
    types = {row[0]: row[1] for row in described}
    person = spec.holdout_person
    missing = [c for c in spec.columns + ([person] if spec.holdout else []) if c not in types]
    if missing:
        raise SyncConfigError(
            f"{spec.name}: {spec.relation} has no column(s) {', '.join(missing)} "
            f"(named in the sync's match_key/fields/holdout); it has {', '.join(types)}"
        )
    fields = tuple(
        FieldInfo(name, column, kind_of(types[column]), types[column])
        for name, column in spec.fields
    )
    rendered = [
        f"coalesce({_render(f.column, f.sql_type)}, '') as v{i}" for i, f in enumerate(fields)
    ]
    # One rule for the checks and the syncs (syncs/emails.py): the key as sent (trimmed,
    # lower-cased), the other email fields as rendered; an empty field is not sent as an address.
    value_of = {f.column: f"v{i}" for i, f in reversed(list(enumerate(fields)))}
    email_checks = [
        "key" if c.is_key else value_of[c.column]
        for c in email_columns(spec)
        if c.is_key or c.column in value_of
    ]
    bad_email = " or ".join(
        f"({c} <> '' and not {valid_email_sql(c)})" for c in dict.fromkeys(email_checks)
    )
    fingerprint = (
        f"md5(concat_ws('{_SEPARATOR}', {', '.join(f'v{i}' for i in range(len(fields)))}))"
        if fields
        else "md5('')"
    )
    # Email keys are compared as destinations do: case-insensitively.
    key_expr = f"nullif(trim(cast(\"{spec.match_key}\" as varchar)), '')"
    if any(c.is_key for c in email_columns(spec)):
        key_expr = email_key_sql(f'"{spec.match_key}"')
    frame = con.execute(
        f"""
        with source as (
            select {key_expr} as key,
                   {f'cast("{person}" as varchar)' if person in types else "null"} as _person,
                   {", ".join(rendered) if rendered else "null as _none"}
            from {spec.relation}
        ),
        counted as (
            select *, count(*) over (partition by key) as key_rows from source
        )
        select
            key,
            {fingerprint} as fingerprint,
            case
                when key is null then 'the match key {spec.match_key} is empty'
                when key_rows > 1 then 'the match key {spec.match_key} appears '
                    || key_rows || ' times in the audience'
                {f"when {bad_email} then '{INVALID_EMAIL_REASON}'" if bad_email else ""}
            end as invalid_reason,
            coalesce(_person, key) as person,
            {holdout_sql(spec, "coalesce(_person, key)")} as held_out,
            {", ".join(f"v{i}" for i in range(len(fields))) if fields else "null as _none"}
        from counted
        order by key
        """,
        {"holdout_audience": spec.audience, "holdout_salt": spec.holdout_salt}
        if spec.holdout
        else None,
    ).df()
    if not fields:
        frame = frame.drop(columns=["_none"])
    return Audience(spec, fields, frame)


def read_audience_file(warehouse: Path, spec: SyncSpec) -> Audience:
    """:func:`read_audience` on a warehouse file, opened read-only for just this read."""
    con = connect(warehouse, read_only=True)
    try:
        return read_audience(con, spec)
    finally:
        con.close()
