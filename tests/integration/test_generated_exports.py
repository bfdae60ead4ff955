"""Generated exports with every kind of fault: the loader accounts for each line as the truth says."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sandbox.generate import generate
from sources import layout
from sources.loader import load_partition
from sources.profiles import load_profiles
from sources.warehouse import connect, ensure_raw_schema

REASONS = {
    "malformed_json": "malformed JSON",
    "truncated_line": "truncated JSON",
    "terminated_early": 'ended with "terminated early"',
    "missing_id": "no user identity",
    "future_timestamp": "in the future of its export day",
    "ancient_timestamp": "is before 2000-01-01",
    "invalid_utf8": "invalid UTF-8",
}
WRONG_TYPE = {"mixpanel": "properties.time is text", "amplitude": "event_time is a "}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    exports = root / "exports"
    generate(exports, users=500, days=12, seed=11, faults=0.03)
    con = connect(root / "warehouse.duckdb")
    ensure_raw_schema(con)
    for source in layout.EVENT_SOURCES:
        for day in layout.export_days(exports, source):
            load_partition(con, exports, source, day)
    load_profiles(con, exports)
    yield exports, con
    con.close()


def truth(exports: Path) -> dict:
    return json.loads((exports / "truth" / "summary.json").read_text())


def test_every_file_balances_exactly_as_the_generator_says(loaded):
    exports, con = loaded
    expected = {
        name: (f["lines"], f["valid"], f["duplicates"], f["quarantinable"])
        for name, f in truth(exports)["files"].items()
    }
    ledger = {
        row[0]: row[1:]
        for row in con.execute(
            "select file, lines_read, loaded, duplicates, quarantined from raw.load_ledger "
            "where source <> 'mixpanel_profiles'"
        ).fetchall()
    }
    assert ledger == expected
    assert sum(v[3] for v in ledger.values()) > 40  # the faults were really there


def test_each_fault_is_quarantined_with_the_reason_for_its_kind(loaded):
    exports, con = loaded
    quarantine = {
        (file, line): reason
        for file, line, reason in con.execute(
            "select file, line_number, reason from raw.quarantine"
        ).fetchall()
    }
    with open(exports / "truth" / "faults.csv") as handle:
        faults = [row for row in csv.DictReader(handle) if row["kind"] != "duplicate"]
    kinds = {row["kind"] for row in faults}
    assert kinds == set(REASONS) | {"wrong_type"}
    for row in faults:
        expected = (
            WRONG_TYPE[row["source"]] if row["kind"] == "wrong_type" else REASONS[row["kind"]]
        )
        reason = quarantine.pop((row["file"], int(row["line_number"])))
        assert expected in reason, (row, reason)
    assert not {k: v for k, v in quarantine.items() if not k[0].startswith("mixpanel/profiles")}


def test_injected_duplicates_are_neither_loaded_nor_quarantined(loaded):
    exports, con = loaded
    with open(exports / "truth" / "faults.csv") as handle:
        duplicates = {
            (r["file"], int(r["line_number"]))
            for r in csv.DictReader(handle)
            if r["kind"] == "duplicate"
        }
    assert len(duplicates) > 5
    kept = set(
        con.execute(
            "select source_file, line_number from raw.mixpanel_events union all "
            "select source_file, line_number from raw.amplitude_events union all "
            "select file, line_number from raw.quarantine"
        ).fetchall()
    )
    assert not duplicates & kept


def test_unique_events_and_profiles_match_the_truth(loaded):
    exports, con = loaded
    sources = truth(exports)["sources"]
    for source in layout.EVENT_SOURCES:
        n = con.execute(f"select count(distinct event_key) from raw.{source}_events").fetchone()[0]
        assert n == sources[source]["unique_events"]
    assert (
        con.execute("select count(*) from raw.mixpanel_profiles").fetchone()[0]
        == truth(exports)["profiles"]["count"]
    )
