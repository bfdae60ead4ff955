"""Sync benchmark: contacts to the sandbox HubSpot at its 190 requests / 10 s limit, answered at
once and answered after a HubSpot-like latency.

    python -m bench.sync [--contacts 20000] [--concurrency N]

The sandbox runs in its own process (as HubSpot runs on its own servers), with HubSpot's
Professional burst limit of 190 requests per rolling 10 s. The sync is the engine with the
real hubspot-api-client: one ``batch/upsert`` per 100 contacts, no list (a list adds one
membership call per 100). Two cases, each against a fresh sandbox:

* ``no delay``: the sandbox answers as fast as it can (a few ms on localhost);
* ``latency``: every answer is delayed by a lognormal draw with a 0.4 s median and a 1.5 s
  99th percentile (seed 0), about what HubSpot's batch endpoints take from Europe.

Reported per case: contacts per second against the limit's ceiling (100 inputs x 19
requests/s = 1,900 contacts/s), the 429s received, the most requests the sandbox saw at once,
and a re-run with nothing changed (time and requests). Prints one JSON line last: a list of
the cases.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from sandbox.servers.own_process import HubSpotProcess
from syncs.destinations.hubspot import HubSpotDestination, HubSpotSettings
from syncs.engine import CONCURRENCY, run_sync
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec
from syncs.state import StateStore

TOKEN = "sandbox-hubspot-token"
CEILING = 1_900  # contacts/s: 190 requests per 10 s x 100 inputs
#: (name, latency as MEDIAN:P99 seconds or "" for none)
CASES = (("no delay", ""), ("latency", "0.4:1.5"))
SPEC = SyncSpec(
    "aud_bench",
    "hubspot",
    "email",
    (
        ("firstname", "first_name"),
        ("recur_ltv_tier", "ltv_tier"),
        ("recur_predicted_ltv", "predicted_ltv"),
        ("recur_rfm_segment", "rfm_segment"),
    ),
)


def audience(path: Path, contacts: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema audiences")
    con.execute(
        f"""create table audiences.aud_bench as
            select 'person' || i || '@example.com' as email, 'Name' || i as first_name,
                   ['low', 'medium', 'high'][i % 3 + 1] as ltv_tier,
                   round(i * 0.37 % 900, 2)::decimal(12, 2) as predicted_ltv,
                   ['Champions', 'At Risk', 'Lost'][i % 3 + 1] as rfm_segment
            from range({contacts}) t(i)"""
    )
    con.close()


def run_case(tmp: Path, name: str, latency: str, concurrency: int) -> dict:
    """One sync of the whole audience to a fresh sandbox, then a re-run with nothing changed."""
    with HubSpotProcess(tmp / f"hubspot-{name}.sqlite", latency=latency) as server:
        settings = HubSpotSettings(access_token=TOKEN, base_url=server.url)
        limiter = RateLimiter(190, 10.0, headroom=settings.headroom)
        con = duckdb.connect(str(tmp / "warehouse.duckdb"), read_only=True)
        with StateStore(tmp / f"state-{name}.duckdb") as state:
            runs = []
            for _ in range(2):
                started = time.perf_counter()
                result = run_sync(
                    SPEC,
                    warehouse=con,
                    state=state,
                    destination=lambda: HubSpotDestination(settings, limiter=limiter),
                    concurrency=concurrency,
                )
                runs.append((time.perf_counter() - started, result))
        con.close()
        max_in_flight = server.max_in_flight()
    (first_s, first), (rerun_s, rerun) = runs
    rate = first.counts["delivered"] / first_s
    return {
        "case": name,
        "latency": latency or "none",
        "concurrency": concurrency,
        "contacts": first.counts["audience_rows"],
        "seconds": round(first_s, 1),
        "contacts_per_s": round(rate),
        "share_of_ceiling": round(rate / CEILING, 3),
        "requests": first.counts["requests"],
        "throttled_429": first.counts["throttled"],
        "retries": first.counts["retries"],
        "delivered": first.counts["delivered"],
        "max_in_flight": max_in_flight,
        "rerun_seconds": round(rerun_s, 2),
        "rerun_requests": rerun.counts["requests"],
        "rerun_status": rerun.status,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync")
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help="batches in flight at once"
    )
    parser.add_argument("--cases", nargs="*", default=[n for n, _ in CASES])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audience(tmp / "warehouse.duckdb", args.contacts)
        report = [
            run_case(tmp, name, latency, args.concurrency)
            for name, latency in CASES
            if name in args.cases
        ]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
