"""Quarantine reasons shared by the event sources, as SQL ``case`` branches.

Reasons are written for a person reading ``raw.quarantine``: what is wrong and, where it helps, what
to do about it.

The earliest accepted day is a setting (``RECUR_EARLIEST_EVENT``, :mod:`sources.settings`); it
reaches the SQL as the bound parameter ``$earliest`` (a DATE), never as text.
"""

from __future__ import annotations

from datetime import date

#: The bound parameter holding the earliest accepted day; see :func:`parameters`.
EARLIEST = "$earliest"
# An event may be stamped up to a day after its export day (late uploads, clock skew); beyond that
# the device clock is wrong and the event would sit in the future of every report.
FUTURE_TOLERANCE_DAYS = 1
TERMINATED_EARLY = "terminated early"


def parsed_object(line: str, spec: str) -> str:
    """A SQL expression: ``line`` parsed with ``from_json`` into the struct ``spec``, null when it
    does not parse (then :func:`unparsed_reason` says why).

    ``try()`` alone would do, but when one row of a vector fails, DuckDB evaluates the whole vector
    again row by row: with 1% bad lines almost every vector of 2,048 holds one, and parsing took
    twice as long. ``json_valid`` (a fifth of the cost of parsing) keeps the bad lines out first.
    """
    return f"case when json_valid({line}) then try(from_json({line}, '{spec}')) end"


def unparsed_reason(line: str) -> str:
    """A SQL expression: why ``line``, which did not parse as a JSON object, was quarantined.

    Only evaluated for lines that failed to parse, so good lines pay nothing for it.
    """
    # The text up to the line's last closing brace: when it is valid JSON, the line holds an
    # object followed by other text.
    through_brace = f"left({line}, length({line}) - strpos(reverse({line}), '}}') + 1)"
    after_brace = f"left(trim(substr({line}, length({through_brace}) + 1)), 40)"
    shown = f"left(trim({line}), 40)"
    return f"""case
        when {line} is null or {line} = '' then 'empty line'
        when regexp_full_match({line}, '\\s*')
            then 'empty line: only whitespace (spaces, tabs) where an event was expected'
        when json_valid({line})
            then 'not a JSON object: the line is JSON ' || lower(json_type({line}))
                 || case when json_type({line}) = 'NULL' then '' else ' ' || {shown} end
        when contains({line}, '}}') and json_valid({through_brace})
            then 'text after the JSON object: "' || {after_brace} || '" follows its closing brace'
        when trim({line}) = '{TERMINATED_EARLY}'
            then 'the export stream ended with "{TERMINATED_EARLY}": this day is incomplete, export it again'
        when not ends_with(rtrim({line}), '}}')
            then 'truncated JSON: the line ends before its object closes'
        else 'malformed JSON: the line is not a valid JSON object'
    end"""


def parameters(earliest: date) -> dict[str, object]:
    """The bound parameters :func:`time_reasons` refers to."""
    return {EARLIEST[1:]: earliest}


def time_reasons(seconds: str, export_end: str = "(partition + interval 1 day)") -> str:
    """``when`` branches for event times (``seconds`` since the epoch, UTC) outside the plausible
    range: before the earliest accepted day (the ``$earliest`` parameter, 00:00 UTC), or more than
    the tolerance after ``export_end``, the UTC end of the row's export day (the ``partition``
    column; a source whose days are not UTC days passes its own)."""
    limit = f"epoch({export_end} + interval {FUTURE_TOLERANCE_DAYS} day)"
    shown = (
        f"case when {seconds} between -6e10 and 2.5e11 "
        f"then strftime(make_timestamp(({seconds} * 1e6)::bigint), '%Y-%m-%d %H:%M:%S') "
        f"else {seconds}::varchar end"
    )
    return f"""
        when {seconds} < epoch({EARLIEST}::date)
            then 'event time ' || {shown} || ' is before '
                 || strftime({EARLIEST}::date, '%Y-%m-%d')
                 || ' (the earliest accepted day, RECUR_EARLIEST_EVENT)'
        when {seconds} >= {limit}
            then 'event time ' || {shown} || ' is in the future of its export day '
                 || strftime(partition, '%Y-%m-%d')
    """
