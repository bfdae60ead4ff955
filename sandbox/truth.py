"""Ground truth computed from the clean events that were written, for tests to compare against.

Counts are derived from the exported clean events (not from the model's intentions), so they hold
exactly: e.g. ``purchases`` of a person equals the unique Purchase events of that person's devices in
the files, and session counts follow the rules the warehouse implements (analytics.md §2).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import numpy as np

from sandbox import catalog as cat
from sandbox.behaviour import NEVER, World
from sandbox.faults import LINE_KINDS, terminated_early_probability
from sandbox.writers import email, profile_emails

MIXPANEL_SESSION_GAP_S = 30 * 60

PEOPLE_COLUMNS: tuple[str, ...] = (
    "person_id",
    "user_id",
    "email",
    "first_name",
    "last_name",
    "acquired_at",
    "first_seen_at",
    "acquisition_channel",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "city",
    "country_code",
    "sources",
    "n_devices",
    "device_ids",
    "identified_at",
    "events",
    "is_customer",
    "is_alive_at_end",
    "dropout_at",
    "purchase_rate_lambda",
    "dropout_p",
    "mean_order_value",
    "purchases",
    "revenue",
    "refunds",
    "refunded",
    "first_purchase_at",
    "last_purchase_at",
)
EMAIL_COLUMNS: tuple[str, ...] = ("email_valid", "email_issue")
"""Added to people.csv (after ``email``) when profiles carry invalid emails."""


def people_columns(world: World) -> tuple[str, ...]:
    """PEOPLE_COLUMNS, with EMAIL_COLUMNS after ``email`` when the shape has invalid emails."""
    if world.shape.invalid_email_share <= 0:
        return PEOPLE_COLUMNS
    at = PEOPLE_COLUMNS.index("email") + 1
    return PEOPLE_COLUMNS[:at] + EMAIL_COLUMNS + PEOPLE_COLUMNS[at:]


def iso_ms(ms: np.ndarray) -> list[str]:
    """Epoch ms -> ``YYYY-MM-DDTHH:MM:SS.fff`` (UTC, no offset); NEVER -> empty string."""
    ms = np.asarray(ms, dtype=np.int64)
    text = np.datetime_as_string(np.where(ms == NEVER, 0, ms).astype("datetime64[ms]"), unit="ms")
    return np.where(ms == NEVER, "", text).tolist()


def mixpanel_sessions(world: World) -> int:
    """Sessions by the project's Mixpanel rule: per exported distinct_id, a gap over 30 minutes
    or a new UTC day starts a session (fivetran/dbt_mixpanel; analytics.md §2). All events count,
    including the server-side Refund events."""
    e = world.events
    mp = np.flatnonzero(e.source == cat.MIXPANEL)
    if not mp.size:
        return 0
    n_people = len(world.people.acquired_ms)
    key = np.where(e.distinct_is_user[mp], e.person[mp], n_people + e.device[mp])
    sec = e.time_ms[mp] // 1000
    order = np.lexsort((sec, key))
    key, sec = key[order], sec[order]
    new = np.ones(len(key), bool)
    new[1:] = (
        (key[1:] != key[:-1])
        | (np.diff(sec) > MIXPANEL_SESSION_GAP_S)
        | (sec[1:] // 86_400 != sec[:-1] // 86_400)
    )
    return int(new.sum())


def amplitude_sessions(world: World) -> int:
    """Sessions as Amplitude's SDK set them: distinct (device, session_id), session_id -1 excluded."""
    e = world.events
    amp = (e.source == cat.AMPLITUDE) & (e.session_id >= 0)
    if not amp.any():
        return 0
    pairs = np.stack([e.device[amp], e.session_id[amp]], axis=1)
    return int(len(np.unique(pairs, axis=0)))


def source_stats(world: World) -> dict[str, dict[str, object]]:
    """Per source: people, sessions, orders, revenue, refunds, events by name, funnel visits."""
    e, o = world.events, world.orders
    sessions = {"mixpanel": mixpanel_sessions(world), "amplitude": amplitude_sessions(world)}
    names = world.shape.event_names
    out: dict[str, dict[str, object]] = {}
    for s, name in enumerate(cat.SOURCES):
        sel = e.source == s
        code = e.code[sel]
        buys = e.order[sel][code == cat.PURCHASE]
        refunds = e.order[sel][code == cat.REFUND]
        revenue = int(o.revenue_cents[buys].sum())
        refunded = int(o.revenue_cents[refunds].sum())
        visits = e.visit[sel]
        funnel = {"visits": int(len(np.unique(visits[visits >= 0])))}
        for step in cat.FUNNEL_STEPS:
            k = cat.EVENT_NAMES.index(step)
            funnel[names[k]] = int(len(np.unique(visits[code == k])))
        by_name = np.bincount(code, minlength=len(cat.EVENT_NAMES))
        stats: dict[str, object] = {
            "people": int(len(np.unique(e.person[sel]))),
            "devices": int(len(np.unique(e.device[sel & ~e.is_server]))),
            "identified_people": int(len(np.unique(e.person[sel & e.has_user_id]))),
            "sessions": sessions[name],
            "orders": int(len(buys)),
            "revenue": revenue / 100,
            "refunds": int(len(refunds)),
            "refunded": refunded / 100,
            "net_revenue": (revenue - refunded) / 100,
            "events_by_name": {n: int(c) for n, c in zip(names, by_name.tolist(), strict=True)},
            "funnel_visits": funnel,
        }
        if name == "mixpanel":
            key = np.where(e.distinct_is_user[sel], e.person[sel], -1 - e.device[sel])
            stats["distinct_ids"] = int(len(np.unique(key)))
        else:
            stats["amplitude_ids"] = int(len(np.unique(e.amplitude_id[sel])))
        out[name] = stats
    return out


def people_rows(world: World) -> list[list[object]]:
    """One row per person (:func:`people_columns`), including people whose events were never
    exported. ``email`` is the profile's address when the person has a Mixpanel profile."""
    p, d, e, o = world.people, world.devices, world.events, world.orders
    n = len(p.acquired_ms)
    n_events = np.bincount(e.person, minlength=n)
    first_seen = np.full(n, NEVER, dtype=np.int64)
    np.minimum.at(first_seen, e.person, e.time_ms)
    # devices and sources actually seen in the files
    seen_dev = np.zeros(len(d.person), bool)
    seen_dev[e.device[~e.is_server]] = True
    seen_src = np.zeros((n, 2), bool)
    seen_src[e.person, e.source] = True
    buy = e.code == cat.PURCHASE
    purchases = np.bincount(e.person[buy], minlength=n)
    revenue = np.bincount(e.person[buy], weights=o.revenue_cents[e.order[buy]], minlength=n)
    ref = e.code == cat.REFUND
    refunds = np.bincount(e.person[ref], minlength=n)
    refunded = np.bincount(e.person[ref], weights=o.revenue_cents[e.order[ref]], minlength=n)
    first_buy = np.full(n, NEVER, dtype=np.int64)
    last_buy = np.full(n, -1, dtype=np.int64)
    np.minimum.at(first_buy, e.person[buy], e.time_ms[buy])
    np.maximum.at(last_buy, e.person[buy], e.time_ms[buy])
    last_buy = np.where(last_buy < 0, NEVER, last_buy)
    # BG/NBD alive for customers; for everyone else: still browsing at the end
    alive = np.where(p.is_customer, p.alive_at_end, p.active_until_ms >= world.end_ms)
    mean_value = world.params.gg_p / p.nu

    dev_ids: list[list[str]] = [[] for _ in range(n)]
    for person, dev_id, seen in zip(
        d.person.tolist(), d.device_id.tolist(), seen_dev.tolist(), strict=True
    ):
        if seen:
            dev_ids[person].append(dev_id)
    cols = {
        "acquired": iso_ms(p.acquired_ms),
        "first_seen": iso_ms(first_seen),
        "identified": iso_ms(p.signup_ms),
        "dropout": iso_ms(np.where(p.is_customer, p.dropout_ms, NEVER)),
        "first_buy": iso_ms(first_buy),
        "last_buy": iso_ms(last_buy),
    }
    profile = profile_emails(world)
    with_validity = world.shape.invalid_email_share > 0
    rows: list[list[object]] = []
    for i in range(n):
        identified = bool(p.signup_ms[i] != NEVER)
        first = cat.FIRST_NAMES[int(p.first_name[i])]
        last = cat.LAST_NAMES[int(p.last_name[i])]
        number = int(p.user_number[i])
        channel = cat.CHANNELS[int(p.channel[i])]
        campaign = int(p.campaign[i])
        place = cat.PLACES[int(p.place[i])]
        customer = bool(p.is_customer[i])
        address, issue = profile.get(i, (email(first, last, number), ""))
        address = address if identified else ""
        validity: list[object] = []
        if with_validity:
            validity = [bool(address) and not issue, issue] if identified else ["", ""]
        rows.append(
            [
                f"p{i + 1:07d}",
                f"user-{number}" if identified else "",
                address,
                *validity,
                first if identified else "",
                last if identified else "",
                cols["acquired"][i],
                cols["first_seen"][i],
                channel.name,
                channel.utm_source or "",
                channel.utm_medium or "",
                channel.campaigns[campaign] if campaign >= 0 else "",
                place.city,
                place.country_code,
                ";".join(name for s, name in enumerate(cat.SOURCES) if seen_src[i, s]),
                len(dev_ids[i]),
                ";".join(dev_ids[i]),
                cols["identified"][i],
                int(n_events[i]),
                customer,
                bool(alive[i]),
                cols["dropout"][i],
                f"{p.lam[i]:.6g}" if customer else "",
                f"{p.p_drop[i]:.6g}" if customer else "",
                f"{mean_value[i]:.4f}" if customer else "",
                int(purchases[i]),
                f"{revenue[i] / 100:.2f}",
                int(refunds[i]),
                f"{refunded[i] / 100:.2f}",
                cols["first_buy"][i],
                cols["last_buy"][i],
            ]
        )
    return rows


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    """CSV with ``\\n`` line ends (byte-identical across platforms)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(header))
        writer.writerows(rows)


def totals(stats: dict[str, dict[str, object]]) -> dict[str, object]:
    """Both sources together: sessions, orders, revenue (USD), refunded (USD)."""

    def total(key: str) -> float:
        return sum(float(stats[s][key]) for s in cat.SOURCES)  # type: ignore[arg-type]

    return {
        "sessions": int(total("sessions")),
        "orders": int(total("orders")),
        "revenue": round(total("revenue"), 2),
        "refunded": round(total("refunded"), 2),
    }


def people_summary(world: World) -> dict[str, int]:
    """Counts over people as seen in the files."""
    e, n = world.events, len(world.people.acquired_ms)
    buyers = np.unique(e.person[e.code == cat.PURCHASE])
    n_dev = np.bincount(world.devices.person[np.unique(e.device[~e.is_server])], minlength=n)
    used = np.zeros((n, len(cat.SOURCES)), bool)
    used[e.person, e.source] = True
    return {
        "with_events": int(len(np.unique(e.person))),
        "identified": int(len(np.unique(e.person[e.has_user_id]))),
        "customers": int(len(buyers)),
        "customers_alive_at_end": int(world.people.alive_at_end[buyers].sum()),
        "two_or_more_devices": int((n_dev >= 2).sum()),
        "both_sources": int(used.all(axis=1).sum()),
    }


def params_document(world: World, faults: float) -> dict[str, object]:
    """truth/params.json: the true parameters, the vocabularies and how to read the truth."""
    p = world.params
    as_json = p.to_json()
    return {
        "seed": world.seed,
        "users": len(world.people.acquired_ms),
        "days": world.days,
        "start": world.start.isoformat(),
        "end_exclusive": (world.start + timedelta(days=world.days)).isoformat(),
        "faults": faults,
        "amplitude_project_id": cat.PROJECT_ID,
        "time_unit": "days",
        "bgnbd": as_json["bgnbd"],
        "gamma_gamma": as_json["gamma_gamma"],
        "funnel_step_probabilities": as_json["funnel_step_probabilities"],
        "session_gap_minutes": {
            "web": p.session_timeout_web_min,
            "mobile": p.session_timeout_mobile_min,
        },
        "channels": [
            {
                "name": c.name,
                "share": share,
                "utm_source": c.utm_source,
                "utm_medium": c.utm_medium,
                "utm_campaigns": list(c.campaigns),
                "initial_referrer": c.referrer,
            }
            for c, share in zip(cat.CHANNELS, p.channel_mix, strict=True)
        ],
        "fault_kinds": {
            "mixpanel": [*LINE_KINDS, "terminated_early"],
            "amplitude": list(LINE_KINDS),
            "terminated_early_share_of_mixpanel_days": (
                terminated_early_probability(faults) if faults else 0.0
            ),
        },
        **({"shape": world.shape.to_json()} if world.shape.options() else {}),
        "all_parameters": as_json,
        "catalogue": world.catalogue.to_records(),
        "notes": {
            "is_alive_at_end": "customers: not dropped out (BG/NBD); others: still browsing at the end",
            "purchases": "unique Purchase events in the files; revenue in USD, refunds separate",
            "amplitude_late_uploads": "events uploaded after the range end are not exported",
            "mixpanel_sessions": "per exported distinct_id, gap > 30 min or new UTC day, all events",
            "amplitude_sessions": "distinct (device_id, session_id), session_id -1 excluded",
            "funnel": p.funnel_doc,
        },
    }
