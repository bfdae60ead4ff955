"""`make bench`: generate the benchmark data once, run each case in a fresh process, report.

    python -m bench [--mixpanel-users N] [--days D]

Results go to bench/out/ingest.json and into the marked section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench.ingest import CASES

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- ingest results: start -->", "<!-- ingest results: end -->"


def generate(users: int, days: int) -> Path:
    """Clean exports (pandas cannot read faulty lines) for ~1M events per source, made once."""
    exports = OUT / f"exports-{users}u-{days}d"
    if not (exports / "truth" / "summary.json").exists():
        from sandbox.generate import generate as write

        write(exports, users=users, days=days, seed=7, faults=0.0)
    return exports


def table(results: list[dict]) -> str:
    by = {r["case"]: r for r in results}
    rows = [
        "| case | events | NDJSON MB | seconds | events/s | MB/s | peak memory MB | vs DuckDB scan | vs pandas |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        source = r["case"].split("-")[1]
        rate = r["events"] / r["seconds"]
        vs_duckdb = by[f"duckdb-{source}"]["seconds"] / r["seconds"]
        vs_pandas = by[f"pandas-{source}"]["seconds"] / r["seconds"]
        rows.append(
            f"| {r['case']} | {r['events']:,} | {r['ndjson_mb']:,.0f} | {r['seconds']:.2f} | "
            f"{rate:,.0f} | {r['ndjson_mb'] / r['seconds']:,.0f} | {r['peak_rss_mb']:,.0f} | "
            f"{vs_duckdb:.0%} | {vs_pandas:.1f}x |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--users", type=int, default=75_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating benchmark exports ({args.users:,} people, {args.days} days) ...")
    exports = generate(args.users, args.days)
    results = []
    for case in args.cases:
        done = subprocess.run(
            [sys.executable, "-m", "bench.ingest", case, str(exports), str(OUT)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {case}: {results[-1]['seconds']:.2f} s, {results[-1]['peak_rss_mb']:.0f} MB")
    (OUT / "ingest.json").write_text(json.dumps(results, indent=2))
    report = "\n".join(
        [
            START,
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
            f"{platform.python_version()}, `python -m bench --users {args.users} --days {args.days}`:",
            "",
            table(results),
            END,
        ]
    )
    print("\n" + report)
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    DOC.write_text(head + report + rest.split(END, 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
