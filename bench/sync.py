"""Sync benchmark: 100k contacts to the sandbox HubSpot at its 190 requests / 10 s limit.

    python -m bench.sync [--contacts 100000]

The sandbox runs in its own process (as HubSpot runs on its own servers), with HubSpot's
Professional burst limit of 190 requests per rolling 10 s. The sync is the engine with the
real hubspot-api-client: one ``batch/upsert`` per 100 contacts, no list (a list adds one
membership call per 100). Reported: contacts per second against the limit's ceiling (100 inputs
x 19 requests/s = 1,900 contacts/s), the 429s received, and a re-run with nothing changed
(time and requests). Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from syncs.destinations.hubspot import HubSpotDestination, HubSpotSettings
from syncs.engine import run_sync
from syncs.pacing import RateLimiter
from syncs.spec import SyncSpec
from syncs.state import StateStore

TOKEN = "sandbox-hubspot-token"
CEILING = 1_900  # contacts/s: 190 requests per 10 s x 100 inputs
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

SERVE = """
import sys, threading
from sandbox.servers.hubspot import HubSpotServer
server = HubSpotServer(sys.argv[1])
server.start("127.0.0.1", 0)
print(server.url, flush=True)
threading.Event().wait()
"""


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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync")
    parser.add_argument("--contacts", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        audience(tmp / "warehouse.duckdb", args.contacts)
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(tmp / "hubspot.sqlite")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            url = server.stdout.readline().strip()
            settings = HubSpotSettings(access_token=TOKEN, base_url=url)
            limiter = RateLimiter(190, 10.0, headroom=settings.headroom)
            con = duckdb.connect(str(tmp / "warehouse.duckdb"), read_only=True)
            with StateStore(tmp / "state.duckdb") as state:
                runs = []
                for _ in range(2):
                    started = time.perf_counter()
                    result = run_sync(
                        SPEC,
                        warehouse=con,
                        state=state,
                        destination=lambda: HubSpotDestination(settings, limiter=limiter),
                    )
                    runs.append((time.perf_counter() - started, result))
        finally:
            server.kill()
    (first_s, first), (rerun_s, rerun) = runs
    rate = first.counts["delivered"] / first_s
    report = {
        "contacts": args.contacts,
        "seconds": round(first_s, 1),
        "contacts_per_s": round(rate),
        "share_of_ceiling": round(rate / CEILING, 3),
        "requests": first.counts["requests"],
        "throttled_429": first.counts["throttled"],
        "retries": first.counts["retries"],
        "delivered": first.counts["delivered"],
        "rerun_seconds": round(rerun_s, 2),
        "rerun_requests": rerun.counts["requests"],
        "rerun_status": rerun.status,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
