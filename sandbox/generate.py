"""Synthetic Mixpanel and Amplitude exports with ground truth: ``generate(out, ...)``.

Layout written under ``out`` (other code depends on it)::

    mixpanel/YYYY-MM-DD.jsonl                       raw-export lines, one file per UTC event day
    mixpanel/profiles/page-0000.json, ...           Engage API response pages
    amplitude/187520_YYYY-MM-DD.zip                 per UTC upload day; members
        187520_YYYY-MM-DD_<H>#0.json.gz             gzip NDJSON per upload hour H (no padding)
    truth/params.json, people.csv, faults.csv, summary.json

The same arguments give byte-identical files. Faults are extra lines (see :mod:`sandbox.faults`),
so the clean events and all truth about people and purchases do not depend on the fault rate.

Shapes (keyword options; ``recur generate`` flags in brackets). The defaults write the shop
above, byte for byte as before; any other value is recorded in truth/params.json ("shape": every
option) and truth/summary.json ("shape": the options and the numbers they give):

- ``revenue=False`` [``--no-revenue``]: a product-analytics app. Nobody converts, so there are
  no Purchase or Refund events and no revenue property (``revenue``, ``$revenue``) anywhere;
  truth: 0 orders, 0 revenue, no customers.
- ``days=7`` [``--days 7``]: a store of one week; many first purchases, few repeat buyers
  (people.csv ``purchases``).
- ``insert_id=False`` [``--no-insert-id``]: no ``$insert_id`` in Mixpanel lines
  (``"$insert_id":null`` in Amplitude); injected duplicates are exact copies, so a loader's
  fallback key must find them. About one Mixpanel Page Viewed event in 2,000 (at least five
  when the data allows) has a twin from another person with the same properties in the same
  second; both are real events. summary.json: ``mixpanel_cross_person_collisions`` (groups)
  and ``mixpanel_events_in_collisions``.
- ``mixpanel_timezone="Europe/Berlin"`` [``--mixpanel-timezone TZ``]: a pre-2023 Mixpanel
  project: ``properties.time`` is local wall-clock seconds (UTC + the zone's offset at that
  instant) and Mixpanel files and their summary partitions are named by the local day (one may
  fall before the start or after the end). ``mp_processing_time_ms``, Amplitude and all truth
  times stay UTC, so a loader configured with the same zone recovers people.csv exactly.
- ``start=date(1997, 1, 1)`` [``--start``]: any first day from 1970-01-01 (earlier is refused).
  Zip entries dated before 1980 carry 1980-01-01 (the zip format's first date; names carry the
  day); ``ancient_timestamp`` faults fall at least a year before the start (or on 1970-01-01 /
  1969-12-31 when the start is too close to the epoch).
- ``invalid_email_share=0.03`` [``--invalid-email-share F``]: ``round(F x profiles)`` Mixpanel
  profiles get an invalid ``$email``, in equal turns: missing ``@``, trailing dot, a space
  inside, no top-level domain (``name@example``), a trailing newline; and exactly one profile
  gets ``üñîçødé@exämple.com`` (issue ``unicode``, counted invalid: ASCII-only checks such as
  HubSpot's refuse it). people.csv gains ``email_valid`` and ``email_issue`` after ``email``,
  known by construction.
- ``event_names={"Purchase": "purchase", ...}`` [``--event-names MAP``, ``'Old=new,...'`` or a
  JSON file]: every event of both sources is written under its mapped name (unmapped names stay);
  summary.json ``events_by_name`` and ``funnel_visits`` use the written names, and "shape" holds
  the full mapping.

A planted campaign effect (Python only): ``campaign=Campaign(contacts, purchase_probability)``
(sandbox/campaign.py) gives each contacted person (user id -> when a sync sent them) one extra
Purchase with that probability in the days after their contact; everything before the first
planted event is written byte for byte as without it. summary.json "campaign" says who got one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from sandbox import catalog as cat
from sandbox.behaviour import MS_PER_HOUR, Shape, World, in_shard, simulate
from sandbox.campaign import Campaign, plant
from sandbox.faults import QUARANTINABLE, Fault, inject, terminated_early_probability
from sandbox.truth import (
    params_document,
    people_columns,
    people_rows,
    people_summary,
    source_stats,
    totals,
    write_csv,
)
from sandbox.writers import (
    UNICODE_EMAIL,
    AmplitudeRenderer,
    MixpanelRenderer,
    engage_pages,
    profile_emails,
    write_amplitude_zip,
    write_mixpanel_day,
)

TRUTH_FILES = ("params.json", "people.csv", "faults.csv", "summary.json")


@dataclass
class GenerationSummary:
    """What one ``generate`` call wrote. Per-source dicts are keyed "mixpanel" and "amplitude"."""

    out: str
    users: int
    days: int
    seed: int
    faults: float
    start: str
    people: int  # people with at least one exported event
    events: dict[str, int]  # lines written, including duplicates and faulty lines
    unique_events: dict[str, int]  # clean events (what a correct loader keeps)
    duplicates: dict[str, int]
    faulty_lines: dict[str, int]  # quarantinable lines (every fault kind except duplicate)
    profiles: int
    files: dict[str, int] = field(default_factory=dict)  # export files by kind
    files_written: int = 0  # all files, truth included
    seconds: float = 0.0
    shape: dict[str, object] = field(default_factory=dict)  # options that differ from the default
    campaign: dict[str, object] = field(default_factory=dict)  # what a planted campaign added

    @property
    def total_events(self) -> int:
        """Lines written over both sources."""
        return sum(self.events.values())

    def to_dict(self, deterministic: bool = False) -> dict[str, object]:
        """Plain dict. ``deterministic`` leaves out the run's folder and duration, so the copy in
        truth/summary.json is the same bytes for the same arguments wherever and whenever written."""
        d = asdict(self)
        if deterministic:
            del d["seconds"], d["out"]
        if not d["shape"]:  # the default shop: the summary as it always was
            del d["shape"]
        if not d["campaign"]:
            del d["campaign"]
        return d

    def describe_shape(self) -> str:
        """One line for people: what kind of data set this is."""
        o = self.shape
        if not o:
            return "a shop: revenue, $insert_id on every event, Mixpanel times in UTC"
        parts = []
        if o.get("revenue") is False:
            parts.append("no revenue (no Purchase/Refund events)")
        if o.get("insert_id") is False:
            parts.append("no $insert_id")
        if "mixpanel_timezone" in o:
            parts.append(f"Mixpanel project time zone {o['mixpanel_timezone']} (local times)")
        if "invalid_email_share" in o:
            parts.append(f"{o['invalid_email_share']:.1%} invalid profile emails + 1 unicode")
        if "event_names" in o:
            names = o["event_names"]
            assert isinstance(names, dict)
            renamed = [f"{k}={v}" for k, v in names.items() if k != v]
            parts.append("event names " + ", ".join(renamed))
        return "; ".join(parts)


@dataclass
class _Ledger:
    """Expected loader ledger per file and per partition (day)."""

    files: dict[str, dict[str, int]] = field(default_factory=dict)
    partitions: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=lambda: {s: {} for s in cat.SOURCES}
    )
    faults: list[tuple[str, str, int, str]] = field(default_factory=list)

    def add(
        self, source: str, day: str, rel: str, clean: int, lines: int, faults: list[Fault]
    ) -> None:
        dup = sum(f.kind == "duplicate" for f in faults)
        bad = sum(f.kind in QUARANTINABLE for f in faults)
        assert lines == clean + dup + bad
        row = {"lines": lines, "duplicates": dup, "quarantinable": bad, "valid": clean}
        self.files[rel] = row
        part = self.partitions[source].setdefault(day, dict.fromkeys(row, 0) | {"files": 0})
        for k, v in row.items():
            part[k] += v
        part["files"] += 1
        self.faults.extend((source, rel, f.line_number, f.kind) for f in faults)

    def totals(self, source: str) -> dict[str, int]:
        parts = self.partitions[source].values()
        return {
            k: sum(p[k] for p in parts) for k in ("lines", "duplicates", "quarantinable", "valid")
        }


def generate(
    out: Path,
    users: int = 2000,
    days: int = 30,
    seed: int = 0,
    faults: float = 0.0,
    start: date = date(2026, 1, 1),
    progress: Callable[[int, int], None] | None = None,
    *,
    revenue: bool = True,
    insert_id: bool = True,
    mixpanel_timezone: str = "UTC",
    invalid_email_share: float = 0.0,
    event_names: Mapping[str, str] | None = None,
    campaign: Campaign | None = None,
    shard: int = 0,
) -> GenerationSummary:
    """Write synthetic exports and their ground truth to ``out``; return what was written.

    ``faults`` is the rate of extra faulty lines per clean line (0 = clean files). ``progress``
    is called as ``progress(done_days, days)`` after each day's files are written. The
    keyword-only options choose the shape of the data (module docstring, "Shapes"); ``shard``
    moves the integer-numbered ids into a range of their own (sandbox/shards.py).
    """
    started = time.perf_counter()
    if not 0.0 <= faults <= 1.0:
        raise ValueError(f"faults is a rate between 0 and 1 (got {faults}); try --faults 0.01")
    shape = make_shape(
        revenue=revenue,
        insert_id=insert_id,
        mixpanel_timezone=mixpanel_timezone,
        invalid_email_share=invalid_email_share,
        event_names=event_names,
    )
    if start < date(1970, 1, 1):
        raise ValueError(f"start is {start}: epoch-second exports begin at 1970-01-01")
    out = Path(out)
    world = in_shard(simulate(users, days, start, seed, shape=shape), shard)
    planted = None
    if campaign is not None:  # a planted effect (sandbox/campaign.py), never in the default data
        world, planted = plant(world, campaign)
    mixpanel, amplitude = MixpanelRenderer(world), AmplitudeRenderer(world)
    e = world.events

    # Mixpanel files are per project-local day (UTC unless a time zone is set): a day may
    # spill into the day before the start or after the end
    mp = np.flatnonzero(e.source == cat.MIXPANEL)  # events are time-sorted already
    mp_day = (mixpanel.seconds[mp] - world.start_ms // 1000) // 86_400
    if mp.size and int(mixpanel.seconds[mp].min()) < 0:
        raise ValueError(
            f"start {start} with time zone {mixpanel_timezone} puts Mixpanel times before "
            "1970-01-01 local time; start a day later"
        )
    mp = mp[np.argsort(mp_day, kind="stable")]
    mp_day = np.sort(mp_day, kind="stable")
    first_day = min(0, int(mp_day[0])) if mp.size else 0
    last_day = max(days - 1, int(mp_day[-1])) if mp.size else days - 1
    mp_bounds = np.searchsorted(mp_day, np.arange(first_day, last_day + 2))
    dirs = _prepare(out)
    amp = np.flatnonzero(e.source == cat.AMPLITUDE)
    amp = amp[np.lexsort((amp, e.server_upload_ms[amp]))]  # by upload time: the export's window
    amp_hour = (e.server_upload_ms[amp] - world.start_ms) // MS_PER_HOUR
    amp_bounds = np.searchsorted(amp_hour, np.arange(days * 24 + 1))

    ledger = _Ledger()
    counts = {
        "mixpanel_days": 0,
        "mixpanel_profile_pages": 0,
        "amplitude_zips": 0,
        "amplitude_members": 0,
    }
    collisions = [0, 0]  # groups of cross-person identical Mixpanel events, events in them
    for d in range(first_day, last_day + 1):
        ds = (start + timedelta(days=d)).isoformat()
        lo, hi = mp_bounds[d - first_day], mp_bounds[d - first_day + 1]
        if hi > lo:
            rel = f"mixpanel/{ds}.jsonl"
            clean = mixpanel.render(mp[lo:hi], with_unmerged=faults > 0 and insert_id)
            rng = _fault_rng(seed, cat.MIXPANEL, d if d >= 0 else 1_000_000 - d, 0)
            terminated = faults > 0 and rng.random() < terminated_early_probability(faults)
            lines, fs = inject(clean, faults, rng, terminated=terminated, first_ms=world.start_ms)
            write_mixpanel_day(out / rel, lines)
            ledger.add("mixpanel", ds, rel, len(clean), len(lines), fs)
            counts["mixpanel_days"] += 1
            if not insert_id:
                groups, events_in = _cross_person_collisions(
                    clean.lines, clean.ident, e.person[mp[lo:hi]]
                )
                collisions[0] += groups
                collisions[1] += events_in
        if not 0 <= d < days:
            continue
        members = []
        zip_name = f"{cat.PROJECT_ID}_{ds}.zip"
        for h in range(24):
            lo, hi = amp_bounds[d * 24 + h], amp_bounds[d * 24 + h + 1]
            if hi == lo:
                continue
            member = f"{cat.PROJECT_ID}_{ds}_{h}#0.json.gz"
            clean = amplitude.render(amp[lo:hi])
            lines, fs = inject(
                clean, faults, _fault_rng(seed, cat.AMPLITUDE, d, h), first_ms=world.start_ms
            )
            members.append((member, h, lines))
            ledger.add(
                "amplitude", ds, f"amplitude/{zip_name}/{member}", len(clean), len(lines), fs
            )
        if members:
            day = start + timedelta(days=d)
            write_amplitude_zip(
                dirs["amplitude"] / zip_name, members, (day.year, day.month, day.day)
            )
            counts["amplitude_zips"] += 1
            counts["amplitude_members"] += len(members)
        if progress is not None:
            progress(d + 1, days)

    session_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x5E55])))
    session_id = f"{world.end_ms // 1000}-{int(session_rng.integers(0, 16**6)):06X}"
    pages = engage_pages(world, session_id)
    for page in pages:
        path = dirs["profiles"] / f"page-{page['page']:04d}.json"
        path.write_text(json.dumps(page, ensure_ascii=False) + "\n", encoding="utf-8")
    counts["mixpanel_profile_pages"] = len(pages)
    n_profiles = int(pages[0]["total"])  # type: ignore[arg-type]

    totals = {s: ledger.totals(s) for s in cat.SOURCES}
    people_seen = int(len(np.unique(e.person)))
    summary = GenerationSummary(
        out=str(out),
        users=users,
        days=days,
        seed=seed,
        faults=faults,
        start=start.isoformat(),
        people=people_seen,
        events={s: totals[s]["lines"] for s in cat.SOURCES},
        unique_events={s: totals[s]["valid"] for s in cat.SOURCES},
        duplicates={s: totals[s]["duplicates"] for s in cat.SOURCES},
        faulty_lines={s: totals[s]["quarantinable"] for s in cat.SOURCES},
        profiles=n_profiles,
        files=counts,
        files_written=counts["mixpanel_days"]
        + counts["mixpanel_profile_pages"]
        + counts["amplitude_zips"]
        + len(TRUTH_FILES),
        shape=shape.options(),
        campaign={} if planted is None else asdict(planted),
    )
    extra = _shape_truth(world, collisions) if summary.shape else None
    _write_truth(dirs["truth"], world, summary, ledger, extra)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _prepare(out: Path) -> dict[str, Path]:
    """Create the folders and remove files a previous run wrote (only names this module writes)."""
    dirs = {
        "mixpanel": out / "mixpanel",
        "profiles": out / "mixpanel" / "profiles",
        "amplitude": out / "amplitude",
        "truth": out / "truth",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    stale = [
        *dirs["mixpanel"].glob("????-??-??.jsonl"),
        *dirs["profiles"].glob("page-*.json"),
        *dirs["amplitude"].glob(f"{cat.PROJECT_ID}_????-??-??.zip"),
        *(dirs["truth"] / name for name in TRUTH_FILES),
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return dirs


def _fault_rng(seed: int, source: int, day: int, hour: int) -> np.random.Generator:
    """One independent fault stream per file: faults in one file never shift another's."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, 0xFA17, source, day, hour]))
    )


def make_shape(
    revenue: bool = True,
    insert_id: bool = True,
    mixpanel_timezone: str = "UTC",
    invalid_email_share: float = 0.0,
    event_names: Mapping[str, str] | None = None,
) -> Shape:
    """Check the shape options and return them as a :class:`Shape` (ValueError says what to fix)."""
    try:
        ZoneInfo(mixpanel_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {mixpanel_timezone!r}; give an IANA name such as "
            "America/Los_Angeles or Europe/Berlin"
        ) from None
    if not 0.0 <= invalid_email_share <= 1.0:
        raise ValueError(
            f"invalid email share is between 0 and 1 (got {invalid_email_share}); "
            "try --invalid-email-share 0.03"
        )
    names = dict(zip(cat.EVENT_NAMES, cat.EVENT_NAMES, strict=True))
    for old, new in (event_names or {}).items():
        if old not in names:
            raise ValueError(
                f"unknown event name {old!r} in the event-name map; the generator's names are "
                + ", ".join(cat.EVENT_NAMES)
            )
        if not isinstance(new, str) or not new.strip():
            raise ValueError(f"event {old!r} is mapped to an empty name")
        names[old] = new
    final = list(names.values())
    clashes = sorted({n for n in final if final.count(n) > 1})
    if clashes:
        raise ValueError(f"the event-name map gives two events the same name: {clashes}")
    return Shape(
        revenue=revenue,
        insert_id=insert_id,
        mixpanel_timezone=mixpanel_timezone,
        invalid_email_share=float(invalid_email_share),
        event_names=tuple(final),
    )


def parse_event_names(text: str) -> dict[str, str]:
    """``'View Item=product_view,Purchase=purchase'`` or the path of a JSON object file."""
    path = Path(text)
    if text.strip().endswith(".json") or path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the event-name map {text}: {exc}") from None
        if not isinstance(doc, dict):
            raise ValueError(f"{text} must hold a JSON object of old name -> new name")
        return {str(k): v for k, v in doc.items()}
    out = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        old, sep, new = pair.partition("=")
        if not sep:
            raise ValueError(
                f"event-name map entry {pair!r} has no '='; write 'View Item=product_view,...'"
            )
        out[old.strip()] = new.strip()
    return out


def _cross_person_collisions(
    lines: list[str], ident: list[str], person: np.ndarray
) -> tuple[int, int]:
    """Groups of lines that are equal except for the identity block and come from two or more
    people, and the lines in those groups."""
    people_of: dict[str, set[int]] = {}
    for line, block, who in zip(lines, ident, person.tolist(), strict=True):
        people_of.setdefault(line.replace(block, "", 1), set()).add(who)
    groups = [len(p) for p in people_of.values() if len(p) > 1]
    return len(groups), sum(groups)


def _shape_truth(world: World, collisions: list[int]) -> dict[str, object]:
    """summary.json "shape": the options and the numbers they give."""
    shape = world.shape
    doc: dict[str, object] = {"options": shape.options()}
    if not shape.revenue:
        doc["revenue"] = {"orders": 0, "revenue": 0.0, "purchase_events": 0, "refund_events": 0}
    if not shape.insert_id:
        doc["mixpanel_cross_person_collisions"] = collisions[0]
        doc["mixpanel_events_in_collisions"] = collisions[1]
        doc["collisions_note"] = (
            "groups of Mixpanel events equal in event, time and every property except the "
            "identity fields (distinct_id, $device_id, $user_id), from different people; "
            "a loader keeps every event of such a group"
        )
    if shape.mixpanel_timezone != "UTC":
        doc["mixpanel_time"] = (
            f"properties.time is local wall-clock seconds in {shape.mixpanel_timezone}; files "
            "and summary partitions are named by the local day; every time in people.csv and "
            "these totals are UTC"
        )
    if shape.invalid_email_share > 0:
        emails = profile_emails(world)
        issues = [issue for _, issue in emails.values()]
        by_issue = {k: issues.count(k) for k in sorted(set(issues)) if k}
        doc["emails"] = {
            "profiles": len(emails),
            "valid": issues.count(""),
            "invalid": len(issues) - issues.count(""),
            "invalid_share": round((len(issues) - issues.count("")) / max(len(issues), 1), 6),
            "by_issue": by_issue,
            "unicode_address": UNICODE_EMAIL,
            "note": "people.csv email_valid / email_issue per person (by construction)",
        }
    if "event_names" in doc["options"]:  # type: ignore[operator]
        doc["event_names"] = shape.event_name_map()
    return doc


def _write_truth(
    folder: Path,
    world: World,
    summary: GenerationSummary,
    ledger: _Ledger,
    shape: dict[str, object] | None = None,
) -> None:
    """params.json, people.csv, faults.csv, summary.json."""
    params = params_document(world, summary.faults)
    _write_json(folder / "params.json", params)
    write_csv(folder / "people.csv", people_columns(world), people_rows(world))
    rows = sorted(ledger.faults, key=lambda r: cat.SOURCES.index(r[0]))  # stable: file order kept
    write_csv(folder / "faults.csv", ("source", "file", "line_number", "kind"), rows)
    stats = source_stats(world)
    sources = {}
    for s in cat.SOURCES:
        t = ledger.totals(s)
        sources[s] = {
            "lines": t["lines"],
            "duplicates": t["duplicates"],
            "quarantinable": t["quarantinable"],
            "unique_events": t["valid"],
            **stats[s],
        }
    doc = {
        "generation": summary.to_dict(deterministic=True),
        "sources": sources,
        "totals": totals(stats),
        "people": people_summary(world),
        "profiles": {"count": summary.profiles, "pages": summary.files["mixpanel_profile_pages"]},
        "partitions": ledger.partitions,
        "files": ledger.files,
    }
    if shape is not None:
        doc["shape"] = shape
    _write_json(folder / "summary.json", doc)


def _write_json(path: Path, doc: dict[str, object]) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
