"""dbt benchmark: a full ``dbt build`` of ~10M events, then an incremental one after one more day.

Steps, each in its own process so that its peak memory is its own:

1. load the first 90 export days of each source (and the Engage profiles) into a fresh warehouse
   file with Recur's loader (``sources.loader.load_days``; timed, but not part of the dbt numbers);
2. ``dbt parse`` (a warm-up left out of the table, so that both builds use the same partial parse);
3. ``dbt build``: every model from scratch, with the tests (``--exclude test_type:unit`` when the
   project has unit tests: they run on fixtures, not on this data);
4. load export day 91;
5. ``dbt build`` again: the incremental models read only what the new day touches.

dbt runs as ``/usr/bin/time -v dbt ...`` when GNU time is installed; otherwise through a small
Python parent that reads its children's peak RSS and CPU time (``getrusage(RUSAGE_CHILDREN)``),
so no root is needed. dbt writes its target and logs under the work folder, not into
``dbt_project/``, and ``run_results.json`` of each build is kept there for the per-model times.

    python -m bench.dbt_build load EXPORTS DATABASE FIRST COUNT   # prints one JSON line
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
GNU_TIME = Path("/usr/bin/time")
# Export days loaded before the full build; the next one is loaded before the incremental build.
INITIAL_DAYS = 90

# Runs a command, then writes the peak RSS (KiB) of its largest descendant and the CPU seconds of
# all of them to a file: the fallback for GNU time.
_RUSAGE_PARENT = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{r.ru_maxrss} {r.ru_utime + r.ru_stime}')\n"
    "sys.exit(code)\n"
)


def _gnu_time_works() -> bool:
    if not GNU_TIME.exists():
        return False
    done = subprocess.run([str(GNU_TIME), "-v", "true"], capture_output=True, text=True)
    return done.returncode == 0 and "Maximum resident set size" in done.stderr


def measured(
    command: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> dict:
    """Run ``command`` to completion (its output into ``log``): wall and CPU seconds, peak memory
    (the largest process's RSS) and the load average when it started (others' work on the machine
    slows wall time; CPU time is less sensitive to it)."""
    report = log.with_suffix(".rusage")
    if _gnu_time_works():
        wrapped, method = [str(GNU_TIME), "-v", "-o", str(report), *command], "GNU time -v"
    else:
        wrapped = [sys.executable, "-c", _RUSAGE_PARENT, str(report), *command]
        method = "getrusage(RUSAGE_CHILDREN)"
    load_before = os.getloadavg()[0]
    with open(log, "w") as out:
        started = time.perf_counter()
        done = subprocess.run(wrapped, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        seconds = time.perf_counter() - started
    text = report.read_text() if report.exists() else ""
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}); see {log}:\n{tail}")
    if method == "GNU time -v":
        field = lambda name: float(re.search(rf"{name}: ([\d.]+)", text).group(1))  # noqa: E731
        kib = field(r"Maximum resident set size \(kbytes\)")
        cpu = field(r"User time \(seconds\)") + field(r"System time \(seconds\)")
    else:
        kib, cpu = (float(v) for v in text.split())
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(kib / 1024, 1),
        "load_before": round(load_before, 2),
        "method": method,
    }


# --- loading (in a child process) ------------------------------------------------------------


def load(exports: Path, database: Path, first: int, count: int) -> dict:
    """Load export days ``first .. first+count-1`` (by position) of each source; profiles too on
    the first call. Returns the events loaded per source and the days."""
    from sources import layout
    from sources.loader import load_days
    from sources.profiles import load_profiles
    from sources.settings import IngestSettings
    from sources.warehouse import connect, ensure_raw_schema

    settings = IngestSettings.from_env(os.environ)  # as a run would load them
    loaded: dict[str, int] = {}
    days: dict[str, list[str]] = {}
    with connect(database) as con:
        ensure_raw_schema(con)
        for source in layout.EVENT_SOURCES:
            chosen = layout.export_days(exports, source)[first : first + count]
            loads = load_days(con, exports, source, chosen, settings=settings)
            loaded[source] = sum(r.loaded for r in loads)
            days[source] = [str(chosen[0]), str(chosen[-1])] if chosen else []
        if first == 0:
            load_profiles(con, exports)
        profiles = con.execute("select count(*) from raw.mixpanel_profiles").fetchone()[0]
    return {"events": loaded, "days": days, "profiles": profiles}


# --- dbt ---------------------------------------------------------------------------------------


def dbt_command(verb: str, workdir: Path, *extra: str, executable: str = "dbt") -> list[str]:
    """``executable`` (dbt, or ``recur-dbt``, which runs the Python models on a Spark session)
    with the project, and the target and logs under ``workdir``."""
    return [
        str(Path(sys.executable).with_name(executable)),
        verb,
        "--profiles-dir",
        str(DBT_DIR),
        "--project-dir",
        str(DBT_DIR),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
        *extra,
    ]


def shown(command: list[str]) -> str:
    """The command as someone would type it from the project root."""
    parts = [Path(command[0]).name]
    for part in command[1:]:
        path = Path(part)
        parts.append(
            str(path.relative_to(ROOT))
            if path.is_absolute() and path.is_relative_to(ROOT)
            else part
        )
    return " ".join(parts)


def node_times(run_results: Path) -> list[dict]:
    """Per node of a run_results.json: type, name, status and execution seconds."""
    results = json.loads(run_results.read_text())["results"]
    return [
        {
            "type": r["unique_id"].split(".")[0],
            "name": r["unique_id"].split(".")[2],  # tests end in a hash: type.package.name.hash
            "status": r["status"],
            "seconds": round(r["execution_time"], 2),
            "rows": (r.get("adapter_response") or {}).get("rows_affected"),
        }
        for r in results
    ]


def by_type(nodes: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for n in nodes:
        totals[n["type"]] = round(totals.get(n["type"], 0.0) + n["seconds"], 2)
    return totals


CORE_SELECTION = (
    "path:models/staging",
    "path:models/intermediate",
    "path:models/marts/core",
    "path:seeds",
)


def run(exports: Path, workdir: Path) -> dict:
    """The whole benchmark; everything it writes stays under ``workdir``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    database = workdir / "warehouse.duckdb"
    env = os.environ | {"DO_NOT_TRACK": "1", "RECUR_WAREHOUSE": str(database)}
    summary = json.loads((exports / "truth" / "summary.json").read_text())["generation"]
    result: dict = {
        "exports": str(exports.relative_to(ROOT)),
        "users": summary["users"],
        "days": summary["days"],
        "exported_events": sum(summary["events"].values()),
        "steps": {},
    }

    def load_step(name: str, first: int, count: int) -> None:
        log = workdir / f"{name}.log"
        command = [sys.executable, "-m", "bench.dbt_build", "load", str(exports), str(database)]
        step = measured([*command, str(first), str(count)], log, env)
        step |= json.loads(log.read_text().strip().splitlines()[-1])
        result["steps"][name] = step
        print(
            f"  {name}: {sum(step['events'].values()):,} events, {step['seconds']:.1f} s, "
            f"{step['peak_rss_mb']:,.0f} MB"
        )

    def dbt_step(name: str, verb: str, *extra: str) -> None:
        command = dbt_command(verb, workdir, *extra)
        step = measured(command, workdir / f"{name}.log", env) | {"command": shown(command)}
        results = workdir / "target" / "run_results.json"
        if verb != "parse":
            shutil.copy(results, workdir / f"{name}-run_results.json")
            step["nodes"] = node_times(results)
            step["by_type"] = by_type(step["nodes"])
        result["steps"][name] = step
        print(
            f"  {name}: {step['seconds']:.1f} s ({step['cpu_seconds']:.0f} s CPU), "
            f"{step['peak_rss_mb']:,.0f} MB"
        )

    load_step("load_initial", 0, INITIAL_DAYS)
    dbt_step("parse", "parse")
    manifest = json.loads((workdir / "target" / "manifest.json").read_text())
    # The warehouse core (staging, intermediate, core marts) with its tests; the analytics marts
    # are measured apart as they rebuild from the core every run.
    extra = ["--select", *CORE_SELECTION, "--indirect-selection", "cautious"]
    extra += ["--exclude", "test_type:unit"] if manifest.get("unit_tests") else []
    dbt_step("build_full", "build", *extra)
    load_step("load_next_day", INITIAL_DAYS, 1)
    dbt_step("build_incremental", "build", *extra)
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        result["rows"] = {
            table: con.execute(f"select count(*) from core.{table}").fetchone()[0]
            for table in ("fct_events", "fct_sessions", "fct_orders", "dim_users")
        }
    result["warehouse_mb"] = round(database.stat().st_size / 1e6)
    full, incremental = result["steps"]["build_full"], result["steps"]["build_incremental"]
    result["ratio"] = round(incremental["seconds"] / full["seconds"], 3)
    result["ratios"] = {
        "seconds": result["ratio"],
        "cpu_seconds": round(incremental["cpu_seconds"] / full["cpu_seconds"], 3),
        "peak_rss_mb": round(incremental["peak_rss_mb"] / full["peak_rss_mb"], 3),
    } | {
        f"{kind}_seconds": round(incremental["by_type"][kind] / full["by_type"][kind], 3)
        for kind in ("model", "test")
        if full["by_type"].get(kind)
    }
    return result


# --- report ------------------------------------------------------------------------------------


def table(result: dict) -> str:
    """The summary table (wall and CPU time, memory, where the time went) and the per-node one."""
    steps, ratios = result["steps"], result["ratios"]
    rows = [
        "| step | events in raw | seconds | CPU s | peak memory MB | models s | tests s | "
        "dbt overhead s | load avg before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    raw = 0
    for name, label in [
        ("load_initial", f"load export days 1–{INITIAL_DAYS} (loader, not dbt)"),
        ("build_full", "`dbt build`, full"),
        ("load_next_day", f"load export day {INITIAL_DAYS + 1} (loader, not dbt)"),
        ("build_incremental", "`dbt build`, incremental"),
    ]:
        step = steps[name]
        raw += sum(step.get("events", {}).values())
        kinds = step.get("by_type", {})
        cells = [f"{kinds[k]:.1f}" if k in kinds else "" for k in ("model", "test")]
        cells.append(f"{step['seconds'] - sum(kinds.values()):.1f}" if kinds else "")
        rows.append(
            f"| {label} | {raw:,} | {step['seconds']:.1f} | {step['cpu_seconds']:.1f} | "
            f"{step['peak_rss_mb']:,.0f} | " + " | ".join(cells) + f" | {step['load_before']:.1f} |"
        )
    share = lambda key: f"{ratios[key]:.0%}" if key in ratios else ""  # noqa: E731
    rows.append(
        f"| **incremental / full** | | **{ratios['seconds']:.0%}** | {share('cpu_seconds')} | "
        f"{share('peak_rss_mb')} | {share('model_seconds')} | {share('test_seconds')} | | |"
    )
    rows += [
        "",
        "| node (tests under 1 s left out) | full s | incremental s | incremental / full |",
        "|---|---:|---:|---:|",
    ]
    later = {(n["type"], n["name"]): n for n in steps["build_incremental"]["nodes"]}
    for n in sorted(steps["build_full"]["nodes"], key=lambda n: -n["seconds"]):
        again = later.get((n["type"], n["name"]))
        seconds = again["seconds"] if again else 0.0
        if n["type"] == "test" and max(n["seconds"], seconds) < 1:
            continue
        part = f"{seconds / n['seconds']:.0%}" if n["seconds"] >= 0.05 else ""
        rows.append(f"| {n['type']} {n['name']} | {n['seconds']:.2f} | {seconds:.2f} | {part} |")
    return "\n".join(rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"]:
        exports, database = Path(sys.argv[2]), Path(sys.argv[3])
        print(json.dumps(load(exports, database, int(sys.argv[4]), int(sys.argv[5]))))
    else:
        sys.exit(__doc__)
