"""The synthetic export generator: layout, formats, determinism, faults and ground truth."""

from __future__ import annotations

import csv
import gzip
import json
import re
import zipfile
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sandbox.generate import generate

USERS, DAYS, SEED, RATE = 300, 6, 7, 0.05
AMP_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
INSERT_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
MEMBER = re.compile(r"^187520_(\d{4}-\d\d-\d\d)_(\d|1\d|2[0-3])#0\.json\.gz$")
QUARANTINABLE = {
    "malformed_json",
    "truncated_line",
    "terminated_early",
    "missing_id",
    "future_timestamp",
    "ancient_timestamp",
    "wrong_type",
    "invalid_utf8",
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out, users=USERS, days=DAYS, seed=SEED, faults=0.0)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faulty")
    generate(out, users=USERS, days=DAYS, seed=SEED, faults=RATE)
    return out


# --- helpers -------------------------------------------------------------------------------


def files_of(out: Path) -> dict[str, bytes]:
    """Every export file as raw (decompressed) bytes, keyed like truth/faults.csv."""
    files = {}
    for path in sorted((out / "mixpanel").glob("*.jsonl")):
        files[f"mixpanel/{path.name}"] = path.read_bytes()
    for path in sorted((out / "amplitude").glob("*.zip")):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                files[f"amplitude/{path.name}/{name}"] = gzip.decompress(zf.read(name))
    return files


def physical_lines(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\n")
    return raw[:-1].split(b"\n")


def faults_of(out: Path) -> dict[str, dict[int, str]]:
    by_file: dict[str, dict[int, str]] = defaultdict(dict)
    with (out / "truth" / "faults.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            by_file[row["file"]][int(row["line_number"])] = row["kind"]
    return by_file


def clean_records(out: Path, source: str) -> list[dict]:
    """Parsed lines of one source that are not recorded as quarantinable."""
    faults = faults_of(out)
    records = []
    for name, raw in files_of(out).items():
        if not name.startswith(source):
            continue
        for n, line in enumerate(physical_lines(raw), start=1):
            if faults[name].get(n, "duplicate") in QUARANTINABLE:
                continue
            records.append(json.loads(line))
    return records


def dedup_key(source: str, rec: dict) -> tuple:
    if source == "mixpanel":
        return rec["event"], rec["properties"]["time"], rec["properties"]["$insert_id"]
    return rec["device_id"], rec["$insert_id"]


def people(out: Path) -> list[dict[str, str]]:
    with (out / "truth" / "people.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def summary(out: Path) -> dict:
    return json.loads((out / "truth" / "summary.json").read_text(encoding="utf-8"))


def all_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# --- determinism and layout ----------------------------------------------------------------


def test_same_seed_writes_identical_bytes(faulty: Path, tmp_path: Path) -> None:
    generate(tmp_path, users=USERS, days=DAYS, seed=SEED, faults=RATE)
    assert all_bytes(tmp_path) == all_bytes(faulty)


def test_another_seed_writes_other_events(clean: Path, tmp_path: Path) -> None:
    generate(tmp_path, users=USERS, days=DAYS, seed=SEED + 1, faults=0.0)
    ours, theirs = all_bytes(clean), all_bytes(tmp_path)
    assert ours["mixpanel/2026-01-02.jsonl"] != theirs["mixpanel/2026-01-02.jsonl"]
    assert ours["truth/people.csv"] != theirs["truth/people.csv"]


def test_layout_is_exactly_the_documented_one(clean: Path) -> None:
    names = sorted(str(p.relative_to(clean)) for p in clean.rglob("*") if p.is_file())
    days = [f"2026-01-0{d}" for d in range(1, DAYS + 1)]
    n_pages = len(list((clean / "mixpanel" / "profiles").iterdir()))
    expected = sorted(
        [f"mixpanel/{d}.jsonl" for d in days]
        + [f"mixpanel/profiles/page-{k:04d}.json" for k in range(n_pages)]
        + [f"amplitude/187520_{d}.zip" for d in days]
        + [f"truth/{n}" for n in ("params.json", "people.csv", "faults.csv", "summary.json")]
    )
    assert names == expected
    for d in days:
        with zipfile.ZipFile(clean / "amplitude" / f"187520_{d}.zip") as zf:
            members = zf.namelist()
        assert members, d
        for name in members:
            m = MEMBER.match(name)
            assert m and m.group(1) == d, name
        hours = [int(MEMBER.match(n).group(2)) for n in members]  # type: ignore[union-attr]
        assert hours == sorted(set(hours))


def test_progress_is_reported_once_per_day(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate(
        tmp_path, users=20, days=3, seed=1, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_params_hold_the_true_parameters(clean: Path) -> None:
    params = json.loads((clean / "truth" / "params.json").read_text(encoding="utf-8"))
    assert params["bgnbd"] == {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "time_unit": "days"}
    assert params["gamma_gamma"]["mean_order_value"] == pytest.approx(30.0)
    assert params["funnel_step_probabilities"]["Add To Cart|View Item"] == 0.30
    assert [c["name"] for c in params["channels"]] == [
        "organic",
        "paid_search",
        "social",
        "email",
        "referral",
    ]
    assert sum(c["share"] for c in params["channels"]) == pytest.approx(1.0)
    assert params["session_gap_minutes"] == {"web": 30.0, "mobile": 5.0}
    assert (params["start"], params["days"], params["seed"], params["faults"]) == (
        "2026-01-01",
        DAYS,
        SEED,
        0.0,
    )
    assert len(params["catalogue"]) == 50


# --- formats -------------------------------------------------------------------------------


def test_mixpanel_lines_are_raw_export_json(clean: Path) -> None:
    records = 0
    for name, raw in files_of(clean).items():
        if not name.startswith("mixpanel"):
            continue
        day = name.split("/")[1][:10]
        for line in physical_lines(raw):
            rec = json.loads(line)
            records += 1
            assert set(rec) == {"event", "properties"}
            p = rec["properties"]
            assert type(p["time"]) is int
            assert datetime.fromtimestamp(p["time"], UTC).date().isoformat() == day
            assert INSERT_ID.match(p["$insert_id"])
            assert (
                type(p["mp_processing_time_ms"]) is int and type(p["$mp_api_timestamp_ms"]) is int
            )
            assert p["$mp_api_timestamp_ms"] >= p["time"] * 1000
            assert p["distinct_id"] == p.get("$user_id", p["distinct_id"])
            if p["mp_lib"] == "web":
                for key in (
                    "$device_id",
                    "$os",
                    "$browser",
                    "$city",
                    "$region",
                    "mp_country_code",
                    "$initial_referrer",
                ):
                    assert isinstance(p[key], str), key
            else:
                assert rec["event"] == "Refund" and "$device_id" not in p
            if rec["event"] in ("Purchase", "Refund"):
                assert isinstance(p["revenue"], float) and round(p["revenue"], 2) == p["revenue"]
                assert (p["revenue"] > 0) == (rec["event"] == "Purchase")
                assert p["currency"] == "USD" and isinstance(p["quantity"], int)
                assert p["product_id"].startswith("sku-") and p["category"]
    assert records == summary(clean)["sources"]["mixpanel"]["unique_events"]


def test_amplitude_lines_are_export_api_json(clean: Path) -> None:
    records, late = 0, 0
    for name, raw in files_of(clean).items():
        if not name.startswith("amplitude"):
            continue
        day, hour = MEMBER.match(name.split("/")[2]).groups()  # type: ignore[union-attr]
        for line in physical_lines(raw):
            rec = json.loads(line)
            records += 1
            for key in ("event_time", "client_event_time", "client_upload_time", "server_received_time",
                        "server_upload_time", "processed_time"):  # fmt: skip
                assert AMP_TIME.match(rec[key]), (key, rec[key])
            assert rec["server_upload_time"][:13] == f"{day} {int(hour):02d}"
            assert (
                rec["client_event_time"] <= rec["client_upload_time"] < rec["server_received_time"]
            )
            late += rec["event_time"][:10] < day
            assert type(rec["amplitude_id"]) is int and isinstance(rec["device_id"], str)
            assert UUID4.match(rec["uuid"]) and UUID4.match(rec["$insert_id"])
            assert rec["user_id"] is None or rec["user_id"].startswith("user-")
            assert type(rec["session_id"]) is int and type(rec["event_id"]) is int
            assert rec["app"] == 187520 and isinstance(rec["paying"], bool)
            for key in (
                "platform",
                "os_name",
                "device_family",
                "country",
                "city",
                "region",
                "language",
                "library",
            ):
                assert key in rec
            props = rec["event_properties"]
            if rec["event_type"] in ("Purchase", "Refund"):
                assert props["$revenue"] == pytest.approx(props["$price"] * props["$quantity"])
                assert (props["$revenue"] > 0) == (rec["event_type"] == "Purchase")
                assert props["$productId"].startswith("sku-") and props["category"]
                assert props["$revenueType"] in ("purchase", "refund")
            if rec["session_id"] == -1:
                assert rec["event_type"] == "Refund" and rec["library"] == "http/2.0"
            else:
                assert rec["session_id"] <= _ms(rec["client_event_time"])
    assert records == summary(clean)["sources"]["amplitude"]["unique_events"]
    assert late > 0  # offline sessions uploaded after midnight land in the next day's zip


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text + "+00:00").timestamp() * 1000)


def test_amplitude_sessions_follow_the_five_minute_sdk_rule(clean: Path) -> None:
    by_device: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rec in clean_records(clean, "amplitude"):
        if rec["session_id"] != -1:
            by_device[rec["device_id"]].append((_ms(rec["client_event_time"]), rec["session_id"]))
    sessions = 0
    for events in by_device.values():
        events.sort()
        for (t0, s0), (t1, s1) in zip(events, events[1:], strict=False):
            # within 5 minutes: same session; after a longer gap a new one, named by its start
            assert s1 == (s0 if t1 - t0 <= 5 * 60_000 else t1)
        sessions += len({s for _, s in events})
    assert sessions == summary(clean)["sources"]["amplitude"]["sessions"]


def test_only_the_acquisition_event_carries_utm(clean: Path) -> None:
    first_seen: dict[str, int] = {}
    utm_events = []
    for rec in clean_records(clean, "mixpanel"):
        p = rec["properties"]
        if "$device_id" in p:
            first_seen[p["$device_id"]] = min(first_seen.get(p["$device_id"], p["time"]), p["time"])
        if "utm_source" in p:
            utm_events.append(p)
    assert utm_events
    per_device = Counter(p["$device_id"] for p in utm_events)
    assert max(per_device.values()) == 1
    assert all(p["time"] == first_seen[p["$device_id"]] for p in utm_events)


def test_anonymous_events_of_identified_devices_export_the_user_id(clean: Path) -> None:
    records = clean_records(clean, "mixpanel")
    user_of_device = {r["properties"]["$device_id"]: r["properties"]["$user_id"] for r in records
                      if "$user_id" in r["properties"] and "$device_id" in r["properties"]}  # fmt: skip
    merged = anonymous = 0
    for rec in records:
        p = rec["properties"]
        if "$user_id" in p or "$device_id" not in p:
            continue
        if p["$device_id"] in user_of_device:
            assert p["distinct_id"] == user_of_device[p["$device_id"]]
            merged += 1
        else:
            assert p["distinct_id"] == "$device:" + p["$device_id"]
            anonymous += 1
    assert merged > 100 and anonymous > 100


def test_engage_pages_follow_the_paging_contract(tmp_path: Path) -> None:
    s = generate(tmp_path, users=3000, days=2, seed=3)
    pages = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((tmp_path / "mixpanel" / "profiles").iterdir())
    ]
    assert s.profiles > 1000 and len(pages) == s.profiles // 1000 + 1
    assert [p["page"] for p in pages] == list(range(len(pages)))
    assert len({p["session_id"] for p in pages}) == 1 and all(p["status"] == "ok" for p in pages)
    assert all(len(p["results"]) == 1000 for p in pages[:-1]) and len(pages[-1]["results"]) < 1000
    results = [r for p in pages for r in p["results"]]
    assert all(p["total"] == len(results) == s.profiles for p in pages)
    emails = [r["$properties"]["$email"] for r in results]
    assert len(set(emails)) == len(emails)
    assert all(re.match(r"^[a-z0-9]+\.[a-z0-9]+\.\d+@example\.com$", e) for e in emails)
    for r in results:
        created = r["$properties"]["$created"]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", created)
        assert "2026-01-01" <= created[:10] <= "2026-01-02"
    identified = {
        rec["properties"]["$user_id"]
        for rec in clean_records(tmp_path, "mixpanel")
        if "$user_id" in rec["properties"]
    }
    assert {r["$distinct_id"] for r in results} == identified


# --- faults ---------------------------------------------------------------------------------


def test_no_faults_means_no_fault_lines_and_no_duplicates(clean: Path) -> None:
    assert list(faults_of(clean)) == []
    totals = summary(clean)["sources"]
    for source in ("mixpanel", "amplitude"):
        assert totals[source]["duplicates"] == totals[source]["quarantinable"] == 0
        records = clean_records(clean, source)
        assert len({dedup_key(source, r) for r in records}) == len(records)


def test_fault_lines_are_of_the_recorded_kind(faulty: Path) -> None:
    files = files_of(faulty)
    seen: Counter[tuple[str, str]] = Counter()
    variants: Counter[str] = Counter()  # duplicates with another distinct_id / uuid
    for name, faults in faults_of(faulty).items():
        source = name.split("/")[0]
        lines = physical_lines(files[name])
        for number, kind in faults.items():
            line = lines[number - 1]
            seen[source, kind] += 1
            if kind == "invalid_utf8":
                with pytest.raises(UnicodeDecodeError):
                    line.decode("utf-8")
                assert b"\xff\xfe" in line
                continue
            text = line.decode("utf-8")
            if kind in ("malformed_json", "truncated_line"):
                with pytest.raises(json.JSONDecodeError):
                    json.loads(text)
                assert text.endswith("}") == (kind == "malformed_json")
                continue
            if kind == "terminated_early":
                assert text == "terminated early" and number == len(lines)
                continue
            rec = json.loads(text)
            props = rec.get("properties", rec)
            if kind == "duplicate":
                earlier = [json.loads(x) for x in lines[: number - 1] if _parses(x)]
                originals = {dedup_key(source, r): r for r in earlier if _has_key(source, r)}
                original = originals[dedup_key(source, rec)]
                field = ("properties", "distinct_id") if source == "mixpanel" else ("uuid",)
                variants[source] += _get(original, field) != _get(rec, field)
            elif kind == "missing_id":
                keys = ("distinct_id", "$device_id", "$user_id", "$insert_id") if source == "mixpanel" else (
                    "user_id", "device_id", "amplitude_id", "uuid", "$insert_id")  # fmt: skip
                assert all(props.get(k) is None for k in keys)
            elif kind in ("future_timestamp", "ancient_timestamp"):
                year = (datetime.fromtimestamp(props["time"], UTC).year if source == "mixpanel"
                        else int(rec["event_time"][:4]))  # fmt: skip
                assert year >= 2099 if kind == "future_timestamp" else year < 2000
            elif kind == "wrong_type":
                assert (
                    isinstance(props["time"], str)
                    if source == "mixpanel"
                    else isinstance(rec["event_time"], int)
                )
    kinds = QUARANTINABLE | {"duplicate"}
    assert {k for s, k in seen if s == "mixpanel"} == kinds
    assert {k for s, k in seen if s == "amplitude"} == kinds - {"terminated_early"}
    for source in ("mixpanel", "amplitude"):  # roughly equal shares
        shares = [n for (s, k), n in seen.items() if s == source and k != "terminated_early"]
        assert min(shares) >= 0.5 * max(shares), (source, shares)
    assert 0 < variants["mixpanel"] < seen["mixpanel", "duplicate"]
    assert 0 < variants["amplitude"] < seen["amplitude", "duplicate"]


def _get(rec: dict, path: tuple[str, ...]) -> object:
    for key in path:
        rec = rec[key]
    return rec


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def _has_key(source: str, rec: dict) -> bool:
    props = rec.get("properties", rec)
    return props.get("$insert_id") is not None and (source == "amplitude" or "time" in props)


def test_summary_counts_match_the_files(faulty: Path) -> None:
    s = summary(faulty)
    files, faults = files_of(faulty), faults_of(faulty)
    assert sorted(s["files"]) == sorted(files)
    for name, raw in files.items():
        kinds = Counter(faults[name].values())
        expected = s["files"][name]
        assert expected["lines"] == len(physical_lines(raw)), name
        assert expected["duplicates"] == kinds["duplicate"], name
        assert expected["quarantinable"] == sum(kinds.values()) - kinds["duplicate"], name
        assert (
            expected["valid"]
            == expected["lines"] - expected["duplicates"] - expected["quarantinable"]
        )
    for source in ("mixpanel", "amplitude"):
        rows = [v for k, v in s["files"].items() if k.startswith(source)]
        totals = s["sources"][source]
        assert totals["lines"] == s["generation"]["events"][source] == sum(r["lines"] for r in rows)
        assert (
            totals["unique_events"]
            == s["generation"]["unique_events"][source]
            == sum(r["valid"] for r in rows)
        )
        records = clean_records(faulty, source)
        assert len({dedup_key(source, r) for r in records}) == totals["unique_events"]
        assert 0.02 < (totals["lines"] - totals["unique_events"]) / totals["lines"] < 0.08


def test_clean_events_are_the_same_with_and_without_faults(clean: Path, faulty: Path) -> None:
    with_faults, without = files_of(faulty), files_of(clean)
    faults = faults_of(faulty)
    assert sorted(with_faults) == sorted(without)
    for name, raw in with_faults.items():
        kept = [
            line for n, line in enumerate(physical_lines(raw), start=1) if n not in faults[name]
        ]
        assert kept == physical_lines(without[name]), name
    for truth in ("people.csv",):
        assert (faulty / "truth" / truth).read_bytes() == (clean / "truth" / truth).read_bytes()


# --- ground truth ---------------------------------------------------------------------------


def test_purchases_per_person_equal_unique_purchase_events(faulty: Path) -> None:
    person_of_device = {
        d: row["person_id"] for row in people(faulty) for d in row["device_ids"].split(";") if d
    }
    person_of_user = {row["user_id"]: row["person_id"] for row in people(faulty) if row["user_id"]}
    counted: Counter[str] = Counter()
    revenue: Counter[str] = Counter()
    for source in ("mixpanel", "amplitude"):
        seen = set()
        for rec in clean_records(faulty, source):
            props = rec.get("properties", rec)
            name = rec.get("event", rec.get("event_type"))
            key = dedup_key(source, rec)
            if name != "Purchase" or key in seen:
                continue
            seen.add(key)
            device = props["$device_id"] if source == "mixpanel" else rec["device_id"]
            person = person_of_device[device]
            assert person_of_user.get(props.get("$user_id") or rec.get("user_id"), person) == person
            counted[person] += 1
            revenue[person] += round(
                (props.get("revenue") or rec["event_properties"]["$revenue"]) * 100
            )
    truth = {row["person_id"]: row for row in people(faulty)}
    assert sum(counted.values()) == summary(faulty)["totals"]["orders"] > 50
    for pid, row in truth.items():
        assert int(row["purchases"]) == counted[pid], pid
        assert round(float(row["revenue"]) * 100) == revenue[pid], pid
        if int(row["purchases"]):
            assert (
                row["is_customer"] == "True"
                and row["user_id"]
                and float(row["purchase_rate_lambda"]) > 0
            )


def test_people_truth_describes_the_population(clean: Path) -> None:
    rows = people(clean)
    assert len(rows) == USERS
    identified = [r for r in rows if r["user_id"]]
    assert 0.55 < len(identified) / USERS < 0.85
    assert len({r["email"] for r in identified}) == len(identified)
    both = [r for r in rows if r["sources"] == "mixpanel;amplitude"]
    assert both and all(int(r["n_devices"]) == 2 and r["user_id"] for r in both)
    assert all(
        int(r["n_devices"]) == len(r["device_ids"].split(";")) for r in rows if r["device_ids"]
    )
    assert {r["acquisition_channel"] for r in rows} == {
        "organic",
        "paid_search",
        "social",
        "email",
        "referral",
    }
    assert all(
        r["first_seen_at"] >= "2026-01-01" and r["first_seen_at"] < f"2026-01-0{DAYS + 1}"
        for r in rows
        if r["first_seen_at"]
    )
    s = summary(clean)
    assert s["people"]["customers"] == sum(int(r["purchases"]) > 0 for r in rows)
    assert s["totals"]["revenue"] == pytest.approx(sum(float(r["revenue"]) for r in rows))


def test_rejects_a_fault_rate_outside_zero_to_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        generate(tmp_path, users=10, days=1, faults=1.5)


def test_start_date_moves_every_timestamp(tmp_path: Path) -> None:
    generate(tmp_path, users=30, days=2, seed=2, start=date(2025, 12, 31))
    assert sorted(p.name for p in (tmp_path / "mixpanel").glob("*.jsonl")) == [
        "2025-12-31.jsonl",
        "2026-01-01.jsonl",
    ]


def test_mixpanel_sessions_in_truth_follow_the_30_minute_rule(clean: Path) -> None:
    times: dict[str, list[int]] = defaultdict(list)
    for rec in clean_records(clean, "mixpanel"):
        times[rec["properties"]["distinct_id"]].append(rec["properties"]["time"])
    sessions = 0
    for ts in times.values():
        ts.sort()
        sessions += 1 + sum(
            b - a > 30 * 60 or a // 86_400 != b // 86_400 for a, b in zip(ts, ts[1:], strict=False)
        )
    assert sessions == summary(clean)["sources"]["mixpanel"]["sessions"]


def test_returned_summary_describes_what_was_written(tmp_path: Path) -> None:
    s = generate(tmp_path, users=USERS, days=DAYS, seed=SEED, faults=RATE)
    truth = summary(tmp_path)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert s.files_written == len(files)
    assert s.seconds > 0 and s.total_events == sum(s.events.values())
    for source in ("mixpanel", "amplitude"):
        t = truth["sources"][source]
        assert s.events[source] == t["lines"]
        assert s.unique_events[source] == t["unique_events"]
        assert s.duplicates[source] == t["duplicates"] > 0
        assert s.faulty_lines[source] == t["quarantinable"] > 0
    assert s.people == truth["people"]["with_events"] == USERS
    assert s.to_dict(deterministic=True) == truth["generation"]


# --- shapes: options of `recur generate` beyond size and seed -------------------------------

IDENTITY = ("distinct_id", "$device_id", "$user_id", "$insert_id")


def params(out: Path) -> dict:
    return json.loads((out / "truth" / "params.json").read_text(encoding="utf-8"))


def event_name(rec: dict) -> str:
    return rec.get("event", rec.get("event_type"))


def test_default_shape_writes_no_shape_truth(clean: Path) -> None:
    assert "shape" not in params(clean) and "shape" not in summary(clean)
    assert "email_valid" not in people(clean)[0]


def test_no_revenue_has_no_purchases_refunds_or_revenue(tmp_path: Path) -> None:
    s = generate(tmp_path, users=300, days=10, seed=5, faults=0.02, revenue=False)
    for name, raw in files_of(tmp_path).items():
        assert b"Purchase" not in raw and b"Refund" not in raw, name
        assert b'"revenue"' not in raw and b'"$revenue"' not in raw, name
    names = {
        event_name(r) for src in ("mixpanel", "amplitude") for r in clean_records(tmp_path, src)
    }
    assert names == {
        "Page Viewed",
        "View Item",
        "Add To Cart",
        "Checkout Started",
        "Sign Up",
        "Logged In",
    }
    truth = summary(tmp_path)
    assert truth["totals"]["orders"] == 0 and truth["totals"]["revenue"] == 0.0
    assert truth["totals"]["refunded"] == 0.0 and truth["people"]["customers"] == 0
    assert truth["shape"]["revenue"] == {"orders": 0, "revenue": 0.0, "purchase_events": 0,
                                         "refund_events": 0}  # fmt: skip
    rows = people(tmp_path)
    assert all(r["purchases"] == "0" and r["revenue"] == "0.00" for r in rows)
    assert all(r["is_customer"] == "False" for r in rows)
    assert 0.55 < sum(bool(r["user_id"]) for r in rows) / len(rows) < 0.85  # people still sign up
    assert params(tmp_path)["shape"]["revenue"] is False and s.shape == {"revenue": False}
    assert s.describe_shape().startswith("no revenue")


def test_one_week_store_has_first_purchases_and_few_repeat_buyers(tmp_path: Path) -> None:
    generate(tmp_path, users=800, days=7, seed=11)
    assert sorted(p.name for p in (tmp_path / "mixpanel").glob("*.jsonl")) == [
        f"2026-01-0{d}.jsonl" for d in range(1, 8)
    ]
    rows = people(tmp_path)
    purchases = Counter(int(r["purchases"]) for r in rows)
    buyers = sum(n for k, n in purchases.items() if k > 0)
    repeat = sum(n for k, n in purchases.items() if k > 1)
    assert purchases[1] >= 20 and repeat <= 0.25 * buyers, purchases
    s = summary(tmp_path)
    assert s["totals"]["orders"] == sum(int(r["purchases"]) for r in rows)
    assert s["people"]["customers"] == buyers
    assert s["totals"]["revenue"] == pytest.approx(sum(float(r["revenue"]) for r in rows))
    for r in rows:
        if int(r["purchases"]):
            assert "2026-01-01" <= r["first_purchase_at"] <= r["last_purchase_at"] < "2026-01-08"
    counted = Counter(
        rec["properties"]["$user_id"]
        for rec in clean_records(tmp_path, "mixpanel")
        if rec["event"] == "Purchase"
    ) + Counter(rec["user_id"] for rec in clean_records(tmp_path, "amplitude")
                if rec["event_type"] == "Purchase")  # fmt: skip
    assert counted == Counter(
        {r["user_id"]: int(r["purchases"]) for r in rows if int(r["purchases"])}
    )


def test_no_insert_id_keeps_exact_duplicates_and_cross_person_twins(tmp_path: Path) -> None:
    s = generate(tmp_path, users=USERS, days=DAYS, seed=SEED, faults=RATE, insert_id=False)
    files, faults = files_of(tmp_path), faults_of(tmp_path)
    person_of_device = {
        d: row["person_id"] for row in people(tmp_path) for d in row["device_ids"].split(";") if d
    }
    person_of_user = {r["user_id"]: r["person_id"] for r in people(tmp_path) if r["user_id"]}
    groups: dict[str, set[str]] = defaultdict(set)
    for name, raw in files.items():
        lines = physical_lines(raw)
        if name.startswith("mixpanel"):
            assert b"$insert_id" not in raw, name
        for number, kind in faults[name].items():
            if kind == "duplicate":  # an exact copy of an earlier line
                assert lines[number - 1] in lines[: number - 1], (name, number)
        for n, line in enumerate(lines, start=1):
            if n in faults[name] or not name.startswith("mixpanel"):
                if n not in faults[name]:
                    assert json.loads(line)["$insert_id"] is None
                continue
            rec = json.loads(line)
            p = rec["properties"]
            person = person_of_device.get(p.get("$device_id")) or person_of_user[p["distinct_id"]]
            rest = {k: v for k, v in p.items() if k not in IDENTITY}
            groups[json.dumps([rec["event"], rest], sort_keys=True)].add(person)
    twins = [g for g in groups.values() if len(g) > 1]
    truth = summary(tmp_path)["shape"]
    assert len(twins) == truth["mixpanel_cross_person_collisions"] >= 3
    assert sum(len(g) for g in twins) == truth["mixpanel_events_in_collisions"]
    assert all(len(g) == 2 for g in twins)
    mp = summary(tmp_path)["sources"]["mixpanel"]
    assert len(clean_records(tmp_path, "mixpanel")) - mp["duplicates"] == mp["unique_events"]
    assert s.duplicates["mixpanel"] > 0 and s.duplicates["amplitude"] > 0
    # the twins are clean events of both people: the truth counts them
    rows = people(tmp_path)
    assert sum(int(r["events"]) for r in rows) == sum(s.unique_events.values())


def test_mixpanel_time_zone_writes_local_seconds_and_local_day_files(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    tz = "America/New_York"  # 2026-03-08: clocks go from UTC-5 to UTC-4
    utc, local = tmp_path / "utc", tmp_path / "local"
    kw = dict(users=200, days=4, seed=4, start=date(2026, 3, 6))
    generate(utc, **kw)
    s = generate(local, mixpanel_timezone=tz, **kw)
    utc_time = {r["properties"]["$insert_id"]: r["properties"]["time"]
                for r in clean_records(utc, "mixpanel")}  # fmt: skip
    offsets = Counter()
    for name, raw in files_of(local).items():
        if not name.startswith("mixpanel"):
            continue
        for line in physical_lines(raw):
            p = json.loads(line)["properties"]
            t = utc_time.pop(p["$insert_id"])
            expected = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(tz)).utcoffset()
            assert p["time"] - t == expected.total_seconds()  # type: ignore[union-attr]
            offsets[p["time"] - t] += 1
            assert datetime.fromtimestamp(p["time"], UTC).date().isoformat() == name[9:19]
    assert not utc_time and set(offsets) == {-5 * 3600, -4 * 3600}
    first = json.loads(physical_lines(files_of(local)["mixpanel/2026-03-05.jsonl"])[0])
    assert first["properties"]["time"] < 1772755200  # 2026-03-06 00:00 UTC, a local 2026-03-05
    # Amplitude and all truth about people stay in UTC
    for name, raw in files_of(utc).items():
        if name.startswith("amplitude"):
            assert files_of(local)[name] == raw
    assert (utc / "truth" / "people.csv").read_bytes() == (
        local / "truth" / "people.csv"
    ).read_bytes()
    assert summary(local)["totals"] == summary(utc)["totals"]
    assert params(local)["shape"]["mixpanel_timezone"] == tz and s.shape == {
        "mixpanel_timezone": tz
    }
    with pytest.raises(ValueError, match="IANA"):
        generate(tmp_path / "bad", users=10, days=1, mixpanel_timezone="Mars/Olympus")


@pytest.mark.parametrize("start", [date(1997, 1, 1), date(1970, 1, 1)])
def test_historical_dates_work_in_every_writer(tmp_path: Path, start: date) -> None:
    generate(tmp_path, users=150, days=3, seed=6, faults=0.05, start=start)
    days = [date.fromordinal(start.toordinal() + k).isoformat() for k in range(3)]
    assert sorted(p.name for p in (tmp_path / "mixpanel").glob("*.jsonl")) == [
        f"{d}.jsonl" for d in days
    ]
    assert sorted(p.name for p in (tmp_path / "amplitude").glob("*.zip")) == [
        f"187520_{d}.zip" for d in days
    ]
    lo = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    hi = lo + 3 * 86_400
    for rec in clean_records(tmp_path, "mixpanel"):
        assert lo <= rec["properties"]["time"] < hi
    for rec in clean_records(tmp_path, "amplitude"):
        assert AMP_TIME.match(rec["event_time"]) and days[0] <= rec["event_time"][:10] <= days[-1]
        assert lo * 1000 <= rec["session_id"] < hi * 1000 or rec["session_id"] == -1
    files = files_of(tmp_path)
    ancient = 0
    for name, found in faults_of(tmp_path).items():
        for number, kind in found.items():
            if kind == "ancient_timestamp":
                rec = json.loads(physical_lines(files[name])[number - 1])
                t = (
                    rec["properties"]["time"]
                    if "properties" in rec
                    else _ms(rec["event_time"]) // 1000
                )
                assert t < lo
                ancient += 1
    assert ancient > 0
    for row in people(tmp_path):
        assert days[0] <= row["first_seen_at"][:10] <= days[-1]
    pages = json.loads((tmp_path / "mixpanel" / "profiles" / "page-0000.json").read_text("utf-8"))
    assert all(days[0] <= r["$properties"]["$created"][:10] <= days[-1] for r in pages["results"])
    with pytest.raises(ValueError, match="1970"):
        generate(tmp_path, users=10, days=1, start=date(1969, 12, 31))


def test_invalid_email_share_is_recorded_per_person(tmp_path: Path) -> None:
    share = 0.1
    generate(tmp_path, users=800, days=5, seed=9, invalid_email_share=share)
    pages = sorted((tmp_path / "mixpanel" / "profiles").iterdir())
    profiles = {
        r["$distinct_id"]: r["$properties"]["$email"]
        for page in pages
        for r in json.loads(page.read_text(encoding="utf-8"))["results"]
    }
    rows = {r["user_id"]: r for r in people(tmp_path) if r["user_id"]}
    shapes = {
        "missing_at": lambda e: "@" not in e,
        "trailing_dot": lambda e: e.endswith(".com."),
        "space_inside": lambda e: " " in e,
        "no_tld": lambda e: re.match(r"^[a-z0-9.]+@example$", e) is not None,
        "trailing_newline": lambda e: e.endswith("@example.com\n"),
        "unicode": lambda e: e == "üñîçødé@exämple.com",
        "": lambda e: re.match(r"^[a-z0-9]+\.[a-z0-9]+\.\d+@example\.com$", e) is not None,
    }
    issues = Counter()
    for user_id, address in profiles.items():
        row = rows[user_id]
        assert row["email"] == address
        assert row["email_valid"] == str(row["email_issue"] == "")
        assert shapes[row["email_issue"]](address), (row["email_issue"], address)
        issues[row["email_issue"]] += 1
    corrupted = sum(n for k, n in issues.items() if k not in ("", "unicode"))
    assert issues["unicode"] == 1
    assert abs(corrupted / len(profiles) - share) < 0.01
    assert {k for k in issues if k not in ("", "unicode")} == set(shapes) - {"", "unicode"}
    truth = summary(tmp_path)["shape"]["emails"]
    assert truth["invalid"] == corrupted + 1 and truth["profiles"] == len(profiles)
    assert truth["by_issue"] == {k: n for k, n in issues.items() if k}
    # people without a profile (app-only sign-ups) keep a valid address
    assert all(r["email_valid"] == "True" for u, r in rows.items() if u not in profiles)
    with pytest.raises(ValueError, match="between 0 and 1"):
        generate(tmp_path, users=10, days=1, invalid_email_share=1.5)


NAMES = ("View Item=product_view,Add To Cart=add_to_cart,Checkout Started=checkout,"
         "Purchase=purchase,Sign Up=sign_up")  # fmt: skip


def test_event_names_of_the_users_choosing(clean: Path, tmp_path: Path) -> None:
    from sandbox.generate import parse_event_names

    mapping = parse_event_names(NAMES)
    assert mapping["Checkout Started"] == "checkout" and len(mapping) == 5
    s = generate(tmp_path, users=USERS, days=DAYS, seed=SEED, event_names=mapping)
    full = {n: mapping.get(n, n) for n in ("Page Viewed", "View Item", "Add To Cart",
            "Checkout Started", "Purchase", "Sign Up", "Logged In", "Refund")}  # fmt: skip
    for source in ("mixpanel", "amplitude"):
        ours = Counter(event_name(r) for r in clean_records(tmp_path, source))
        theirs = Counter(full[event_name(r)] for r in clean_records(clean, source))
        assert ours == theirs and not set(ours) & set(mapping), source
        by_name = summary(tmp_path)["sources"][source]["events_by_name"]
        assert {k: v for k, v in by_name.items() if v} == dict(ours)
        assert set(summary(tmp_path)["sources"][source]["funnel_visits"]) == {
            "visits", "product_view", "add_to_cart", "checkout", "purchase"}  # fmt: skip
    assert (
        params(tmp_path)["shape"]["event_names"]
        == full
        == summary(tmp_path)["shape"]["event_names"]
    )
    assert s.shape == {"event_names": full}
    assert (tmp_path / "truth" / "people.csv").read_bytes() == (
        clean / "truth" / "people.csv"
    ).read_bytes()
    json_map = tmp_path / "names.json"
    json_map.write_text(json.dumps(mapping), encoding="utf-8")
    assert parse_event_names(str(json_map)) == mapping
    with pytest.raises(ValueError, match="unknown event name"):
        generate(tmp_path, users=10, days=1, event_names={"Buy": "purchase"})
    with pytest.raises(ValueError, match="same name"):
        generate(tmp_path, users=10, days=1, event_names={"Purchase": "Refund"})


def test_cli_generate_takes_every_shape_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from orchestration.cli import main

    code = main(["generate", "--out", str(tmp_path), "--users", "120", "--days", "3", "--seed", "2",
                 "--no-revenue", "--no-insert-id", "--mixpanel-timezone", "Asia/Kolkata",
                 "--invalid-email-share", "0.05", "--event-names", NAMES, "--start", "1998-06-01"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "shape: no revenue" in out and "no $insert_id" in out and "Asia/Kolkata" in out
    assert "5.0% invalid profile emails + 1 unicode" in out and "Purchase=purchase" in out
    shape = params(tmp_path)["shape"]
    assert shape["revenue"] is False and shape["insert_id"] is False
    assert shape["mixpanel_timezone"] == "Asia/Kolkata" and shape["invalid_email_share"] == 0.05
    assert shape["event_names"]["Sign Up"] == "sign_up"
    assert (tmp_path / "mixpanel" / "1998-06-04.jsonl").exists()  # UTC+5:30 spills a local day
    assert main(["generate", "--out", str(tmp_path), "--event-names", "Buy=purchase"]) == 2
