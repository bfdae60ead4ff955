"""The Parquet mirror of the raw schema (sources/parquet_mirror.py), read back with DuckDB."""

from __future__ import annotations

import duckdb

from sources import parquet_mirror
from sources.warehouse import connect, ensure_raw_schema


def _warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        ensure_raw_schema(con)
        con.execute(
            "insert into raw.mixpanel_events (event_name, event_at, event_key, properties, partition,"
            " source_file, line_number, loaded_at) values"
            " ('Purchase', '2026-01-01 10:00', 'k1', '{\"revenue\": 5}', '2026-01-01', 'f1', 1, '2026-01-03'),"
            " ('View', '2026-01-02 10:00', 'k2', '{}', '2026-01-02', 'f2', 1, '2026-01-03'),"
            " ('View', '2026-01-02 11:00', 'k3', '{}', '2026-01-02', 'f2', 2, '2026-01-03')"
        )
        con.execute(
            "insert into raw.load_ledger (source, file, partition, lines_read, loaded, duplicates,"
            " quarantined, loaded_at, export_file, fingerprint) values"
            " ('mixpanel', 'f1', '2026-01-01', 1, 1, 0, 0, '2026-01-03', 'f1', 'a'),"
            " ('mixpanel', 'f2', '2026-01-02', 2, 2, 0, 0, '2026-01-03', 'f2', 'b')"
        )
    return path


def test_tables_are_partitioned_and_read_back_whole(tmp_path):
    root = tmp_path / "mirror"
    done = {t.table: t for t in parquet_mirror.mirror(_warehouse(tmp_path), root)}
    assert done["mixpanel_events"].rows == 3 and done["mixpanel_events"].files == 2
    assert (root / "mixpanel_events" / "partition=2026-01-02").is_dir()
    assert (root / "load_ledger" / "source=mixpanel" / "partition=2026-01-01").is_dir()
    con = duckdb.connect()
    rows = con.execute(
        f"select event_key, partition, properties from read_parquet('{root}/mixpanel_events/**/*.parquet',"
        " hive_partitioning = true) order by event_key"
    ).fetchall()
    assert [r[0] for r in rows] == ["k1", "k2", "k3"]
    assert str(rows[0][1]) == "2026-01-01"
    assert rows[0][2] == '{"revenue": 5}'  # JSON as text


def test_empty_tables_keep_their_columns(tmp_path):
    root = tmp_path / "mirror"
    done = {t.table: t for t in parquet_mirror.mirror(_warehouse(tmp_path), root)}
    assert done["quarantine"].rows == 0 and done["quarantine"].files == 1
    columns = (
        duckdb.connect()
        .execute(
            f"describe select * from read_parquet('{root}/quarantine/**/*.parquet', hive_partitioning = true)"
        )
        .fetchall()
    )
    assert {"source", "file", "line_number", "raw", "reason", "partition"} <= {
        c[0] for c in columns
    }


def test_a_second_mirror_replaces_the_first(tmp_path):
    warehouse, root = _warehouse(tmp_path), tmp_path / "mirror"
    parquet_mirror.mirror(warehouse, root)
    with connect(warehouse) as con:
        con.execute("delete from raw.mixpanel_events where partition = '2026-01-02'")
    done = {t.table: t for t in parquet_mirror.mirror(warehouse, root)}
    assert done["mixpanel_events"].rows == 1
    assert not (root / "mixpanel_events" / "partition=2026-01-02").exists()
    assert sorted(p.name for p in root.iterdir()) == sorted(parquet_mirror.TABLES)
