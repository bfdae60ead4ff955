"""Engage pages into raw.mixpanel_profiles."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from sources.errors import UnreadableFileError
from sources.profiles import load_profiles


def write_page(root, n: int, results: list[dict]) -> None:
    folder = root / "mixpanel" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    page = {
        "page": n,
        "page_size": 1000,
        "session_id": "s",
        "status": "ok",
        "total": len(results),
        "results": results,
    }
    (folder / f"page-{n:04d}.json").write_text(json.dumps(page))


def profile(distinct_id: str | None, **props) -> dict:
    out = {"$properties": props}
    if distinct_id is not None:
        out["$distinct_id"] = distinct_id
    return out


def test_profiles_are_typed_quarantined_and_deduplicated(warehouse, tmp_path):
    write_page(
        tmp_path,
        0,
        [
            profile(
                "u1",
                **{
                    "$email": "ada@example.com",
                    "$first_name": "Ada",
                    "$last_name": "L",
                    "$created": "2024-05-01T09:12:44",
                    "$country_code": "DE",
                    "plan": "pro",
                },
            ),
            profile(None, **{"$email": "nobody@example.com"}),
        ],
    )
    write_page(tmp_path, 1, [profile("u1", **{"$email": "ada@new.example.com"}), profile("u2")])
    skipped, files, _ = load_profiles(warehouse, tmp_path)
    assert not skipped
    assert [(f.file, f.lines_read, f.loaded, f.duplicates, f.quarantined) for f in files] == [
        ("mixpanel/profiles/page-0000.json", 2, 0, 1, 1),
        ("mixpanel/profiles/page-0001.json", 2, 2, 0, 0),
    ]
    rows = warehouse.execute(
        "select distinct_id, email, created_at from raw.mixpanel_profiles order by 1"
    ).fetchall()
    assert rows == [("u1", "ada@new.example.com", None), ("u2", None, None)]
    assert warehouse.execute("select line_number, reason from raw.quarantine").fetchall() == [
        (2, "no $distinct_id: a profile must name the user it describes")
    ]
    assert load_profiles(warehouse, tmp_path)[0] is True  # unchanged pages are skipped


def test_profile_fields_are_typed(warehouse, tmp_path):
    write_page(
        tmp_path,
        0,
        [
            profile(
                "u1",
                **{
                    "$email": "a@b.co",
                    "$created": "2024-05-01T09:12:44",
                    "$city": "Berlin",
                    "$country_code": "DE",
                },
            )
        ],
    )
    load_profiles(warehouse, tmp_path)
    assert warehouse.execute(
        "select email, city, country_code, created_at, properties ->> 'plan' "
        "from raw.mixpanel_profiles"
    ).fetchone() == ("a@b.co", "Berlin", "DE", datetime(2024, 5, 1, 9, 12, 44), None)


def test_a_page_that_is_not_json_fails_with_its_name(warehouse, tmp_path):
    folder = tmp_path / "mixpanel" / "profiles"
    folder.mkdir(parents=True)
    (folder / "page-0000.json").write_text("<html>rate limited</html>")
    with pytest.raises(UnreadableFileError, match="page-0000.json"):
        load_profiles(warehouse, tmp_path)
