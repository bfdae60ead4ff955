"""Ingest benchmark: Recur's loader against DuckDB's bare JSON scan and pandas, same files.

Each case runs in its own process so that its peak memory (ru_maxrss) is its own:

    python -m bench.ingest CASE EXPORTS WORKDIR    # prints one JSON line

Cases:

- ``recur-<source>``: validate, de-duplicate, quarantine and ledger every export day into a fresh
  warehouse file (``sources.loader.load_days``);
- ``duckdb-<source>``: ``create table as select * from read_ndjson(...)`` into a fresh file, the
  practical limit here;
- ``pandas-<source>``: ``pandas.read_json(lines=True)`` per file, concatenated, nested objects
  turned into JSON text and the frame written to a fresh DuckDB file, a load like the others;
- ``pandasread-<source>``: the ``read_json`` part alone.

Amplitude zips are unpacked for the baselines before timing; Recur's time includes unpacking.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import zipfile
from pathlib import Path

CASES = [
    f"{tool}-{source}"
    for source in ("mixpanel", "amplitude")
    for tool in ("recur", "duckdb", "pandas", "pandasread")
]
DEFAULT_CASES = [case for case in CASES if not case.startswith("pandasread")]


def unpacked_amplitude(exports: Path, workdir: Path) -> list[Path]:
    """The Amplitude members as plain .json.gz files (for the baselines, which cannot read zips)."""
    folder = workdir / "amplitude-members"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        for archive_path in sorted((exports / "amplitude").glob("*.zip")):
            with zipfile.ZipFile(archive_path) as archive:
                for info in archive.infolist():
                    target = folder / f"{archive_path.stem}-{info.filename.replace('#', '_')}"
                    target.write_bytes(archive.read(info))
    return sorted(folder.glob("*.json.gz"))


def input_files(source: str, exports: Path, workdir: Path) -> list[Path]:
    if source == "mixpanel":
        return sorted((exports / "mixpanel").glob("*.jsonl"))
    return unpacked_amplitude(exports, workdir)


def ndjson_bytes(files: list[Path]) -> int:
    """Uncompressed size of the NDJSON text (gzip's trailer holds it modulo 4 GiB)."""
    total = 0
    for f in files:
        if f.suffix == ".gz":
            with open(f, "rb") as handle:
                handle.seek(-4, 2)
                total += int.from_bytes(handle.read(4), "little")
        else:
            total += f.stat().st_size
    return total


def run_case(case: str, exports: Path, workdir: Path) -> dict:
    tool, source = case.split("-")
    files = input_files(source, exports, workdir)
    database = workdir / f"{case}.duckdb"
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    if tool == "recur":
        from sources import layout
        from sources.loader import load_days
        from sources.settings import IngestSettings
        from sources.warehouse import connect, ensure_raw_schema

        # As a run would load them (RECUR_EARLIEST_EVENT, RECUR_MIXPANEL_TIMEZONE).
        settings = IngestSettings.from_env(os.environ)
        with connect(database) as con:
            ensure_raw_schema(con)
            days = layout.export_days(exports, source)
            loads = load_days(con, exports, source, days, settings=settings)
            events = sum(r.loaded for r in loads)
    elif tool == "duckdb":
        import duckdb

        with duckdb.connect(str(database)) as con:
            paths = [str(f) for f in files]
            con.execute("create table events as select * from read_ndjson(?)", [paths])
            events = con.execute("select count(*) from events").fetchone()[0]
    else:
        import duckdb
        import pandas as pd

        frame = pd.concat([pd.read_json(f, lines=True) for f in files], ignore_index=True)
        if tool == "pandas":  # a load, like the others: nested objects as JSON text, into DuckDB
            for column in frame.columns:
                if frame[column].map(lambda v: isinstance(v, dict | list)).any():
                    frame[column] = frame[column].map(json.dumps)
            with duckdb.connect(str(database)) as con:
                con.execute("create table events as select * from frame")
        events = len(frame)
    seconds = time.perf_counter() - started
    database.unlink(missing_ok=True)
    return {
        "case": case,
        "events": int(events),
        "seconds": round(seconds, 3),
        "ndjson_mb": round(ndjson_bytes(files) / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    case, exports, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(run_case(case, exports, workdir)))
