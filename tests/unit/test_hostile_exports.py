"""Hostile export files (issue 13): each is refused or quarantined with a message naming it, and
the ledger still accounts for every line it loaded (``lines_read = loaded + duplicates +
quarantined``). Every file is generated here, in ``tmp_path``."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from datetime import date
from pathlib import Path

import pytest

from orchestration.defs.ingest.planning import export_signatures
from sources import layout
from sources.errors import ExportsFolderError, InflationLimitError, UnreadableFileError
from sources.loader import load_partition
from sources.profiles import load_profiles
from sources.settings import IngestSettings, SettingError
from tests.conftest import amplitude_line, mixpanel_line, write_amplitude_day, write_mixpanel_day

DAY = date(2026, 1, 1)
T = 1767225600  # 2026-01-01 00:00:00 UTC
ZIP = "amplitude/187520_2026-01-01.zip"


def balanced(con) -> bool:
    rows = con.execute(
        "select lines_read, loaded, duplicates, quarantined from raw.load_ledger"
    ).fetchall()
    return all(r == ld + d + q for r, ld, d, q in rows)


def quarantine(con) -> list[tuple]:
    return con.execute(
        "select file, line_number, raw, reason from raw.quarantine order by file, line_number"
    ).fetchall()


def write_zip(root: Path, members: dict[str, bytes], day: str = "2026-01-01") -> Path:
    path = root / "amplitude" / f"187520_{day}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def good_lines(n: int) -> bytes:
    return b"".join(
        mixpanel_line(time=T + i, distinct_id="u", **{"$insert_id": f"i{i}"}).encode() + b"\n"
        for i in range(n)
    )


# Item 4: an archive may inflate only so far.


def test_a_zip_bomb_is_refused_by_its_ratio_naming_the_file_and_the_setting(warehouse, tmp_path):
    bomb = gzip.compress(b"{}\n" * (8 * 2**20 // 3), 9)  # 8 MiB of {} lines in ~8 KB
    write_zip(tmp_path, {"187520_2026-01-01_0#0.json.gz": bomb})
    with pytest.raises(InflationLimitError) as caught:
        load_partition(warehouse, tmp_path, "amplitude", DAY)
    message = str(caught.value)
    assert ZIP in message and "RECUR_MAX_INFLATION_RATIO" in message and "100" in message
    assert warehouse.execute("select count(*) from raw.load_ledger").fetchone() == (0,)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (0,)


def test_a_gzip_day_beyond_the_size_limit_is_refused_naming_the_setting(warehouse, tmp_path):
    write_mixpanel_day(
        tmp_path, "2026-01-01", [good_lines(50).decode().rstrip()], suffix=".jsonl.gz"
    )
    settings = IngestSettings(max_inflated_bytes=1000)
    with pytest.raises(
        InflationLimitError, match=r"2026-01-01\.jsonl\.gz.*RECUR_MAX_INFLATED_BYTES"
    ):
        load_partition(warehouse, tmp_path, "mixpanel", DAY, settings=settings)
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)  # the defaults load it
    assert (result.lines_read, result.loaded) == (50, 50)


def test_the_size_limit_counts_every_member_of_a_zip_inflating_side_by_side(warehouse, tmp_path):
    # 24 hourly members of 30 lines each: every member alone is within the limit, the zip is
    # not. The members inflate on several threads, which spend from one budget.
    members = {
        f"187520_2026-01-01_{hour}#0.json.gz": gzip.compress(
            "".join(
                amplitude_line(uuid=f"00000000-0000-4000-8000-{hour:06d}{i:06d}") + "\n"
                for i in range(30)
            ).encode()
        )
        for hour in range(24)
    }
    size = len(gzip.decompress(next(iter(members.values()))))
    write_zip(tmp_path, members)
    settings = IngestSettings(max_inflated_bytes=size * 23)  # one member's worth short
    with pytest.raises(InflationLimitError, match=f"{ZIP} inflates to more than"):
        load_partition(warehouse, tmp_path, "amplitude", DAY, settings=settings)
    assert warehouse.execute("select count(*) from raw.load_ledger").fetchone() == (0,)
    result = load_partition(warehouse, tmp_path, "amplitude", DAY, settings=IngestSettings())
    assert (result.lines_read, result.loaded, len(result.files)) == (720, 720, 24)
    # the members keep their order: each one's lines are numbered within it
    assert warehouse.execute(
        "select count(distinct source_file), max(line_number) from raw.amplitude_events"
    ).fetchone() == (24, 30)


def test_the_inflation_limits_are_read_and_checked_from_the_environment():
    settings = IngestSettings.from_env(
        {"RECUR_MAX_INFLATED_BYTES": "2GiB", "RECUR_MAX_INFLATION_RATIO": "40"}
    )
    assert (settings.max_inflated_bytes, settings.max_inflation_ratio) == (2 * 2**30, 40.0)
    defaults = IngestSettings.from_env({})
    assert defaults.max_inflated_bytes == 64 * 2**30 and defaults.max_inflation_ratio == 100
    with pytest.raises(SettingError, match="RECUR_MAX_INFLATED_BYTES='lots'"):
        IngestSettings.from_env({"RECUR_MAX_INFLATED_BYTES": "lots"})
    with pytest.raises(SettingError, match="RECUR_MAX_INFLATION_RATIO='0.5'"):
        IngestSettings.from_env({"RECUR_MAX_INFLATION_RATIO": "0.5"})


# Item 5: links out of the export folder.


def test_a_link_out_of_the_export_folder_is_refused(warehouse, tmp_path):
    secret = tmp_path / "elsewhere" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tmp_path / "exports" / "mixpanel").mkdir(parents=True)
    (tmp_path / "exports" / "mixpanel" / "2026-01-01.jsonl").symlink_to(secret)
    with pytest.raises(ExportsFolderError, match=r"2026-01-01\.jsonl is a link to .*passwd"):
        load_partition(warehouse, tmp_path / "exports", "mixpanel", DAY)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (0,)


def test_a_link_that_stays_inside_the_export_folder_is_loaded(warehouse, tmp_path):
    kept = tmp_path / "archive" / "2026-01-01.jsonl"
    kept.parent.mkdir()
    kept.write_bytes(good_lines(3))
    (tmp_path / "mixpanel").mkdir()
    (tmp_path / "mixpanel" / "2026-01-01.jsonl").symlink_to(kept)
    assert load_partition(warehouse, tmp_path, "mixpanel", DAY).loaded == 3


# Item 6: profile pages pruned after a load.


def test_pruned_profile_pages_keep_what_they_loaded(warehouse, tmp_path):
    folder = tmp_path / "mixpanel" / "profiles"
    folder.mkdir(parents=True)
    page = {"page": 0, "results": [{"$distinct_id": "u1", "$properties": {"$email": "a@b.c"}}]}
    (folder / "page-0000.json").write_text(json.dumps(page))
    assert not load_profiles(warehouse, tmp_path)[0]
    (folder / "page-0000.json").unlink()
    skipped, files, _ = load_profiles(warehouse, tmp_path)
    assert skipped and [(f.file, f.loaded) for f in files] == [
        ("mixpanel/profiles/page-0000.json", 1)
    ]
    assert warehouse.execute("select distinct_id from raw.mixpanel_profiles").fetchall() == [
        ("u1",)
    ]


# Item 7: a carriage return inside a line.


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_stray_carriage_return_quarantines_its_line_only(warehouse, tmp_path, suffix):
    stray = '{"event":"A","properties":{"time":1767225600,"distinct_id":"u","note":"x\ry"}}'
    lines = good_lines(3).decode().splitlines()
    write_mixpanel_day(tmp_path, "2026-01-01", [lines[0], stray, lines[1], lines[2]], suffix)
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.lines_read, result.loaded, result.quarantined) == (4, 3, 1)
    [(file, line_number, raw, reason)] = quarantine(warehouse)
    assert (file, line_number, raw) == (f"mixpanel/2026-01-01{suffix}", 2, stray)
    assert "carriage return" in reason
    got = warehouse.execute("select line_number from raw.mixpanel_events order by 1").fetchall()
    assert got == [(1,), (3,), (4,)]
    assert balanced(warehouse)
    assert load_partition(warehouse, tmp_path, "mixpanel", DAY).skipped


def test_windows_line_endings_still_load(warehouse, tmp_path):
    path = tmp_path / "mixpanel" / "2026-01-01.jsonl"
    path.parent.mkdir()
    path.write_bytes(good_lines(3).replace(b"\n", b"\r\n"))
    assert load_partition(warehouse, tmp_path, "mixpanel", DAY).loaded == 3


# Item 8: corrupt gzip.


def flipped(data: bytes) -> bytes:
    """``data`` with one byte of its middle changed: stored (level 0) deflate blocks inflate
    without complaint, so only the CRC can tell."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x20]) + data[middle + 1 :]


def test_a_corrupt_mixpanel_gzip_fails_and_loads_nothing(warehouse, tmp_path):
    path = tmp_path / "mixpanel" / "2026-01-01.jsonl.gz"
    path.parent.mkdir()
    path.write_bytes(flipped(gzip.compress(good_lines(20), compresslevel=0)))
    with pytest.raises(UnreadableFileError, match=r"mixpanel/2026-01-01\.jsonl\.gz.*corrupt"):
        load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert warehouse.execute("select count(*) from raw.load_ledger").fetchone() == (0,)
    assert warehouse.execute("select count(*) from raw.quarantine").fetchone() == (0,)


def test_a_corrupt_amplitude_member_fails_its_zip_naming_the_member(warehouse, tmp_path):
    data = "".join(
        amplitude_line(uuid=f"00000000-0000-4000-8000-{i:012d}") + "\n" for i in range(9)
    )
    member = "187520_2026-01-01_3#0.json.gz"
    write_zip(tmp_path, {member: flipped(gzip.compress(data.encode(), compresslevel=0))})
    with pytest.raises(UnreadableFileError, match=f"{ZIP}/{member}.*corrupt"):
        load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert warehouse.execute("select count(*) from raw.amplitude_events").fetchone() == (0,)


def test_the_first_corrupt_member_in_order_is_named_among_good_ones(warehouse, tmp_path):
    good = gzip.compress((amplitude_line() + "\n").encode())
    bad = flipped(gzip.compress(("".join(amplitude_line() + "\n" for _ in range(9))).encode(), 0))
    members = {f"187520_2026-01-01_{hour:02d}#0.json.gz": good for hour in range(12)}
    members |= {"187520_2026-01-01_05#0.json.gz": bad, "187520_2026-01-01_09#0.json.gz": bad}
    write_zip(tmp_path, members)
    for _ in range(3):  # whichever thread finishes first, the error is the same
        with pytest.raises(UnreadableFileError, match=f"{ZIP}/187520_2026-01-01_05#0.json.gz"):
            load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert warehouse.execute("select count(*) from raw.amplitude_events").fetchone() == (0,)


# Item 9: odd archives and names.


def test_an_empty_zip_is_recorded_with_no_lines_and_skipped_next_time(warehouse, tmp_path):
    write_zip(tmp_path, {})
    result = load_partition(warehouse, tmp_path, "amplitude", DAY)
    assert [(f.file, f.lines_read) for f in result.files] == [(ZIP, 0)]
    assert load_partition(warehouse, tmp_path, "amplitude", DAY).skipped


@pytest.mark.parametrize(
    ("member", "data", "problem"),
    [
        ("inner.zip", b"PK\x03\x04" + bytes(40), "a zip inside the export zip"),
        ("187520_2026-01-01_1#0.json", bytes(range(256)) * 4, "binary"),
        ("187520_2026-01-01_1#0.json.gz", b"\x89PNG\r\n\x1a\n" + bytes(99), "not gzip"),
    ],
    ids=["nested-zip", "binary", "not-gzip"],
)
def test_an_odd_member_is_named_inside_its_zip(warehouse, tmp_path, member, data, problem):
    write_zip(tmp_path, {member: data})
    with pytest.raises(UnreadableFileError) as caught:
        load_partition(warehouse, tmp_path, "amplitude", DAY)
    message = str(caught.value)
    assert f"{ZIP}/{member}" in message and problem in message
    assert "recur-" not in message  # never the temporary copy


def test_badly_named_files_are_set_aside_and_the_other_days_load(warehouse, tmp_path):
    write_mixpanel_day(tmp_path, "2026-01-01", [good_lines(2).decode().splitlines()[0]])
    write_amplitude_day(tmp_path, "2026-01-01", {0: [amplitude_line()]})
    folder = os.fsencode(tmp_path / "mixpanel")
    (tmp_path / "mixpanel" / "latest.jsonl").write_bytes(good_lines(1))
    with open(os.path.join(folder, b"2026-01-02-\xff.jsonl"), "wb") as handle:
        handle.write(good_lines(1))
    assert load_partition(warehouse, tmp_path, "mixpanel", DAY).loaded == 1
    assert export_signatures(tmp_path).keys() == {"mixpanel:2026-01-01", "amplitude:2026-01-01"}
    problems = layout.misnamed_files(tmp_path, "mixpanel")
    assert len(problems) == 2
    assert any("latest.jsonl" in p and "YYYY-MM-DD" in p for p in problems)
    assert any(
        "2026-01-02-\\xff.jsonl" in p and "not UTF-8" in p and "rename" in p for p in problems
    )


# Item 10: each quarantine reason says what is wrong.


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("null", "not a JSON object: the line is JSON null"),
        (mixpanel_line(time=T, distinct_id="u") + " trailing", "text after the JSON object"),
        ("\t", "empty line: only whitespace"),
        ('{"event":"A","properties":{"time":1767225600', "truncated JSON"),
    ],
    ids=["null", "trailing-text", "tab-only", "truncated"],
)
def test_each_unparsable_line_gets_the_reason_that_fits(warehouse, tmp_path, line, reason):
    write_mixpanel_day(tmp_path, "2026-01-01", [mixpanel_line(time=T, distinct_id="v"), line])
    result = load_partition(warehouse, tmp_path, "mixpanel", DAY)
    assert (result.lines_read, result.loaded, result.quarantined) == (2, 1, 1)
    [(_, line_number, _, got)] = quarantine(warehouse)
    assert line_number == 2 and got.startswith(reason)
    assert balanced(warehouse)
