"""Exports too big to simulate at once, made in shards of people and merged into one folder.

``generate`` simulates the whole world in memory before it writes a file, about 410 bytes per
event: 50M events would need ~21 GB. ``generate_in_shards`` draws ``shards`` smaller worlds (seed
``seed + k``, the integer ids of shard k in their own range: :func:`sandbox.behaviour.in_shard`),
writes each under ``out/shards/<k>/`` and merges it into the layout of :mod:`sandbox.generate`
before drawing the next:

- ``mixpanel/<day>.jsonl``: the shards' lines of the day, shard after shard;
- ``amplitude/<project>_<day>.zip``: every shard's members, member ``..._<H>#<k>.json.gz`` from
  shard k (the export's part number, as the vendor splits a big hour);
- ``mixpanel/profiles/page-*.json``: every shard's profiles, paged again with one total;
- ``truth/summary.json``: the shards' counts added up ("generation"); each shard's own truth
  (people.csv, faults.csv, its summary) moves to ``truth/shard-<k>/``. Its file names and line
  numbers are those of the shard's own files: a merged Mixpanel day holds shard 0's lines first.

The shards' people never meet (no shared devices or ids), so each is a population of its own
sharing the calendar. Each shard's folder is removed once merged.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from sandbox import catalog as cat
from sandbox.generate import generate
from sandbox.writers import ENGAGE_PAGE_SIZE


def generate_in_shards(
    out: Path, users: int, days: int, seed: int, shards: int, **options: object
) -> dict[str, object]:
    """Write ``users`` people over ``days`` days in ``shards`` parts into ``out``; returns the
    merged "generation" summary (as in truth/summary.json). Each shard is merged and removed
    before the next is drawn, so the disk holds the exports and one shard at most."""
    if not 1 <= shards <= users:
        raise ValueError(f"shards is between 1 and the number of people (got {shards})")
    out = Path(out)
    for folder in ("mixpanel", "amplitude", "truth"):
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / "mixpanel" / "profiles").mkdir(parents=True)
    (out / "amplitude").mkdir()
    for k in range(shards):
        part = out / "shards" / str(k)
        people = users // shards + (1 if k < users % shards else 0)
        generate(part, users=people, days=days, seed=seed + k, shard=k, **options)  # type: ignore[arg-type]
        _absorb(part, out, k)
        shutil.move(part / "truth", out / "truth" / f"shard-{k}")
        shutil.rmtree(part)
    shutil.rmtree(out / "shards")
    _page_profiles(out / "mixpanel" / "profiles")
    summary = _merge_summaries(out, shards)
    (out / "truth" / "summary.json").write_text(
        json.dumps({"generation": summary, "shards": shards}, indent=2) + "\n"
    )
    return summary


def _absorb(part: Path, out: Path, k: int) -> None:
    """Add shard ``k``'s export files (folder ``part``) to the merged ones in ``out``."""
    for day in sorted((part / "mixpanel").glob("????-??-??.jsonl")):
        with day.open("rb") as lines, (out / "mixpanel" / day.name).open("ab") as merged:
            shutil.copyfileobj(lines, merged, 1 << 24)
    for name in sorted((part / "amplitude").glob("*.zip")):
        with (
            zipfile.ZipFile(name) as shard,
            zipfile.ZipFile(out / "amplitude" / name.name, "a", zipfile.ZIP_STORED) as merged,
        ):
            for info in shard.infolist():
                renamed = zipfile.ZipInfo(
                    info.filename.replace("#0.json.gz", f"#{k}.json.gz"), info.date_time
                )
                renamed.compress_type = zipfile.ZIP_STORED
                renamed.external_attr, renamed.create_system = info.external_attr, 3
                merged.writestr(renamed, shard.read(info))
    for page in sorted((part / "mixpanel" / "profiles").glob("page-*.json")):
        shutil.move(page, out / "mixpanel" / "profiles" / f"shard-{k:02d}-{page.name}")


def _page_profiles(folder: Path) -> None:
    """The shards' Engage pages as one paging: one total, pages numbered from 0."""
    shard_pages = sorted(folder.glob("shard-*-page-*.json"))
    docs = [json.loads(page.read_text(encoding="utf-8")) for page in shard_pages]
    results = [profile for doc in docs for profile in doc["results"]]
    for page in shard_pages:
        page.unlink()
    for k in range(len(results) // ENGAGE_PAGE_SIZE + 1):
        page = docs[0] | {
            "page": k,
            "total": len(results),
            "results": results[k * ENGAGE_PAGE_SIZE : (k + 1) * ENGAGE_PAGE_SIZE],
        }
        text = json.dumps(page, ensure_ascii=False) + "\n"
        (folder / f"page-{k:04d}.json").write_text(text, encoding="utf-8")


def _merge_summaries(out: Path, shards: int) -> dict[str, object]:
    docs = [
        json.loads((out / "truth" / f"shard-{k}" / "summary.json").read_text())["generation"]
        for k in range(shards)
    ]
    merged = dict(docs[0])
    for key in ("users", "people", "profiles"):
        merged[key] = sum(d[key] for d in docs)
    for key in ("events", "unique_events", "duplicates", "faulty_lines"):
        merged[key] = {s: sum(d[key][s] for d in docs) for s in cat.SOURCES}
    merged["files"] = {
        "mixpanel_days": len(list((out / "mixpanel").glob("????-??-??.jsonl"))),
        "mixpanel_profile_pages": merged["profiles"] // ENGAGE_PAGE_SIZE + 1,
        "amplitude_zips": len(list((out / "amplitude").glob("*.zip"))),
        "amplitude_members": sum(d["files"]["amplitude_members"] for d in docs),
    }
    merged.pop("files_written", None)
    return merged
