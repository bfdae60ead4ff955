"""The `recur` command: generate synthetic exports, run the pipeline, start the sandbox, demo.

Heavy imports (Dagster, the generator) happen inside each command, so `recur --help` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from datetime import date
from pathlib import Path

from orchestration import environment
from orchestration.progress import progress_bar


def cmd_generate(args: argparse.Namespace) -> int:
    from sandbox.generate import generate, parse_event_names

    out = Path(args.out) if args.out else environment.exports_path()
    summary = generate(
        out,
        users=args.users,
        days=args.days,
        seed=args.seed,
        faults=args.faults,
        start=args.start,
        progress=progress_bar("generating"),
        revenue=not args.no_revenue,
        insert_id=not args.no_insert_id,
        mixpanel_timezone=args.mixpanel_timezone,
        invalid_email_share=args.invalid_email_share,
        event_names=parse_event_names(args.event_names) if args.event_names else None,
    )
    print(f"wrote synthetic exports to {out} in {summary.seconds:.1f} s (truth in {out / 'truth'})")
    print(f"  shape: {summary.describe_shape()}; {summary.days} days from {summary.start}")
    for source in ("mixpanel", "amplitude"):
        print(
            f"  {source}: {summary.events[source]:,} lines, {summary.unique_events[source]:,} "
            f"unique events, {summary.duplicates[source]:,} duplicates, "
            f"{summary.faulty_lines[source]:,} faulty lines"
        )
    print(f"  people: {summary.people:,}; profiles: {summary.profiles:,}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from orchestration.definitions import defs
    from orchestration.runner import run

    report = run(defs, select=args.select, log_level="INFO" if args.verbose else "WARNING")
    if report.failed:
        print(f"{len(report.failed)} of {len(report.runs)} runs failed", file=sys.stderr)
        return 1
    print(f"{len(report.runs)} runs succeeded")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from orchestration.resources import ExportAPIResource

    exports = environment.exports_path()
    end = args.end or args.start
    days = [args.start + timedelta(days=i) for i in range((end - args.start).days + 1)]
    sources = ["mixpanel", "amplitude"] if args.source == "all" else [args.source]
    for source in sources:
        api = ExportAPIResource(source=source)
        if not api.enabled:
            print(f"{source}: no credentials in the environment, skipped (see `recur sandbox`)")
            continue
        for day in days:
            path = api.download_day(day, exports)
            print(f"{source} {day}: {path or 'no data'}")
        if source == "mixpanel" and args.profiles:
            print(f"mixpanel profiles: {len(api.download_profiles(exports))} pages")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.servers.cli import serve

    return serve(environment.exports_path(), host=args.host, port=args.port)


def cmd_sync(args: argparse.Namespace) -> int:
    import dagster as dg

    from orchestration.definitions import build_defs
    from orchestration.defs.syncs.assets import DELIVERIES
    from orchestration.runner import run
    from orchestration.sync_report import latest_runs, ran_since, selected_specs
    from syncs.state import StateStore, utcnow

    defs = build_defs()  # resources from the environment as it is now
    specs = selected_specs(defs, args.select or "group:syncs")
    if not specs:
        print(f"no sync matches {args.select!r}", file=sys.stderr)
        return 2
    if args.dry_run:
        from orchestration.definitions import resources
        from orchestration.sync_report import describe_dry_run

        resource = resources()["sync"]
        for spec in specs:
            print(describe_dry_run(resource.run(spec, dry_run=True)))
        return 0
    keys = " or ".join(f'key:"{dg.AssetKey(["syncs", s.name]).to_user_string()}"' for s in specs)
    # ... then their delivery history into the warehouse (raw.audience_deliveries).
    keys += f' or key:"{DELIVERIES.to_user_string()}"'
    names = [s.name for s in specs]
    since = utcnow()
    report = run(defs, select=keys, log_level="INFO" if args.verbose else "WARNING")
    with StateStore(environment.state_path()) as state:
        if report.failed and not ran_since(state, names, since):
            why = report.errors[0] if report.errors else "see the failed runs above"
            print(
                f"recur sync: no sync ran: {why}. The table shows each sync's previous run, "
                "marked stale; nothing was sent now.",
                file=sys.stderr,
            )
        print(latest_runs(state, names, since))
    return 1 if report.failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.demo import demo

    return demo(users=args.users, days=args.days, seed=args.seed, faults=args.faults)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="recur",
        description="Recur: product-analytics exports in, a DuckDB retention warehouse out.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write synthetic Mixpanel and Amplitude exports")
    g.add_argument("--out", help="export folder to write (default: RECUR_EXPORTS)")
    g.add_argument("--users", type=int, default=2000, help="people to simulate (default 2000)")
    g.add_argument("--days", type=int, default=30, help="days of activity (default 30)")
    g.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")
    g.add_argument(
        "--faults", type=float, default=0.0, help="share of extra faulty lines, 0 to 1 (default 0)"
    )
    g.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 1, 1),
        help="first day, YYYY-MM-DD, 1970-01-01 or later (default 2026-01-01)",
    )
    g.add_argument(
        "--no-revenue",
        action="store_true",
        help="a product-analytics app: no Purchase/Refund events, no revenue property",
    )
    g.add_argument(
        "--no-insert-id",
        action="store_true",
        help="events without $insert_id (duplicates are exact copies; a few events of two "
        "people are identical but for identity, and both must be kept)",
    )
    g.add_argument(
        "--mixpanel-timezone",
        default="UTC",
        metavar="TZ",
        help="Mixpanel project time zone, IANA name: properties.time in local wall-clock "
        "seconds and files named by the local day, as pre-2023 projects export (default UTC)",
    )
    g.add_argument(
        "--invalid-email-share",
        type=float,
        default=0.0,
        metavar="F",
        help="share of Mixpanel profiles with an invalid email, 0 to 1, plus one unicode "
        "address when above 0 (default 0)",
    )
    g.add_argument(
        "--event-names",
        metavar="MAP",
        help="rename events: 'View Item=product_view,Purchase=purchase,...' or a JSON file "
        "of old name -> new name",
    )
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("run", help="materialize assets for every export day present")
    r.add_argument("--select", help="Dagster asset selection, e.g. 'group:ingest' (default: all)")
    r.add_argument("-v", "--verbose", action="store_true", help="show Dagster's step logs")
    r.set_defaults(func=cmd_run)

    pl = sub.add_parser("pull", help="download export days from the vendors' Export APIs")
    pl.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    pl.add_argument("--end", type=date.fromisoformat, help="last day, included (default: --start)")
    pl.add_argument("--source", choices=["mixpanel", "amplitude", "all"], default="all")
    pl.add_argument(
        "--no-profiles",
        dest="profiles",
        action="store_false",
        help="skip Mixpanel's Engage profiles",
    )
    pl.set_defaults(func=cmd_pull)

    s = sub.add_parser("sandbox", help="serve RECUR_EXPORTS through local vendor export APIs")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.set_defaults(func=cmd_sandbox)

    sy = sub.add_parser(
        "sync", help="send audiences to their destinations (only what changed since last time)"
    )
    sy.add_argument(
        "--select",
        help="Dagster asset selection of sync assets, e.g. 'key:syncs/aud_champions_to_hubspot' "
        "or 'group:syncs' (default)",
    )
    sy.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be added, changed and removed, with samples; send nothing",
    )
    sy.add_argument("-v", "--verbose", action="store_true", help="show Dagster's step logs")
    sy.set_defaults(func=cmd_sync)

    d = sub.add_parser("demo", help="the whole story on synthetic data")
    d.add_argument("--users", type=int, default=2000)
    d.add_argument("--days", type=int, default=60)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--faults", type=float, default=0.01)
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    # Dagster's beta notices (e.g. on selections by group) are for its developers, not our users.
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    # dbt, run by Dagster as a subprocess, must be found next to this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # a clear one-line error for known failures, a traceback otherwise
        from sources.errors import SourceError
        from syncs.errors import SyncError

        if isinstance(exc, SourceError | SyncError | ValueError):
            print(f"recur {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
