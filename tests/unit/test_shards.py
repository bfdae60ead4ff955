"""Exports made in shards (sandbox/shards.py, for the 50M-event benchmark): the merged folder
loads as the shards load one by one, with people, ids, orders and profiles that never collide."""

from __future__ import annotations

import filecmp
import json

from sandbox.generate import generate
from sandbox.shards import generate_in_shards
from sources import layout
from sources.loader import load_days
from sources.profiles import load_profiles
from sources.warehouse import connect, ensure_raw_schema

USERS, DAYS, SEED, SHARDS = 500, 3, 11, 3


def _load(folder, path):
    """Load ``folder`` into a new warehouse at ``path``; return the loader's totals and the
    distinct ids of what it kept."""
    con = connect(path)
    ensure_raw_schema(con)
    totals = {}
    for source in ("mixpanel", "amplitude"):
        loads = load_days(con, folder, source, layout.export_days(folder, source))
        totals[source] = [
            sum(r.lines_read for r in loads),
            sum(r.quarantined for r in loads),
            sum(r.duplicates for r in loads),
        ]
    load_profiles(con, folder)
    ids = con.execute(
        """
        select
            (select count(distinct user_id) from (
                select user_id from raw.mixpanel_events union all
                select user_id from raw.amplitude_events)),
            (select count(distinct amplitude_id) from raw.amplitude_events),
            (select count(distinct json_extract_string(properties, '$.order_id'))
             from raw.mixpanel_events where event_name = 'Purchase'),
            (select count(distinct device_id) from raw.amplitude_events),
            (select count(*) from raw.mixpanel_profiles),
            (select count(*) from raw.mixpanel_events) + (select count(*) from raw.amplitude_events)
        """
    ).fetchone()
    con.close()
    return totals, ids


def test_merged_shards_load_as_their_shards_do_and_never_collide(tmp_path):
    merged = generate_in_shards(tmp_path / "merged", USERS, DAYS, SEED, SHARDS, faults=0.02)
    assert not (tmp_path / "merged" / "shards").exists()
    assert merged["users"] == USERS

    # the same shards written apart, each loaded into its own warehouse: the expected figures
    expected_totals = {"mixpanel": [0, 0, 0], "amplitude": [0, 0, 0]}
    expected_ids = [0] * 6
    for k in range(SHARDS):
        alone = tmp_path / f"alone-{k}"
        people = USERS // SHARDS + (1 if k < USERS % SHARDS else 0)
        generate(alone, users=people, days=DAYS, seed=SEED + k, shard=k, faults=0.02)
        totals, ids = _load(alone, tmp_path / f"alone-{k}.duckdb")
        for source, counts in totals.items():
            expected_totals[source] = [
                a + b for a, b in zip(expected_totals[source], counts, strict=True)
            ]
        expected_ids = [a + b for a, b in zip(expected_ids, ids, strict=True)]

    totals, ids = _load(tmp_path / "merged", tmp_path / "merged.duckdb")
    assert totals == expected_totals
    # every kind of id is the sum of the shards' own: no person, device, Amplitude id, order or
    # profile of one shard is taken for another's
    assert ids == tuple(expected_ids)
    assert all(n > 0 for n in ids)
    for source in ("mixpanel", "amplitude"):
        assert totals[source][0] == merged["events"][source]
        assert totals[source][1] == merged["faulty_lines"][source]
        assert totals[source][2] == merged["duplicates"][source]
    assert ids[4] == merged["profiles"]
    summary = json.loads((tmp_path / "merged" / "truth" / "summary.json").read_text())
    assert summary["shards"] == SHARDS
    assert (tmp_path / "merged" / "truth" / "shard-2" / "people.csv").exists()


def test_one_shard_is_the_plain_generation(tmp_path):
    generate_in_shards(tmp_path / "sharded", 300, 2, 5, 1)
    generate(tmp_path / "plain", users=300, days=2, seed=5)
    for folder in ("mixpanel", "amplitude", "mixpanel/profiles"):
        names = sorted(p.name for p in (tmp_path / "plain" / folder).glob("*.*"))
        assert names
        match, mismatch, errors = filecmp.cmpfiles(
            tmp_path / "plain" / folder, tmp_path / "sharded" / folder, names, shallow=False
        )
        assert (mismatch, errors) == ([], [])
