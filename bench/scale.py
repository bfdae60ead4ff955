"""`make bench-scale`: the whole pipeline on tens of millions of events, DuckDB capped at 8 GB.

    python -m bench.scale [--users N] [--days D] [--memory-limit 8GB]
    python -m bench.scale generate USERS DAYS     # child: the exports (bench.generate), one JSON line

Not part of `make bench`: 42 minutes on a quiet 2-core machine, and about 65 GB of disk at the
peak (21 GB of exports, a 26 GB warehouse, up to 18 GB of DuckDB spill in the core models:
docs/benchmarks.md, "50M events on one machine"). The generator makes ~0.38 exported events per
person per day over 180 days (its churn lowers the rate as the window grows; 10,000 people over
180 days gave 684,210 events, Mixpanel and Amplitude), so 50M events need 730,000 people, the
default. The generator
simulates its whole world in memory first, about 410 bytes per event (500,000 people over 180 days:
34.4M events, 12.1 GB peak), so beyond 500,000 people ``bench.generate`` draws them in shards
(sandbox/shards.py): 730,000 people are two populations of 365,000 merged into one export folder.

Stages, each in its own process, timed by ``bench.dbt_build.measured`` (wall and CPU seconds, the
largest process's peak RSS, the 1-minute load average at its start):

1. generate: clean exports, made once per size and kept in bench/out (``bench.generate``);
2. the pipeline, as `recur run` runs it, one asset group after the other with
   ``recur run --select``: ingest (both sources, every day), core (staging, intermediate, core
   marts), analytics (retention and revenue cohorts, lifecycle, LTV, ...), audiences, syncs (to a
   sandbox HubSpot started here, as `recur demo` does, and to files), reports. Each run also
   evaluates its assets' checks (dbt tests, quality suites) and the blocking checks upstream;
3. checks: every quality suite once more on the finished warehouse, alone
   (``python -m bench.checks suites``), for their own time and memory.

The pipeline runs on a snapshot of the committed code (``git archive HEAD``) with a fresh warehouse,
sync state and ``DAGSTER_HOME`` under bench/out/scale/, so edits in the checkout during the hour do
not change what is measured. ``RECUR_DUCKDB_MEMORY_LIMIT`` caps DuckDB in dbt's profile; the
loader, the quality suites and the Python models' numpy work are not capped by it (see the results).
Results: bench/out/scale.json and the "scale results" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.dbt_build import measured

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- scale results: start -->", "<!-- scale results: end -->"
HEADING = "## 50M events on one machine"
USERS, DAYS, MEMORY_LIMIT = 730_000, 180, "8GB"
# (stage, selection): the groups of `recur run`, in the order its runs take them.
PIPELINE = [
    ("ingest", "group:ingest"),
    ("core", "group:staging or group:intermediate or group:core"),
    ("analytics", "group:analytics"),
    ("audiences", "group:audiences"),
    ("syncs", "group:syncs"),
    ("reports", "group:reports"),
]


def generate_child(users: int, days: int) -> dict:
    from bench.__main__ import generate

    exports = generate(users, days)
    summary = json.loads((exports / "truth" / "summary.json").read_text())["generation"]
    return {"exports": str(exports), "events": summary["events"]}


def _size_mb(path: Path) -> float:
    """A file's or a folder's size in MB (0 when absent)."""
    if path.is_file():
        return round(path.stat().st_size / 1e6, 1)
    if path.is_dir():
        return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6, 1)
    return 0.0


class SpillWatch:
    """Polls DuckDB's spill folder (``<warehouse>.tmp``) every 2 s while a stage runs: its
    largest size is how much a stage spilled beyond the memory limit at once."""

    def __init__(self, folder: Path) -> None:
        import threading

        self.folder, self.largest = folder, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(2.0):
            try:
                self.largest = max(self.largest, _size_mb(self.folder))
            except OSError:  # a spill file removed while summed
                pass

    def __enter__(self) -> SpillWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def resolve_commit(revision: str = "HEAD") -> str:
    """The full commit id of ``revision``."""
    return subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def snapshot(into: Path, revision: str = "HEAD") -> str:
    """The committed code (HEAD, or ``revision``) unpacked into ``into``; returns the commit."""
    commit = resolve_commit(revision)
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", commit], cwd=ROOT, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError("git archive HEAD failed")
    return commit


#: Models whose rows grow with people x periods, and the core tables they read.
ROWS = [
    "core.fct_events",
    "core.fct_sessions",
    "core.fct_orders",
    "core.dim_users",
    "analytics.retention_cohorts",
    "analytics.revenue_cohorts",
    "analytics.lifecycle_intervals",
    "analytics.user_lifecycle",
    "analytics.customer_ltv",
]


def rows(warehouse: Path) -> dict[str, int]:
    import duckdb

    counts = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in ROWS:
            try:
                counts[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
            except duckdb.Error:  # not built (a stage failed or was not reached)
                pass
    return counts


def dbt_nodes(target: Path, seen: set[Path]) -> list[dict]:
    """Per-node times of the dbt invocations a stage made (dagster-dbt writes each one's
    run_results.json in its own folder under the target path)."""
    from bench.dbt_build import node_times

    nodes = []
    for log in sorted(target.rglob("dbt.log"), key=lambda p: p.stat().st_mtime):
        if log.parent == target or log in seen:
            continue
        seen.add(log)
        finished = log.with_name("run_results.json")
        nodes += node_times(finished) if finished.exists() else logged_nodes(log)
    return nodes


def logged_nodes(log: Path) -> list[dict]:
    """The nodes a dbt invocation finished, from its JSON log: for one stopped before it wrote
    run_results.json."""
    nodes = []
    for line in log.read_text().splitlines():
        if '"execution_time"' not in line:
            continue
        data = json.loads(line)["data"]
        info = data.get("node_info") or {}
        # a node's result (LogModelResult, LogTestResult, ...), not NodeFinished's run_result
        if "unique_id" in info and "execution_time" in data:
            kind, _, name = info["unique_id"].split(".")[:3]
            nodes.append(
                {
                    "type": kind,
                    "name": name,
                    "status": info.get("node_status"),
                    "seconds": round(data["execution_time"], 2),
                    "rows": None,
                }
            )
    return nodes


def run(
    users: int,
    days: int,
    memory_limit: str,
    workdir: Path,
    result_path: Path,
    resume: bool = False,
) -> dict:
    """Every stage; the results are written to ``result_path`` after each, so a run stopped
    part-way keeps the figures of the stages it finished. ``resume`` keeps them and the
    warehouse, state and event log of ``workdir``, takes a new snapshot of HEAD (a fix made after
    a failure; each stage records its commit) and runs the stages not yet succeeded."""
    exports = OUT / f"exports-{users}u-{days}d"
    generated = OUT / f"exports-{users}u-{days}d.generate.json"
    if resume:
        return _resume(workdir, result_path, exports)
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_memory_gb():.0f} GB",
        "python": platform.python_version(),
        "users": users,
        "days": days,
        "memory_limit": memory_limit,
        "command": command_of(users, days, memory_limit),
        "stages": [],
        "finished": False,
    }

    def save() -> None:
        result_path.write_text(json.dumps(result, indent=2))

    if exports.exists() and not (exports / "truth" / "summary.json").exists():
        shutil.rmtree(exports)  # a generation stopped part-way
    if not generated.exists() or not (exports / "truth" / "summary.json").exists():
        print(f"generating {users:,} people over {days} days into {exports} ...")
        step = measured(
            [sys.executable, "-m", "bench.scale", "generate", str(users), str(days)],
            OUT / f"exports-{users}u-{days}d.generate.log",
        )
        generated.write_text(json.dumps(step, indent=2))
    step = json.loads(generated.read_text())
    summary = json.loads((exports / "truth" / "summary.json").read_text())["generation"]
    result["events"] = summary["events"]
    result["exports"] = str(exports.relative_to(ROOT))
    result["exports_mb"] = _size_mb(exports)
    result["stages"].append({"stage": "generate", "selection": ""} | step)
    save()

    src, env, warehouse = workspace(workdir, exports, memory_limit)
    result["commit"] = env["RECUR_BENCH_COMMIT"]
    return _pipeline(result, save, workdir, src, env, warehouse)


def _resume(workdir: Path, result_path: Path, exports: Path) -> dict:
    """Continue the run recorded in ``result_path`` from its first stage that did not succeed."""
    result = json.loads(result_path.read_text())
    result["stages"] = [s for s in result["stages"] if "failed" not in s and "stopped" not in s]
    result["finished"] = False

    def save() -> None:
        result_path.write_text(json.dumps(result, indent=2))

    src, env, warehouse = workspace(workdir, exports, result["memory_limit"], keep=True)
    result.setdefault("resumed", []).append(
        {
            "commit": env["RECUR_BENCH_COMMIT"],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
    )
    return _pipeline(result, save, workdir, src, env, warehouse)


def _pipeline(
    result: dict,
    save: Callable[[], None],
    workdir: Path,
    src: Path,
    env: dict[str, str],
    warehouse: Path,
) -> dict:
    """The pipeline's stages and the checks that have not succeeded yet, in order."""
    done = {s["stage"] for s in result["stages"]}
    from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer

    # As `recur demo` does: the syncs talk to a local HubSpot (its default limits, 190 requests
    # per 10 s), never a real account; it runs in this process, outside the stages' figures.
    hubspot = HubSpotServer(workdir / "hubspot.sqlite")
    hubspot.start()
    env |= {"HUBSPOT_BASE_URL": hubspot.url, "HUBSPOT_ACCESS_TOKEN": SANDBOX_HUBSPOT_TOKEN}
    recur = str(Path(sys.executable).with_name("recur"))
    seen: set[Path] = set()
    try:
        for name, selection in PIPELINE:
            if name in done:
                continue
            command = [recur, "run", "--select", selection]
            if not stage(result, name, selection, command, workdir, env, src, warehouse, seen):
                save()
                return result
            save()
        manifest = src / "dbt_project" / "target" / "manifest.json"
        command = [sys.executable, "-m", "bench.checks", "suites", str(warehouse), str(manifest)]
        if stage(result, "checks", "", [*command, "pushdown"], workdir, env, src, warehouse, seen):
            log = (workdir / "checks.log").read_text().strip().splitlines()[-1]
            suites = json.loads(log)["suites"]
            result["stages"][-1]["suites"] = suites
            result["finished"] = True
        result["contacts"] = len(hubspot.contacts())
    finally:
        hubspot.stop()
        save()
    return result


def workspace(
    workdir: Path,
    exports: Path,
    memory_limit: str | None,
    revision: str = "HEAD",
    keep: bool = False,
) -> tuple[Path, dict[str, str], Path]:
    """A fresh ``workdir`` holding a snapshot of HEAD or ``revision`` (``src``), a
    ``DAGSTER_HOME`` and the places of the warehouse and sync state; returns the snapshot, the
    environment of the stages (the commit in ``RECUR_BENCH_COMMIT``) and the warehouse file.
    ``keep`` keeps the warehouse, state and ``DAGSTER_HOME`` of ``workdir``: a new snapshot only."""
    home, src = workdir / "dagster_home", workdir / "src"
    shutil.rmtree(src if keep else workdir, ignore_errors=True)
    commit = snapshot(src, revision)
    if not keep:
        home.mkdir()
        shutil.copy(src / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    warehouse = workdir / "warehouse.duckdb"
    env = os.environ | {
        "DO_NOT_TRACK": "1",
        "PYTHONPATH": str(src),
        "DAGSTER_HOME": str(home),
        "RECUR_EXPORTS": str(exports),
        "RECUR_WAREHOUSE": str(warehouse),
        "RECUR_STATE": str(workdir / "state.duckdb"),
        "RECUR_BENCH_COMMIT": commit,
    }
    if memory_limit:
        env["RECUR_DUCKDB_MEMORY_LIMIT"] = memory_limit
    return src, env, warehouse


def stage(
    result: dict,
    name: str,
    selection: str,
    command: list[str],
    workdir: Path,
    env: dict[str, str],
    src: Path,
    warehouse: Path,
    seen: set[Path],
) -> bool:
    """Run one stage, append its figures to ``result``; False when it failed."""
    print(f"{time.strftime('%H:%M:%S')} {name}: {' '.join(command[1:])} ...", flush=True)
    entry: dict = {"stage": name, "selection": selection, "commit": env["RECUR_BENCH_COMMIT"]}
    with SpillWatch(warehouse.with_name(warehouse.name + ".tmp")) as spill:
        try:
            entry |= measured(command, workdir / f"{name}.log", env, cwd=src)
        except RuntimeError as exc:
            entry |= {"failed": str(exc)[-3000:], "load_before": None}
    entry["spill_mb"] = spill.largest
    entry["warehouse_mb"] = _size_mb(warehouse)
    nodes = dbt_nodes(src / "dbt_project" / "target", seen)
    if nodes:
        entry["dbt_nodes"] = nodes
    if name != "ingest" and warehouse.exists():
        try:
            entry["rows"] = rows(warehouse)
        except Exception as exc:  # noqa: BLE001  (the figures matter more than the counts)
            entry["rows_error"] = str(exc)
    result["stages"].append(entry)
    if "failed" in entry:
        print(f"  {name} FAILED: see {workdir / (name + '.log')}", flush=True)
        return False
    print(
        f"  {name}: {entry['seconds']:.1f} s, {entry['cpu_seconds']:.0f} s CPU, "
        f"{entry['peak_rss_mb']:,.0f} MB, warehouse {entry['warehouse_mb']:,.0f} MB, "
        f"spill {entry['spill_mb']:,.0f} MB",
        flush=True,
    )
    return True


def command_of(users: int, days: int, memory_limit: str) -> str:
    if (users, days, memory_limit) == (USERS, DAYS, MEMORY_LIMIT):
        return "make bench-scale"
    parts = ["python -m bench.scale"]
    parts += [f"--users {users}"] if users != USERS else []
    parts += [f"--days {days}"] if days != DAYS else []
    parts += [f"--memory-limit {memory_limit}"] if memory_limit != MEMORY_LIMIT else []
    return " ".join(parts)


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


# --- report ------------------------------------------------------------------------------------

#: The dbt models shown one by one in the report: those growing with people x periods.
GROWING = ("retention_cohorts", "revenue_cohorts", "lifecycle_intervals", "user_lifecycle")


def table(result: dict) -> str:
    """Per stage: wall and CPU seconds, peak memory, spill, warehouse size, load; then the
    models growing with people x periods."""
    rows_ = [
        "| stage | what runs | seconds | CPU s | peak memory MB (largest process) "
        "| most spilled at once MB | warehouse MB after | load avg (1 min) at start | outcome |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in result["stages"]:
        what = f'`recur run --select "{s["selection"]}"`' if s["selection"] else ""
        if s["stage"] == "generate":
            what = f"`bench.generate` ({result['exports_mb']:,.0f} MB of exports)"
        elif s["stage"] == "checks":
            what = "every quality suite once more, alone (`python -m bench.checks suites`)"
        if "stopped" in s:  # stopped from outside (a deadline): its figures until then
            rows_.append(
                f"| {s['stage']} | {what} | {s['seconds_until_stopped']:,.1f} (stopped) | | "
                f"{s.get('peak_rss_mb_seen', 0):,.0f} (seen) | {s.get('spill_mb', 0):,.0f} | "
                f"{s.get('warehouse_mb', 0):,.0f} | {s['load_at_start']:.2f} | "
                f"**stopped**: {s['stopped']} |"
            )
            continue
        if "failed" in s:
            first = s["failed"].splitlines()[0][:200]
            rows_.append(f"| {s['stage']} | {what} | | | | | | | **failed**: {first} |")
            continue
        spill = f"{s['spill_mb']:,.0f}" if "spill_mb" in s else ""
        size = f"{s['warehouse_mb']:,.0f}" if "warehouse_mb" in s else ""
        rows_.append(
            f"| {s['stage']} | {what} | {s['seconds']:,.1f} | {s['cpu_seconds']:,.1f} | "
            f"{s['peak_rss_mb']:,.0f} | {spill} | {size} | {s['load_before']:.2f} | ok |"
        )
    done = [s for s in result["stages"] if "failed" not in s]
    rows_.append(
        f"| **total** | | **{sum(s['seconds'] for s in done):,.1f}** | "
        f"{sum(s['cpu_seconds'] for s in done):,.1f} | "
        f"{max(s['peak_rss_mb'] for s in done):,.0f} | | | | |"
    )
    counts: dict[str, int] = {}
    for s in result["stages"]:
        counts |= s.get("rows", {})
    nodes = {
        n["name"]: (s["stage"], n)
        for s in result["stages"]
        for n in s.get("dbt_nodes", [])
        if n["type"] == "model"
    }
    rows_ += [
        "",
        "| model | stage | rows | dbt's seconds | status |",
        "|---|---|---:|---:|---|",
    ]
    slowest = sorted(nodes.values(), key=lambda sn: -sn[1]["seconds"])[:8]
    shown = {n["name"] for _, n in slowest} | {g for g in GROWING if g in nodes}
    for stage_name, n in sorted((nodes[m] for m in shown), key=lambda sn: -sn[1]["seconds"]):
        table_ = next((t for t in counts if t.endswith("." + n["name"])), None)
        count = f"{counts[table_]:,}" if table_ else ""
        rows_.append(
            f"| {n['name']} | {stage_name} | {count} | {n['seconds']:,.1f} | {n['status']} |"
        )
    return "\n".join(rows_)


def report(result: dict) -> str:
    events = result.get("events", {})
    total = sum(events.values())
    stages = [s["stage"] for s in result["stages"]]
    missing = [n for n in ["generate", *(n for n, _ in PIPELINE), "checks"] if n not in stages]
    failed = [s["stage"] for s in result["stages"] if "failed" in s and "stopped" not in s]
    stopped = [s["stage"] for s in result["stages"] if "stopped" in s]
    if result.get("finished"):
        status = "every stage succeeded"
    elif failed:
        status = f"**not finished**: failed at {', '.join(failed)}"
    elif stopped:
        status = f"**not finished**: stopped during {', '.join(stopped)}"
    else:
        status = "**not finished**"
    status += f"; not reached: {', '.join(missing)}" if missing else ""
    for again in result.get("resumed", []):
        status += f"; resumed {again['date']} on commit {again['commit'][:10]} (`--resume`)"
    lines = [
        START,
        f"Measured {result['date']} on {result['machine']}, Python {result['python']}, "
        f"`{result['command']}` (commit {result.get('commit', '?')[:10]}): "
        f"{total:,} exported events ("
        + ", ".join(f"{source} {n:,}" for source, n in events.items())
        + f") of {result['users']:,} people over {result['days']} days (`{result.get('exports')}`), "
        f"`RECUR_DUCKDB_MEMORY_LIMIT={result['memory_limit']}`; {status}"
        + (
            f"; {result['contacts']:,} contacts in the sandbox HubSpot."
            if "contacts" in result
            else "."
        ),
        "",
        table(result),
        END,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--users", type=int, default=USERS, help=f"people (default {USERS:,})")
    parser.add_argument("--days", type=int, default=DAYS, help=f"days (default {DAYS})")
    parser.add_argument(
        "--memory-limit", default=MEMORY_LIMIT, help="RECUR_DUCKDB_MEMORY_LIMIT (default 8GB)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue bench/out/scale.json's run from its first stage that did not succeed, "
        "on a new snapshot of HEAD, keeping its warehouse (e.g. after a fix)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the docs section from bench/out/scale.json (e.g. of a run stopped part-way)",
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    result_path = OUT / "scale.json"
    if args.report_only:
        result = json.loads(result_path.read_text())
    else:
        result = run(
            args.users, args.days, args.memory_limit, OUT / "scale", result_path, args.resume
        )
    text = report(result)
    print("\n" + text)
    from bench.__main__ import write_section

    write_section(START, END, text, HEADING)
    return 0 if result.get("finished") else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        print(json.dumps(generate_child(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
