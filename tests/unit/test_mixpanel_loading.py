"""Mixpanel days into raw: validation, quarantine reasons, de-duplication, idempotent re-loads."""

from __future__ import annotations

import calendar
import time
from datetime import date, datetime

import pytest

from sources import loader
from sources.loader import load_partition
from sources.settings import IngestSettings
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
            # No $insert_id: hashed properties and the person ($device_id, $user_id) ...
            mixpanel_line("A", T, distinct_id="$device:d9", **{"$device_id": "d9"}),
            # ... which an ID merge does not rewrite: the same event, re-exported, is a duplicate
            mixpanel_line("A", T, distinct_id="u9", **{"$device_id": "d9"}),
            mixpanel_line("A", T, distinct_id="u8", plan="pro"),  # other properties: not one
        ],
    )
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.loaded, result.duplicates) == (5, 2)
    kept = warehouse.execute(
        "select line_number from raw.mixpanel_events order by line_number"
    ).fetchall()
    assert [n for (n,) in kept] == [1, 3, 4, 5, 7]


def test_without_insert_id_two_people_are_never_one_event(warehouse, tmp_path):
    """Issue 11, item 8: the fallback key holds the person, so only one person's copies merge."""
    same = {"plan": "pro", "mp_lib": "web"}
    write_mixpanel_day(
        tmp_path,
        "2026-01-01",
        [
            mixpanel_line("Purchase", T, distinct_id="alice", **same),
            mixpanel_line("Purchase", T, distinct_id="bob", **same),  # another person: kept
            mixpanel_line("Purchase", T, distinct_id="bob", **same),  # bob's exact copy
            # Same device, different signed-in users: two people.
            mixpanel_line("Buy", T, distinct_id="u1", **{"$device_id": "d", "$user_id": "u1"}),
            mixpanel_line("Buy", T, distinct_id="u2", **{"$device_id": "d", "$user_id": "u2"}),
        ],
    )
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.lines_read, result.loaded, result.duplicates) == (5, 4, 1)
    assert ledger(warehouse) == [("mixpanel/2026-01-01.jsonl", 5, 4, 1, 0)]
    people = warehouse.execute(
        "select distinct_id, count(*) from raw.mixpanel_events group by 1 order by 1"
    ).fetchall()
    assert people == [("alice", 1), ("bob", 1), ("u1", 1), ("u2", 1)]


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


def test_a_big_day_is_a_batch_of_its_own(warehouse, tmp_path, monkeypatch):
    """Days share a batch up to BATCH_BYTES of text; a day that would take a batch past it starts
    the next one, so a big day is never loaded on top of others (peak memory follows the batch)."""
    days = [date(2026, 1, d) for d in (1, 2, 3, 4)]
    sizes = {1: 1, 2: 1, 3: 40, 4: 1}
    for day in days:
        lines = [mixpanel_line(time=T + i, distinct_id="u1") for i in range(sizes[day.day])]
        write_mixpanel_day(tmp_path, day.isoformat(), lines)
    small = (tmp_path / "mixpanel" / "2026-01-01.jsonl").stat().st_size
    monkeypatch.setattr(loader, "BATCH_BYTES", 3 * small)
    batches = []
    load_batch = loader._load_batch

    def recorded(con, source, batch, settings, scratch):
        batches.append([d.day.day for d in batch])
        return load_batch(con, source, batch, settings, scratch)

    monkeypatch.setattr(loader, "_load_batch", recorded)
    loaded = loader.load_days(warehouse, tmp_path, "mixpanel", days)
    assert batches == [[1, 2], [3], [4]]
    assert [r.loaded for r in loaded] == [1, 1, 40, 1]


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


# -- the earliest accepted day (issue 11, item 5) ----------------------------------------------


def local_seconds(*wall_clock: int) -> int:
    """``properties.time`` of a wall-clock time as Mixpanel stores it: the local time's numbers
    read as if they were UTC."""
    return calendar.timegm(datetime(*wall_clock).timetuple())


def test_an_event_from_1997_is_quarantined_by_default_with_the_earliest_day(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path,
        "1997-06-01",
        [mixpanel_line("Purchase", local_seconds(1997, 6, 1, 12), distinct_id="u1")],
    )
    result = load_partition(warehouse, tmp_path, "mixpanel", date(1997, 6, 1))
    assert (result.loaded, result.quarantined) == (0, 1)
    assert quarantine(warehouse) == {
        1: "event time 1997-06-01 12:00:00 is before 2000-01-01 "
        "(the earliest accepted day, RECUR_EARLIEST_EVENT)"
    }


def test_an_event_from_1997_loads_when_the_earliest_day_is_1990(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path,
        "1997-06-01",
        [
            mixpanel_line("Purchase", local_seconds(1997, 6, 1, 12), distinct_id="u1"),
            mixpanel_line("Purchase", local_seconds(1989, 12, 31, 23), distinct_id="u2"),
        ],
    )
    settings = IngestSettings.from_env({"RECUR_EARLIEST_EVENT": "1990-01-01"})
    result = load_partition(warehouse, tmp_path, "mixpanel", date(1997, 6, 1), settings=settings)
    assert (result.loaded, result.quarantined) == (1, 1)
    assert warehouse.execute(
        "select distinct_id, event_at from raw.mixpanel_events"
    ).fetchall() == [("u1", datetime(1997, 6, 1, 12))]
    assert quarantine(warehouse)[2].startswith(
        "event time 1989-12-31 23:00:00 is before 1990-01-01"
    )


def test_changing_a_setting_reloads_the_days_loaded_under_the_old_one(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path, "1997-06-01", [mixpanel_line(time=local_seconds(1997, 6, 1, 12), distinct_id="u")]
    )
    day, since_1990 = date(1997, 6, 1), IngestSettings(earliest_event=date(1990, 1, 1))
    first = load_partition(warehouse, tmp_path, "mixpanel", day)
    again = load_partition(warehouse, tmp_path, "mixpanel", day, settings=since_1990)
    unchanged = load_partition(warehouse, tmp_path, "mixpanel", day, settings=since_1990)
    assert (first.skipped, first.loaded, first.quarantined) == (False, 0, 1)
    assert (again.skipped, again.loaded, again.quarantined) == (False, 1, 0)
    assert (unchanged.skipped, unchanged.loaded) == (True, 1)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (0,)
    fingerprint = warehouse.execute("select fingerprint from raw.load_ledger").fetchone()[0]
    assert fingerprint.endswith(";earliest=1990-01-01")


# -- the project's time zone (issue 11, item 9) ------------------------------------------------

LOS_ANGELES = IngestSettings(mixpanel_timezone="America/Los_Angeles")


def event_times(con) -> dict[str, tuple[date, datetime]]:
    rows = con.execute("select distinct_id, partition, event_at from raw.mixpanel_events")
    return {who: (day, at) for who, day, at in rows.fetchall()}


def test_local_times_of_a_los_angeles_project_are_converted_to_utc(warehouse, tmp_path):
    march, january = date(2021, 3, 14), date(2021, 1, 14)
    write_mixpanel_day(
        tmp_path,
        "2021-03-14",
        [
            mixpanel_line(time=local_seconds(2021, 3, 14, 23, 30), distinct_id="pdt"),
            # Milliseconds are local too.
            mixpanel_line(time=local_seconds(2021, 3, 14, 12) * 1000 + 250, distinct_id="ms"),
        ],
    )
    write_mixpanel_day(
        tmp_path,
        "2021-01-14",
        [mixpanel_line(time=local_seconds(2021, 1, 14, 23, 30), distinct_id="pst")],
    )
    loaded = loader.load_days(
        warehouse, tmp_path, "mixpanel", [january, march], settings=LOS_ANGELES
    )
    assert [(r.loaded, r.quarantined) for r in loaded] == [(1, 0), (2, 0)]
    # The export day stays the file's (project-local) day; event_at is UTC and may fall on the
    # next UTC day.
    assert event_times(warehouse) == {
        "pdt": (march, datetime(2021, 3, 15, 6, 30)),  # PDT, UTC-7
        "ms": (march, datetime(2021, 3, 14, 19, 0, 0, 250000)),
        "pst": (january, datetime(2021, 1, 15, 7, 30)),  # PST, UTC-8
    }


def test_utc_is_the_default_and_times_are_kept_as_they_are(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path,
        "2021-03-14",
        [mixpanel_line(time=local_seconds(2021, 3, 14, 23, 30), distinct_id="u")],
    )
    load_partition(warehouse, tmp_path, "mixpanel", date(2021, 3, 14))
    assert event_times(warehouse)["u"][1] == datetime(2021, 3, 14, 23, 30)


def test_wall_clock_times_at_dst_changes_are_converted_not_dropped(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path,
        "2021-03-14",
        [
            mixpanel_line(time=local_seconds(2021, 3, 14, 1, 59, 59), distinct_id="before-gap"),
            # 02:00-03:00 does not exist that night: read with the offset before the change.
            mixpanel_line(time=local_seconds(2021, 3, 14, 2, 30), distinct_id="in-gap"),
            mixpanel_line(time=local_seconds(2021, 3, 14, 3, 30), distinct_id="after-gap"),
        ],
    )
    write_mixpanel_day(
        tmp_path,
        "2021-11-07",
        [
            mixpanel_line(time=local_seconds(2021, 11, 7, 0, 30), distinct_id="before-overlap"),
            # 01:00-02:00 happens twice: read as the second time, in standard time (UTC-8).
            mixpanel_line(time=local_seconds(2021, 11, 7, 1, 30), distinct_id="in-overlap"),
            mixpanel_line(time=local_seconds(2021, 11, 7, 2, 30), distinct_id="after-overlap"),
        ],
    )
    days = [date(2021, 3, 14), date(2021, 11, 7)]
    loaded = loader.load_days(warehouse, tmp_path, "mixpanel", days, settings=LOS_ANGELES)
    assert [(r.lines_read, r.loaded) for r in loaded] == [(3, 3), (3, 3)]
    assert {who: at for who, (_, at) in event_times(warehouse).items()} == {
        "before-gap": datetime(2021, 3, 14, 9, 59, 59),
        "in-gap": datetime(2021, 3, 14, 10, 30),
        "after-gap": datetime(2021, 3, 14, 10, 30),
        "before-overlap": datetime(2021, 11, 7, 7, 30),
        "in-overlap": datetime(2021, 11, 7, 9, 30),
        "after-overlap": datetime(2021, 11, 7, 10, 30),
    }


def test_quarantine_rules_judge_the_converted_utc_time(warehouse, tmp_path):
    # Tokyo is UTC+9: local 2000-01-01 05:00 is 1999-12-31 20:00 UTC, before the earliest day.
    # Los Angeles is UTC-8: local 1999-12-31 20:00 is 2000-01-01 04:00 UTC, accepted.
    write_mixpanel_day(
        tmp_path,
        "2000-01-01",
        [
            mixpanel_line(time=local_seconds(2000, 1, 1, 5), distinct_id="early"),
            mixpanel_line(time=local_seconds(2000, 1, 1, 12), distinct_id="fine"),
            # The export day 2000-01-01 ends at local midnight (2000-01-01 15:00 UTC); a day of
            # tolerance later is 2000-01-02 15:00 UTC.
            mixpanel_line(time=local_seconds(2000, 1, 3, 0, 15), distinct_id="ahead"),
        ],
    )
    tokyo = IngestSettings(mixpanel_timezone="Asia/Tokyo")
    result = load_partition(warehouse, tmp_path, "mixpanel", date(2000, 1, 1), settings=tokyo)
    assert (result.loaded, result.quarantined) == (1, 2)
    assert quarantine(warehouse) == {
        1: "event time 1999-12-31 20:00:00 is before 2000-01-01 "
        "(the earliest accepted day, RECUR_EARLIEST_EVENT)",
        3: "event time 2000-01-02 15:15:00 is in the future of its export day 2000-01-01",
    }
    assert event_times(warehouse)["fine"][1] == datetime(2000, 1, 1, 3)

    write_mixpanel_day(
        tmp_path,
        "1999-12-31",
        [mixpanel_line(time=local_seconds(1999, 12, 31, 20), distinct_id="la")],
    )
    result = load_partition(
        warehouse, tmp_path, "mixpanel", date(1999, 12, 31), settings=LOS_ANGELES
    )
    assert (result.loaded, result.quarantined) == (1, 0)
    assert event_times(warehouse)["la"] == (date(1999, 12, 31), datetime(2000, 1, 1, 4))


def test_files_hashed_once_are_not_read_again_to_tell_a_changed_day(
    warehouse, tmp_path, monkeypatch
):
    monkeypatch.setattr(loader, "SETTLED_NS", 0)  # the files here are milliseconds old
    days = [date(2026, 1, d) for d in (1, 2, 3)]
    for day in days:
        write_mixpanel_day(
            tmp_path, day.isoformat(), [mixpanel_line(time=T + day.day * 86_400, distinct_id="u")]
        )
    loader.load_days(warehouse, tmp_path, "mixpanel", days)
    read = []
    fingerprint = loader.fingerprint
    monkeypatch.setattr(
        loader, "fingerprint", lambda path: read.append(path.name) or fingerprint(path)
    )
    assert loader.days_to_load(warehouse, tmp_path, "mixpanel", days) == []
    assert read == []  # nothing read: every file is as it was when loaded

    # The same size, another event: the status (change time at least) differs, the file is read
    day2 = tmp_path / "mixpanel" / "2026-01-02.jsonl"
    text = day2.read_text()
    day2.write_text(text.replace('"u"', '"v"'))
    assert len(day2.read_text()) == len(text)
    assert loader.days_to_load(warehouse, tmp_path, "mixpanel", days) == [days[1]]
    assert read == ["2026-01-02.jsonl"]

    # Rewritten with the same bytes: read again, and not a change
    read.clear()
    day3 = tmp_path / "mixpanel" / "2026-01-03.jsonl"
    day3.write_bytes(day3.read_bytes())
    assert loader.days_to_load(warehouse, tmp_path, "mixpanel", days) == [days[1]]
    assert sorted(read) == ["2026-01-02.jsonl", "2026-01-03.jsonl"]  # a read-only plan records none

    # A load records them: the next plan reads nothing, and finds nothing to do
    loader.load_days(warehouse, tmp_path, "mixpanel", days)
    read.clear()
    assert loader.days_to_load(warehouse, tmp_path, "mixpanel", days) == []
    assert read == []
    assert warehouse.execute("select count(*) from raw.file_hashes").fetchone()[0] == 3


def test_a_warehouse_without_the_hash_table_is_planned_by_reading_the_files(warehouse, tmp_path):
    write_mixpanel_day(tmp_path, "2026-01-01", [mixpanel_line(time=T, distinct_id="u")])
    loader.load_days(warehouse, tmp_path, "mixpanel", [DAY])
    warehouse.execute("drop table raw.file_hashes")  # as made before the table existed
    assert loader.days_to_load(warehouse, tmp_path, "mixpanel", [DAY]) == []
    (tmp_path / "mixpanel" / "2026-01-01.jsonl").write_text(
        mixpanel_line(time=T + 1, distinct_id="u") + "\n"
    )
    assert loader.days_to_load(warehouse, tmp_path, "mixpanel", [DAY]) == [DAY]


def test_a_file_written_just_now_is_not_recorded_until_it_has_settled(
    warehouse, tmp_path, monkeypatch
):
    # The system stamps changes in ticks: a same-size rewrite in the tick of the hash would keep
    # the recorded status, so a file changed within SETTLED_NS of the hash is read again next time.
    write_mixpanel_day(tmp_path, "2026-01-01", [mixpanel_line(time=T, distinct_id="u")])
    loader.load_days(warehouse, tmp_path, "mixpanel", [DAY])
    assert warehouse.execute("select count(*) from raw.file_hashes").fetchone()[0] == 0
    monkeypatch.setattr(loader, "SETTLED_NS", 50_000_000)
    time.sleep(0.1)
    loader.load_days(warehouse, tmp_path, "mixpanel", [DAY])
    assert warehouse.execute("select count(*) from raw.file_hashes").fetchone()[0] == 1
