"""Recur beside the peer, Fivetran's dbt_mixpanel, on the same Mixpanel export files (issue 14).

    python -m bench.peer --peer-dir DIR --dbt-utils-dir DIR [--fivetran-utils-dir DIR]
                         [--exports DIR] [--rounds 2] [--name NAME] [--stop-by HH:MM]
    python -m bench.peer report

One export folder's Mixpanel daily NDJSON files (``EXPORTS/mixpanel/*.jsonl``), two sides, run
alternately (Recur, peer, Recur, peer, ...) so that they share the machine's conditions:

- **Recur**: ``recur run --select "group:ingest or group:staging or group:intermediate or
  group:core"`` with a fresh warehouse, state file and ``DAGSTER_HOME`` (one path,
  ``bench/out/peer/<name>/recur/``, emptied before each round; dbt's parse made for it before the
  rounds, as the peer's), and ``RECUR_EXPORTS`` pointing at a folder that holds only the
  Mixpanel files (hard links to ``EXPORTS/mixpanel``);
- **peer**: a bare DuckDB load of the files into the table Fivetran's Mixpanel connector writes
  (``mixpanel.event``, one ``create table as select ... from read_ndjson(...)``: see
  ``connector_select``), then ``dbt build`` of the peer project with our dbt-duckdb, under
  ``faketime`` as on the day after the last export day (the peer's date spine runs from each
  person's first event to a week after the build's date; ``--real-date`` builds on today's date,
  ``--as-is-round`` adds one such peer round after the others). Its DuckDB memory cap is the one
  Recur's dbt profile sets (``RECUR_DUCKDB_MEMORY_LIMIT``, 8GB by default).

The peer is not part of this repository. ``--peer-dir`` is a checkout of fivetran/dbt_mixpanel
(e.g. ``git --git-dir=... archive v0.17.1 | tar -x -C DIR``), ``--dbt-utils-dir`` one of
dbt-labs/dbt-utils and ``--fivetran-utils-dir`` one of fivetran/dbt_fivetran_utils; the run copies
the peer into ``bench/out/peer/<name>/project`` (gitignored), points its ``packages.yml`` at the
two checkouts with ``local:`` entries (dbt's package hub cannot be reached from here) and runs
``dbt deps`` and a warm-up ``dbt parse`` there before the timed rounds. Without
``--fivetran-utils-dir`` the fivetran_utils macros are rebuilt from the peer's own
``docs/manifest.json`` (the macros the peer's release was documented with), for when no tagged
checkout of fivetran_utils has the macros the peer calls.

Every step is timed by ``bench.dbt_build.measured`` (wall, CPU of the process tree, peak RSS of its
largest process, 1-minute load average at its start). Results: ``bench/out/peer.json``, one entry
per ``--name``, written after each round; ``python -m bench.peer report`` writes the "peer results"
block of docs/benchmarks.md from it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.dbt_build import measured

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- peer results: start -->", "<!-- peer results: end -->"
RECUR = Path(sys.executable).with_name("recur")
DBT = Path(sys.executable).with_name("dbt")
FAKETIME = Path("/usr/bin/faketime")  # Debian's faketime (libfaketime)
PREPARE = "from orchestration.dbt_project import prepare; prepare(for_dbt=True)"
MEMORY_LIMIT = os.environ.get("RECUR_DUCKDB_MEMORY_LIMIT") or "8GB"
RECUR_SELECT = "group:ingest or group:staging or group:intermediate or group:core"

# The connector table's columns (the peer's src_mixpanel.yml and integration_tests/seeds/event.csv)
# that a raw export line can fill: column -> (property of the line, DuckDB type). The connector
# keeps the properties it has no column for in ``properties`` (JSON text).
CONNECTOR_COLUMNS: dict[str, tuple[str, str]] = {
    "distinct_id": ("distinct_id", "VARCHAR"),
    "insert_id": ("$insert_id", "VARCHAR"),
    "mp_processing_time_ms": ("mp_processing_time_ms", "BIGINT"),
    "device_id": ("$device_id", "VARCHAR"),
    "city": ("$city", "VARCHAR"),
    "region": ("$region", "VARCHAR"),
    "mp_country_code": ("mp_country_code", "VARCHAR"),
    "os": ("$os", "VARCHAR"),
    "os_version": ("$os_version", "VARCHAR"),
    "browser": ("$browser", "VARCHAR"),
    "browser_version": ("$browser_version", "DOUBLE"),
    "mp_lib": ("mp_lib", "VARCHAR"),
    "lib_version": ("$lib_version", "VARCHAR"),
    "initial_referrer": ("$initial_referrer", "VARCHAR"),
    "initial_referring_domain": ("$initial_referring_domain", "VARCHAR"),
    "current_url": ("$current_url", "VARCHAR"),
    "referrer": ("$referrer", "VARCHAR"),
    "referring_domain": ("$referring_domain", "VARCHAR"),
    "search_engine": ("$search_engine", "VARCHAR"),
    "screen_width": ("$screen_width", "BIGINT"),
    "screen_height": ("$screen_height", "BIGINT"),
    "screen_dpi": ("$screen_dpi", "BIGINT"),
    "app_version_string": ("$app_version_string", "VARCHAR"),
    "app_build_number": ("$app_build_number", "VARCHAR"),
    "app_release": ("$app_release", "VARCHAR"),
    "app_version": ("$app_version", "VARCHAR"),
    "manufacturer": ("$manufacturer", "VARCHAR"),
    "model": ("$model", "VARCHAR"),
    "brand": ("$brand", "VARCHAR"),
    "device": ("$device", "VARCHAR"),
    "mp_device_model": ("mp_device_model", "VARCHAR"),
    "carrier": ("$carrier", "VARCHAR"),
    "radio": ("$radio", "VARCHAR"),
    "wifi": ("$wifi", "BOOLEAN"),
    "bluetooth_enabled": ("$bluetooth_enabled", "BOOLEAN"),
    "bluetooth_version": ("$bluetooth_version", "VARCHAR"),
    "has_nfc": ("$has_nfc", "BOOLEAN"),
    "has_telephone": ("$has_telephone", "BOOLEAN"),
    "google_play_services": ("$google_play_services", "VARCHAR"),
    "ios_ifa": ("$ios_ifa", "VARCHAR"),
    "had_persisted_distinct_id": ("$had_persisted_distinct_id", "BOOLEAN"),
    "distinct_id_before_identity": ("$distinct_id_before_identity", "VARCHAR"),
    "mp_keyword": ("mp_keyword", "VARCHAR"),
    "ae_session_length": ("$ae_session_length", "VARCHAR"),
}


def connector_select(files: str = "$files") -> str:
    """``select`` turning raw export lines (``{"event": ..., "properties": {...}}``) into rows of
    the connector's ``event`` table. ``time`` (epoch seconds, UTC here: the generator's and Recur's
    default) becomes a timestamp; ``_fivetran_id`` is an md5 of the line's identity (the
    connector's own id is opaque); ``_fivetran_synced`` the load's time."""
    shape = {"time": "BIGINT"} | {prop: kind for prop, kind in CONNECTOR_COLUMNS.values()}
    known = json.dumps({prop: None for prop in shape})  # merge-patch nulls drop these keys
    typed = ",\n        ".join(
        f'p."{prop}" as {column}' for column, (prop, _) in CONNECTOR_COLUMNS.items()
    )
    return f"""
select
    filename as _file,
    md5(concat_ws('|', name, p.distinct_id, p."$insert_id", p.time)) as _fivetran_id,
    name,
    make_timestamp(p.time * 1000000) as time,
    {typed},
    json_merge_patch(properties, '{known}')::varchar as properties,
    current_timestamp::timestamp as _fivetran_synced
from (
    select
        filename,
        event as name,
        properties,
        json_transform(properties, '{json.dumps(shape)}') as p
    from read_ndjson({files}, columns = {{'event': 'VARCHAR', 'properties': 'JSON'}},
                     filename = true)
)"""


def load(files: list[str], database: Path) -> dict:
    """The peer's load: the export files into ``mixpanel.event`` of a fresh DuckDB file."""
    import duckdb

    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as con:
        con.execute("create schema mixpanel")
        con.execute(f"create table mixpanel.event as {connector_select()}", {"files": files})
        return {"rows": con.execute("select count(*) from mixpanel.event").fetchone()[0]}


# --- the peer project ---------------------------------------------------------------------------


def fivetran_utils_from_manifest(peer_dir: Path, target: Path) -> Path:
    """fivetran_utils rebuilt from the macros in the peer's ``docs/manifest.json`` (one file per
    original file, the macros in it in manifest order), with a ``packages.yml`` left out: the
    project's own lists dbt_utils."""
    manifest = json.loads((peer_dir / "docs" / "manifest.json").read_text())
    if target.exists():
        shutil.rmtree(target)
    files: dict[str, list[str]] = {}
    for macro in manifest["macros"].values():
        if macro["package_name"] == "fivetran_utils":
            files.setdefault(macro["original_file_path"], []).append(macro["macro_sql"])
    for path, macros in files.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_text("\n\n".join(macros) + "\n")
    (target / "dbt_project.yml").write_text(
        "name: 'fivetran_utils'\nversion: '0.4.0'\nconfig-version: 2\n"
        "require-dbt-version: ['>=1.3.0', '<3.0.0']\n"
    )
    return target


def prepare_project(
    peer_dir: Path, dbt_utils_dir: Path, fivetran_utils_dir: Path, work: Path
) -> Path:
    """A copy of the peer under ``work/project`` whose packages are the local checkouts, with a
    profile for the peer's warehouse file; ``dbt deps`` and a warm-up ``dbt parse`` run there."""
    project = work / "project"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(
        peer_dir, project, ignore=shutil.ignore_patterns("docs", "integration_tests", ".github")
    )
    # fivetran_utils' own packages.yml asks dbt's hub for dbt_utils: a copy without it, as the
    # project lists dbt_utils itself.
    fivetran_utils = work / "fivetran_utils"
    if fivetran_utils.exists():
        shutil.rmtree(fivetran_utils)
    shutil.copytree(fivetran_utils_dir, fivetran_utils)
    (fivetran_utils / "packages.yml").unlink(missing_ok=True)
    (project / "packages.yml").write_text(
        f"packages:\n  - local: {fivetran_utils.resolve()}\n  - local: {dbt_utils_dir.resolve()}\n"
    )
    (project / "profiles.yml").write_text(
        "peer:\n  target: bench\n  outputs:\n    bench:\n      type: duckdb\n"
        f"      path: {work.resolve() / 'peer.duckdb'}\n      threads: 2\n"
        # the cap Recur's own dbt profile sets (RECUR_DUCKDB_MEMORY_LIMIT, 8GB by default)
        f"      settings:\n        memory_limit: '{MEMORY_LIMIT}'\n"
    )
    env = peer_env(work)
    for verb in ("deps", "parse"):
        command = dbt_command(verb, project, work)
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"dbt {verb} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return project


def dbt_command(verb: str, project: Path, work: Path) -> list[str]:
    command = [str(DBT), verb, "--project-dir", str(project), "--profiles-dir", str(project)]
    if verb != "deps":
        command += ["--profile", "peer", "--target-path", str(work / "target")]
    return command


def peer_env(work: Path) -> dict[str, str]:
    return os.environ | {"DO_NOT_TRACK": "1", "DBT_LOG_PATH": str(work / "logs")}


# --- the two sides -----------------------------------------------------------------------------


def mixpanel_only(exports: Path, work: Path) -> Path:
    """An export folder holding only ``EXPORTS/mixpanel`` (hard links: Recur refuses symbolic
    links that lead out of its export folder; copies where hard links cannot be made)."""
    folder = work / "exports"
    if not folder.is_dir():
        for path in sorted((exports / "mixpanel").rglob("*")):
            if path.is_file():
                target = folder / path.relative_to(exports)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copy2(path, target)
    return folder


def recur_env(exports: Path, work: Path, code: Path = ROOT) -> dict[str, str]:
    """The environment of Recur's rounds: one warehouse, state file and ``DAGSTER_HOME`` path in
    ``work/recur``, emptied before each round. One path, as a team's daily runs use: dbt keeps
    its parse only for the warehouse path it was made with, and a new path per round would time
    a whole ``dbt parse`` (about 10 s here) that the peer's warm-up spares the peer."""
    folder = work / "recur"
    env = os.environ | {
        "RECUR_EXPORTS": str(mixpanel_only(exports, work)),
        "RECUR_WAREHOUSE": str(folder / "warehouse.duckdb"),
        "RECUR_STATE": str(folder / "state.duckdb"),
        "DAGSTER_HOME": str(folder / "dagster-home"),
        "DO_NOT_TRACK": "1",
    }
    if code != ROOT:  # another checkout's code (``git archive``), first on sys.path
        env["PYTHONPATH"] = str(code)
    return env


def recur_side(exports: Path, work: Path, round_: int, code: Path = ROOT) -> dict:
    """``recur run`` of ingest and core on the Mixpanel files alone, everything fresh."""
    env = recur_env(exports, work, code)
    folder = work / "recur"
    if folder.exists():
        shutil.rmtree(folder)
    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    shutil.copy(ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    database = Path(env["RECUR_WAREHOUSE"])
    log = work / f"recur-run-{round_}.log"
    step = measured([str(RECUR), "run", "--select", RECUR_SELECT], log, env)
    text = log.read_text()
    runs = re.findall(r"^\[\d+/\d+\] (.*?): (ok|FAILED) \(([\d.]+) s\)$", text, re.M)
    if not runs or any(status != "ok" for _, status, _ in runs):
        raise RuntimeError(f"recur run did not succeed; see {log}:\n{text[-3000:]}")
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        step["events_loaded"] = con.execute(
            "select sum(loaded) from raw.load_ledger where source = 'mixpanel'"
        ).fetchone()[0]
        step["rows"] = {
            table: con.execute(f"select count(*) from core.{table}").fetchone()[0]
            for table in ("fct_events", "fct_sessions", "fct_orders", "dim_users")
        }
    step["runs"] = [(label.split(" (")[0], float(s)) for label, _, s in runs]
    step["warehouse_mb"] = round(database.stat().st_size / 1e6)
    database.unlink()  # counted; at 10M events each round's file is several GB
    return step


def peer_side(
    exports: Path, project: Path, work: Path, round_: int | str, today: str | None
) -> dict:
    """The bare load into the connector's table, then the peer's ``dbt build``, a fresh file."""
    database = work / "peer.duckdb"
    for stale in (database, work / "peer.duckdb.wal"):
        stale.unlink(missing_ok=True)
    files = [str(f) for f in sorted((exports / "mixpanel").glob("*.jsonl"))]
    (work / "files.json").write_text(json.dumps(files))
    load_log = work / f"peer-load-{round_}.log"
    command = [sys.executable, "-m", "bench.peer", "load", str(work / "files.json"), str(database)]
    loaded = measured(command, load_log, os.environ | {"DO_NOT_TRACK": "1"})
    loaded |= json.loads(load_log.read_text().strip().splitlines()[-1])
    build_log = work / f"peer-build-{round_}.log"
    command = dbt_command("build", project, work)
    if today:  # the peer's date spine runs to the day of the build: the day after the exports
        command = [str(FAKETIME), "-f", f"@{today} 06:00:00", *command]
    built = measured(command, build_log, peer_env(work), cwd=project)
    built["today"] = today or time.strftime("%Y-%m-%d", time.gmtime())
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    shutil.copy(work / "target" / "run_results.json", work / f"peer-build-{round_}-results.json")
    built["nodes"] = [
        {
            "node": r["unique_id"].split(".", 1)[1],
            "status": r["status"],
            "seconds": round(r["execution_time"], 2),
        }
        for r in results
    ]
    if any(n["status"] not in ("success", "pass") for n in built["nodes"]):
        raise RuntimeError(f"the peer's dbt build did not pass; see {build_log}")
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        built["rows"] = dict(
            con.execute(
                "select schema_name || '.' || table_name, estimated_size from duckdb_tables() "
                "order by 1"
            ).fetchall()
        )
        built["rows"] = {
            name: con.execute(f"select count(*) from {name}").fetchone()[0]
            for name in built["rows"]
        }
    built["warehouse_mb"] = round(database.stat().st_size / 1e6)
    return {
        "load": loaded,
        "build": built,
        "seconds": round(loaded["seconds"] + built["seconds"], 2),
        "cpu_seconds": round(loaded["cpu_seconds"] + built["cpu_seconds"], 2),
        "peak_rss_mb": max(loaded["peak_rss_mb"], built["peak_rss_mb"]),
    }


def compare(args: argparse.Namespace) -> dict:
    work = OUT / "peer" / args.name
    work.mkdir(parents=True, exist_ok=True)
    fivetran_utils = args.fivetran_utils_dir or fivetran_utils_from_manifest(
        args.peer_dir, OUT / "peer" / "fivetran_utils-from-manifest"
    )
    print(f"preparing the peer project in {work / 'project'} (dbt deps, dbt parse) ...")
    project = prepare_project(args.peer_dir, args.dbt_utils_dir, fivetran_utils, work)
    # dbt's manifest and parse, which a run's definitions and dbt commands read, made before
    # the timed rounds for the rounds' settings (as the peer's warm-up `dbt parse`).
    code = (args.recur_code or ROOT).resolve()
    subprocess.run(
        [sys.executable, "-c", PREPARE],
        check=True,
        cwd=code,
        env=recur_env(args.exports, work, code) | {"PYTHONPATH": str(code)},
    )
    last_day = max(f.stem for f in (args.exports / "mixpanel").glob("*.jsonl"))
    today = None if args.real_date else str(date.fromisoformat(last_day) + timedelta(days=1))
    summary = json.loads((args.exports / "truth" / "summary.json").read_text())["generation"]
    result: dict = {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "recur_commit": args.recur_commit
        or subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "recur_code": str(code),
        "exports": str(args.exports.resolve().relative_to(ROOT)),
        "mixpanel_events": summary["events"]["mixpanel"],
        "people": summary["users"],
        "days": summary["days"],
        "peer_dir": str(args.peer_dir),
        "peer_commit": args.peer_commit,
        "peer_build_date": today,
        "peer_memory_limit": MEMORY_LIMIT,
        "rounds": [],
        "peer_real_date": None,
    }
    rounds = result["rounds"]
    for round_ in range(1, args.rounds + 1):
        if rounds and args.stop_by:  # no round that would end after --stop-by (HH:MM UTC)
            last = rounds[-1]["recur"]["seconds"] + rounds[-1]["peer"]["seconds"]
            now = time.gmtime()
            hour, minute = map(int, args.stop_by.split(":"))
            left = (hour * 60 + minute) * 60 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)
            if last * 1.1 > left:
                print(f"  round {round_} not started: it would end after {args.stop_by} UTC")
                break
        recur = recur_side(args.exports, work, round_, code)
        print(
            f"  round {round_} recur: {recur['seconds']:.1f} s ({recur['cpu_seconds']:.0f} s CPU, "
            f"{recur['peak_rss_mb']:,.0f} MB, load {recur['load_before']:.1f})"
        )
        peer = peer_side(args.exports, project, work, round_, today)
        print(
            f"  round {round_} peer: load {peer['load']['seconds']:.1f} s + build "
            f"{peer['build']['seconds']:.1f} s ({peer['cpu_seconds']:.0f} s CPU, "
            f"{peer['peak_rss_mb']:,.0f} MB, load {peer['load']['load_before']:.1f} / "
            f"{peer['build']['load_before']:.1f})"
        )
        rounds.append(
            {
                "round": round_,
                "recur": recur,
                "peer": peer,
                "ratio": round(recur["seconds"] / peer["seconds"], 2),
                "cpu_ratio": round(recur["cpu_seconds"] / peer["cpu_seconds"], 2),
            }
        )
        print(f"  round {round_} ratio: {rounds[-1]['ratio']:.2f}x wall")
        result["best"] = {
            "recur_seconds": min(r["recur"]["seconds"] for r in rounds),
            "peer_seconds": min(r["peer"]["seconds"] for r in rounds),
        }
        save(args.name, result)  # each round kept as it ends
    if args.as_is_round and today:  # once more with the real date: the spine to this day
        as_is = peer_side(args.exports, project, work, "as-is", None)
        print(
            f"  peer with the real date: load {as_is['load']['seconds']:.1f} s + build "
            f"{as_is['build']['seconds']:.1f} s ({as_is['cpu_seconds']:.0f} s CPU, "
            f"{as_is['peak_rss_mb']:,.0f} MB)"
        )
        result["peer_real_date"] = as_is
        save(args.name, result)
    return result


def save(name: str, result: dict) -> None:
    """``result`` as the entry ``name`` of bench/out/peer.json (the sizes side by side)."""
    out = OUT / "peer.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps(previous | {name: result}, indent=2))


# --- report ------------------------------------------------------------------------------------


def report(results: dict) -> str:
    """The "peer results" block of docs/benchmarks.md from bench/out/peer.json."""
    lines = [START]
    for name, r in results.items():
        lines += [
            f"**{name}: {r['mixpanel_events']:,} Mixpanel events** of {r['people']:,} people over "
            f"{r['days']} days (`{r['exports']}`), measured {r['measured']} on {r['machine']}, "
            f"Python {r['python']}; the peer at commit `{r['peer_commit'][:12]}`, its `dbt build` "
            + (
                f"run as on {r['peer_build_date']} (faketime), the day after the last export day"
                if r["peer_build_date"]
                else "run on the real date"
            )
            + ". Wall and CPU seconds, peak RSS of the largest process, 1-minute load average at "
            "the step's start:",
            "",
            "| round | side: step | wall s | CPU s | peak MB | load avg |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for rd in r["rounds"]:
            rec, peer = rd["recur"], rd["peer"]
            runs = ", ".join(f"{label} {s:.1f} s" for label, s in rec["runs"])
            lines += [
                f"| {rd['round']} | Recur: `recur run` ingest + core ({runs}) | "
                f"{rec['seconds']:.1f} | {rec['cpu_seconds']:.1f} | {rec['peak_rss_mb']:,.0f} | "
                f"{_load(rec)} |",
                *(
                    f"| {rd['round']} | peer: {label} | {step['seconds']:.1f} | "
                    f"{step['cpu_seconds']:.1f} | {step['peak_rss_mb']:,.0f} | "
                    f"{_load(step)} |"
                    for label, step in (
                        ("bare DuckDB load into `mixpanel.event`", peer["load"]),
                        ("`dbt build`", peer["build"]),
                    )
                ),
                f"| {rd['round']} | peer: load + build | {peer['seconds']:.1f} | "
                f"{peer['cpu_seconds']:.1f} | {peer['peak_rss_mb']:,.0f} | |",
                f"| {rd['round']} | **Recur / peer** | **{rd['ratio']:.2f}x** | "
                f"{rd['cpu_ratio']:.2f}x | {rec['peak_rss_mb'] / peer['peak_rss_mb']:.2f}x | |",
            ]
        best = r["best"]
        first = r["rounds"][0]["recur"]
        kept = [rd["peer"]["build"] for rd in r["rounds"] if "rows" in rd["peer"]["build"]]
        peer_rows = (
            "The peer's rows: "
            + ", ".join(f"{t} {n:,}" for t, n in kept[-1]["rows"].items())
            + f" (warehouse {kept[-1]['warehouse_mb']:,} MB)."
            if kept
            else "The peer's rows at that date were not kept (its warehouse file was rebuilt by "
            "the next round)."
        )
        lines += [
            "",
            f"Best round of each side: Recur {best['recur_seconds']:.1f} s, peer "
            f"{best['peer_seconds']:.1f} s: **{best['recur_seconds'] / best['peer_seconds']:.2f}x**."
            f" Recur loaded {first['events_loaded']:,} events; core rows "
            + ", ".join(f"{t} {n:,}" for t, n in first["rows"].items())
            + f" (warehouse {first['warehouse_mb']:,} MB). "
            + peer_rows,
        ]
        if r.get("peer_real_date"):
            real = r["peer_real_date"]
            lines += [
                "",
                f"The peer once more on the real date ({real['build']['today']}; its date spine "
                f"then runs to a week after that day): load {real['load']['seconds']:.1f} s + "
                f"build {real['build']['seconds']:.1f} s = {real['seconds']:.1f} s "
                f"({real['cpu_seconds']:.1f} s CPU, {real['peak_rss_mb']:,.0f} MB, load avg "
                f"{_load(real['load'])} / {_load(real['build'])}). Its rows: "
                + ", ".join(f"{t} {n:,}" for t, n in real["build"]["rows"].items())
                + f" (warehouse {real['build']['warehouse_mb']:,} MB).",
            ]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def _load(step: dict) -> str:
    return "not recorded" if step.get("load_before") is None else f"{step['load_before']:.2f}"


def write_doc(results: dict) -> None:
    """Replace the "peer results" block of docs/benchmarks.md."""
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    DOC.write_text(head + report(results) + rest.split(END, 1)[1])


def main() -> int:
    if sys.argv[1:2] == ["load"]:
        files, database = json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
        print(json.dumps(load(files, database)))
        return 0
    if sys.argv[1:2] == ["report"]:  # docs/benchmarks.md's block from bench/out/peer.json
        write_doc(json.loads((OUT / "peer.json").read_text()))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.peer")
    parser.add_argument("--peer-dir", type=Path, required=True, help="checkout of dbt_mixpanel")
    parser.add_argument("--dbt-utils-dir", type=Path, required=True, help="checkout of dbt-utils")
    parser.add_argument(
        "--fivetran-utils-dir",
        type=Path,
        help="checkout of dbt_fivetran_utils (default: rebuilt from the peer's docs/manifest.json)",
    )
    parser.add_argument("--peer-commit", default="", help="the peer's commit, for the record")
    parser.add_argument(
        "--exports", type=Path, default=OUT / "exports-75000u-30d", help="folder with mixpanel/"
    )
    parser.add_argument("--rounds", type=int, default=2, help="Recur, peer alternately, N times")
    parser.add_argument("--name", default="1m", help="work folder under bench/out/peer/")
    parser.add_argument(
        "--recur-code",
        type=Path,
        help="Recur's code from this checkout (e.g. `git archive HEAD`), not the working tree",
    )
    parser.add_argument("--recur-commit", default="", help="that checkout's commit, for the record")
    parser.add_argument("--stop-by", help="HH:MM UTC: start no round that would end later")
    parser.add_argument(
        "--real-date",
        action="store_true",
        help="build the peer on today's date (default: the day after the last export day)",
    )
    parser.add_argument(
        "--as-is-round",
        action="store_true",
        help="after the rounds, one more peer load and build on today's date",
    )
    args = parser.parse_args()
    result = compare(args)
    print(json.dumps(result.get("best")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
