"""`make bench`: generate the benchmark data once, run each case in a fresh process, report.

    python -m bench [--only {ingest,dbt,clv,sync,checks}] [--shape {small,big}] [--users N] [--days D]
                    [--dbt-users N] [--dbt-days D] [--contacts N]

Five benchmarks, all by default:

- ingest (bench/ingest.py): Recur's loader against DuckDB and pandas on ~1M events per source in
  30 daily files, with 1% bad lines and 1% duplicates (bench/faulty.py); results in
  bench/out/ingest.json and the "ingest results" section of docs/benchmarks.md. ``--shape big``
  (not part of the default run) loads 3 Mixpanel days of about 300 MB each instead, with the
  loader, with `recur run --select group:ingest` and with DuckDB: bench/out/ingest-big.json and
  the "ingest big results" section;
- dbt (bench/dbt_build.py): a full ``dbt build`` on ~10M events, then an incremental one after
  one more export day; results in bench/out/dbt.json and the "dbt results" section.
- clv (bench/clv.py): fitting and scoring 1M customers with clv/ and with lifetimes; the
  "clv results" section.
- sync (bench/sync.py): 20k and 100k contacts to the sandbox HubSpot at 190 requests / 10 s, answered at
  once and after a 0.4 s median (1.5 s p99) latency, each with a re-run with nothing changed;
  the "sync results" section.
- checks (bench/checks.py): every quality suite of a daily run on the dbt benchmark's ~10M events
  (whole project built, one more day loaded and built), as Recur runs them and with every suite's
  rows read into pandas; the "checks results" section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import dbt_build
from bench.faulty import faulty_copy
from bench.ingest import BIG_CASES, CASES, CLEAN_TOOLS, DEFAULT_CASES

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- ingest results: start -->", "<!-- ingest results: end -->"
BIG_START, BIG_END = "<!-- ingest big results: start -->", "<!-- ingest big results: end -->"
DBT_START, DBT_END = "<!-- dbt results: start -->", "<!-- dbt results: end -->"
BENCHMARKS = ("ingest", "dbt", "clv", "sync", "checks")
CLV_START, CLV_END = "<!-- clv results: start -->", "<!-- clv results: end -->"
CHECKS_START, CHECKS_END = "<!-- checks results: start -->", "<!-- checks results: end -->"
SYNC_START, SYNC_END = "<!-- sync results: start -->", "<!-- sync results: end -->"
# ~0.51 exported events per person per day over 91 days (the generator's churn lowers it as the
# window grows): 208,000 people give ~9.7M events, about 98 s to generate and 3.8 GB on disk.
DBT_USERS, DBT_DAYS = 208_000, 91
# 20k contacts fit one rate window and a bit (204 requests); 100k show the steady pace.
SYNC_CONTACTS = [20_000, 100_000]
# The big-file shape: 3 Mixpanel days of about 300 MB (about 500k events) each.
BIG_USERS, BIG_DAYS = 333_000, 3


# The generator holds its whole world in memory, ~410 bytes per event: 500,000 people over 180
# days (34M events) peak at 12.1 GB. More people are drawn in shards of at most this many.
SHARD_USERS = 500_000


def generate(users: int, days: int) -> Path:
    """Clean exports (pandas cannot read faulty lines), made once per size and kept in bench/out;
    beyond SHARD_USERS people, in shards (sandbox/shards.py)."""
    exports = OUT / f"exports-{users}u-{days}d"
    if not (exports / "truth" / "summary.json").exists():
        if users > SHARD_USERS:
            from sandbox.shards import generate_in_shards

            shards = -(-users // SHARD_USERS)
            generate_in_shards(exports, users, days, seed=7, shards=shards, faults=0.0)
        else:
            from sandbox.generate import generate as write

            write(exports, users=users, days=days, seed=7, faults=0.0)
    return exports


def table(results: list[dict]) -> str:
    by = {r["case"]: r for r in results}
    rows = [
        "| case | events | NDJSON MB | seconds | events/s | MB/s | peak memory MB | vs DuckDB scan "
        "| vs DuckDB, clean files | vs pandas | CPU s | CPU vs DuckDB | every round s "
        "| load avg (1 min) at each round's start |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        source = r["case"].split()[0].split("-")[1]
        rate = r["events"] / r["seconds"]
        vs_duckdb = by[f"duckdb-{source}"]["seconds"] / r["seconds"]
        pandas, bare = by.get(f"pandas-{source}"), by.get(f"duckdbclean-{source}")
        vs_pandas = f"{pandas['seconds'] / r['seconds']:.1f}x" if pandas else ""
        vs_clean = f"{bare['seconds'] / r['seconds']:.0%}" if bare else ""
        # CPU seconds of the best round (results written before they were recorded have none)
        cpu = f"{r['cpu_s']:.1f}" if "cpu_s" in r else ""
        base = by[f"duckdb-{source}"].get("cpu_s")
        vs_cpu = f"{base / r['cpu_s']:.0%}" if base and "cpu_s" in r else ""
        rows.append(
            f"| {r['case']} | {r['events']:,} | {r['ndjson_mb']:,.0f} | {r['seconds']:.2f} | "
            f"{rate:,.0f} | {r['ndjson_mb'] / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} | "
            f"{vs_duckdb:.0%} | {vs_clean} | {vs_pandas} | {cpu} | {vs_cpu} | "
            + ", ".join(f"{x:.2f}" for x in r["all_seconds"])
            + " | "
            + ", ".join(f"{x:.1f}" for x in r["all_loads"])
            + " |"
        )
    return "\n".join(rows)


def write_section(start: str, end: str, report: str, heading: str) -> None:
    """Replace the text between ``start`` and ``end`` in docs/benchmarks.md; a new section goes
    at the end under ``heading``."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if start not in text:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    DOC.write_text(head + report + rest.split(end, 1)[1])


def ingest(args: argparse.Namespace) -> None:
    big = args.shape == "big"
    users, days = (BIG_USERS, BIG_DAYS) if big else (args.users, args.days)
    cases = args.cases or (BIG_CASES if big else DEFAULT_CASES)
    print(f"generating benchmark exports ({users:,} people, {days} days) ...")
    clean = generate(users, days)
    sources = tuple(dict.fromkeys(case.split("-")[1] for case in cases))
    print(f"copying them with 1% bad lines and 1% duplicates ({', '.join(sources)}) ...")
    exports = faulty_copy(clean, OUT / f"{clean.name}-faulty-{'-'.join(sources)}", sources)
    # Rounds interleave the cases, so a slow spell of the machine hits all of them; each case keeps
    # its best round (its peak memory is the largest of its rounds).
    # (label, case, environment): with --baseline, Recur's cases once more on the code of that
    # checkout (first on sys.path), side by side in the same rounds.
    env = os.environ | {"DO_NOT_TRACK": "1"}
    runners = [(case, case, env) for case in cases]
    if args.baseline:
        base = env | {"PYTHONPATH": str(args.baseline.resolve())}
        runners += [
            (f"{case} (baseline)", case, base) for case in cases if case.startswith("recur")
        ]
    for _, case, environ in runners:  # dbt's manifest, which a run's definitions read, made now
        if case.startswith("recurrun"):
            subprocess.run(
                [sys.executable, "-c", "import orchestration.dbt_project"],
                check=True,
                env=environ,
                cwd=environ.get("PYTHONPATH", ROOT),
            )
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in runners}
    for round_ in range(1, args.repeats + 1):
        for label, case, environ in runners:
            folder = clean if case.split("-")[0] in CLEAN_TOOLS else exports
            done = subprocess.run(
                [sys.executable, str(ROOT / "bench" / "ingest.py"), case, str(folder), str(OUT)],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=environ,
            )
            runs[label].append(json.loads(done.stdout.strip().splitlines()[-1]) | {"case": label})
            last = runs[label][-1]
            print(
                f"  round {round_} {label}: {last['seconds']:.2f} s, {last['peak_rss_mb']:.0f} MB"
            )
    results = [
        min(rounds, key=lambda r: r["seconds"])
        | {
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
            "all_seconds": [r["seconds"] for r in rounds],
            "all_loads": [r["load_1m"] for r in rounds],
        }
        for rounds in runs.values()
    ]
    (OUT / ("ingest-big.json" if big else "ingest.json")).write_text(json.dumps(results, indent=2))
    faults = json.loads((exports / "faults.json").read_text())
    command = "python -m bench --only ingest " + (
        "--shape big" if big else f"--users {args.users} --days {args.days}"
    )
    if args.cases:
        command += " --cases " + " ".join(args.cases)
    if args.baseline:
        command += f" --baseline {args.baseline}"
    start, end = (BIG_START, BIG_END) if big else (START, END)
    report = "\n".join(
        [
            start,
            f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC on {platform.machine()} "
            f"({os.cpu_count()} cores), Python {platform.python_version()}, `{command} "
            f"--repeats {args.repeats}`: {users:,} people over {days} days, "
            + "; ".join(
                f"{source} {f['lines']:,} lines of which {f['bad']:,} bad and "
                f"{f['duplicates']:,} exact duplicates"
                for source, f in faults.items()
            )
            + f" (`{exports.relative_to(ROOT)}`; the pandas and duckdbclean cases read the clean "
            "files). Best of "
            f"{args.repeats} interleaved rounds; every round's seconds and the 1-minute load "
            "average at its start in the last columns:",
            "",
            table(results),
            *_runs_of(results),
            end,
        ]
    )
    print("\n" + report)
    write_section(start, end, report, "## Ingest")


def _runs_of(results: list[dict]) -> list[str]:
    """For each `recur run` case: its Dagster runs in its best round, and the rest of its time."""
    lines = []
    for r in results:
        if "runs" in r:
            runs = ", ".join(f"{name} {status} {s:.1f} s" for name, status, s in r["runs"])
            rest = r["seconds"] - sum(s for _, _, s in r["runs"])
            lines.append(
                f"\n{r['case']}, best round: Dagster runs {runs}; the rest, {rest:.1f} s, is "
                "Python, Dagster and the definitions starting and the runs being set up."
            )
    return lines


def dbt(args: argparse.Namespace) -> None:
    print(f"generating dbt benchmark exports ({args.dbt_users:,} people, {args.dbt_days} days) ...")
    started = time.perf_counter()
    exports = generate(args.dbt_users, args.dbt_days)
    print(f"  ready in {time.perf_counter() - started:.0f} s: {exports.relative_to(ROOT)}")
    result = dbt_build.run(exports, OUT / "dbt")
    (OUT / "dbt.json").write_text(json.dumps(result, indent=2))
    steps = result["steps"]
    command = (
        "python -m bench --only dbt"
        if (args.dbt_users, args.dbt_days) == (DBT_USERS, DBT_DAYS)
        else f"python -m bench --only dbt --dbt-users {args.dbt_users} --dbt-days {args.dbt_days}"
    )
    report = "\n".join(
        [
            DBT_START,
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} "
            f"({os.cpu_count()} cores, {_memory_gb():.0f} GB), Python {platform.python_version()}, "
            f"`{command}`: {result['exported_events']:,} exported events of {result['users']:,} "
            f"people over {result['days']} days (`{result['exports']}`). Each build is "
            f"`{steps['build_full']['command']}` with `DO_NOT_TRACK=1` and `RECUR_WAREHOUSE` set "
            f"to the benchmark's warehouse (dbt's target and logs under `bench/out/dbt/`); peak "
            f"memory by {steps['build_full']['method']}. Rows after the incremental build: "
            + ", ".join(f"{table} {n:,}" for table, n in result["rows"].items())
            + f"; warehouse file {result['warehouse_mb']:,} MB. Models s and tests s are sums of "
            "dbt's per-node times (`run_results.json`, kept in `bench/out/dbt/`): a `dbt run` "
            "takes about models s + dbt overhead s. CPU s is user + system time of dbt and "
            "DuckDB; the load average is the 1-minute one when the step started (other work on "
            "the machine slows the wall times).",
            "",
            dbt_build.table(result),
            DBT_END,
        ]
    )
    print("\n" + report)
    write_section(DBT_START, DBT_END, report, "## dbt: full and incremental build")


def clv(args: argparse.Namespace) -> None:
    """Fit and score 1M customers with clv/ and with lifetimes (bench/clv.py)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.clv"], check=True, capture_output=True, text=True, cwd=ROOT
    )
    report = done.stdout.split("\n\nMeasured", 1)[-1]
    report = "\n".join([CLV_START, "Measured" + report.rstrip(), CLV_END])
    print("\n" + report)
    write_section(CLV_START, CLV_END, report, "## Predicted LTV: clv/ against lifetimes")


def checks(args: argparse.Namespace) -> None:
    """Every quality suite of a daily run on the dbt benchmark's ~10M events (bench/checks.py)."""
    subprocess.run([sys.executable, "-m", "bench.checks"], check=True, cwd=ROOT)
    report = (OUT / "checks.md").read_text().rstrip()
    report = "\n".join([CHECKS_START, report, CHECKS_END])
    write_section(CHECKS_START, CHECKS_END, report, "## Checks on 10M events")


def sync(args: argparse.Namespace) -> None:
    """Sync contacts to the sandbox HubSpot at its rate limit (bench/sync.py)."""
    cases = []
    for contacts in args.contacts:
        command = ["-m", "bench.sync", "--contacts", str(contacts)]
        done = subprocess.run(
            [sys.executable, *command], check=True, capture_output=True, text=True, cwd=ROOT
        )
        cases += json.loads(done.stdout.strip().splitlines()[-1])
    (OUT / "sync.json").write_text(json.dumps(cases, indent=2))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    contacts_shown = " ".join(str(n) for n in args.contacts)
    report = "\n".join(
        [
            SYNC_START,
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} "
            f"cores, load average {load} at the end), Python {platform.python_version()}, "
            f"`python -m bench --only sync"
            f"{'' if args.contacts == SYNC_CONTACTS else ' --contacts ' + contacts_shown}`: "
            "the engine "
            "with hubspot-api-client against the sandbox HubSpot in its own process, limit 190 "
            "requests per rolling 10 s, 100 contacts per `batch/upsert`, no list.",
            "",
            "| case | latency median:p99 s | batches in flight | contacts | seconds | contacts/s "
            "| share of 1,900/s ceiling | requests | 429s | most open at the sandbox "
            "| re-run unchanged: seconds | re-run requests |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {r['case']} | {r['latency']} | {r['concurrency']} | {r['contacts']:,} | "
                f"{r['seconds']} | {r['contacts_per_s']:,} | {r['share_of_ceiling']:.1%} | "
                f"{r['requests']:,} | {r['throttled_429']} | {r['max_in_flight']} | "
                f"{r['rerun_seconds']} | {r['rerun_requests']} |"
                for r in cases
            ),
            SYNC_END,
        ]
    )
    print("\n" + report)
    write_section(SYNC_START, SYNC_END, report, "## Reverse-ETL: syncing to HubSpot")


def _memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=BENCHMARKS, help="run one benchmark (default: all)")
    parser.add_argument("--users", type=int, default=75_000, help="ingest: people")
    parser.add_argument("--days", type=int, default=30, help="ingest: days")
    parser.add_argument(
        "--shape",
        choices=("small", "big"),
        default="small",
        help="ingest: 30 small daily files (--users, --days) or 3 Mixpanel days of ~300 MB",
    )
    parser.add_argument("--cases", nargs="*", choices=CASES, help="ingest: cases")
    parser.add_argument("--repeats", type=int, default=3, help="ingest: rounds, best one kept")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="ingest: a checkout of earlier code (`git archive`), whose loader runs beside",
    )
    parser.add_argument("--dbt-users", type=int, default=DBT_USERS, help="dbt: people")
    parser.add_argument("--dbt-days", type=int, default=DBT_DAYS, help="dbt: days (> 90)")
    parser.add_argument(
        "--contacts", type=int, nargs="+", default=SYNC_CONTACTS, help="sync: contacts, per run"
    )
    args = parser.parse_args()
    if args.dbt_days <= dbt_build.INITIAL_DAYS:
        parser.error(f"--dbt-days must be more than {dbt_build.INITIAL_DAYS}")
    OUT.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "ingest"):
        ingest(args)
    if args.only in (None, "dbt"):
        dbt(args)
    if args.only in (None, "clv"):
        clv(args)
    if args.only in (None, "sync"):
        sync(args)
    if args.only in (None, "checks"):
        checks(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
