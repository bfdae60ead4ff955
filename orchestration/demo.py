"""`recur demo`: the whole story on synthetic data, from a fresh clone.

Generates exports with a few faults (so the quarantine has something to show), materializes every
asset through Dagster, and prints what arrived where.
"""

from __future__ import annotations

import os
import time

from orchestration import environment
from orchestration.progress import progress_bar
from reports.ltv_status import fit_problems, not_estimable_reason, warning_text
from sources.warehouse import connect


def summary(warehouse) -> str:
    """Per-source counts from the ledger, the commonest quarantine reasons, and table sizes."""
    with connect(warehouse, read_only=True) as con:
        ledger = con.execute(
            """select source, count(distinct partition), count(*), sum(lines_read), sum(loaded),
                      sum(duplicates), sum(quarantined)
               from raw.load_ledger group by 1 order by 1"""
        ).fetchall()
        reasons = con.execute(
            """select source, reason, count(*) from raw.quarantine
               group by all order by 3 desc, 1, 2 limit 8"""
        ).fetchall()
    lines = [
        f"{'source':<18}{'days':>6}{'files':>7}{'lines read':>12}{'loaded':>10}"
        f"{'duplicates':>12}{'quarantined':>13}"
    ]
    for source, days, files, read, loaded, dups, quarantined in ledger:
        lines.append(
            f"{source:<18}{days:>6}{files:>7}{read:>12,}{loaded:>10,}{dups:>12,}{quarantined:>13,}"
        )
    if reasons:
        lines.append("\nquarantined lines by reason:")
        lines += [f"  {n:>6,}  {source}: {reason}" for source, reason, n in reasons]
    return "\n".join(lines)


def core_summary(warehouse) -> str:
    """People, sessions and orders from the core marts."""
    with connect(warehouse, read_only=True) as con:
        people, identified, devices = con.execute(
            "select count(*), count(*) filter (where is_identified), sum(devices) "
            "from core.dim_users"
        ).fetchone()
        sessions = con.execute(
            "select source, count(*), round(median(duration_seconds) / 60, 1), "
            "round(avg(events), 1) from core.fct_sessions group by 1 order by 1"
        ).fetchall()
        orders, refunds, revenue, customers = con.execute(
            "select count(*) filter (where not is_refund), count(*) filter (where is_refund), "
            "sum(revenue), count(distinct user_id) filter (where not is_refund) "
            "from core.fct_orders"
        ).fetchone()
    out = [
        f"people: {people:,} ({identified:,} identified, {people - identified:,} anonymous; "
        f"{devices:,} devices)",
        "sessions: "
        + "; ".join(f"{source} {n:,} (median {m} min, {e} events)" for source, n, m, e in sessions),
        f"orders: {orders:,} by {customers:,} customers, {refunds:,} refunds, "
        f"net revenue {revenue:,.2f}",
    ]
    return "\n".join(out)


def deliveries_summary(warehouse) -> str:
    """The delivery history the syncs left in the warehouse, and the uplift measured from it."""
    events = ("entered", "sent", "held_out", "capped", "refused", "exited")
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            f"""select sync, {", ".join(f"count(*) filter (where event = '{e}')" for e in events)}
                from staging.stg_recur__audience_deliveries group by sync order by sync"""
        ).fetchall()
        uplift = con.execute(
            """select sync, difference, difference_ci_low, difference_ci_high, treatment_people,
                      holdout_people, window_days
               from analytics.audience_uplift
               where entry_period is null and metric = 'purchase_conversion' order by sync"""
        ).fetchall()
    lines = [
        "staging.stg_recur__audience_deliveries (raw.audience_deliveries), rows per sync and event:",
        f"  {'sync':<36}" + "".join(f"{e:>10}" for e in events),
    ]
    lines += [f"  {r[0]:<36}" + "".join(f"{n:>10,}" for n in r[1:]) for r in rows]
    if uplift:
        lines += [
            f"  uplift of {r[0]}: purchase conversion {r[1]:+.1%} [{r[2]:+.1%}, {r[3]:+.1%}], "
            f"{r[4]:,} sent vs {r[5]:,} held out, {r[6]} days after entry"
            for r in uplift
        ]
    else:
        lines.append(
            "  analytics.audience_uplift: no window has closed yet (people are counted for "
            "uplift_window_days after their entry, and these exports end before the syncs ran)"
        )
    return "\n".join(lines)


def analytics_summary(warehouse) -> str:
    """Retention at days 1, 7 and 30, RFM segment sizes, the LTV models and churn bands."""
    with connect(warehouse, read_only=True) as con:
        retention = con.execute(
            """select period, sum(retained_on) / sum(eligible_users),
                      sum(retained_on_or_after) / sum(eligible_users), sum(eligible_users)
               from analytics.retention_cohorts where period in (1, 7, 30)
               group by period order by period"""
        ).fetchall()
        segments = con.execute(
            "select rfm_segment, count(*) from analytics.user_rfm group by 1 order by 2 desc, 1"
        ).fetchall()
        params = con.execute(
            """select model, string_agg(parameter || ' ' || round(value, 3), ', ' order by
                      parameter), any_value(time_unit), any_value(round(log_likelihood, 1)),
                      any_value(customers)
               from analytics.ltv_model_params group by model order by model"""
        ).fetchall()
        ltv = con.execute(
            "select count(*), sum(historical_ltv), sum(predicted_ltv_12m) from analytics.customer_ltv"
        ).fetchone()
        churn = con.execute(
            "select coalesce(churn_band, 'none (' || model_status || ')'), count(*) "
            "from analytics.churn_risk group by 1 order by 1"
        ).fetchall()
        reason = not_estimable_reason(con)
        problems = fit_problems(con)
    out = ["retention (pooled over cohorts; on / on or after; people observable):"]
    out += [f"  day {p:>2}: {on:6.1%} / {after:6.1%}  (n={n:,})" for p, on, after, n in retention]
    out.append("RFM segments: " + ", ".join(f"{name} {n:,}" for name, n in segments))
    for model, values, unit, ll, customers in params:
        if values is None:  # not estimable yet: the reason is in the warning below
            continue
        detail = f", per {unit[:-1]}" if unit else ""
        fit = f"; log-likelihood {ll}, {customers:,} customers" if ll is not None else ""
        out.append(f"LTV model {model}: {values}{detail}{fit}")
    warnings = [warning_text(reason)] if reason else problems
    out += [f"warning: {text}" for text in warnings]
    predicted = "withheld (see the warning)" if ltv[2] is None else f"{ltv[2]:,.2f}"
    out.append(
        f"customer LTV: {ltv[0]:,} customers, historical {ltv[1] or 0:,.2f}, "
        f"predicted next 12 months {predicted}"
    )
    out.append("churn risk: " + ", ".join(f"{band} {n:,}" for band, n in churn))
    return "\n".join(out)


def hubspot_summary(server) -> str:
    """What the sandbox HubSpot holds: contacts, Recur's properties on one, list sizes."""
    contacts = server.contacts()
    lines = [f"HubSpot sandbox ({server.url}): {len(contacts):,} contacts"]
    lines += [
        f"  list {name!r}: {len(server.list_members(name)):,} members"
        for name in sorted(server.lists())
    ]
    sample = next((c for c in contacts if c["properties"].get("recur_predicted_ltv")), None)
    if sample:
        traits = {k: v for k, v in sorted(sample["properties"].items()) if k.startswith("recur_")}
        lines.append(f"  e.g. {sample['email']}: {traits}")
    return "\n".join(lines)


def hubspot_holdout(server, state, sync: str, list_name: str) -> str:
    """The check that none of ``sync``'s held-out people is in its HubSpot list (they may be
    contacts through other syncs, such as the contact traits, but never members of this
    audience's list). Raises AssertionError when one is."""
    rows = state.con.execute("select key from records where sync = ? and held_out", [sync])
    held = {key for (key,) in rows.fetchall()}
    members = server.list_members(list_name)
    reached = held & members
    assert held and not reached, f"held-out members of {sync} are in {list_name!r}: {reached}"
    return (
        f"  holdout of {sync}: {len(held):,} people held out, none of them in {list_name!r} "
        f"({len(members):,} members)"
    )


def braze_summary(server, state, sync: str = "aud_win_back_to_braze") -> str:
    """What the sandbox Braze holds (profiles, members per Recur audience, one profile's
    attributes), and the check that none of ``sync``'s held-out people reached it: no request
    named them, by external id or email, and no profile carries their id. Raises AssertionError
    when one did."""
    users = server.users()
    audiences: dict[str, int] = {}
    for user in users:
        for name in user["attributes"].get("recur_audiences") or []:
            audiences[name] = audiences.get(name, 0) + 1
    lines = [f"Braze sandbox ({server.url}): {len(users):,} user profiles"]
    lines += [
        f"  recur_audiences {name!r}: {n:,} profiles" for name, n in sorted(audiences.items())
    ]
    sample = next((u for u in users if u["attributes"].get("recur_audiences")), None)
    if sample:
        traits = dict(sorted(sample["attributes"].items()))
        lines.append(f"  e.g. {sample['external_id']} ({sample['email']}): {traits}")
    rows = state.con.execute("select key from records where sync = ? and held_out", [sync])
    held = {key for (key,) in rows.fetchall()}
    reached = held & (server.seen | {u["external_id"] for u in users})
    assert not reached, f"held-out members of {sync} reached Braze: {sorted(reached)[:5]}"
    lines.append(
        f"  holdout of {sync}: {len(held):,} people held out, none of them sent to Braze "
        "(checked against every request the sandbox received)"
    )
    return "\n".join(lines)


def demo(users: int = 2000, days: int = 60, seed: int = 0, faults: float = 0.01) -> int:
    from orchestration.definitions import build_defs
    from orchestration.runner import run
    from orchestration.sync_report import latest_runs, selected_specs
    from sandbox.generate import generate
    from sandbox.servers.braze import SANDBOX_BRAZE_API_KEY, BrazeServer
    from sandbox.servers.cli import braze_state_path, hubspot_state_path
    from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN, HubSpotServer
    from syncs.state import StateStore

    started = time.perf_counter()
    exports = environment.exports_path()
    warehouse = environment.warehouse_path()
    print(f"1. Generating {days} days of exports for {users:,} people into {exports}")
    generate(
        exports,
        users=users,
        days=days,
        seed=seed,
        faults=faults,
        progress=progress_bar("generating"),
    )
    # The demo only ever talks to the local HubSpot and Braze: synthetic people must never reach
    # a real account, whatever HUBSPOT_* / BRAZE_* the shell has.
    hubspot = HubSpotServer(hubspot_state_path(exports))
    hubspot.start()
    os.environ["HUBSPOT_BASE_URL"] = hubspot.url
    os.environ["HUBSPOT_ACCESS_TOKEN"] = SANDBOX_HUBSPOT_TOKEN
    braze = BrazeServer(braze_state_path(exports))
    braze.start()
    os.environ["BRAZE_REST_URL"] = braze.url
    os.environ["BRAZE_API_KEY"] = SANDBOX_BRAZE_API_KEY
    try:
        print(
            "2. Loading every export day, building the dbt models and syncing the audiences "
            f"to the HubSpot sandbox ({hubspot.url}), the Braze sandbox ({braze.url}) and to "
            "files, through Dagster"
        )
        defs = build_defs()
        report = run(defs)
        if report.failed:
            print(f"{len(report.failed)} runs failed: {report.failed}")
            return 1
        print(f"\n3. The warehouse {warehouse}:\n")
        print(summary(warehouse))
        print("\n4. The core marts (dbt):\n")
        print(core_summary(warehouse))
        print("\n5. Analytics:\n")
        print(analytics_summary(warehouse))
        print("\n6. Audience syncs (each run sends only what changed since the last one):\n")
        with StateStore(environment.state_path()) as state:
            specs = selected_specs(defs, "group:syncs")
            print(latest_runs(state, [s.name for s in specs]))
            print()
            print(hubspot_summary(hubspot))
            win_back = next(s for s in specs if s.name == "aud_win_back_to_hubspot")
            print(hubspot_holdout(hubspot, state, win_back.name, win_back.list))
            print(braze_summary(braze, state))
        print(f"Audience files: {environment.audience_files_path()}")
        print("\n7. The loop: what the syncs did, back in the warehouse:\n")
        print(deliveries_summary(warehouse))
    finally:
        hubspot.stop()
        braze.stop()
    print(f"\nThe retention report: {environment.reports_path() / 'report.html'}")
    print(f"Done in {time.perf_counter() - started:.0f} s. Explore it in the Dagster UI: make dev")
    return 0
