"""Exactly-once loading of one export day of one source into ``raw``.

A day is the unit of loading: all its files are read, validated and de-duplicated together, and
the day's rows, quarantine entries and ledger lines replace the previous ones in one transaction, so
re-loading a day changes nothing and a crash leaves the previous load in place. A day whose files
all have the fingerprints recorded in the ledger is skipped.

Every physical line read ends up in exactly one of three places, counted per file in
``raw.load_ledger``: the events table (loaded), nowhere (a duplicate of a loaded row), or
``raw.quarantine`` with a reason (``lines_read = loaded + duplicates + quarantined``).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from types import ModuleType

import duckdb

from sources import amplitude, inflation, layout, lines, mixpanel
from sources.errors import SourceError
from sources.settings import IngestSettings

SOURCES: dict[str, ModuleType] = {mixpanel.SOURCE: mixpanel, amplitude.SOURCE: amplitude}


@dataclass
class FileCounts:
    """One ledger line: what became of the lines of one file."""

    file: str
    lines_read: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass
class PartitionLoad:
    """The outcome of loading one export day of one source."""

    source: str
    day: date
    skipped: bool
    files: list[FileCounts] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines_read(self) -> int:
        return sum(f.lines_read for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def quarantined(self) -> int:
        return sum(f.quarantined for f in self.files)


def fingerprint(path: Path) -> str:
    """sha256 of a file's bytes (about 1.7 GB/s here, small next to parsing it)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _status(path: Path) -> tuple[int, int, int, int]:
    """What changes when a file's bytes do: its inode (a file replaced by another), size,
    modification time and change time (set by the system on every write, never by tools that
    restore modification times)."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


#: A file changed this recently is hashed but not recorded: the system stamps changes in ticks
#: of a few milliseconds, so a same-size rewrite in the tick of the hash could keep the status
#: recorded with the old bytes' hash (git's "racy clean" case). Settled files are recorded.
SETTLED_NS = 2 * 10**9


def hashes(con: duckdb.DuckDBPyConnection, paths: list[Path], *, remember: bool) -> dict[Path, str]:
    """The sha256 of each of ``paths``, read again only for files whose status differs from when
    ``raw.file_hashes`` recorded their hash: without it, telling which days changed read every
    export file of the history at every run (3.8 GB at 90 days of 10M events). ``remember``:
    record the hashes read of files that have settled (a writable connection)."""
    started = time.time_ns()
    names = {path: str(path.absolute()) for path in paths}  # a file listed twice is read once
    status = {path: _status(path) for path in names}
    try:
        rows = con.execute(
            "select path, inode, size, mtime_ns, ctime_ns, sha256 from raw.file_hashes "
            "where path in (select unnest(?))",
            [list(names.values())],
        ).fetchall()
    except duckdb.CatalogException:  # a warehouse from before the table
        rows = []
    known = {row[0]: (tuple(row[1:5]), row[5]) for row in rows}
    result: dict[Path, str] = {}
    read: list[Path] = []
    for path, name in names.items():
        recorded = known.get(name)
        if recorded and recorded[0] == status[path]:
            result[path] = recorded[1]
        else:
            result[path] = fingerprint(path)
            read.append(path)
    settled = [path for path in read if status[path][3] < started - SETTLED_NS]
    if remember and settled:
        con.execute(
            "insert or replace into raw.file_hashes "
            "select unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), unnest(?)",
            [
                [names[path] for path in settled],
                *([status[path][i] for path in settled] for i in range(4)),
                [result[path] for path in settled],
            ],
        )
    return result


def _recorded(con: duckdb.DuckDBPyConnection, source: str, day: date) -> set[tuple[str, str]]:
    rows = con.execute(
        "select distinct export_file, fingerprint from raw.load_ledger "
        "where source = ? and partition = ?",
        [source, day],
    ).fetchall()
    return set(rows)


def _ledger(con: duckdb.DuckDBPyConnection, source: str, day: date) -> list[FileCounts]:
    rows = con.execute(
        "select file, lines_read, loaded, duplicates, quarantined from raw.load_ledger "
        "where source = ? and partition = ? order by file",
        [source, day],
    ).fetchall()
    return [FileCounts(*row) for row in rows]


# Days are loaded in batches of about this much NDJSON text (inflated, as DuckDB reads it): enough
# rows for DuckDB to use every core (a day of a small project is far below its 122,880-row
# groups), and a peak memory of about four times this.
BATCH_BYTES = 256 * 2**20


@dataclass
class _Day:
    """One export day ready to load: its files' fingerprints and the plain files to read."""

    day: date
    prints: set[tuple[str, str]]
    to_read: list[lines.LineFile] = field(default_factory=list)
    # ledger file -> (export file, fingerprint); an empty zip is a ledger file of its own
    export_of: dict[str, tuple[layout.ExportFile, str]] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    text_bytes: int = 0


def _prepare(
    source: str,
    day: date,
    files: list[layout.ExportFile],
    prints: set[tuple[str, str]],
    folder: Path,
    settings: IngestSettings,
) -> _Day:
    """Inflate the compressed files of a day into ``folder`` (within the inflation limits), the
    files side by side."""
    fingerprints = dict(prints)
    prepared = _Day(day, prints)
    folder.mkdir(parents=True, exist_ok=True)

    def members(index: int, export: layout.ExportFile) -> list[tuple[Path, str]]:
        """The plain files to read of one export file, with their names in the ledger."""
        if source == amplitude.SOURCE:
            return amplitude.extract(export.path, export.name, folder / str(index), settings)
        if export.path.suffix == ".gz":
            target = folder / f"{index:05d}.jsonl"
            budget = inflation.Budget(export.name, export.path.stat().st_size, settings)
            with open(export.path, "rb") as handle:
                inflation.inflate(handle, target, export.name, budget)
            return [(target, export.name)]
        inflation.check_plain_file(export.path, export.name)
        return [(export.path, export.name)]

    unpacked = inflation.run_all([partial(members, i, export) for i, export in enumerate(files)])
    for export, found in zip(files, unpacked, strict=True):
        print_ = fingerprints[export.name]
        if not found:  # an empty zip is a ledger file of its own
            prepared.empty.append(export.name)
            prepared.export_of[export.name] = (export, print_)
        for path, name in found:
            prepared.to_read.append(lines.LineFile(path, name, day))
            prepared.export_of[name] = (export, print_)
            prepared.text_bytes += path.stat().st_size
    return prepared


def load_partition(
    con: duckdb.DuckDBPyConnection,
    exports: Path,
    source: str,
    day: date,
    *,
    force: bool = False,
    settings: IngestSettings | None = None,
) -> PartitionLoad:
    """Load (or re-load) every export file of ``source`` for ``day``; skip it when unchanged."""
    return load_days(con, exports, source, [day], force=force, settings=settings)[0]


def _prints(
    files: list[layout.ExportFile], source: str, settings: IngestSettings, known: dict[Path, str]
) -> set:
    """(name, fingerprint) of each file as the ledger records them, from its hash in ``known``.
    Settings that change what a file loads as are part of its fingerprint, so changing one
    reloads the days loaded under another."""
    return {(f.name, known[f.path] + settings.ledger_tag(source)) for f in files}


def days_to_load(
    con: duckdb.DuckDBPyConnection,
    exports: Path,
    source: str,
    days: list[date],
    settings: IngestSettings | None = None,
) -> list[date]:
    """The days of ``days`` that :func:`load_days` would load rather than skip: their files are
    new or changed since the ledger recorded them (a day whose files are gone is kept as is)."""
    settings = settings or IngestSettings()
    all_files = layout.export_files(exports, source)
    inside = {
        day: all(layout.is_inside(exports, f.path) for f in all_files[day])
        for day in days
        if all_files.get(day)
    }
    # a link out of the folder counts as changed: the load refuses it, with its message
    known = hashes(
        con, [f.path for day, ok in inside.items() if ok for f in all_files[day]], remember=False
    )
    return [
        day
        for day, ok in inside.items()
        if not ok or _prints(all_files[day], source, settings, known) != _recorded(con, source, day)
    ]


def load_days(
    con: duckdb.DuckDBPyConnection,
    exports: Path,
    source: str,
    days: list[date],
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    settings: IngestSettings | None = None,
) -> list[PartitionLoad]:
    """Load (or re-load) the export days ``days`` of ``source``; unchanged days are skipped.

    ``progress(done, total)`` is called with the days done so far, after each batch.
    ``settings`` (the earliest accepted day, the Mixpanel project's time zone) default to
    ``IngestSettings()``; callers read them from the environment with ``IngestSettings.from_env``.
    Days loaded under other settings are re-loaded (the settings are part of the fingerprints
    recorded in the ledger).

    ``con`` must be a writable warehouse connection with the raw schema in place. Days are read,
    validated and de-duplicated in batches; each batch replaces its days in one transaction.
    """
    settings = settings or IngestSettings()
    all_files = layout.export_files(exports, source)
    results: dict[date, PartitionLoad] = {}
    batch: list[_Day] = []
    batch_bytes = 0
    for day in days:
        for f in all_files.get(day, []):
            layout.check_inside(exports, f.path)
    # Every file of the folder, not only these days': a file hashed once is not read again by
    # `days_to_load` (a warehouse from before raw.file_hashes gets its history hashed once here).
    folder_files = [f.path for files in all_files.values() for f in files]
    known = hashes(con, [p for p in folder_files if layout.is_inside(exports, p)], remember=True)
    with tempfile.TemporaryDirectory(prefix="recur-") as tmp:
        for day in days:
            files = all_files.get(day, [])
            prints = _prints(files, source, settings, known)
            # A day whose files are gone keeps what it loaded: exports are often pruned after loading.
            if not files or (not force and prints == _recorded(con, source, day)):
                results[day] = PartitionLoad(source, day, True, _ledger(con, source, day))
                continue
            folder = Path(tmp) / day.isoformat()
            prepared = _prepare(source, day, files, prints, folder, settings)
            # A day that would take the batch past its size starts the next one: a big day is a
            # batch of its own, never on top of others.
            if batch and batch_bytes + prepared.text_bytes > BATCH_BYTES:
                results.update(_load_batch(con, source, batch, settings, Path(tmp)))
                batch, batch_bytes = [], 0
                _clear(Path(tmp), keep=folder)
                if progress and len(results) < len(days):
                    progress(len(results), len(days))
            batch.append(prepared)
            batch_bytes += prepared.text_bytes
        if batch:
            results.update(_load_batch(con, source, batch, settings, Path(tmp)))
    if progress:
        progress(len(days), len(days))
    return [results[day] for day in days]


def _clear(folder: Path, keep: Path) -> None:
    """Remove the inflated files of a loaded batch (``keep``: the next day's)."""
    for path in folder.iterdir():
        if path != keep:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    source: str,
    batch: list[_Day],
    settings: IngestSettings,
    scratch: Path,
) -> dict[date, PartitionLoad]:
    started = time.perf_counter()
    module = SOURCES[source]
    export_of = {name: e for d in batch for name, e in d.export_of.items()}
    read = lines.read(con, [f for d in batch for f in d.to_read], scratch)
    counts = {name: FileCounts(name, lines_read=n) for name, n in read.items()}
    counts |= {name: FileCounts(name) for d in batch for name in d.empty}
    con.execute(*module.parse_sql(settings))
    lines.drop_text(con)  # the parsed rows hold what is kept of the text: free it before writing
    # Duplicates are few: find the keys held by more than one valid row on a narrow projection,
    # then rank only the rows holding them and keep the rest by anti-join, so the wide rows are
    # never sorted or windowed (this halves the load time of a 1M-event day).
    shared = " or ".join(
        f"""({", ".join(["partition", *key])}) in (
            select ({", ".join(["partition", *key])}) from _parsed
            where reason is null and {" and ".join(f"{c} is not null" for c in key)}
            group by all having count(*) > 1)"""
        for key in module.DEDUP_KEYS
    )
    con.execute(
        f"""
        create or replace temp table _duplicates as
        select file, line_number from (
            select file, line_number, {module.duplicate_sql()} as is_duplicate
            from _parsed where reason is null and ({shared}))
        where is_duplicate
        """
    )
    outcomes = """
        select file, 'quarantined' as outcome, count(*) as n from _parsed
        where reason is not null group by file
        union all select file, 'quarantined', count(*) from _line_rejects group by file
        union all select file, 'duplicates', count(*) from _duplicates group by file
        union all select file, 'loaded', count(*) from _parsed
        where reason is null group by file
    """
    for name, outcome, n in con.execute(outcomes).fetchall():
        setattr(counts[name], outcome, getattr(counts[name], outcome) + n)
    for c in counts.values():
        c.loaded -= c.duplicates
        if c.lines_read != c.loaded + c.duplicates + c.quarantined:
            raise SourceError(f"ledger does not balance for {c.file}: {c}")  # a bug, never data

    days = [d.day for d in batch]
    con.execute("begin transaction")
    try:
        con.execute(f"delete from {module.TABLE} where partition in (select unnest(?))", [days])
        con.execute(
            "delete from raw.quarantine where source = ? and partition in (select unnest(?))",
            [source, days],
        )
        con.execute(
            "delete from raw.load_ledger where source = ? and partition in (select unnest(?))",
            [source, days],
        )
        con.execute(
            f"""insert into {module.TABLE} ({module.COLUMNS}, partition, source_file, line_number,
                                            loaded_at)
                select {module.COLUMNS}, partition, file, line_number, now()::timestamp
                from _parsed p where reason is null and not exists (
                    select 1 from _duplicates d
                    where d.file = p.file and d.line_number = p.line_number)"""
        )
        con.execute(
            """insert into raw.quarantine
               select ?, file, line_number, line, reason, partition, now()::timestamp from (
                   select file, partition, line_number, line, reason from _parsed
                   where reason is not null
                   union all select file, partition, line_number, line, reason from _line_rejects)
               order by file, line_number""",
            [source],
        )
        ledger = sorted(counts.values(), key=lambda c: c.file)
        con.execute(
            """insert into raw.load_ledger
               select ?, unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), unnest(?),
                      now()::timestamp, unnest(?), unnest(?)""",
            [
                source,
                [c.file for c in ledger],
                [export_of[c.file][0].day for c in ledger],
                [c.lines_read for c in ledger],
                [c.loaded for c in ledger],
                [c.duplicates for c in ledger],
                [c.quarantined for c in ledger],
                [export_of[c.file][0].name for c in ledger],
                [export_of[c.file][1] for c in ledger],
            ],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists _parsed; drop table if exists _duplicates")
        lines.drop(con)
    seconds = time.perf_counter() - started
    per_day: dict[date, list[FileCounts]] = {day: [] for day in days}
    for c in sorted(counts.values(), key=lambda c: c.file):
        per_day[export_of[c.file][0].day].append(c)
    # Each day of a batch is reported with the batch's time shared out by its lines.
    total = sum(c.lines_read for c in counts.values()) or 1
    return {
        day: PartitionLoad(
            source, day, False, files, seconds * sum(c.lines_read for c in files) / total
        )
        for day, files in per_day.items()
    }
