"""The people and purchase model behind the synthetic exports.

A person is acquired through a channel, browses in sessions while active, may sign up (then the
events carry a user id), may use a second device (after signing up, by logging in there), and
may become a customer. Customers buy according to the BG/NBD process (Fader, Hardie & Lee 2005;
reference/ltv.md §1): while alive, purchases arrive as Poisson(lambda) with lambda ~ Gamma(r, alpha);
after each *repeat* purchase the customer drops out with probability p ~ Beta(a, b). Order values
follow the Gamma-Gamma model (§5): z ~ Gamma(p, nu), nu ~ Gamma(q, gamma). Every rate is per
day, so a CBS computed in days from the exports should recover the parameters.

Time is warped: purchases follow a daily rhythm (more in the evening) whose integral is exactly one
per day, so per-day purchase counts stay exactly Poisson(lambda) and the BG/NBD truth holds in days.
Browsing and acquisition follow the same rhythm times a weekly pattern.

Everything is vectorised over people, sessions and events; the only Python loop is over the
purchase round (k-th repeat purchase), which shrinks quickly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime

import numpy as np

from sandbox import catalog as cat
from sandbox.ids import stream_key, uuid4s

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
NEVER = np.iinfo(np.int64).max  # "no such time" in int64 millisecond columns


@dataclass(frozen=True)
class Params:
    """True parameters of the synthetic world (all rates per day). Written to truth/params.json."""

    # acquisition
    channel_mix: tuple[float, ...] = (0.35, 0.25, 0.18, 0.10, 0.12)  # order of catalog.CHANNELS
    acquisition_weekday_weights: tuple[float, ...] = (1.15, 1.10, 1.05, 1.00, 0.95, 0.80, 0.95)
    activity_weekday_weights: tuple[float, ...] = (1.00, 1.00, 1.00, 1.00, 0.95, 1.05, 1.10)
    hourly_weights: tuple[float, ...] = (
        0.45, 0.35, 0.30, 0.30, 0.35, 0.45, 0.60, 0.80, 0.95, 1.00, 1.05, 1.10,
        1.15, 1.15, 1.10, 1.10, 1.15, 1.25, 1.40, 1.55, 1.60, 1.45, 1.10, 0.75,
    )  # fmt: skip
    # identity and devices
    p_identify: float = 0.70  # share of people who sign up (customers always do, before buying)
    p_identify_in_session: float = 0.5  # sign-up session index ~ Geometric(this) - 1
    p_both_sources: float = 0.15  # web (Mixpanel) + app (Amplitude), same user_id
    p_two_devices: float = 0.20  # people with a second device, including the web+app ones
    p_web_single_source: float = 0.55  # single-source people on the web (else the app)
    p_second_device_session_both: float = 0.5  # later sessions on device 2, web+app people
    p_second_device_session_same: float = 0.35  # later sessions on device 2, same platform
    second_device_delay_days: float = 1.5  # first use of device 2 after sign-up, if no session
    # conversion and BG/NBD (days)
    p_convert: float = 0.35  # people who become customers (if their first purchase falls in range)
    p_convert_first_session: float = 0.30  # of those: first purchase in the acquisition session
    convert_delay_days: float = 5.0  # else: first purchase after Exponential(mean) days
    bgnbd_r: float = 0.25
    bgnbd_alpha: float = 4.0
    bgnbd_a: float = 0.8
    bgnbd_b: float = 2.5
    # Gamma-Gamma spend (USD)
    gg_p: float = 6.0
    gg_q: float = 4.0
    gg_gamma: float = 15.0
    quantity_weights: tuple[float, ...] = (0.80, 0.15, 0.05)  # quantity 1, 2, 3
    p_refund: float = 0.04
    refund_delay_days: tuple[float, float] = (0.5, 10.0)
    # browsing
    session_rate_mean: float = 0.45  # sessions per day while active
    session_rate_shape: float = 1.5  # Gamma shape of the per-person rate
    browse_lifetime_days: float = 14.0  # non-customers stop after Exponential(mean) days
    extra_page_views_mean: float = 1.5  # page views per session = 1 + Poisson(mean)
    p_view_item: float = 0.6  # browsing session views >= 1 item
    extra_item_views_mean: float = 0.8  # item views = 1 + Poisson(mean)
    p_cart_given_view: float = 0.30  # browsing funnel step probabilities (within a session)
    p_checkout_given_cart: float = 0.45
    p_purchase_given_checkout_browsing: float = 0.0  # purchases come from BG/NBD, see funnel_doc
    event_gap_mean_s: float = 45.0
    event_gap_bounds_s: tuple[float, float] = (2.0, 240.0)  # < 5 min: one SDK session
    # SDK session timeouts and uploads
    session_timeout_web_min: float = 30.0
    session_timeout_mobile_min: float = 5.0
    p_offline_session: float = 0.02  # app sessions uploaded hours later (late: next hour/day)
    offline_delay_hours: tuple[float, float] = (1.0, 14.0)
    n_products: int = 50
    funnel_doc: str = field(
        default=(
            "Browsing sessions: View Item with p_view_item, then Add To Cart with p_cart_given_view, "
            "Checkout Started with p_checkout_given_cart, never Purchase. Each BG/NBD purchase is its "
            "own session (the first one possibly the acquisition session) that passes every step. "
            "Realised counts per step are in summary.json (funnel)."
        ),
        compare=False,
    )

    def to_json(self) -> dict[str, object]:
        """Parameters as plain JSON values, with the names analysts look for."""
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        d["bgnbd"] = {
            "r": self.bgnbd_r,
            "alpha": self.bgnbd_alpha,
            "a": self.bgnbd_a,
            "b": self.bgnbd_b,
            "time_unit": "days",
        }
        d["gamma_gamma"] = {
            "p": self.gg_p,
            "q": self.gg_q,
            "gamma": self.gg_gamma,
            "mean_order_value": self.gg_p * self.gg_gamma / (self.gg_q - 1),
        }
        d["funnel_step_probabilities"] = {
            "View Item": self.p_view_item,
            "Add To Cart|View Item": self.p_cart_given_view,
            "Checkout Started|Add To Cart": self.p_checkout_given_cart,
            "Purchase|Checkout Started (browsing sessions)": self.p_purchase_given_checkout_browsing,
            "Purchase sessions": "pass every step",
        }
        return d


@dataclass(frozen=True)
class Shape:
    """The kind of data set, beyond its size and seed (options of ``recur generate``).

    The defaults are the shop the generator always wrote; any other value is recorded in the
    ground truth (params.json and summary.json under "shape").
    """

    revenue: bool = True  # False: a product-analytics app, no Purchase/Refund, no revenue
    insert_id: bool = True  # False: no $insert_id anywhere; some cross-person identical events
    mixpanel_timezone: str = "UTC"  # Mixpanel project time zone (IANA): local wall-clock seconds
    invalid_email_share: float = 0.0  # share of Mixpanel profiles with an invalid email
    event_names: tuple[str, ...] = cat.EVENT_NAMES  # output name of each catalog.EVENT_NAMES

    def options(self) -> dict[str, object]:
        """The options that differ from the default, as plain JSON values."""
        default = Shape()
        out: dict[str, object] = {}
        if self.revenue != default.revenue:
            out["revenue"] = self.revenue
        if self.insert_id != default.insert_id:
            out["insert_id"] = self.insert_id
        if self.mixpanel_timezone != default.mixpanel_timezone:
            out["mixpanel_timezone"] = self.mixpanel_timezone
        if self.invalid_email_share != default.invalid_email_share:
            out["invalid_email_share"] = self.invalid_email_share
        if self.event_names != default.event_names:
            out["event_names"] = self.event_name_map()
        return out

    def event_name_map(self) -> dict[str, str]:
        """Generator name -> name written in the files, for every event name."""
        return dict(zip(cat.EVENT_NAMES, self.event_names, strict=True))

    def to_json(self) -> dict[str, object]:
        """Every option (defaults included), for truth/params.json."""
        return {
            "revenue": self.revenue,
            "insert_id": self.insert_id,
            "mixpanel_timezone": self.mixpanel_timezone,
            "invalid_email_share": self.invalid_email_share,
            "event_names": self.event_name_map(),
        }


@dataclass
class People:
    """One row per person (index = person id - 1), ordered by acquisition time."""

    acquired_ms: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray  # index into the channel's campaigns, -1 = none
    place: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    user_number: np.ndarray  # user_id = "user-<number>", email uses it too
    signup_method: np.ndarray
    customer_planned: np.ndarray
    two_devices: np.ndarray
    lam: np.ndarray  # BG/NBD purchase rate per day
    p_drop: np.ndarray  # BG/NBD dropout probability after each repeat purchase
    nu: np.ndarray  # Gamma-Gamma scale: mean order value = gg_p / nu
    is_customer: np.ndarray  # made a first purchase in range (by the model)
    alive_at_end: np.ndarray
    dropout_ms: np.ndarray  # NEVER if still alive
    active_until_ms: np.ndarray  # end of browsing activity (capped at the end)
    signup_ms: np.ndarray  # NEVER if not signed up in range


@dataclass
class Devices:
    """One row per device; slot 0 is the acquisition device, slot 1 the device used after sign-up."""

    person: np.ndarray
    slot: np.ndarray
    source: np.ndarray  # catalog.MIXPANEL (web) or catalog.AMPLITUDE (app)
    client: np.ndarray  # index into WEB_CLIENTS or APP_CLIENTS (by source)
    device_id: np.ndarray  # str
    amplitude_id: np.ndarray  # own Amplitude id (int64) before any merge
    ip: np.ndarray  # str
    identified_ms: np.ndarray  # first event carrying the user id, NEVER if none


@dataclass
class Orders:
    """One row per generated purchase (BG/NBD order), kept only if its event is in range."""

    person: np.ndarray
    device: np.ndarray
    event_ms: np.ndarray
    repeat_index: np.ndarray  # 0 = first purchase
    product: np.ndarray
    quantity: np.ndarray
    price_cents: np.ndarray
    revenue_cents: np.ndarray
    order_id: np.ndarray  # str
    refund_ms: np.ndarray  # NEVER if not refunded in range


@dataclass
class Events:
    """Clean events in range, sorted by time; Amplitude-only columns are -1 on Mixpanel rows."""

    person: np.ndarray
    device: np.ndarray
    source: np.ndarray
    code: np.ndarray  # index into catalog.EVENT_NAMES
    time_ms: np.ndarray  # client event time, epoch ms
    product: np.ndarray  # -1 = none
    page: np.ndarray  # -1 = none
    order: np.ndarray  # index into Orders, -1 = none
    visit: np.ndarray  # generated session (visit) index, -1 = server-side event
    is_acquisition: np.ndarray  # the person's first event: carries the UTM values
    is_server: np.ndarray  # sent from the backend (refunds): no device, no session
    has_user_id: np.ndarray  # the device had identified at this time
    distinct_is_user: np.ndarray  # Mixpanel: canonical distinct_id at export is the user id
    # Mixpanel ingestion stamps
    api_ms: np.ndarray
    processing_ms: np.ndarray
    # Amplitude SDK and ingestion columns
    session_id: np.ndarray  # epoch ms of the SDK session start, -1 = no session
    event_id: np.ndarray  # per-device counter
    amplitude_id: np.ndarray
    paying: np.ndarray
    client_upload_ms: np.ndarray
    server_received_ms: np.ndarray
    server_upload_ms: np.ndarray
    processed_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.time_ms)


@dataclass
class World:
    """Everything the writers and the ground truth need."""

    params: Params
    seed: int
    start: date
    days: int
    start_ms: int
    end_ms: int
    catalogue: cat.Catalogue
    people: People
    devices: Devices
    orders: Orders
    events: Events
    shape: Shape = field(default_factory=Shape)


def in_shard(world: World, shard: int) -> World:
    """``world`` with its integer-numbered ids moved into shard ``shard``'s own range, so worlds
    drawn with different seeds and shards hold different people when their exports are merged
    (sandbox/shards.py): user numbers (user ids, emails), Amplitude ids and order ids. The other
    ids (devices, $insert_id, uuid) already differ by seed. Shard 0 is the world unchanged."""
    if shard == 0:
        return world
    if not 0 < shard < 100:
        raise ValueError(f"shard is 0 to 99 (got {shard})")
    if len(world.people.user_number) > SHARD_PEOPLE:
        raise ValueError(f"a shard holds at most {SHARD_PEOPLE:,} people")
    e, d = world.events, world.devices
    amplitude_offset = np.int64(shard * SHARD_AMPLITUDE_IDS)
    return replace(
        world,
        people=replace(world.people, user_number=world.people.user_number + shard * SHARD_PEOPLE),
        devices=replace(d, amplitude_id=d.amplitude_id + amplitude_offset),
        events=replace(
            e, amplitude_id=np.where(e.amplitude_id >= 0, e.amplitude_id + amplitude_offset, -1)
        ),
        orders=replace(
            world.orders,
            order_id=np.array(
                [f"ord-{shard:02d}-{o[4:]}" for o in world.orders.order_id.tolist()], dtype=object
            ),
        ),
    )


#: Room per shard: user numbers start at 100,001 (10M people at most); each device's own
#: Amplitude id adds at most 5,000 to the last, from 180,000,000,000.
SHARD_PEOPLE = 10_000_000
SHARD_AMPLITUDE_IDS = 100_000_000_000


class _Clock:
    """Maps between real time (ms since start) and warped "operational" time (days).

    Sampling a homogeneous process in operational time and mapping it through the cumulative
    intensity gives an inhomogeneous process with the wanted daily and weekly rhythm.
    """

    def __init__(self, days: int, first_weekday: int, params: Params) -> None:
        hours = days * 24
        hour_of_day = np.arange(hours) % 24
        weekday = (first_weekday + np.arange(hours) // 24) % 7
        diurnal = np.asarray(params.hourly_weights, dtype=float)
        diurnal = diurnal / diurnal.sum()
        self.grid = np.arange(hours + 1, dtype=float) * MS_PER_HOUR
        self.purchase = np.concatenate([[0.0], np.cumsum(diurnal[hour_of_day])])
        self.browse = self._cumulative(
            diurnal[hour_of_day], params.activity_weekday_weights, weekday
        )
        self.acquire = self._cumulative(
            diurnal[hour_of_day], params.acquisition_weekday_weights, weekday
        )

    @staticmethod
    def _cumulative(
        diurnal: np.ndarray, weekly: tuple[float, ...], weekday: np.ndarray
    ) -> np.ndarray:
        w = np.asarray(weekly, dtype=float)
        intensity = diurnal * (w / w.mean())[weekday]
        cum = np.concatenate([[0.0], np.cumsum(intensity)])
        return cum * ((len(intensity) / 24) / cum[-1])  # mean intensity one per day

    def to_ms(self, u: np.ndarray, cum: np.ndarray) -> np.ndarray:
        """Operational days -> integer ms since start."""
        return np.floor(np.interp(u, cum, self.grid)).astype(np.int64)

    def from_ms(self, t: np.ndarray, cum: np.ndarray) -> np.ndarray:
        """Ms since start -> operational days."""
        return np.interp(np.asarray(t, dtype=float), self.grid, cum)


def _group_first(keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by ``keys``: rows per group and index of each group's first row."""
    counts = np.bincount(keys, minlength=n_groups)
    return counts, np.cumsum(counts) - counts


def _choice(rng: np.random.Generator, weights: Sequence[float], size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(w), size, p=w / w.sum())


@dataclass
class _Population:
    """Per-person draws (times in ms since the start)."""

    acquired: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray
    place: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    user_number: np.ndarray
    signup_method: np.ndarray
    planned: np.ndarray  # will become a customer if the first purchase falls in range
    identifies: np.ndarray
    both: np.ndarray  # web + app
    two: np.ndarray  # a second device (includes both)
    web_first: np.ndarray  # acquisition device is the web (Mixpanel)
    lam: np.ndarray
    p_drop: np.ndarray
    nu: np.ndarray
    session_rate: np.ndarray
    lifetime: np.ndarray
    first_in_acquisition_session: np.ndarray
    convert_delay: np.ndarray
    signup_index: np.ndarray
    device2_delay: np.ndarray


def _draw_population(
    rng: np.random.Generator, n: int, clock: _Clock, end_rel: int, p: Params
) -> _Population:
    """People, ordered by acquisition time. Every draw is full-size, so it never depends on
    how many people an earlier draw selected."""
    acquired = clock.to_ms(np.sort(rng.uniform(0.0, clock.acquire[-1], n)), clock.acquire)
    channel = _choice(rng, p.channel_mix, n)
    n_campaigns = np.array([len(c.campaigns) for c in cat.CHANNELS])[channel]
    campaign = np.where(n_campaigns > 0, rng.random(n) * np.maximum(n_campaigns, 1), -1)
    planned = rng.random(n) < p.p_convert
    # customers always sign up (before buying); the others with the rest of p_identify
    identifies = planned | (rng.random(n) < (p.p_identify - p.p_convert) / (1.0 - p.p_convert))
    both = identifies & (rng.random(n) < p.p_both_sources / p.p_identify)
    p_same = (p.p_two_devices - p.p_both_sources) / (p.p_identify - p.p_both_sources)
    two = both | (identifies & (rng.random(n) < p_same))
    u_platform = rng.random(n)
    return _Population(
        acquired=np.minimum(acquired, end_rel - 1),
        channel=channel,
        campaign=np.floor(campaign).astype(np.int64),
        place=_choice(rng, [pl.weight for pl in cat.PLACES], n),
        first_name=rng.integers(0, len(cat.FIRST_NAMES), n),
        last_name=rng.integers(0, len(cat.LAST_NAMES), n),
        user_number=100_001 + rng.permutation(n),
        signup_method=_choice(rng, (0.6, 0.25, 0.15), n),
        planned=planned,
        identifies=identifies,
        both=both,
        two=two,
        web_first=np.where(both, u_platform < 0.5, u_platform < p.p_web_single_source),
        lam=np.maximum(rng.gamma(p.bgnbd_r, 1.0 / p.bgnbd_alpha, n), 1e-12),
        p_drop=rng.beta(p.bgnbd_a, p.bgnbd_b, n),
        nu=rng.gamma(p.gg_q, 1.0 / p.gg_gamma, n),
        session_rate=rng.gamma(p.session_rate_shape, p.session_rate_mean / p.session_rate_shape, n),
        lifetime=rng.exponential(p.browse_lifetime_days, n),
        first_in_acquisition_session=rng.random(n) < p.p_convert_first_session,
        convert_delay=rng.exponential(p.convert_delay_days, n),
        signup_index=rng.geometric(p.p_identify_in_session, n) - 1,
        device2_delay=rng.exponential(p.second_device_delay_days * MS_PER_DAY, n).astype(np.int64),
    )


@dataclass
class _Purchases:
    """BG/NBD purchases (one per order) and each person's dropout time."""

    person: np.ndarray
    repeat_index: np.ndarray  # 0 = first purchase
    start: np.ndarray  # start of the purchase session, ms since the start
    in_acquisition_session: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    price_cents: np.ndarray
    refund_draw: np.ndarray  # uniform; refunded if below p_refund
    refund_delay: np.ndarray  # ms
    customer: np.ndarray  # per person: first purchase in range
    died_u: np.ndarray  # per person: operational day of the dropout, inf = alive


def _draw_purchases(
    rng: np.random.Generator,
    pop: _Population,
    clock: _Clock,
    days: int,
    catalogue: cat.Catalogue,
    p: Params,
) -> _Purchases:
    """Run the BG/NBD process per customer in operational days, then draw order values."""
    first_delay = np.where(pop.first_in_acquisition_session, 0.0, pop.convert_delay)
    u_first = clock.from_ms(pop.acquired, clock.purchase) + first_delay
    customer = pop.planned & (u_first < days)
    cur = np.flatnonzero(customer)
    cur_u = u_first[cur]
    persons, times, rounds = [cur], [cur_u], [np.zeros(len(cur), dtype=np.int64)]
    died_u = np.full(len(customer), np.inf)
    k = 0
    while cur.size:  # one round per repeat purchase; the set shrinks geometrically
        k += 1
        nxt = cur_u + rng.exponential(1.0, cur.size) / pop.lam[cur]
        keep = nxt < days
        cur, nxt = cur[keep], nxt[keep]
        persons.append(cur)
        times.append(nxt)
        rounds.append(np.full(cur.size, k, dtype=np.int64))
        die = rng.random(cur.size) < pop.p_drop[cur]  # dropout after each repeat purchase
        died_u[cur[die]] = nxt[die]
        cur, cur_u = cur[~die], nxt[~die]
    person = np.concatenate(persons)
    repeat = np.concatenate(rounds)
    merged = (repeat == 0) & pop.first_in_acquisition_session[person]
    start = clock.to_ms(np.concatenate(times), clock.purchase)
    start = np.where(merged, pop.acquired[person], np.maximum(start, pop.acquired[person] + 1))
    n = len(person)
    # Gamma-Gamma order value; the product is the catalogue item nearest the unit price
    z = rng.gamma(p.gg_p, 1.0 / pop.nu[person])
    quantity = 1 + _choice(rng, p.quantity_weights, n)
    price = np.maximum(np.round(z * 100.0 / quantity), 1).astype(np.int64)
    nearest = np.searchsorted(catalogue.price_cents, price) - rng.integers(0, 2, n)
    return _Purchases(
        person=person,
        repeat_index=repeat,
        start=start,
        in_acquisition_session=merged,
        product=np.clip(nearest, 0, len(catalogue.price_cents) - 1),
        quantity=quantity,
        price_cents=price,
        refund_draw=rng.random(n),
        refund_delay=(rng.uniform(*p.refund_delay_days, n) * MS_PER_DAY).astype(np.int64),
        customer=customer,
        died_u=died_u,
    )


def _active_until(pop: _Population, buys: _Purchases, clock: _Clock, days: int) -> np.ndarray:
    """End of each person's browsing: the dropout for customers, the whole range for people
    whose first purchase is still ahead, an Exponential lifetime for everybody else."""
    end_rel = days * MS_PER_DAY
    died = np.isfinite(buys.died_u)
    died_rel = np.where(died, clock.to_ms(np.minimum(buys.died_u, days), clock.purchase), end_rel)
    u_acq = clock.from_ms(pop.acquired, clock.browse)
    life_end = clock.to_ms(np.minimum(u_acq + pop.lifetime, days), clock.browse)
    until = np.where(buys.customer, died_rel, np.where(pop.planned, end_rel, life_end))
    return np.maximum(until, pop.acquired)


@dataclass
class _Visits:
    """Generated sessions ("visits"), sorted by person, then start."""

    person: np.ndarray
    start: np.ndarray
    acquisition: np.ndarray  # the person's first visit
    order: np.ndarray  # purchase index, -1 = browsing only
    slot: np.ndarray  # device slot of the person (0 or 1)
    signup: np.ndarray  # contains the person's Sign Up event
    login: np.ndarray  # first visit on the second device: contains Logged In

    def sorted(self) -> _Visits:
        order = np.lexsort((self.start, ~self.acquisition, self.person))  # acquisition first
        return _Visits(**{k: v[order] for k, v in self.__dict__.items()})

    def ranks(self, n_people: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Visits per person, index of each person's first visit, rank of each visit."""
        per_person, first = _group_first(self.person, n_people)
        return per_person, first, np.arange(len(self.person)) - first[self.person]


def _draw_visits(
    rng: np.random.Generator,
    pop: _Population,
    buys: _Purchases,
    until: np.ndarray,
    clock: _Clock,
    end_rel: int,
    p: Params,
) -> _Visits:
    """Acquisition, browsing and purchase visits; which one signs up; which device each uses."""
    n = len(pop.acquired)
    u_acq = clock.from_ms(pop.acquired, clock.browse)
    dur = np.maximum(clock.from_ms(until, clock.browse) - u_acq, 0.0)
    owner = np.repeat(np.arange(n), rng.poisson(pop.session_rate * dur))
    start = clock.to_ms(u_acq[owner] + rng.random(len(owner)) * dur[owner], clock.browse)
    acq_order = np.full(n, -1, dtype=np.int64)
    acq_order[buys.person[buys.in_acquisition_session]] = np.flatnonzero(
        buys.in_acquisition_session
    )
    own = np.flatnonzero(~buys.in_acquisition_session)
    k_own, k_browse = len(own), len(owner)
    no = np.zeros(n + k_browse + k_own, dtype=bool)
    visits = _Visits(
        person=np.concatenate([np.arange(n), owner, buys.person[own]]),
        start=np.concatenate(
            [pop.acquired, np.maximum(start, pop.acquired[owner] + 1), buys.start[own]]
        ),
        acquisition=np.concatenate([np.ones(n, bool), np.zeros(k_browse + k_own, bool)]),
        order=np.concatenate([acq_order, np.full(k_browse, -1), own]),
        slot=np.zeros(len(no), dtype=np.int64),
        signup=no,
        login=no.copy(),
    ).sorted()

    # sign-up visit: Geometric index, and never after the first purchase
    per_person, first, rank = visits.ranks(n)
    never = np.iinfo(np.int64).max // 4
    first_buy = np.full(n, never, dtype=np.int64)
    buying = visits.order >= 0
    is_first_buy = np.zeros(len(buying), dtype=bool)
    is_first_buy[buying] = buys.repeat_index[visits.order[buying]] == 0
    first_buy[visits.person[is_first_buy]] = rank[is_first_buy]
    signup_rank = np.where(pop.identifies, np.minimum(pop.signup_index, per_person - 1), never)
    signup_rank = np.minimum(signup_rank, first_buy)

    # two-device people whose sign-up visit was their last come back once on the other device
    # (installing the app after signing up on the web, say)
    lone = np.flatnonzero(pop.two & (signup_rank == per_person - 1))
    back = visits.start[first[lone] + signup_rank[lone]] + 600_000 + pop.device2_delay[lone]
    lone, back = lone[back < end_rel], back[back < end_rel]
    extra = np.zeros(len(lone), dtype=bool)
    visits = _Visits(
        person=np.concatenate([visits.person, lone]),
        start=np.concatenate([visits.start, back]),
        acquisition=np.concatenate([visits.acquisition, extra]),
        order=np.concatenate([visits.order, np.full(len(lone), -1)]),
        slot=np.concatenate([visits.slot, np.zeros(len(lone), dtype=np.int64)]),
        signup=np.concatenate([visits.signup, extra]),
        login=np.concatenate([visits.login, extra]),
    ).sorted()

    # the first visit after sign-up is on the second device, later ones with probability q2
    _, _, rank = visits.ranks(n)
    mine = signup_rank[visits.person]
    two = pop.two[visits.person]
    q2 = np.where(pop.both, p.p_second_device_session_both, p.p_second_device_session_same)
    later = (rank > mine + 1) & (rng.random(len(rank)) < q2[visits.person])
    visits.slot = (two & ((rank == mine + 1) | later)).astype(np.int64)
    visits.signup = rank == mine
    visits.login = two & (rank == mine + 1)
    return visits


def _draw_devices(rng: np.random.Generator, pop: _Population, seed: int) -> Devices:
    """Slot 0 per person (acquisition) and slot 1 for two-device people: the other source for
    web+app people, the same source otherwise. ``identified_ms`` is filled in later."""
    n_dev = 1 + pop.two.astype(np.int64)
    m = int(n_dev.sum())
    person = np.repeat(np.arange(len(n_dev)), n_dev)
    slot = np.arange(m) - (np.cumsum(n_dev) - n_dev)[person]
    first_source = np.where(pop.web_first, cat.MIXPANEL, cat.AMPLITUDE)[person]
    source = np.where((slot == 1) & pop.both[person], 1 - first_source, first_source)
    web = _choice(rng, [c.weight for c in cat.WEB_CLIENTS], m)
    app = _choice(rng, [c.weight for c in cat.APP_CLIENTS], m)
    nets = np.array(["203.0.113.", "198.51.100.", "192.0.2."], dtype=object)  # documentation IPs
    ip = nets[rng.integers(0, 3, m)] + rng.integers(1, 255, m).astype(str).astype(object)
    own_amplitude_id = 180_000_000_000 + np.cumsum(rng.integers(1, 5000, m))
    # device ids as the SDKs make them: browser uuid, iOS IDFV (upper case), Android uuid + "R"
    key = stream_key(seed, "device-id")
    is_app = source == cat.AMPLITUDE
    ios = is_app & np.array([c.platform == "iOS" for c in cat.APP_CLIENTS])[app]
    lower = uuid4s(key, np.arange(m))
    device_id = np.where(
        ios, uuid4s(key, np.arange(m), upper=True), np.where(is_app, lower + "R", lower)
    )
    return Devices(
        person=person,
        slot=slot,
        source=source.astype(np.int64),
        client=np.where(is_app, app, web),
        device_id=device_id,
        amplitude_id=own_amplitude_id,
        ip=ip,
        identified_ms=np.full(m, NEVER, dtype=np.int64),
    )


@dataclass
class _Generated:
    """Every generated event (in or out of range), unsorted; times in ms since the start."""

    person: np.ndarray
    device: np.ndarray
    code: np.ndarray
    time: np.ndarray
    product: np.ndarray
    page: np.ndarray
    order: np.ndarray
    visit: np.ndarray  # -1 = server-side
    acquisition: np.ndarray
    server: np.ndarray


def _expand_visits(
    rng: np.random.Generator,
    visits: _Visits,
    visit_device: np.ndarray,
    buys: _Purchases,
    catalogue: cat.Catalogue,
    p: Params,
) -> _Generated:
    """Turn visits into events: page views, item views, then the funnel steps; Sign Up or
    Logged In as the second event of their visit; gaps of about 45 s (< 5 min: one session)."""
    n_visits = len(visits.person)
    buy = visits.order >= 0
    n_page = 1 + rng.poisson(p.extra_page_views_mean, n_visits)
    has_view = buy | (rng.random(n_visits) < p.p_view_item)
    n_view = np.where(has_view, 1 + rng.poisson(p.extra_item_views_mean, n_visits), 0)
    cart = buy | (has_view & (rng.random(n_visits) < p.p_cart_given_view))
    checkout = buy | (cart & (rng.random(n_visits) < p.p_checkout_given_cart))
    special = visits.signup | visits.login
    n_ev = n_page + n_view + cart + checkout + buy + special
    visit_product = _choice(rng, catalogue.popularity, n_visits)
    visit_product[buy] = buys.product[visits.order[buy]]

    n = int(n_ev.sum())
    visit = np.repeat(np.arange(n_visits), n_ev)
    first = np.cumsum(n_ev) - n_ev
    pos = np.arange(n) - first[visit]
    sp = special[visit]
    base = pos - (sp & (pos > 1))  # position in the visit without the special event
    npg, nvw = n_page[visit], n_view[visit]
    funnel_step = cat.CART + base - npg - nvw  # cart, checkout, purchase are prefix-closed
    code = np.where(base < npg, cat.PAGE, np.where(base < npg + nvw, cat.VIEW, funnel_step))
    at_special = sp & (pos == 1)
    code[at_special] = np.where(visits.signup[visit[at_special]], cat.SIGNUP, cat.LOGIN)

    lo, hi = p.event_gap_bounds_s
    gaps = np.clip(rng.exponential(p.event_gap_mean_s * 1000.0, n), lo * 1000, hi * 1000)
    gaps = gaps.astype(np.int64)
    gaps[pos == 0] = 0
    csum = np.cumsum(gaps)
    time = visits.start[visit] + csum - csum[first][visit]

    browsed = _choice(rng, catalogue.popularity, n)
    page = _choice(rng, cat.PAGE_WEIGHTS, n)
    last_view = (code == cat.VIEW) & (base == npg + nvw - 1) & cart[visit]
    in_funnel = (code >= cat.CART) & (code <= cat.PURCHASE) | last_view
    acquisition = visits.acquisition[visit] & (pos == 0)
    page = np.where(code == cat.PAGE, np.where(acquisition, 0, page), -1)  # land on "/"
    return _Generated(
        person=visits.person[visit],
        device=visit_device[visit],
        code=code,
        time=time,
        product=np.where(in_funnel, visit_product[visit], np.where(code == cat.VIEW, browsed, -1)),
        page=page,
        order=np.where(code == cat.PURCHASE, visits.order[visit], -1),
        visit=visit,
        acquisition=acquisition,
        server=np.zeros(n, dtype=bool),
    )


def _with_refunds(
    gen: _Generated, buys: _Purchases, end_rel: int, p: Params
) -> tuple[_Generated, np.ndarray, np.ndarray]:
    """Append server-side Refund events; return them with each order's event time and device."""
    n_orders = len(buys.person)
    order_time = np.full(n_orders, NEVER, dtype=np.int64)
    order_device = np.full(n_orders, -1, dtype=np.int64)
    ev = np.flatnonzero(gen.code == cat.PURCHASE)
    order_time[gen.order[ev]] = gen.time[ev]
    order_device[gen.order[ev]] = gen.device[ev]
    refunded = (order_time < end_rel) & (buys.refund_draw < p.p_refund)
    refunded &= order_time + buys.refund_delay < end_rel
    r = np.flatnonzero(refunded)
    k = len(r)
    gen = _Generated(
        person=np.concatenate([gen.person, buys.person[r]]),
        device=np.concatenate([gen.device, order_device[r]]),
        code=np.concatenate([gen.code, np.full(k, cat.REFUND)]),
        time=np.concatenate([gen.time, order_time[r] + buys.refund_delay[r]]),
        product=np.concatenate([gen.product, buys.product[r]]),
        page=np.concatenate([gen.page, np.full(k, -1)]),
        order=np.concatenate([gen.order, r]),
        visit=np.concatenate([gen.visit, np.full(k, -1)]),
        acquisition=np.concatenate([gen.acquisition, np.zeros(k, bool)]),
        server=np.concatenate([gen.server, np.ones(k, bool)]),
    )
    return gen, order_time, order_device


def _sdk_sessions(device: np.ndarray, time: np.ndarray, timeout_ms: int) -> np.ndarray:
    """Amplitude SDK session ids for events sorted by (device, time): a new session after more
    than ``timeout_ms`` of inactivity, named by its first event's time."""
    new = np.ones(len(device), bool)
    new[1:] = (device[1:] != device[:-1]) | (np.diff(time) > timeout_ms)
    starts = np.flatnonzero(new)
    return time[starts][np.cumsum(new) - 1]


def simulate(
    users: int,
    days: int,
    start: date,
    seed: int,
    params: Params | None = None,
    shape: Shape | None = None,
) -> World:
    """Draw people, devices, visits, purchases and events for ``days`` days from ``start``.

    ``shape`` changes the kind of data (see :class:`Shape`): without revenue nobody converts
    (no Purchase, no Refund); without $insert_id a few Page Viewed events get a twin from
    another person with the same properties in the same second."""
    shape = shape or Shape()
    p = params or Params()
    if not shape.revenue:
        p = replace(p, p_convert=0.0, p_refund=0.0)
    if users < 1 or days < 1:
        raise ValueError(f"users and days must be at least 1 (got users={users}, days={days})")
    streams = np.random.SeedSequence([seed, 0x52454355]).spawn(6)
    rng_people, rng_buy, rng_visit, rng_dev, rng_ev, rng_up = (
        np.random.Generator(np.random.PCG64(s)) for s in streams
    )
    start_ms = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * 1000
    end_rel = days * MS_PER_DAY
    clock = _Clock(days, start.weekday(), p)
    catalogue = cat.build_catalogue(p.n_products)

    pop = _draw_population(rng_people, users, clock, end_rel, p)
    buys = _draw_purchases(rng_buy, pop, clock, days, catalogue, p)
    until = _active_until(pop, buys, clock, days)
    visits = _draw_visits(rng_visit, pop, buys, until, clock, end_rel, p)
    devices = _draw_devices(rng_dev, pop, seed)
    dev_first = np.cumsum(1 + pop.two) - (1 + pop.two)
    visit_device = dev_first[visits.person] + visits.slot
    gen = _expand_visits(rng_ev, visits, visit_device, buys, catalogue, p)
    gen, order_time, order_device = _with_refunds(gen, buys, end_rel, p)
    n_all = len(gen.time)
    source = devices.source[gen.device]

    # ingestion delays, drawn for every event so the draws do not depend on any filtering;
    # offline app visits upload hours later (their events land in a later hour or day)
    api = gen.time + rng_up.integers(150, 2500, n_all)
    processing = api + rng_up.integers(20, 1500, n_all)
    offline = rng_up.random(len(visits.person)) < p.p_offline_session
    offline_delay = (rng_up.uniform(*p.offline_delay_hours, len(offline)) * MS_PER_HOUR).astype(
        np.int64
    )
    v = np.maximum(gen.visit, 0)
    late = np.where((gen.visit >= 0) & offline[v], offline_delay[v], 0)
    client_upload = gen.time + rng_up.integers(500, 30_000, n_all) + late
    received = client_upload + rng_up.integers(30, 900, n_all)
    upload = received + rng_up.integers(5, 400, n_all)
    processed = upload + rng_up.integers(300, 5000, n_all)

    # what happened in range, by time
    idx = np.flatnonzero(gen.time < end_rel)
    idx = idx[np.lexsort((idx, gen.time[idx]))]

    # identity: a device is identified from its Sign Up / Logged In event on. This is the true
    # state, so an event uploaded after the range still identified its device.
    m = len(devices.person)
    ident = np.full(m, NEVER, dtype=np.int64)
    special = idx[(gen.code[idx] == cat.SIGNUP) | (gen.code[idx] == cat.LOGIN)]
    np.minimum.at(ident, gen.device[special], gen.time[special])
    has_uid = gen.server | (gen.time >= ident[gen.device])
    distinct_is_user = has_uid | (ident[gen.device] != NEVER)  # merged by the end of the range
    signup = np.full(users, NEVER, dtype=np.int64)
    su = idx[gen.code[idx] == cat.SIGNUP]
    signup[gen.person[su]] = gen.time[su]

    # Amplitude: per-device counters and SDK sessions (server events: no session)
    session_id = np.full(n_all, -1, dtype=np.int64)
    event_id = np.full(n_all, -1, dtype=np.int64)
    amp = idx[source[idx] == cat.AMPLITUDE]
    amp = amp[np.lexsort((gen.time[amp], gen.device[amp]))]
    _, first = _group_first(gen.device[amp], m)
    event_id[amp] = np.arange(len(amp)) - first[gen.device[amp]] + 1
    sdk = amp[~gen.server[amp]]
    timeout = int(p.session_timeout_mobile_min * 60_000)
    session_id[sdk] = start_ms + _sdk_sessions(gen.device[sdk], gen.time[sdk], timeout)
    # after identifying, events carry the user's original amplitude_id: the one of the first
    # Amplitude device that identified (a second device's own id is merged into it)
    amp_ident = np.where(devices.source == cat.AMPLITUDE, ident, NEVER)
    first_ident = np.full(users, NEVER, dtype=np.int64)
    np.minimum.at(first_ident, devices.person, amp_ident)
    original = np.full(users, -1, dtype=np.int64)
    winner = (amp_ident != NEVER) & (amp_ident == first_ident[devices.person])
    original[devices.person[winner]] = devices.amplitude_id[winner]
    merged = has_uid & (original[gen.person] >= 0)
    amplitude_id = np.where(merged, original[gen.person], devices.amplitude_id[gen.device])
    first_paid = np.full(users, NEVER, dtype=np.int64)
    amp_buy = amp[gen.code[amp] == cat.PURCHASE]
    np.minimum.at(first_paid, gen.person[amp_buy], gen.time[amp_buy])
    paying = gen.time >= first_paid[gen.person]

    # exported: Mixpanel by event time; Amplitude only if uploaded before the end of the range
    out = idx[(source[idx] == cat.MIXPANEL) | (upload[idx] < end_rel)]
    events = Events(
        person=gen.person[out],
        device=gen.device[out],
        source=source[out],
        code=gen.code[out],
        time_ms=start_ms + gen.time[out],
        product=gen.product[out],
        page=gen.page[out],
        order=gen.order[out],
        visit=gen.visit[out],
        is_acquisition=gen.acquisition[out],
        is_server=gen.server[out],
        has_user_id=has_uid[out],
        distinct_is_user=distinct_is_user[out],
        api_ms=start_ms + api[out],
        processing_ms=start_ms + processing[out],
        session_id=session_id[out],
        event_id=event_id[out],
        amplitude_id=amplitude_id[out],
        paying=paying[out],
        client_upload_ms=start_ms + client_upload[out],
        server_received_ms=start_ms + received[out],
        server_upload_ms=start_ms + upload[out],
        processed_ms=start_ms + processed[out],
    )
    devices.identified_ms = np.where(ident == NEVER, NEVER, start_ms + ident)

    def absolute(rel: np.ndarray) -> np.ndarray:
        return np.where(rel == NEVER, NEVER, start_ms + rel)

    n_orders = len(buys.person)
    seq = np.empty(n_orders, dtype=np.int64)  # order ids numbered in time order
    seq[np.lexsort((np.arange(n_orders), order_time))] = np.arange(n_orders)
    refund = gen.code == cat.REFUND
    refund_time = np.full(n_orders, NEVER, dtype=np.int64)
    refund_time[gen.order[refund]] = gen.time[refund]
    orders = Orders(
        person=buys.person,
        device=order_device,
        event_ms=absolute(order_time),
        repeat_index=buys.repeat_index,
        product=buys.product,
        quantity=buys.quantity,
        price_cents=buys.price_cents,
        revenue_cents=buys.price_cents * buys.quantity,
        order_id=np.array([f"ord-{i + 1:07d}" for i in seq.tolist()], dtype=object),
        refund_ms=absolute(refund_time),
    )
    died = np.isfinite(buys.died_u)
    people = People(
        acquired_ms=start_ms + pop.acquired,
        channel=pop.channel,
        campaign=pop.campaign,
        place=pop.place,
        first_name=pop.first_name,
        last_name=pop.last_name,
        user_number=pop.user_number,
        signup_method=pop.signup_method,
        customer_planned=pop.planned,
        two_devices=pop.two,
        lam=pop.lam,
        p_drop=pop.p_drop,
        nu=pop.nu,
        is_customer=buys.customer,
        alive_at_end=~died,
        dropout_ms=np.where(died, start_ms + until, NEVER),
        active_until_ms=start_ms + np.minimum(until, end_rel),
        signup_ms=absolute(signup),
    )
    if not shape.insert_id:
        twin_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x7719])))
        events = _with_twins(twin_rng, events, devices, people)
    return World(
        params=p,
        seed=seed,
        start=start,
        days=days,
        start_ms=start_ms,
        end_ms=start_ms + end_rel,
        catalogue=catalogue,
        people=people,
        devices=devices,
        orders=orders,
        events=events,
        shape=shape,
    )


def _with_twins(rng: np.random.Generator, e: Events, devices: Devices, people: People) -> Events:
    """Add a twin of some Mixpanel Page Viewed events: the same page, second and ingestion
    stamps, fired by another person whose browser renders the same properties (same client,
    place and referrer). Without $insert_id the twin differs from the original only in the
    identity fields, and a loader must keep both. About one per 2,000 Mixpanel events, at
    least five when the data allows; each twin falls inside the other device's activity
    (after its first event), so first-seen times and attribution do not move."""
    mp = np.flatnonzero((e.source == cat.MIXPANEL) & ~e.is_server)
    if not mp.size:
        return e
    m = len(devices.person)
    first = np.full(m, NEVER, dtype=np.int64)
    last = np.full(m, -1, dtype=np.int64)
    np.minimum.at(first, e.device[mp], e.time_ms[mp])
    np.maximum.at(last, e.device[mp], e.time_ms[mp])
    # what the renderer's client fragment depends on: browser, place, referrer
    referrers = sorted({c.referrer for c in cat.CHANNELS} | {"$direct"})
    ref = np.array([referrers.index(c.referrer) for c in cat.CHANNELS], dtype=np.int64)[
        people.channel[devices.person]
    ]
    ref = np.where(devices.slot == 0, ref, referrers.index("$direct"))
    key = (devices.client * 100 + people.place[devices.person]) * 10 + ref
    web = np.flatnonzero((devices.source == cat.MIXPANEL) & (first != NEVER))
    groups: dict[int, np.ndarray] = {}
    for k in np.unique(key[web]).tolist():
        groups[k] = web[key[web] == k]

    candidates = mp[(e.code[mp] == cat.PAGE) & ~e.is_acquisition[mp]]
    target = max(5, len(mp) // 2000)
    originals: list[int] = []
    twin_device: list[int] = []
    used: set[int] = set()
    for i in rng.permutation(candidates).tolist():
        if len(originals) >= target:
            break
        d, t = int(e.device[i]), int(e.time_ms[i])
        others = groups[int(key[d])]
        ok = others[
            (devices.person[others] != devices.person[d])
            & (first[others] < t)
            & (last[others] >= t)
        ]
        ok = ok[[int(x) not in used for x in ok.tolist()]] if ok.size else ok
        if not ok.size:
            continue
        b = int(ok[rng.integers(0, len(ok))])
        used.add(b)
        originals.append(i)
        twin_device.append(b)
    if not originals:
        return e
    src = np.asarray(originals, dtype=np.int64)
    dev = np.asarray(twin_device, dtype=np.int64)
    t = e.time_ms[src]
    ident = devices.identified_ms[dev]
    twin = {name: getattr(e, name)[src].copy() for name in e.__dataclass_fields__}
    twin["person"] = devices.person[dev]
    twin["device"] = dev
    twin["visit"] = np.full(len(src), -1, dtype=np.int64)
    twin["has_user_id"] = t >= ident
    twin["distinct_is_user"] = ident != NEVER
    twin["amplitude_id"] = devices.amplitude_id[dev]
    base = np.concatenate([np.arange(len(e)), src])
    is_twin = np.concatenate([np.zeros(len(e), bool), np.ones(len(src), bool)])
    time = np.concatenate([e.time_ms, t])
    order = np.lexsort((is_twin, base, time))  # each twin right after its original
    return Events(
        **{
            name: np.concatenate([getattr(e, name), twin[name]])[order]
            for name in e.__dataclass_fields__
        }
    )
