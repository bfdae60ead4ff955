"""Mixpanel days into raw: validation, quarantine reasons, de-duplication, idempotent re-loads."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sources.loader import load_partition
from tests.conftest import mixpanel_line, write_mixpanel_day

DAY = date(2026, 1, 1)
T = 1767225600  # 2026-01-01 00:00:00 UTC


def quarantine(con) -> dict[int, str]:
    return dict(con.execute("select line_number, reason from raw.quarantine").fetchall())


def ledger(con) -> list[tuple]:
    return con.execute(
        "select file, lines_read, loaded, duplicates, quarantined from raw.load_ledger order by file"
    ).fetchall()


def test_clean_day_is_loaded_with_typed_columns(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path,
        "2026-01-01",
        [
            mixpanel_line(
                "Purchase",
                T + 90,
                distinct_id="u1",
                **{
                    "$device_id": "d1",
                    "$user_id": "u1",
                    "$insert_id": "a1",
                    "revenue": 19.99,
                    "mp_processing_time_ms": 1767225691000,
                },
            ),
            mixpanel_line(
                "Page Viewed",
                T + 30,
                distinct_id="$device:d2",
                **{"$device_id": "d2", "$insert_id": "a2"},
            ),
        ],
    )
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.lines_read, result.loaded, result.duplicates, result.quarantined) == (2, 2, 0, 0)
    row = warehouse.execute(
        "select event_name, event_at, distinct_id, device_id, user_id, insert_id, processed_at, "
        "properties ->> 'revenue', source_file, line_number from raw.mixpanel_events "
        "where insert_id = 'a1'"
    ).fetchone()
    assert row == (
        "Purchase",
        datetime(2026, 1, 1, 0, 1, 30),
        "u1",
        "d1",
        "u1",
        "a1",
        datetime(2026, 1, 1, 0, 1, 31),
        "19.99",
        "mixpanel/2026-01-01.jsonl",
        1,
    )


def test_milliseconds_are_recognised(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path, "2026-01-01", [mixpanel_line(time=T * 1000 + 250, distinct_id="u")]
    )
    load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert warehouse.execute("select event_at from raw.mixpanel_events").fetchone()[0] == datetime(
        2026, 1, 1, 0, 0, 0, 250000
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"event":"A","properties":{"time":1767225600,"distinct_id":"u1"', "truncated JSON"),
        ('{"event":"A","properties":{time:1767225600,"distinct_id":"u1"}}', "malformed JSON"),
        ("terminated early", 'ended with "terminated early"'),
        ("", "empty line"),
        ("[1, 2, 3]", "not a Mixpanel event"),
        (mixpanel_line(time=T), "no user identity"),
        (mixpanel_line(time=str(T), distinct_id="u1"), "properties.time is text (1767225600)"),
        (
            mixpanel_line(time=4102444800, distinct_id="u1"),
            "event time 2100-01-01 00:00:00 is in the future of its export day 2026-01-01",
        ),
        (
            mixpanel_line(time=0, distinct_id="u1"),
            "event time 1970-01-01 00:00:00 is before 2000-01-01",
        ),
        ('{"event":"A","properties":{"distinct_id":"u1"}}', "properties.time missing"),
        ('{"properties":{"time":1767225600,"distinct_id":"u1"}}', "event name missing"),
        (
            b'{"event":"A","properties":{"time":1767225600,"distinct_id":"\xff\xfe"}}',
            "invalid UTF-8",
        ),
    ],
    ids=[
        "truncated",
        "malformed",
        "terminated-early",
        "empty",
        "not-an-object",
        "no-identity",
        "time-as-text",
        "future",
        "ancient",
        "no-time",
        "no-event",
        "invalid-utf8",
    ],
)
def test_each_bad_line_is_quarantined_with_its_reason(warehouse, tmp_path, line, reason):
    good = mixpanel_line(time=T, distinct_id="u1", **{"$insert_id": "ok"})
    write_mixpanel_day(tmp_path, "2026-01-01", [good, line, good.replace('"ok"', '"ok2"')])
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.lines_read, result.loaded, result.quarantined) == (3, 2, 1)
    [(line_number, got)] = quarantine(warehouse).items()
    assert line_number == 2
    assert got.startswith(reason) or reason in got
    assert ledger(warehouse) == [("mixpanel/2026-01-01.jsonl", 3, 2, 0, 1)]
    # The good line after the bad one keeps its own physical line number.
    assert warehouse.execute(
        "select line_number from raw.mixpanel_events where insert_id = 'ok2'"
    ).fetchone() == (3,)


def test_duplicates_follow_mixpanels_rule_even_when_distinct_id_changed(warehouse, tmp_path):
    first = {"$insert_id": "x", "$device_id": "d1", "distinct_id": "$device:d1"}
    remerged = {"$insert_id": "x", "$device_id": "d1", "distinct_id": "u1", "$user_id": "u1"}
    write_mixpanel_day(
        tmp_path,
        "2026-01-01",
        [
            mixpanel_line("A", T, **first),
            mixpanel_line("A", T, **remerged),  # same event after an ID merge: duplicate
            mixpanel_line("B", T, **first),  # other event name: not a duplicate
            mixpanel_line("A", T + 1, **first),  # other time: not a duplicate
            mixpanel_line("A", T, distinct_id="u9"),  # no $insert_id: hashed properties
            mixpanel_line("A", T, distinct_id="u8"),  # ... which ignore identity: duplicate
            mixpanel_line("A", T, distinct_id="u8", plan="pro"),  # other properties: not one
        ],
    )
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.loaded, result.duplicates) == (5, 2)
    kept = warehouse.execute(
        "select line_number from raw.mixpanel_events order by line_number"
    ).fetchall()
    assert [n for (n,) in kept] == [1, 3, 4, 5, 7]


def test_the_copy_processed_first_is_kept(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path,
        "2026-01-01",
        [
            mixpanel_line(
                "A", T, distinct_id="late", **{"$insert_id": "x", "mp_processing_time_ms": 9e12}
            ),
            mixpanel_line(
                "A", T, distinct_id="early", **{"$insert_id": "x", "mp_processing_time_ms": 1e12}
            ),
        ],
    )
    load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert warehouse.execute("select distinct_id from raw.mixpanel_events").fetchall() == [
        ("early",)
    ]


def test_reloading_is_idempotent_and_unchanged_files_are_skipped(warehouse, tmp_path):
    lines = [
        mixpanel_line(time=T + i, distinct_id="u", **{"$insert_id": f"i{i}"}) for i in range(5)
    ]
    write_mixpanel_day(tmp_path, "2026-01-01", lines + ["oops"])
    first = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    second = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    forced = load_partition(warehouse, tmp_path, "mixpanel", DAY, force=True)
    assert not first.skipped and second.skipped and not forced.skipped
    assert second.loaded == forced.loaded == 5
    assert warehouse.execute("select count(*) from raw.mixpanel_events").fetchone() == (5,)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (1,)
    assert warehouse.execute("select count(*) from raw.load_ledger").fetchone() == (1,)


def test_a_changed_file_replaces_exactly_what_it_loaded_before(warehouse, tmp_path):
    lines = [
        mixpanel_line(time=T + i, distinct_id="u", **{"$insert_id": f"i{i}"}) for i in range(5)
    ]
    write_mixpanel_day(tmp_path, "2026-01-01", lines)
    write_mixpanel_day(tmp_path, "2026-01-02", [mixpanel_line(time=T + 86400, distinct_id="v")])
    load_partition(warehouse, tmp_path, "mixpanel", DAY)
    load_partition(warehouse, tmp_path, "mixpanel", date(2026, 1, 2))
    write_mixpanel_day(tmp_path, "2026-01-01", lines[:3] + ["{bad}"])
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert not result.skipped and (result.loaded, result.quarantined) == (3, 1)
    per_day = warehouse.execute(
        "select partition, count(*) from raw.mixpanel_events group by 1 order by 1"
    ).fetchall()
    assert per_day == [(DAY, 3), (date(2026, 1, 2), 1)]
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (1,)


def test_gzip_files_and_several_files_per_day_are_deduplicated_together(warehouse, tmp_path):
    line = mixpanel_line(time=T, distinct_id="u", **{"$insert_id": "same"})
    write_mixpanel_day(tmp_path, "2026-01-01", [line])
    (tmp_path / "mixpanel" / "2026-01-01.jsonl").rename(
        tmp_path / "mixpanel" / "2026-01-01-a.jsonl"
    )
    write_mixpanel_day(
        tmp_path, "2026-01-01-b", [line, mixpanel_line(time=T, distinct_id="w")], suffix=".jsonl.gz"
    )
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert [(f.file, f.lines_read, f.loaded, f.duplicates) for f in result.files] == [
        ("mixpanel/2026-01-01-a.jsonl", 1, 1, 0),
        ("mixpanel/2026-01-01-b.jsonl.gz", 2, 1, 1),
    ]


def test_a_file_that_cannot_be_read_fails_with_its_name(warehouse, tmp_path):
    from sources.errors import UnreadableFileError

    path = tmp_path / "mixpanel" / "2026-01-01.jsonl.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not gzip")
    with pytest.raises(UnreadableFileError, match="2026-01-01.jsonl.gz"):
        load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert warehouse.execute("select count(*) from raw.load_ledger").fetchone() == (0,)


def test_load_days_reports_progress_in_days(warehouse, tmp_path, monkeypatch):
    from sources import loader

    monkeypatch.setattr(loader, "BATCH_BYTES", 1)  # one day per batch
    days = [date(2026, 1, d) for d in (1, 2, 3)]
    for day in days:
        write_mixpanel_day(tmp_path, day.isoformat(), [mixpanel_line(time=T, distinct_id="u1")])
    ticks = []
    loaded = loader.load_days(
        warehouse,
        tmp_path,
        "mixpanel",
        days,
        progress=lambda done, total: ticks.append((done, total)),
    )
    assert [r.loaded for r in loaded] == [1, 1, 1]
    assert ticks == [(1, 3), (2, 3), (3, 3)]


def test_property_bags_are_stored_with_zstd(warehouse, tmp_path):
    """raw keeps whole JSON bags; zstd writes them about 3x faster than DuckDB's default for
    strings (docs/benchmarks.md, Ingest), so the column must keep asking for it."""
    lines = [
        mixpanel_line(time=T + i, **{"$device_id": f"d{i}", "page": "/" * i}) for i in range(50)
    ]
    write_mixpanel_day(tmp_path, "2026-01-01", lines)
    load_partition(warehouse, tmp_path, "mixpanel", DAY)
    warehouse.execute("checkpoint")
    methods = {
        row[0]
        for row in warehouse.execute(
            "select compression from pragma_storage_info('raw.mixpanel_events') "
            "where column_name = 'properties' and segment_type <> 'VALIDITY'"
        ).fetchall()
    }
    assert methods == {"ZSTD"}
