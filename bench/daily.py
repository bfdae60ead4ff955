"""`make bench-daily`: the daily run of the whole pipeline against its full build, at two histories.

    python -m bench.daily [--histories 45,90] [--exports bench/out/exports-208000u-91d]
                          [--memory-limit 8GB] [--keep] [--report-only]

On the dbt benchmark's exports (208,000 people, 91 days, ~9.7M events of Mixpanel and Amplitude;
made by `python -m bench --only dbt`, reused here, never generated), for each history H:

1. **full**: a fresh warehouse, sync state, ``DAGSTER_HOME`` and sandbox HubSpot; export days
   1..H of both sources (and the Engage profiles) in the export folder; then the whole pipeline,
   stage by stage as `recur run --select` runs it (``bench.scale.PIPELINE``: ingest, core,
   analytics, audiences, syncs to the sandbox HubSpot and to files, reports). Each run also
   evaluates its assets' checks (dbt tests, quality suites) and the blocking checks upstream;
2. **incremental**: export day H+1 added to the folder, and the same stages again: the daily run.

With ``--whole`` each phase is one `recur run` of everything instead, as a daily job runs it: one
process start, and the blocking checks upstream evaluated once (results: bench/out/daily-whole.json
and the "daily whole results" block of docs/benchmarks.md; work in bench/out/daily-whole/).

The export folder of a history is made of hard links to the files of the export set (Recur refuses
symbolic links that lead out of its export folder), so nothing is copied. Stages are timed by
``bench.dbt_build.measured`` (wall, CPU seconds of the stage's processes: user + system of its
children, the largest process's peak RSS, the 1-minute load average at its start) through
``bench.scale.stage``, on ``git archive HEAD`` (``bench.scale.workspace``). The figures:

- incremental day / full build, over all stages (target: at most 25% at H=90);
- incremental day at H=90 / incremental day at H=45 (target: at most 1.30: the cost follows the
  day, not the history);
- per dbt node of the incremental days (``run_results.json``): the models whose time grows with
  the history.

Results: bench/out/daily.json and the "daily results" section of docs/benchmarks.md. Everything
else stays under bench/out/daily/; a history's warehouse is deleted after it unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

from bench.scale import (
    PIPELINE,
    _memory_gb,
    _size_mb,
    resolve_commit,
    rows,
    stage,
    workspace,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
EXPORTS = OUT / "exports-208000u-91d"
WORKDIR = OUT / "daily"
RESULT = OUT / "daily.json"
START, END = "<!-- daily results: start -->", "<!-- daily results: end -->"
#: ``--whole``: the pipeline as one stage, `recur run` with no selection
WHOLE = [("pipeline", None)]
WHOLE_WORKDIR = OUT / "daily-whole"
WHOLE_RESULT = OUT / "daily-whole.json"
WHOLE_START, WHOLE_END = "<!-- daily whole results: start -->", "<!-- daily whole results: end -->"
HEADING = "## The daily run of the whole pipeline (issue 14, item 4)"
HISTORIES = (45, 90)
SHARE_TARGET, GROWTH_TARGET = 0.25, 1.30
SOURCES = ("mixpanel", "amplitude")


# --- pure parts --------------------------------------------------------------------------------


def split_days(days: list, history: int) -> tuple[list, list]:
    """The export days of the full build (the first ``history``) and of the incremental day (the
    one after them), from a source's days oldest first."""
    ordered = sorted(days)
    if not 0 < history < len(ordered):
        raise ValueError(f"a history of {history} days needs {history + 1} export days or more")
    return ordered[:history], ordered[history : history + 1]


def totals(stages: list[dict]) -> dict[str, float]:
    """Wall and CPU seconds summed over the stages, peak memory the largest of them."""
    return {
        "seconds": round(sum(s["seconds"] for s in stages), 2),
        "cpu_seconds": round(sum(s["cpu_seconds"] for s in stages), 2),
        "peak_rss_mb": max((s["peak_rss_mb"] for s in stages), default=0.0),
    }


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


def ratios(runs: dict[str, dict]) -> dict:
    """From ``{str(history): {"full": [stages], "incremental": [stages]}}``: per history the
    incremental day's share of its full build (wall and CPU, overall and per stage), and between
    the shortest and the longest history the growth of the incremental day."""
    out: dict = {"share": {}, "growth": None}
    for history, phases in runs.items():
        full, day = phases.get("full", []), phases.get("incremental", [])
        if not full or not day or any("failed" in s for s in full + day):
            continue
        whole, part = totals(full), totals(day)
        per_stage = {
            s["stage"]: ratio(s["seconds"], f["seconds"])
            for s, f in zip(day, full, strict=False)
            if s["stage"] == f["stage"]
        }
        out["share"][history] = {
            "seconds": ratio(part["seconds"], whole["seconds"]),
            "cpu_seconds": ratio(part["cpu_seconds"], whole["cpu_seconds"]),
            "stages": per_stage,
        }
    done = sorted(
        (int(h) for h, p in runs.items() if _finished(p.get("incremental", []))),
    )
    if len(done) >= 2:
        short, long = (
            totals(runs[str(done[0])]["incremental"]),
            totals(runs[str(done[-1])]["incremental"]),
        )
        out["growth"] = {
            "histories": [done[0], done[-1]],
            "seconds": ratio(long["seconds"], short["seconds"]),
            "cpu_seconds": ratio(long["cpu_seconds"], short["cpu_seconds"]),
        }
    return out


def _finished(stages: list[dict]) -> bool:
    return bool(stages) and not any("failed" in s for s in stages)


#: `recur run`'s line per Dagster run: "[1/2] unpartitioned: ok (46.8 s)".
RUN_LINE = re.compile(r"^\[\d+/\d+\] .*: (?:ok|FAILED) \(([\d.]+) s\)$", re.M)


def runs_seconds(log: str) -> float:
    """The seconds a stage's `recur run` spent inside its Dagster runs (the rest of the stage is
    the process: imports, definitions, the plan)."""
    return round(sum(float(s) for s in RUN_LINE.findall(log)), 2)


def split_time(stage_: dict) -> dict[str, float]:
    """Where a stage's wall time went: outside the Dagster runs (start of the process), in the
    runs outside dbt, and dbt's models and tests (per-node times)."""
    nodes = stage_.get("dbt_nodes", [])
    models = sum(n["seconds"] for n in nodes if n["type"] in ("model", "seed", "snapshot"))
    tests = sum(n["seconds"] for n in nodes if n["type"] in ("test", "unit_test"))
    runs = stage_.get("runs_seconds", stage_["seconds"])
    return {
        "outside_runs": round(stage_["seconds"] - runs, 1),
        "runs_not_dbt": round(runs - models - tests, 1),
        "dbt_models": round(models, 1),
        "dbt_tests": round(tests, 1),
    }


def node_growth(short: list[dict], long: list[dict], least: float = 0.5) -> list[dict]:
    """dbt nodes of two incremental days (each a list of stages with ``dbt_nodes``), with their
    seconds at both histories and the growth, slowest at the long history first; nodes under
    ``least`` seconds at both are left out."""

    def seconds(stages: list[dict]) -> dict[tuple[str, str], tuple[str, float]]:
        found: dict[tuple[str, str], tuple[str, float]] = {}
        for s in stages:
            for n in s.get("dbt_nodes", []):
                key = (n["type"], n["name"])
                before = found.get(key, (s["stage"], 0.0))[1]
                found[key] = (s["stage"], round(before + n["seconds"], 2))
        return found

    a, b = seconds(short), seconds(long)
    nodes = []
    for key in a.keys() | b.keys():
        stage_, s_long = b.get(key, a.get(key, ("", 0.0)))[0], b.get(key, ("", 0.0))[1]
        s_short = a.get(key, ("", 0.0))[1]
        if max(s_short, s_long) < least:
            continue
        nodes.append(
            {
                "type": key[0],
                "name": key[1],
                "stage": stage_,
                "short": s_short,
                "long": s_long,
                "growth": ratio(s_long, s_short),
            }
        )
    return sorted(nodes, key=lambda n: (-n["long"], n["name"]))


# --- the run -----------------------------------------------------------------------------------


def link_days(source_root: Path, into: Path, days: list) -> None:
    """Hard links in ``into`` to the export files of ``days`` (both sources), and to the Engage
    profiles."""
    from sources import layout

    for source in SOURCES:
        files = layout.export_files(source_root, source)
        for day in days:
            for f in files.get(day, []):
                target = into / f.name
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    os.link(f.path, target)
    profiles = into / "mixpanel" / "profiles"
    if not profiles.exists():
        profiles.mkdir(parents=True)
        for page in layout.profile_pages(source_root):
            os.link(page, profiles / page.name)


def uptime() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def run_history(
    history: int,
    exports: Path,
    memory_limit: str | None,
    result: dict,
    save,
    keep: bool,
    whole: bool = False,
) -> None:
    from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
    from sources import layout

    workdir = (WHOLE_WORKDIR if whole else WORKDIR) / f"h{history}"
    view = workdir / "exports"
    # every history on the same commit: the one of the first (others commit meanwhile)
    src, env, warehouse = workspace(workdir, view, memory_limit, result["commit"])
    days = layout.export_days(exports, "mixpanel")
    initial, following = split_days(days, history)
    entry: dict = {
        "commit": result["commit"],
        "days": [str(initial[0]), str(initial[-1])],
        "next_day": str(following[0]),
        "full": [],
        "incremental": [],
    }
    result["runs"][str(history)] = entry
    hubspot = HubSpotServer(workdir / "hubspot.sqlite")
    hubspot.start()
    env |= {"HUBSPOT_BASE_URL": hubspot.url, "HUBSPOT_ACCESS_TOKEN": SANDBOX_HUBSPOT_TOKEN}
    recur = str(Path(sys.executable).with_name("recur"))
    seen: set[Path] = set()
    try:
        for phase, chosen in (("full", initial), ("incremental", following)):
            link_days(exports, view, chosen)
            logs = workdir / phase
            logs.mkdir()
            holder: dict = {"stages": entry[phase]}
            entry[f"{phase}_uptime"] = {"start": uptime()}
            for name, selection in WHOLE if whole else PIPELINE:
                command = [recur, "run", *(["--select", selection] if selection else [])]
                ok = stage(
                    holder,
                    name,
                    selection or "everything",
                    command,
                    logs,
                    env,
                    src,
                    warehouse,
                    seen,
                )
                entry[phase][-1]["uptime_after"] = uptime()
                entry[phase][-1]["runs_seconds"] = runs_seconds((logs / f"{name}.log").read_text())
                save()
                if not ok:
                    return
            entry[f"{phase}_uptime"]["end"] = uptime()
            entry[f"{phase}_contacts"] = len(hubspot.contacts())
            entry[f"{phase}_warehouse_mb"] = _size_mb(warehouse)
            save()
        entry["rows"] = rows(warehouse)
    finally:
        hubspot.stop()
        save()
        if not keep:
            for path in (warehouse, workdir / "state.duckdb", view):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.exists():
                    path.unlink()


def run(
    histories: list[int],
    exports: Path,
    memory_limit: str | None,
    keep: bool,
    revision: str = "HEAD",
    merge: dict | None = None,
    whole: bool = False,
) -> dict:
    """Every history in turn; with ``merge`` (an earlier result), its histories are kept and
    these added, on its commit; ``whole``: each phase as one `recur run`."""
    summary = json.loads((exports / "truth" / "summary.json").read_text())["generation"]
    result: dict = {
        "commit": resolve_commit(revision),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_memory_gb():.0f} GB",
        "python": platform.python_version(),
        "exports": str(exports.relative_to(ROOT)),
        "users": summary["users"],
        "export_days": summary["days"],
        "events": summary["events"],
        "memory_limit": memory_limit,
        "command": command_of(histories, memory_limit, revision, merge is not None, whole),
        "uptime_start": uptime(),
        "whole": whole,
        "runs": {},
    }
    if merge:
        result = merge | {"command": merge["command"] + "; then " + result["command"]}
        result["parts"] = [*merge.get("parts", [merge["date"]]), time.strftime("%H:%M UTC")]

    def save() -> None:
        result["ratios"] = ratios(result["runs"])
        (WHOLE_RESULT if whole else RESULT).write_text(json.dumps(result, indent=2))

    (WHOLE_WORKDIR if whole else WORKDIR).mkdir(parents=True, exist_ok=True)
    for history in histories:
        print(f"{time.strftime('%H:%M:%S')} history of {history} days (load {uptime()})")
        run_history(history, exports, memory_limit, result, save, keep, whole)
        result["uptime_end"] = uptime()
    save()
    return result


def command_of(
    histories: list[int],
    memory_limit: str | None,
    revision: str = "HEAD",
    merge: bool = False,
    whole: bool = False,
) -> str:
    parts = ["python -m bench.daily"] + (["--whole"] if whole else [])
    if tuple(histories) != HISTORIES:
        parts.append("--histories " + ",".join(map(str, histories)))
    if memory_limit:
        parts.append(f"--memory-limit {memory_limit}")
    if revision != "HEAD":
        parts.append(f"--commit {revision}")
    if merge:
        parts.append("--merge")
    return " ".join(parts) if len(parts) > 1 else "make bench-daily"


def stage_names(result: dict) -> list[str]:
    """The stages of ``result``'s runs, in the order they ran."""
    names = [s["stage"] for run_ in result["runs"].values() for s in run_["full"]]
    return list(dict.fromkeys(names))


# --- report ------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else ""


def _cell(s: dict | None) -> str:
    if s is None:
        return ""
    if "failed" in s:
        return "failed"
    return f"{s['seconds']:,.1f} / {s['cpu_seconds']:,.1f} / {s['peak_rss_mb']:,.0f}"


def stage_table(result: dict) -> str:
    """Per stage and history: the full build and the day (wall s / CPU s / peak MB), the day's
    share of the full build; the growth of the day with the history; the loads at the start."""
    histories = sorted(result["runs"], key=int)
    head, rule = "| stage |", "|---|"
    for h in histories:
        head += f" H={h} full: s / CPU s / MB | H={h} day: s / CPU s / MB | day / full |"
        rule += "---:|---:|---:|"
    if len(histories) >= 2:
        head += f" day H={histories[-1]} / H={histories[0]} |"
        rule += "---:|"
    head += " load (1 min) at start: " + ", ".join(f"H={h} full, day" for h in histories) + " |"
    rule += "---|"
    lines = [head, rule]
    for name in [*stage_names(result), "total"]:
        row, days, loads = f"| {'**total**' if name == 'total' else name} |", [], []
        for h in histories:
            run_ = result["runs"][h]
            if name == "total":
                pick = {
                    p: [s for s in run_[p] if "failed" not in s] for p in ("full", "incremental")
                }
                f = {"stage": name, **totals(pick["full"])} if pick["full"] else None
                d = {"stage": name, **totals(pick["incremental"])} if pick["incremental"] else None
            else:
                f = next((s for s in run_["full"] if s["stage"] == name), None)
                d = next((s for s in run_["incremental"] if s["stage"] == name), None)
                loads += [
                    f"{s['load_before']:.2f}" if s and s.get("load_before") is not None else "-"
                    for s in (f, d)
                ]
            ok = lambda s: s is not None and "failed" not in s  # noqa: E731
            share = ratio(d["seconds"], f["seconds"]) if ok(f) and ok(d) else None
            days.append(d if ok(d) else None)
            bold = "**" if name == "total" else ""
            row += f" {_cell(f)} | {bold}{_cell(d)}{bold} | {bold}{_pct(share)}{bold} |"
        if len(histories) >= 2:
            growth = (
                ratio(days[-1]["seconds"], days[0]["seconds"]) if days[0] and days[-1] else None
            )
            row += f" {growth:.2f} |" if growth is not None else " |"
        lines.append(row + f" {', '.join(loads)} |")
    return "\n".join(lines)


def node_table(result: dict) -> str:
    histories = sorted(result["runs"], key=int)
    if len(histories) < 2:
        return ""
    short, long = histories[0], histories[-1]
    a, b = result["runs"][short]["incremental"], result["runs"][long]["incremental"]
    lines = [
        f"| dbt node, incremental day (0.5 s or more) | stage | H={short} s | H={long} s "
        f"| H={long} / H={short} |",
        "|---|---|---:|---:|---:|",
    ]
    for n in node_growth(a, b):
        grown = f"{n['growth']:.2f}" if n["growth"] is not None else ""
        lines.append(
            f"| {n['type']} {n['name']} | {n['stage']} | {n['short']:.2f} | {n['long']:.2f} "
            f"| {grown} |"
        )
    return "\n".join(lines)


def split_table(result: dict) -> str:
    """Per stage of each incremental day: where its wall time went."""
    lines = [
        "| incremental day, stage | H | wall s | process start and plan (outside the Dagster runs) "
        "| in the runs, outside dbt (checks, loader, syncs, Dagster) | dbt models | dbt tests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in stage_names(result):
        for h in sorted(result["runs"], key=int):
            s = next((s for s in result["runs"][h]["incremental"] if s["stage"] == name), None)
            if s is None or "failed" in s:
                continue
            part = split_time(s)
            lines.append(
                f"| {name} | {h} | {s['seconds']:.1f} | {part['outside_runs']:.1f} | "
                f"{part['runs_not_dbt']:.1f} | {part['dbt_models']:.1f} | {part['dbt_tests']:.1f} |"
            )
    return "\n".join(lines)


def report(result: dict) -> str:
    ratios_ = result.get("ratios", {})
    growth = ratios_.get("growth")
    facts = []
    for h, share in sorted(ratios_.get("share", {}).items(), key=lambda kv: int(kv[0])):
        met = "met" if share["seconds"] <= SHARE_TARGET else "**not met**"
        facts.append(
            f"H={h}: incremental day / full build **{_pct(share['seconds'])}** of the wall time "
            f"({_pct(share['cpu_seconds'])} of the CPU time); target at most 25%: {met}"
        )
    if growth:
        met = "met" if growth["seconds"] <= GROWTH_TARGET else "**not met**"
        facts.append(
            f"incremental day at H={growth['histories'][1]} / at H={growth['histories'][0]}: "
            f"**{growth['seconds']:.2f}** wall ({growth['cpu_seconds']:.2f} CPU); target at most "
            f"1.30: {met}"
        )
    runs = []
    for h in sorted(result["runs"], key=int):
        r = result["runs"][h]
        runs.append(
            f"H={h}: days {r['days'][0]} to {r['days'][1]} full, day {r['next_day']} incremental; "
            f"load (1, 5, 15 min) full {r.get('full_uptime', {}).get('start', '?')} to "
            f"{r.get('full_uptime', {}).get('end', '?')}, day "
            f"{r.get('incremental_uptime', {}).get('start', '?')} to "
            f"{r.get('incremental_uptime', {}).get('end', '?')}; contacts in the sandbox HubSpot "
            f"{r.get('full_contacts', '?')} after the full build, {r.get('incremental_contacts', '?')}"
            " after the day"
        )
    events = sum(result["events"].values())
    start, end = (WHOLE_START, WHOLE_END) if result.get("whole") else (START, END)
    lines = [
        start,
        f"Measured {result['date']} on {result['machine']}, Python {result['python']}, "
        f"`{result['command']}` (commit {result.get('commit', '?')[:10]}), on "
        f"`{result['exports']}` ({events:,} exported events of {result['users']:,} people over "
        f"{result['export_days']} days); memory limit "
        f"{result['memory_limit'] or 'the default (8GB)'}; load (1, 5, 15 min) "
        f"{result['uptime_start']} at the start, {result.get('uptime_end', '?')} at the end.",
        "",
        *(f"- {fact}" for fact in facts),
        *(f"- {line}" for line in runs),
        "",
        stage_table(result),
        "",
        split_table(result),
        "",
        node_table(result),
        end,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.daily")
    parser.add_argument("--histories", default=",".join(map(str, HISTORIES)))
    parser.add_argument("--exports", type=Path, default=EXPORTS)
    parser.add_argument("--memory-limit", default=None, help="RECUR_DUCKDB_MEMORY_LIMIT")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    parser.add_argument("--report-only", action="store_true", help="from bench/out/daily.json")
    parser.add_argument("--commit", default="HEAD", help="the code to run (default HEAD)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add these histories to bench/out/daily.json, on its commit (a run stopped part-way)",
    )
    parser.add_argument(
        "--whole", action="store_true", help="each phase as one `recur run` of everything"
    )
    args = parser.parse_args()
    result_path, workdir = (WHOLE_RESULT, WHOLE_WORKDIR) if args.whole else (RESULT, WORKDIR)
    if args.report_only:
        result = json.loads(result_path.read_text())
    else:
        histories = [int(h) for h in args.histories.split(",")]
        merge = json.loads(result_path.read_text()) if args.merge else None
        revision = merge["commit"] if merge else args.commit
        result = run(
            histories,
            args.exports.resolve(),
            args.memory_limit,
            args.keep,
            revision,
            merge,
            args.whole,
        )
    for history, run_ in result["runs"].items():  # from the stages' logs, when kept
        for phase in ("full", "incremental"):
            for s in run_[phase]:
                log = workdir / f"h{history}" / phase / f"{s['stage']}.log"
                if "runs_seconds" not in s and "failed" not in s and log.exists():
                    s["runs_seconds"] = runs_seconds(log.read_text())
    text = report(result)
    print("\n" + text)
    from bench.__main__ import write_section

    if result.get("whole"):
        write_section(WHOLE_START, WHOLE_END, text, HEADING)
    else:
        write_section(START, END, text, HEADING)
    share = result["ratios"]["share"]
    return 0 if share and len(share) == len(result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
