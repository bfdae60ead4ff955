"""Checks benchmark: every quality suite of a daily run, on ~10M events, against that run's time.

Steps, each in its own process so that its peak memory is its own (``bench.dbt_build.measured``):

1. load the first 90 export days of the dbt benchmark's exports into a fresh warehouse;
2. ``dbt build`` of the whole project (core, analytics, audiences; unit tests left out);
3. the daily run: load export day 91, then ``dbt build`` of the whole project again;
4. every suite a run and ``recur sync`` evaluate (raw, core, analytics, each audience, each
   sync's emails) on that warehouse, twice, side by side: as Recur runs them (pushdown suites
   counted inside DuckDB) and with every suite's rows read into pandas (how all of them ran
   before, the baseline). great-expectations' import (about 4 s, once per process) is reported
   apart: a run imports it once for all its checks.

    python -m bench.checks [--exports DIR] [--workdir DIR]   # default: the dbt benchmark's data
    python -m bench.checks suites WAREHOUSE MANIFEST MODE    # one pass of the suites, as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from bench import dbt_build

ROOT = Path(__file__).resolve().parents[1]
MODES = ("pushdown", "frames")


def run_suites(warehouse: Path, manifest_path: Path, mode: str) -> dict:
    """Every suite once, as Recur runs them (``pushdown``) or with all rows in pandas."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (imported once per process, as in a run)

    imported = time.perf_counter() - started
    from checks import Sources, Thresholds, run_suite, validate, warehouse_suites
    from checks.audiences import audiences_from_manifest, suites_for, sync_suites
    from syncs.spec import specs_from_manifest

    t = Thresholds.from_env(os.environ)
    manifest = json.loads(manifest_path.read_text())
    suites = (
        warehouse_suites(t)
        + suites_for(audiences_from_manifest(manifest), t)
        + sync_suites(specs_from_manifest(manifest), t)
    )
    sources = Sources(warehouse)
    results = []
    for suite in suites:
        began = time.perf_counter()
        if mode == "pushdown":
            outcome = run_suite(suite, sources)
        else:
            outcome = validate(suite, suite.read(sources))
        results.append(
            {
                "suite": suite.name,
                "asset": ".".join(suite.asset),
                "pushdown": suite.pushdown,
                "rows": outcome.rows,
                "passed": outcome.passed,
                "seconds": round(time.perf_counter() - began, 3),
            }
        )
    return {
        "mode": mode,
        "import_seconds": round(imported, 2),
        "suites_seconds": round(sum(r["seconds"] for r in results), 2),
        "suites": results,
    }


def run(exports: Path, workdir: Path, reuse: bool = False) -> dict:
    """Build the warehouse, run the daily day, then both passes of the suites (``reuse``: keep
    the warehouse and the build steps an earlier run left in ``workdir``, run the suites again)."""
    saved = workdir / "steps.json"
    if not (reuse and saved.exists()):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    database = workdir / "warehouse.duckdb"
    env = os.environ | {"DO_NOT_TRACK": "1", "RECUR_WAREHOUSE": str(database)}
    built: dict[str, dict] = json.loads(saved.read_text()) if saved.exists() else {}
    steps: dict[str, dict] = {}

    def step(name: str, command: list[str]) -> dict:
        if name in built:  # --reuse: the warehouse of an earlier run, up to this step
            steps[name] = built[name]
            return steps[name]
        steps[name] = dbt_build.measured(command, workdir / f"{name}.log", env)
        saved.write_text(json.dumps(steps, indent=2))
        print(f"  {name}: {steps[name]['seconds']:.1f} s, {steps[name]['peak_rss_mb']:,.0f} MB")
        return steps[name]

    def load(name: str, first: int, count: int) -> None:
        step(
            name,
            [sys.executable, "-m", "bench.dbt_build", "load", str(exports), str(database)]
            + [str(first), str(count)],
        )

    build = dbt_build.dbt_command("build", workdir, "--exclude", "test_type:unit")
    load("load_initial", 0, dbt_build.INITIAL_DAYS)
    step("build_full", build)
    load("load_next_day", dbt_build.INITIAL_DAYS, 1)
    step("build_incremental", build)
    manifest = workdir / "target" / "manifest.json"
    for mode in MODES:
        log = workdir / f"suites-{mode}.log"
        command = [sys.executable, "-m", "bench.checks", "suites", str(database), str(manifest)]
        steps[f"suites_{mode}"] = dbt_build.measured([*command, mode], log, env)
        steps[f"suites_{mode}"] |= json.loads(log.read_text().strip().splitlines()[-1])
        s = steps[f"suites_{mode}"]
        print(f"  suites ({mode}): {s['seconds']:.1f} s, {s['peak_rss_mb']:,.0f} MB")
    summary = json.loads((exports / "truth" / "summary.json").read_text())["generation"]
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        events = con.execute("select count(*) from core.fct_events").fetchone()[0]
    return {
        "exports": str(exports.relative_to(ROOT)) if exports.is_relative_to(ROOT) else str(exports),
        "users": summary["users"],
        "days": summary["days"],
        "events": events,
        "build_command": dbt_build.shown(build),
        "steps": steps,
    }


def table(result: dict) -> str:
    """The daily run, then each pass of the suites against it."""
    steps = result["steps"]
    daily = steps["load_next_day"]["seconds"] + steps["build_incremental"]["seconds"]
    rows = [
        "| step | seconds | peak memory MB | share of the daily run | load avg before |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in [
        ("load_initial", f"load export days 1-{dbt_build.INITIAL_DAYS}"),
        ("build_full", "`dbt build`, whole project, full"),
        ("load_next_day", f"daily run: load export day {dbt_build.INITIAL_DAYS + 1}"),
        ("build_incremental", "daily run: `dbt build`, whole project, incremental"),
    ]:
        s = steps[name]
        share = (
            f"{s['seconds'] / daily:.0%}" if name in ("load_next_day", "build_incremental") else ""
        )
        rows.append(
            f"| {label} | {s['seconds']:.1f} | {s['peak_rss_mb']:,.0f} | {share} | "
            f"{s['load_before']} |"
        )
    rows.append(f"| **daily run** (the two steps above) | **{daily:.1f}** | | 100% | |")
    for mode, label in [
        ("pushdown", "all checks, as Recur runs them"),
        ("frames", "all checks, rows read into pandas (before)"),
    ]:
        s = steps[f"suites_{mode}"]
        checks = s["seconds"] - s["import_seconds"]
        rows.append(
            f"| {label}: process | {s['seconds']:.1f} | {s['peak_rss_mb']:,.0f} | "
            f"{s['seconds'] / daily:.0%} | {s['load_before']} |"
        )
        rows.append(
            f"| {label}: without great-expectations' import ({s['import_seconds']:.1f} s) | "
            f"{checks:.1f} | | **{checks / daily:.0%}** | |"
        )
    rows += [
        "",
        "| suite | table | rows | pushdown | passed | s, as Recur runs it | s, rows in pandas |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    before = {(r["suite"], r["asset"]): r for r in steps["suites_frames"]["suites"]}
    for r in sorted(steps["suites_pushdown"]["suites"], key=lambda r: -r["seconds"]):
        b = before[(r["suite"], r["asset"])]
        rows.append(
            f"| {r['suite']} | {r['asset']} | {r['rows']:,} | {'yes' if r['pushdown'] else ''} | "
            f"{'yes' if r['passed'] else 'no'} | {r['seconds']:.2f} | {b['seconds']:.2f} |"
        )
    return "\n".join(rows)


def main() -> int:
    if sys.argv[1:2] == ["suites"]:
        warehouse, manifest, mode = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
        print(json.dumps(run_suites(warehouse, manifest, mode)))
        return 0
    from bench.__main__ import DBT_DAYS, DBT_USERS, OUT, generate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=Path, help="export folder (default: the dbt benchmark's)")
    parser.add_argument("--workdir", type=Path, default=OUT / "checks")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the built warehouse, time the suites again"
    )
    args = parser.parse_args()
    exports = args.exports or generate(DBT_USERS, DBT_DAYS)
    result = run(exports, args.workdir, args.reuse)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "checks.json").write_text(json.dumps(result, indent=2))
    heading = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, `python -m bench.checks`: {result['events']:,} "
        f"events of {result['users']:,} people over {result['days']} days "
        f"(`{result['exports']}`); builds are `{result['build_command']}`; peak memory by "
        f"{result['steps']['build_full']['method']}; load average: the 1-minute one when each "
        "step started."
    )
    report = heading + "\n\n" + table(result)
    (OUT / "checks.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
