"""Synthetic Mixpanel and Amplitude exports with ground truth: ``generate(out, ...)``.

Layout written under ``out`` (other code depends on it)::

    mixpanel/YYYY-MM-DD.jsonl                       raw-export lines, one file per UTC event day
    mixpanel/profiles/page-0000.json, ...           Engage API response pages
    amplitude/187520_YYYY-MM-DD.zip                 per UTC upload day; members
        187520_YYYY-MM-DD_<H>#0.json.gz             gzip NDJSON per upload hour H (no padding)
    truth/params.json, people.csv, faults.csv, summary.json

The same arguments give byte-identical files. Faults are extra lines (see :mod:`sandbox.faults`),
so the clean events and all truth about people and purchases do not depend on the fault rate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sandbox import catalog as cat
from sandbox.behaviour import MS_PER_DAY, MS_PER_HOUR, World, simulate
from sandbox.faults import QUARANTINABLE, Fault, inject, terminated_early_probability
from sandbox.truth import (
    PEOPLE_COLUMNS,
    params_document,
    people_rows,
    people_summary,
    source_stats,
    totals,
    write_csv,
)
from sandbox.writers import (
    AmplitudeRenderer,
    MixpanelRenderer,
    engage_pages,
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
        return d


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
) -> GenerationSummary:
    """Write synthetic exports and their ground truth to ``out``; return what was written.

    ``faults`` is the rate of extra faulty lines per clean line (0 = clean files). ``progress``
    is called as ``progress(done_days, days)`` after each day's files are written.
    """
    started = time.perf_counter()
    if not 0.0 <= faults <= 1.0:
        raise ValueError(f"faults is a rate between 0 and 1 (got {faults}); try --faults 0.01")
    out = Path(out)
    world = simulate(users, days, start, seed)
    dirs = _prepare(out)
    mixpanel, amplitude = MixpanelRenderer(world), AmplitudeRenderer(world)
    e = world.events

    mp = np.flatnonzero(e.source == cat.MIXPANEL)  # events are time-sorted already
    mp_bounds = np.searchsorted((e.time_ms[mp] - world.start_ms) // MS_PER_DAY, np.arange(days + 1))
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
    for d in range(days):
        ds = (start + timedelta(days=d)).isoformat()
        lo, hi = mp_bounds[d], mp_bounds[d + 1]
        if hi > lo:
            rel = f"mixpanel/{ds}.jsonl"
            clean = mixpanel.render(mp[lo:hi], with_unmerged=faults > 0)
            rng = _fault_rng(seed, cat.MIXPANEL, d, 0)
            terminated = faults > 0 and rng.random() < terminated_early_probability(faults)
            lines, fs = inject(clean, faults, rng, terminated=terminated)
            write_mixpanel_day(out / rel, lines)
            ledger.add("mixpanel", ds, rel, len(clean), len(lines), fs)
            counts["mixpanel_days"] += 1
        members = []
        zip_name = f"{cat.PROJECT_ID}_{ds}.zip"
        for h in range(24):
            lo, hi = amp_bounds[d * 24 + h], amp_bounds[d * 24 + h + 1]
            if hi == lo:
                continue
            member = f"{cat.PROJECT_ID}_{ds}_{h}#0.json.gz"
            clean = amplitude.render(amp[lo:hi])
            lines, fs = inject(clean, faults, _fault_rng(seed, cat.AMPLITUDE, d, h))
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
    )
    _write_truth(dirs["truth"], world, summary, ledger)
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


def _write_truth(folder: Path, world: World, summary: GenerationSummary, ledger: _Ledger) -> None:
    """params.json, people.csv, faults.csv, summary.json."""
    params = params_document(world, summary.faults)
    _write_json(folder / "params.json", params)
    write_csv(folder / "people.csv", PEOPLE_COLUMNS, people_rows(world))
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
    _write_json(folder / "summary.json", doc)


def _write_json(path: Path, doc: dict[str, object]) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
