"""Amplitude export zips into raw: members, validation, de-duplication, idempotent re-loads."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sources.errors import UnreadableFileError
from sources.loader import load_partition
from tests.conftest import amplitude_line, write_amplitude_day

DAY = date(2026, 1, 1)
ZIP = "amplitude/187520_2026-01-01.zip"


def uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def test_every_hourly_member_is_loaded_with_typed_columns(warehouse, tmp_path):
    purchase = amplitude_line(
        event_type="Purchase",
        uuid=uuid(7),
        user_id="u1",
        amplitude_id=42,
        session_id=1767225600123,
        event_time="2026-01-01T05:00:00.500000",  # the warehouse form with a T is accepted too
        event_properties={"$revenue": 12.5, "$productId": "sku-1"},
        paying=True,
    )
    write_amplitude_day(
        tmp_path,
        "2026-01-01",
        {
            0: [amplitude_line(uuid=uuid(1))],
            5: [purchase, amplitude_line(uuid=uuid(2), **{"$insert_id": "i-2"})],
        },
    )
    result = load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert [(f.file, f.lines_read, f.loaded) for f in result.files] == [
        (f"{ZIP}/187520_2026-01-01_0#0.json.gz", 1, 1),
        (f"{ZIP}/187520_2026-01-01_5#0.json.gz", 2, 2),
    ]
    row = warehouse.execute(
        "select event_name, user_id, amplitude_id, session_id, event_at, client_upload_at, "
        "event_properties ->> '$.\"$revenue\"', paying, event_key from raw.amplitude_events "
        "where uuid = ?",
        [uuid(7)],
    ).fetchone()
    assert row == (
        "Purchase",
        "u1",
        42,
        1767225600123,
        datetime(2026, 1, 1, 5, 0, 0, 500000),
        datetime(2026, 1, 1, 0, 0, 5),
        "12.5",
        True,
        uuid(7),
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (amplitude_line(user_id=None, device_id=None, amplitude_id=None), "no user identity"),
        (amplitude_line(event_time=1767225600), "event_time is a ubigint (1767225600)"),
        (amplitude_line(event_time="yesterday"), "event_time 'yesterday' is not a timestamp"),
        (
            amplitude_line(event_time="2099-01-01 00:00:00.000000"),
            "in the future of its export day",
        ),
        (amplitude_line(event_time="1995-06-01 00:00:00.000000"), "is before 2000-01-01"),
        (amplitude_line(event_type=None), "event_type missing"),
        ('{"event_type": "A", "uuid": ', "truncated JSON"),
        (b'{"event_type": "\xc3\x28", "device_id": "d"}', "invalid UTF-8"),
    ],
    ids=[
        "no-identity",
        "time-as-number",
        "time-not-a-timestamp",
        "future",
        "ancient",
        "no-type",
        "truncated",
        "invalid-utf8",
    ],
)
def test_each_bad_line_is_quarantined_with_its_reason(warehouse, tmp_path, line, reason):
    write_amplitude_day(tmp_path, "2026-01-01", {3: [amplitude_line(uuid=uuid(1)), line]})
    result = load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert (result.lines_read, result.loaded, result.quarantined) == (2, 1, 1)
    [(file, line_number, got)] = warehouse.execute(
        "select file, line_number, reason from raw.quarantine"
    ).fetchall()
    assert (file, line_number) == (f"{ZIP}/187520_2026-01-01_3#0.json.gz", 2)
    assert reason in got


def test_duplicates_by_uuid_and_by_device_and_insert_id(warehouse, tmp_path):
    write_amplitude_day(
        tmp_path,
        "2026-01-01",
        {
            1: [
                amplitude_line(uuid=uuid(1), **{"$insert_id": "a"}),
                amplitude_line(uuid=uuid(2), **{"$insert_id": "b"}),
            ],
            2: [
                amplitude_line(uuid=uuid(1), **{"$insert_id": "a"}),  # same uuid re-delivered
                # another uuid, same device + insert id, uploaded later: this copy is the one kept
                amplitude_line(
                    uuid=uuid(3),
                    client_upload_time="2026-01-01 02:00:00.000000",
                    **{"$insert_id": "b"},
                ),
                amplitude_line(
                    uuid=uuid(4), device_id="d-2", **{"$insert_id": "b"}
                ),  # other device
                amplitude_line(uuid=None, **{"$insert_id": None}),  # no ids but the device
            ],
        },
    )
    result = load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert (result.lines_read, result.loaded, result.duplicates) == (6, 4, 2)
    kept = warehouse.execute("select uuid from raw.amplitude_events order by uuid").fetchall()
    assert kept == [(uuid(1),), (uuid(3),), (uuid(4),), (None,)]


def test_reload_is_idempotent_and_a_changed_zip_is_reloaded(warehouse, tmp_path):
    write_amplitude_day(
        tmp_path, "2026-01-01", {h: [amplitude_line(uuid=uuid(h))] for h in range(4)}
    )
    assert not load_partition(warehouse, tmp_path, "amplitude", DAY).skipped
    assert load_partition(warehouse, tmp_path, "amplitude", DAY).skipped
    write_amplitude_day(
        tmp_path, "2026-01-01", {h: [amplitude_line(uuid=uuid(h))] for h in range(2)}
    )
    result = load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert not result.skipped and result.loaded == 2
    assert warehouse.execute("select count(*) from raw.amplitude_events").fetchone() == (2,)
    assert warehouse.execute("select count(*) from raw.load_ledger").fetchone() == (2,)


def test_a_broken_zip_fails_with_its_name(warehouse, tmp_path):
    path = tmp_path / "amplitude" / "187520_2026-01-01.zip"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK not really")
    with pytest.raises(UnreadableFileError, match="187520_2026-01-01.zip"):
        load_partition(warehouse, tmp_path, "amplitude", DAY)
