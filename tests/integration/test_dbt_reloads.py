"""An export day re-loaded with other contents, then an incremental build: the result equals a full
rebuild, row for row (as multisets), and the dbt data tests pass.

The loader replaces a day's rows when one of its files changed (sources/loader.py). Real exports
change after loading: corrected exports, deletion requests, a file of a day removed, an event's
revenue or person fixed. One warehouse goes through every such shape at once, each on its own day
(days 1-2 lie outside the lookback of 3 days, days 3-6 inside):

- day 1, Mixpanel: 10 lines cut from the file (fewer lines);
- day 2, Mixpanel: the file emptied; Amplitude: one hourly file of the zip removed;
- day 3, Mixpanel: every line of the file replaced by a bad one;
- day 4, Mixpanel: the day came as two files; the second is deleted;
- day 5, Mixpanel: a purchase's revenue and category changed; Amplitude: a server-side event (no
  session) re-exported under another person's user id (moved);
- day 6, Mixpanel: a purchase re-exported under another person's user id (moved).
"""

from __future__ import annotations

import gzip
import io
import json
import time
import zipfile
from pathlib import Path

from sandbox.generate import generate
from sources.warehouse import connect
from tests.conftest import load_exports, run_dbt
from tests.integration.snapshots import differences, snapshot

# staging, intermediate and the core marts with their data tests; none of the analytics
# (cautious: no test of a model outside the selection)
CORE = ["--select", "+path:models/marts/core", "--indirect-selection", "cautious"]
WITH_TESTS = [*CORE, "--exclude", "test_type:unit"]
WITHOUT_TESTS = [*CORE, "--exclude", "resource_type:test", "resource_type:unit_test"]
CHANGED_REVENUE = 999.99


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def _first(lines: list[str], event: str, with_user: bool = False) -> int:
    """Index of the first line of ``event`` (that carries a $user_id when ``with_user``)."""
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["event"] == event and (not with_user or record["properties"].get("$user_id")):
            return i
    raise AssertionError(f"no {event} in the generated day")


def _drop_first_member(zip_path: Path) -> str:
    """Rewrite an Amplitude export zip without its first hourly file; return that file's name."""
    with zipfile.ZipFile(zip_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    dropped = sorted(members)[0]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(members.items()):
            if name != dropped:
                archive.writestr(name, data)
    zip_path.write_bytes(buffer.getvalue())
    return dropped


def _edit_amplitude_event(zip_path: Path, pick, edit) -> dict:
    """Apply ``edit`` to the first event of an Amplitude export zip that ``pick`` accepts (members
    in name order) and rewrite the zip; return the edited event."""
    with zipfile.ZipFile(zip_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    for name in sorted(members):
        events = [json.loads(line) for line in gzip.decompress(members[name]).splitlines()]
        for event in events:
            if pick(event):
                edit(event)
                text = "".join(json.dumps(e) + "\n" for e in events)
                members[name] = gzip.compress(text.encode())
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w") as archive:
                    for member, data in members.items():
                        archive.writestr(member, data)
                zip_path.write_bytes(buffer.getvalue())
                return event
    raise AssertionError(f"no such event in {zip_path}")


def test_incremental_equals_full_after_reloads_that_remove_change_or_move_events(tmp_path):
    started = time.perf_counter()
    exports = tmp_path / "exports"
    generate(exports, users=80, days=6, seed=11)
    mixpanel = exports / "mixpanel"
    day = {n: mixpanel / f"2026-01-0{n}.jsonl" for n in range(1, 7)}
    # day 4 comes as two files
    part2 = mixpanel / "2026-01-04.part2.jsonl"
    day4 = _lines(day[4])
    _write(day[4], day4[: len(day4) // 2])
    _write(part2, day4[len(day4) // 2 :])
    # day 5 has a server-side Amplitude event: no session, so no session of its person changes
    # when it moves
    amplitude_day5 = exports / "amplitude" / "187520_2026-01-05.zip"
    backend = _edit_amplitude_event(
        amplitude_day5, lambda e: e["user_id"], lambda e: e.update(session_id=-1)
    )
    amplitude_mover = backend["user_id"]
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(warehouse, exports)
    run_dbt(["build", *WITHOUT_TESTS], warehouse, tmp_path)
    with connect(warehouse, read_only=True) as con:
        events_before = con.execute(
            "select count(*) from core.fct_events where source = 'mixpanel'"
        ).fetchone()[0]

    # the re-exports
    day1 = _lines(day[1])
    _write(day[1], day1[:-10])
    _write(day[2], [])
    _write(day[3], ['{"event": "Page Viewed", "properties": {"time": ', "not json", "[1, 2"])
    part2.unlink()
    day5 = _lines(day[5])
    changed = _first(day5, "Purchase")
    record = json.loads(day5[changed])
    record["properties"].update(revenue=CHANGED_REVENUE, category="changed")
    day5[changed] = json.dumps(record)
    _write(day[5], day5)
    day6 = _lines(day[6])
    moved = _first(day6, "Purchase", with_user=True)
    record = json.loads(day6[moved])
    mover = record["properties"]["$user_id"]
    receiver = next(
        json.loads(line)["properties"]["$user_id"]
        for line in day6
        if json.loads(line)["properties"].get("$user_id") not in (None, mover)
    )
    record["properties"].update({"$user_id": receiver, "distinct_id": receiver})
    day6[moved] = json.dumps(record)
    _write(day[6], day6)
    dropped = _drop_first_member(exports / "amplitude" / "187520_2026-01-02.zip")
    with zipfile.ZipFile(amplitude_day5) as archive:
        amplitude_receiver = next(
            event["user_id"]
            for name in sorted(archive.namelist())
            for event in map(json.loads, gzip.decompress(archive.read(name)).splitlines())
            if event["user_id"] not in (None, amplitude_mover)
        )
    _edit_amplitude_event(
        amplitude_day5,
        lambda e: e["$insert_id"] == backend["$insert_id"],
        lambda e: e.update(user_id=amplitude_receiver),
    )

    load_exports(warehouse, exports)
    run_dbt(["build", *WITH_TESTS], warehouse, tmp_path)  # incremental, with the data tests
    incremental_seconds = time.perf_counter() - started

    problems: list[str] = []
    with connect(warehouse, read_only=True) as con:

        def one(sql: str, *params):
            return con.execute(sql, list(params)).fetchone()[0]

        def rows_from(table: str, file: str) -> int:
            return one(f"select count(*) from {table} where source_file = ?", file)

        # fewer lines: staging and the marts hold exactly the lines left
        assert rows_from("raw.mixpanel_events", "mixpanel/2026-01-01.jsonl") == len(day1) - 10
        for table in ("staging.stg_mixpanel__events", "core.fct_events"):
            kept = rows_from(table, "mixpanel/2026-01-01.jsonl")
            if kept != len(day1) - 10:
                problems.append(f"fewer lines: {kept} day-1 rows in {table}, not {len(day1) - 10}")
        # empty file, all-bad file, deleted file (both sources): nothing of them is left
        for label, file in [
            ("empty file", "mixpanel/2026-01-02.jsonl"),
            ("all-bad file", "mixpanel/2026-01-03.jsonl"),
            ("deleted file", "mixpanel/2026-01-04.part2.jsonl"),
            ("deleted file", f"amplitude/187520_2026-01-02.zip/{dropped}"),
        ]:
            source = file.split("/")[0]
            assert rows_from(f"raw.{source}_events", file) == 0
            for table in (f"staging.stg_{source}__events", "core.fct_events"):
                left = rows_from(table, file)
                if left:
                    problems.append(f"{label}: {left} rows of {file} still in {table}")
        assert one("select count(*) from raw.quarantine where file like '%2026-01-03%'") == 3
        # the Amplitude day keeps its other files
        assert one("select count(*) from raw.amplitude_events where partition = '2026-01-02'") > 0
        # the marts hold exactly the distinct events left in raw (none is held out here)
        expected_events = one(
            "select count(distinct event_key) from raw.mixpanel_events "
            "where partition - cast(event_at as date) <= 30 "
            "and event_at <= loaded_at + interval 1 day"
        )
        events_after = one("select count(*) from core.fct_events where source = 'mixpanel'")
        if events_after != expected_events:
            problems.append(f"{events_after} Mixpanel events in fct_events, not {expected_events}")
        # changed: the event and its order carry the new revenue
        revenue, category, order_id = con.execute(
            "select revenue::double, product_category, event_id from core.fct_events "
            "where source_file = 'mixpanel/2026-01-05.jsonl' and line_number = ?",
            [changed + 1],
        ).fetchone()
        if (revenue, category) != (CHANGED_REVENUE, "changed"):
            problems.append(f"changed event: revenue {revenue}, category {category}")
        order_revenue = one(
            "select revenue::double from core.fct_orders where order_id = ?", order_id
        )
        if order_revenue != CHANGED_REVENUE:
            problems.append(f"changed event: order revenue {order_revenue}")
        # moved: the event, its order and both people's lifetime numbers follow
        user_id, order_id = con.execute(
            "select user_id, event_id from core.fct_events "
            "where source_file = 'mixpanel/2026-01-06.jsonl' and line_number = ?",
            [moved + 1],
        ).fetchone()
        if user_id != receiver:
            problems.append(f"moved event: user {user_id}, not {receiver}")
        if one("select user_id from core.fct_orders where order_id = ?", order_id) != receiver:
            problems.append("moved event: its order stayed with the first person")
        amplitude_user = one(
            "select user_id from core.fct_events where insert_id = ?", backend["$insert_id"]
        )
        if amplitude_user != amplitude_receiver:
            problems.append(
                f"moved event: Amplitude user {amplitude_user}, not {amplitude_receiver}"
            )
        for person in (mover, receiver, amplitude_mover, amplitude_receiver):
            stored = one("select lifetime_events from core.dim_users where user_id = ?", person)
            actual = one("select count(*) from core.fct_events where user_id = ?", person)
            if stored != actual:
                problems.append(
                    f"moved event: dim_users says {person} has {stored} events, not {actual}"
                )
        incremental = snapshot(con)

    run_dbt(["build", "--full-refresh", *WITHOUT_TESTS], warehouse, tmp_path)
    with connect(warehouse, read_only=True) as con:
        full = snapshot(con)
        full_events = con.execute(
            "select count(*) from core.fct_events where source = 'mixpanel'"
        ).fetchone()[0]
    problems += differences(incremental, full)
    print(
        f"Mixpanel events: {events_before} built, {events_after} after the re-loads "
        f"(full rebuild {full_events}, distinct in raw {expected_events}); "
        f"{incremental_seconds:.0f} s to the incremental build"
    )
    assert not problems, "\n".join(problems)
    assert full_events == expected_events
    assert events_before - events_after > 100  # the re-loads removed many events
