"""A planted campaign effect: the people a sync reached buy once more, with a known probability.

Used to prove that Recur's uplift measurement (analytics.audience_uplift) recovers an effect that
is known by construction (tests/integration/test_uplift_simulation.py). ``generate(...,
campaign=Campaign(...))`` writes the same world as without it (same files, byte for byte, up to
the first planted event), plus, for each contacted person, with probability
``purchase_probability``, one extra Purchase at a uniform time within ``window_days`` after their
contact. The draws come from their own random stream, so they never move the base world's.

The extra purchase is sent like the person's last identified event before the contact (same
device, source and ids, no session); the order is a new one at a catalogue price. People with no
identified event before their contact cannot be attributed and are left out (counted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from sandbox import catalog as cat
from sandbox.behaviour import MS_PER_DAY, NEVER, Events, Orders, World


@dataclass(frozen=True)
class Campaign:
    """``contacts``: user id as exported (``user-100123``) -> when the sync sent them (UTC)."""

    contacts: Mapping[str, datetime]
    purchase_probability: float
    window_days: float = 14.0
    seed: int = 0


@dataclass
class Planted:
    """What a campaign added: per contacted person, whether and when they got a purchase."""

    contacted: int = 0
    attributable: int = 0  # had an identified event before their contact
    purchases: int = 0
    in_range: int = 0  # purchases before the end of the generated range
    people: dict[str, int] = field(default_factory=dict)  # user id -> planted event ms


def _ms(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def plant(world: World, campaign: Campaign) -> tuple[World, Planted]:
    """``world`` with the campaign's extra purchases appended (events and orders)."""
    if not 0.0 <= campaign.purchase_probability <= 1.0:
        raise ValueError(f"purchase_probability is {campaign.purchase_probability}, not in [0, 1]")
    if not world.shape.revenue:
        raise ValueError("a campaign plants purchases: it needs revenue=True")
    e, o = world.events, world.orders
    number = {f"user-{n}": i for i, n in enumerate(world.people.user_number.tolist())}
    ids = sorted(u for u in campaign.contacts if u in number)
    planted = Planted(contacted=len(ids))
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([world.seed, campaign.seed, 0xCA3A16]))
    )
    buys = rng.random(len(ids)) < campaign.purchase_probability
    delay = (rng.random(len(ids)) * campaign.window_days * MS_PER_DAY).astype(np.int64)
    product = rng.integers(0, len(world.catalogue.price_cents), len(ids))
    identified = np.flatnonzero(e.has_user_id & ~e.is_server)
    templates, times, products = [], [], []
    for k, user in enumerate(ids):
        contact = _ms(campaign.contacts[user])
        mine = identified[
            (e.person[identified] == number[user]) & (e.time_ms[identified] < contact)
        ]
        if not mine.size:
            continue
        planted.attributable += 1
        if not buys[k]:
            continue
        planted.purchases += 1
        t = contact + int(delay[k])
        if t + 10_000 >= world.end_ms:  # the last ingestion stamp must fall in range too
            continue
        planted.in_range += 1
        planted.people[user] = t
        templates.append(int(mine[np.argmax(e.time_ms[mine])]))
        times.append(t)
        products.append(int(product[k]))
    if not templates:
        return world, planted
    src = np.asarray(templates, dtype=np.int64)
    t = np.asarray(times, dtype=np.int64)
    n_new, first_order = len(src), len(o.person)
    prices = world.catalogue.price_cents[np.asarray(products)]
    extra = {name: getattr(e, name)[src].copy() for name in e.__dataclass_fields__}
    extra.update(
        code=np.full(n_new, cat.PURCHASE),
        time_ms=t,
        product=np.asarray(products, dtype=np.int64),
        page=np.full(n_new, -1, dtype=np.int64),
        order=first_order + np.arange(n_new, dtype=np.int64),
        visit=np.full(n_new, -1, dtype=np.int64),
        is_acquisition=np.zeros(n_new, dtype=bool),
        has_user_id=np.ones(n_new, dtype=bool),
        distinct_is_user=np.ones(n_new, dtype=bool),
        api_ms=t + 800,
        processing_ms=t + 2_000,
        session_id=np.full(n_new, -1, dtype=np.int64),
        paying=np.ones(n_new, dtype=bool),
        client_upload_ms=t + 1_000,
        server_received_ms=t + 1_500,
        server_upload_ms=t + 2_500,
        processed_ms=t + 5_000,
    )
    # Kept sorted by time, as the writers expect: every event before the first planted one keeps
    # its index, so its ids (derived from the index) and its day's file do not change.
    time = np.concatenate([e.time_ms, t])
    order = np.lexsort((np.arange(len(time)), time))
    events = Events(
        **{
            name: np.concatenate([getattr(e, name), extra[name]])[order]
            for name in e.__dataclass_fields__
        }
    )
    orders = Orders(
        person=np.concatenate([o.person, e.person[src]]),
        device=np.concatenate([o.device, e.device[src]]),
        event_ms=np.concatenate([o.event_ms, t]),
        repeat_index=np.concatenate([o.repeat_index, np.ones(n_new, dtype=o.repeat_index.dtype)]),
        product=np.concatenate([o.product, extra["product"]]),
        quantity=np.concatenate([o.quantity, np.ones(n_new, dtype=o.quantity.dtype)]),
        price_cents=np.concatenate([o.price_cents, prices]),
        revenue_cents=np.concatenate([o.revenue_cents, prices]),
        order_id=np.concatenate(
            [o.order_id, np.array([f"ord-c{i + 1:06d}" for i in range(n_new)], dtype=object)]
        ),
        refund_ms=np.concatenate([o.refund_ms, np.full(n_new, NEVER, dtype=np.int64)]),
    )
    return replace(world, events=events, orders=orders), planted
