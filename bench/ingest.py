"""Ingest benchmark: Recur's loader against DuckDB's bare JSON scan and pandas, same files.

Each case runs in its own process so that its peak memory (ru_maxrss) is its own:

    python -m bench.ingest CASE EXPORTS WORKDIR    # prints one JSON line

EXPORTS are the benchmark's exports with faults (bench/faulty.py: about 1% bad lines and 1% exact
duplicates); the pandas cases, which cannot read a bad line, and ``duckdbclean`` are given the
clean exports.

Cases:

- ``recur-<source>``: validate, de-duplicate, quarantine and ledger every export day into a fresh
  warehouse file (``sources.loader.load_days``);
- ``recurrun-<source>``: ``recur run --select group:ingest`` on the exports folder (which should
  hold only ``<source>``), end to end in its own process: Python and Dagster start, the loader,
  the ledger checks; peak memory is the child's;
- ``duckdb-<source>``: ``create table as select * from read_ndjson(..., ignore_errors = true)``
  into a fresh file (bad lines skipped, duplicates kept), the practical limit here;
- ``duckdbclean-<source>``: the same on the clean exports (no bad lines, no duplicates);
- ``pandas-<source>``: ``pandas.read_json(lines=True)`` per file, concatenated, nested objects
  turned into JSON text and the frame written to a fresh DuckDB file, a load like the others;
- ``pandasread-<source>``: the ``read_json`` part alone.

Amplitude zips are unpacked for the baselines before timing; Recur's time includes unpacking.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

CASES = [
    f"{tool}-{source}"
    for source in ("mixpanel", "amplitude")
    for tool in ("recur", "recurrun", "duckdb", "duckdbclean", "pandas", "pandasread")
]
DEFAULT_CASES = [
    case for case in CASES if case.split("-")[0] in ("recur", "duckdb", "duckdbclean", "pandas")
]
# 3 Mixpanel days of about 300 MB each (the big-file shape, `python -m bench --shape big`).
BIG_CASES = ["recur-mixpanel", "recurrun-mixpanel", "duckdb-mixpanel", "duckdbclean-mixpanel"]
# Cases given the clean exports (pandas cannot read a bad line).
CLEAN_TOOLS = ("duckdbclean", "pandas", "pandasread")
RECUR = Path(sys.executable).with_name("recur")


def unpacked_amplitude(exports: Path, workdir: Path) -> list[Path]:
    """The Amplitude members as plain .json.gz files (for the baselines, which cannot read zips)."""
    folder = workdir / f"amplitude-members-{exports.name}"
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
    load_1m = os.getloadavg()[0]
    cpu = _cpu_seconds()
    started = time.perf_counter()
    runs = None
    if tool == "recurrun":
        events, runs = _recur_run(exports, workdir, database)
    elif tool == "recur":
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
    elif tool in ("duckdb", "duckdbclean"):
        import duckdb

        with duckdb.connect(str(database)) as con:
            paths = [str(f) for f in files]
            con.execute(
                "create table events as select * from read_ndjson(?, ignore_errors = true)",
                [paths],
            )
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
    peak = max(
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return {
        "case": case,
        "events": int(events),
        "seconds": round(seconds, 3),
        "ndjson_mb": round(ndjson_bytes(files) / 1e6, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "load_1m": round(load_1m, 2),
        "cpu_s": round(_cpu_seconds() - cpu, 2),
    } | ({"runs": runs} if runs else {})


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children: less moved by other
    work on the machine than wall time."""
    return sum(
        r.ru_utime + r.ru_stime
        for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def _recur_run(exports: Path, workdir: Path, database: Path) -> tuple[int, list]:
    """``recur run --select group:ingest`` in a fresh Dagster home: the events it loaded and
    (name, ok or FAILED, seconds) of each of its Dagster runs (a failed check fails a run, and
    the command goes on with the next)."""
    home = workdir / "dagster-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = os.environ | {
        "RECUR_EXPORTS": str(exports),
        "RECUR_WAREHOUSE": str(database),
        "RECUR_STATE": str(workdir / "state.duckdb"),
        "DAGSTER_HOME": str(home),
        "DO_NOT_TRACK": "1",
    }
    (workdir / "state.duckdb").unlink(missing_ok=True)
    done = subprocess.run(
        [str(RECUR), "run", "--select", "group:ingest"], env=env, capture_output=True, text=True
    )
    # "[1/2] mixpanel_days (3 days, ...): ok (12.3 s)": each Dagster run of the command
    runs = re.findall(r"^\[\d+/\d+\] (.*?): (ok|FAILED) \(([\d.]+) s\)$", done.stdout, re.M)
    if not runs:
        raise RuntimeError(f"recur run failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        events = con.execute(
            "select sum(loaded) from raw.load_ledger where source in ('mixpanel', 'amplitude')"
        ).fetchone()[0]
    return events, [(label.split(" (")[0], status, float(s)) for label, status, s in runs]


if __name__ == "__main__":
    case, exports, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(run_case(case, exports, workdir)))
