"""The peer benchmark's bare load (bench/peer.py): one raw Mixpanel export line becomes one row of
the table Fivetran's Mixpanel connector writes, with the values worked out by hand."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb

from bench.peer import connector_select

LINE = {
    "event": "Purchase",
    "properties": {
        "time": 1767571588,  # 2026-01-05 00:06:28 UTC: 4 days and 388 s after 2026-01-01
        "distinct_id": "user-135025",
        "$device_id": "93df7c77",
        "$insert_id": "3bfe3fc698acfcbe",
        "mp_processing_time_ms": 1767571591531,
        "mp_lib": "web",
        "$os": "Windows",
        "$browser_version": 131,
        "$city": "Austin",
        "mp_country_code": "US",
        "revenue": 18.91,
        "order_id": "ord-0001911",
    },
}


def test_one_export_line_in_the_connector_table_shape(tmp_path):
    export = tmp_path / "2026-01-05.jsonl"
    export.write_text(json.dumps(LINE) + "\n")
    con = duckdb.connect()
    cursor = con.execute(connector_select(), {"files": [str(export)]})
    names = [column[0] for column in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1
    row = dict(zip(names, rows[0], strict=True))
    assert row["name"] == "Purchase"
    assert row["time"] == datetime(2026, 1, 5, 0, 6, 28)
    assert row["distinct_id"] == "user-135025"
    assert row["insert_id"] == "3bfe3fc698acfcbe"
    assert row["device_id"] == "93df7c77"
    assert row["mp_processing_time_ms"] == 1767571591531
    assert (row["os"], row["city"], row["mp_country_code"], row["mp_lib"]) == (
        "Windows",
        "Austin",
        "US",
        "web",
    )
    assert row["browser_version"] == 131.0
    assert row["region"] is None and row["screen_width"] is None  # absent from the line
    # the properties the connector has no column for, and only those
    assert json.loads(row["properties"]) == {"revenue": 18.91, "order_id": "ord-0001911"}
    assert (
        row["_fivetran_id"]
        == con.execute("select md5('Purchase|user-135025|3bfe3fc698acfcbe|1767571588')").fetchone()[
            0
        ]
    )
    assert row["_file"] == str(export)
