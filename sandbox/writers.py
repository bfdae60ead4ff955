"""Render clean events as the vendors' export lines, and write the export files.

Lines are built from JSON fragments rendered once per vocabulary value, device, person or order
(``json.dumps`` on a handful of values) and joined per event with f-strings: about ten times faster
than ``json.dumps`` per event, and still valid JSON (tests parse samples). Property order is fixed,
so output is byte-identical for a seed.

Each ``render`` returns a :class:`FileLines`: the lines plus the per-line fragments that fault
injection rewrites (identity block, $insert_id, uuid, time), so a faulty line is always a real line
with one precise defect.
"""

from __future__ import annotations

import functools
import gzip
import json
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from sandbox import catalog as cat
from sandbox.behaviour import World
from sandbox.ids import amplitude_times, hex_ids, iso_seconds, stream_key, uuid4s

ENGAGE_PAGE_SIZE = 1000
MIXPANEL_LIB_VERSION = "2.60.0"
MIXPANEL_SERVER_LIB = '"mp_lib":"python","$lib_version":"4.10.1"'


@functools.lru_cache(maxsize=4096)
def _j(value: object) -> str:
    """One JSON value, UTF-8 kept as is (exports carry raw UTF-8, not \\u escapes).

    Cached: fragments are rendered per device and order from a few hundred distinct values."""
    return json.dumps(value, ensure_ascii=False)


def _obj(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=object)


def _money(cents: np.ndarray) -> list[str]:
    """Integer cents -> JSON numbers with two decimals ("-12.30")."""
    c = np.asarray(cents, dtype=np.int64)
    sign = np.where(c < 0, "-", "")
    a = np.abs(c)
    return [
        f"{s}{w}.{f:02d}"
        for s, w, f in zip(sign.tolist(), (a // 100).tolist(), (a % 100).tolist(), strict=True)
    ]


def _fresh_hex(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(0, 2**63)):016x}"


def _fresh_uuid(rng: np.random.Generator) -> str:
    h = f"{int(rng.integers(0, 2**63)):016x}{int(rng.integers(0, 2**63)):016x}"
    h = h[:12] + "4" + h[13:16] + "89ab"[int(h[16], 16) & 3] + h[17:]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class FileLines:
    """Clean lines of one export file and the fragments the fault injector rewrites."""

    source: str
    lines: list[str]
    ident: list[str]  # contiguous identity block of each line (ends with a comma)
    insert_id: list[str]
    time_text: list[str]  # Mixpanel: seconds as text; Amplitude: event_time text
    uuid: list[str] | None = None  # Amplitude only
    unmerged_ident: list[str | None] | None = None  # Mixpanel: identity before the ID merge
    exact_duplicates: bool = False  # duplicates are always byte-identical copies

    def __len__(self) -> int:
        return len(self.lines)

    def fresh(self, i: int, rng: np.random.Generator) -> str:
        """Line ``i`` as a *different* event: new $insert_id (and uuid), so it is never a duplicate."""
        line = self.lines[i].replace(
            f'"$insert_id":"{self.insert_id[i]}"', f'"$insert_id":"{_fresh_hex(rng)}"', 1
        )
        if self.uuid is not None:
            line = line.replace(f'"uuid":"{self.uuid[i]}"', f'"uuid":"{_fresh_uuid(rng)}"', 1)
        return line

    def without_identity(self, i: int) -> str:
        """Line ``i`` with no user, device, amplitude id, uuid or $insert_id."""
        if self.source == "mixpanel":
            return self.lines[i].replace(self.ident[i], "", 1)
        null = '"user_id":null,"device_id":null,"amplitude_id":null,"uuid":null,"$insert_id":null,'
        return self.lines[i].replace(self.ident[i], null, 1)

    def with_time(self, line: str, i: int, epoch_ms: int) -> str:
        """``line`` (derived from line ``i``) with its event time replaced."""
        t = self.time_text[i]
        if self.source == "mixpanel":
            return line.replace(f'"time":{t},', f'"time":{epoch_ms // 1000},', 1)
        new = amplitude_times(np.array([epoch_ms]))[0]
        return line.replace(
            f'"event_time":"{t}","client_event_time":"{t}"',
            f'"event_time":"{new}","client_event_time":"{new}"',
            1,
        )

    def with_wrong_type(self, line: str, i: int, epoch_ms: int) -> str:
        """Mixpanel ``time`` as a JSON string; Amplitude ``event_time`` as a JSON number (ms)."""
        t = self.time_text[i]
        if self.source == "mixpanel":
            return line.replace(f'"time":{t},', f'"time":"{t}",', 1)
        return line.replace(f'"event_time":"{t}"', f'"event_time":{epoch_ms}', 1)

    def duplicate_sources(self, src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Originals for duplicates: for Mixpanel, half of them (where the file has any) are
        events whose distinct_id changed with an ID merge, so that their copies show the
        pre-merge id."""
        if self.unmerged_ident is None:
            return src
        candidates = np.flatnonzero([alt is not None for alt in self.unmerged_ident])
        if not candidates.size:
            return src
        merged = rng.random(len(src)) < 0.5
        return np.where(merged, candidates[rng.integers(0, len(candidates), len(src))], src)

    def duplicate(self, i: int, rng: np.random.Generator) -> str:
        """A second delivery of line ``i``, as the vendors re-send it.

        Mixpanel: events of a device that identified later come back with the pre-merge
        distinct_id (``$device:...``), as an export taken before the merge has them; others are
        exact copies. Amplitude: half are exact copies (same uuid), half SDK retries with a new
        uuid but the same device_id + $insert_id.
        """
        line = self.lines[i]
        if self.exact_duplicates:
            return line
        if self.source == "mixpanel":
            alt = self.unmerged_ident[i] if self.unmerged_ident is not None else None
            return line.replace(self.ident[i], alt, 1) if alt else line
        assert self.uuid is not None
        if rng.random() < 0.5:
            return line
        return line.replace(f'"uuid":"{self.uuid[i]}"', f'"uuid":"{_fresh_uuid(rng)}"', 1)


class _Fragments:
    """JSON fragments shared by both vendors' renderers."""

    def __init__(self, world: World) -> None:
        self.world = world
        people, orders, catalogue = world.people, world.orders, world.catalogue
        self.name = _obj(_j(n) for n in world.shape.event_names)
        self.user_id = _obj(f"user-{u}" for u in people.user_number.tolist())
        self.product = _obj(
            f'"product_id":{_j(str(pid))},"category":{_j(cat.CATEGORIES[int(c)])},"price":{m}'
            for pid, c, m in zip(
                catalogue.product_id, catalogue.category, _money(catalogue.price_cents), strict=True
            )
        )
        self.page_path = _obj(_j(p) for p in cat.PAGES)
        self.method = _obj(
            f'"method":{_j(cat.SIGNUP_METHODS[int(k)])}' for k in people.signup_method.tolist()
        )
        self.category = _obj(
            _j(cat.CATEGORIES[int(c)]) for c in catalogue.category[orders.product].tolist()
        )
        self.sku = catalogue.product_id[orders.product]
        self.price = _obj(_money(orders.price_cents))
        self.revenue = _obj(_money(orders.revenue_cents))
        self.neg_price = _obj(_money(-orders.price_cents))
        self.neg_revenue = _obj(_money(-orders.revenue_cents))
        utm = []
        for ch, cp in zip(people.channel.tolist(), people.campaign.tolist(), strict=True):
            c = cat.CHANNELS[ch]
            utm.append(
                (c.utm_source, c.utm_medium, c.campaigns[cp]) if c.utm_source and cp >= 0 else None
            )
        self.utm = utm
        self.place = [cat.PLACES[k] for k in people.place.tolist()]

    def custom(
        self,
        idx: np.ndarray,
        page: np.ndarray,
        product: np.ndarray,
        order: np.ndarray,
        refund: np.ndarray,
        method: np.ndarray,
    ) -> np.ndarray:
        """Per-event custom properties, picked from per-value fragment tables by event kind."""
        e = self.world.events
        code = e.code[idx]
        out = np.full(len(idx), "", dtype=object)
        for mask, table, key in (
            (code == cat.PAGE, page, e.page),
            ((code == cat.VIEW) | (code == cat.CART) | (code == cat.CHECKOUT), product, e.product),
            (code == cat.PURCHASE, order, e.order),
            (code == cat.REFUND, refund, e.order),
            ((code == cat.SIGNUP) | (code == cat.LOGIN), method, e.person),
        ):
            out[mask] = table[key[idx[mask]]]
        return out


class MixpanelRenderer:
    """Mixpanel raw-export lines (formats.md §1), canonical distinct_id at export time (§2)."""

    def __init__(self, world: World) -> None:
        f = self.f = _Fragments(world)
        d = world.devices
        self.iid_key = stream_key(world.seed, "mixpanel-insert-id")
        self.distinct_user = _obj(f'"distinct_id":"{u}",' for u in f.user_id)
        self.user_id = _obj(f'"$user_id":"{u}",' for u in f.user_id)
        self.distinct_device = _obj(f'"distinct_id":"$device:{x}",' for x in d.device_id)
        self.device_id = _obj(f'"$device_id":"{x}",' for x in d.device_id)
        client = []
        for person, slot, src, k in zip(
            d.person.tolist(), d.slot.tolist(), d.source.tolist(), d.client.tolist(), strict=True
        ):
            if src != cat.MIXPANEL:
                client.append("")
                continue
            w = cat.WEB_CLIENTS[k]
            pl = f.place[person]
            ref = (
                cat.CHANNELS[int(world.people.channel[person])].referrer if slot == 0 else "$direct"
            )
            domain = "$direct" if ref == "$direct" else ref.split("/")[2]
            device = f',"$device":{_j(w.device)}' if w.device else ""
            client.append(
                f'"mp_lib":"web","$lib_version":"{MIXPANEL_LIB_VERSION}","$os":{_j(w.os)},'
                f'"$browser":{_j(w.browser)},"$browser_version":{w.browser_version}{device},'
                f'"$city":{_j(pl.city)},"$region":{_j(pl.region)},"mp_country_code":"{pl.country_code}",'
                f'"$initial_referrer":{_j(ref)},"$initial_referring_domain":{_j(domain)}'
            )
        self.client = _obj(client)
        e = world.events
        # properties.time per event: UTC seconds, or the project's local wall-clock seconds when
        # the project has a time zone (formats.md §1 Time)
        self.seconds = e.time_ms // 1000
        if world.shape.mixpanel_timezone != "UTC":
            mp = e.source == cat.MIXPANEL
            self.seconds[mp] += utc_offsets(self.seconds[mp], world.shape.mixpanel_timezone)
        self.page = _obj(
            f',"page":{p},"$current_url":{_j(cat.SHOP_URL + json.loads(p))}' for p in f.page_path
        )
        self.order = _obj(
            f',"revenue":{r},"currency":"USD","product_id":{_j(str(s))},"category":{c},"quantity":{q},'
            f'"price":{pr},"order_id":"{o}"'
            for r, s, c, q, pr, o in zip(
                f.revenue,
                f.sku,
                f.category,
                world.orders.quantity.tolist(),
                f.price,
                world.orders.order_id,
                strict=True,
            )
        )
        self.refund = _obj(
            f',"revenue":{r},"currency":"USD","product_id":{_j(str(s))},"category":{c},"quantity":{q},'
            f'"order_id":"{o}"'
            for r, s, c, q, o in zip(
                f.neg_revenue,
                f.sku,
                f.category,
                world.orders.quantity.tolist(),
                world.orders.order_id,
                strict=True,
            )
        )
        self.utm = _obj(
            f',"utm_source":{_j(u[0])},"utm_medium":{_j(u[1])},"utm_campaign":{_j(u[2])}'
            if u
            else ""
            for u in f.utm
        )
        self.product = _obj("," + p for p in f.product)
        self.method = _obj("," + m for m in f.method)

    def render(self, idx: np.ndarray, with_unmerged: bool = False) -> FileLines:
        """Lines for the events ``idx`` (indices into world.events), in that order."""
        e = self.f.world.events
        person, device = e.person[idx], e.device[idx]
        server = e.is_server[idx]
        iid = hex_ids(self.iid_key, idx)
        distinct = np.where(
            e.distinct_is_user[idx], self.distinct_user[person], self.distinct_device[device]
        )
        dev = np.where(server, "", self.device_id[device])
        uid = np.where(e.has_user_id[idx], self.user_id[person], "")
        if self.f.world.shape.insert_id:
            iid_part = '"$insert_id":"' + iid + '",'
        else:
            iid = np.full(len(idx), "", dtype=object)
            iid_part = iid
        ident = distinct + dev + uid + iid_part
        client = np.where(server, MIXPANEL_SERVER_LIB, self.client[device])
        custom = self.f.custom(idx, self.page, self.product, self.order, self.refund, self.method)
        utm = np.where(e.is_acquisition[idx], self.utm[person], "")
        seconds = self.seconds[idx].tolist()
        lines = [
            f'{{"event":{n},"properties":{{"time":{t},{i}"mp_processing_time_ms":{pm},'
            f'"$mp_api_timestamp_ms":{am},{c}{cu}{u}}}}}'
            for n, t, i, pm, am, c, cu, u in zip(
                self.f.name[e.code[idx]].tolist(),
                seconds,
                ident.tolist(),
                e.processing_ms[idx].tolist(),
                e.api_ms[idx].tolist(),
                client.tolist(),
                custom.tolist(),
                utm.tolist(),
                strict=True,
            )
        ]
        unmerged = None
        if with_unmerged:
            pre = e.distinct_is_user[idx] & ~e.has_user_id[idx] & ~server
            alt = self.distinct_device[device] + dev + uid + iid_part
            unmerged = np.where(pre, alt, None).tolist()
        return FileLines(
            source="mixpanel",
            lines=lines,
            ident=ident.tolist(),
            insert_id=iid.tolist(),
            time_text=[str(s) for s in seconds],
            unmerged_ident=unmerged,
            exact_duplicates=not self.f.world.shape.insert_id,
        )


class AmplitudeRenderer:
    """Amplitude Export API lines (formats.md §4), one per event, fields in the documented order."""

    def __init__(self, world: World) -> None:
        f = self.f = _Fragments(world)
        d = world.devices
        self.uuid_key = stream_key(world.seed, "amplitude-uuid")
        self.iid_key = stream_key(world.seed, "amplitude-insert-id")
        self.user_id = _obj(f'"{u}"' for u in f.user_id)
        self.device_id = _obj(_j(x) for x in d.device_id)
        tail, server_tail, user_props = [], [], []
        for person, slot, src, k, ip in zip(
            d.person.tolist(),
            d.slot.tolist(),
            d.source.tolist(),
            d.client.tolist(),
            d.ip.tolist(),
            strict=True,
        ):
            pl = f.place[person]
            geo = (
                f'"country":{_j(pl.country)},"region":{_j(pl.region)},"city":{_j(pl.city)},"dma":null,'
                f'"language":{_j(pl.language)},"ip_address":"{ip}","location_lat":null,"location_lng":null'
            )
            utm = f.utm[person]
            user_props.append(
                f'"initial_utm_source":{_j(utm[0])},"initial_utm_medium":{_j(utm[1])},'
                f'"initial_utm_campaign":{_j(utm[2])}'
                if utm and slot == 0
                else ""
            )
            if src != cat.AMPLITUDE:
                tail.append("")
                server_tail.append("")
                continue
            a = cat.APP_CLIENTS[k]
            tail.append(
                f'"platform":"{a.platform}","os_name":"{a.os_name}","os_version":"{a.os_version}",'
                f'"device_family":{_j(a.device_family)},"device_type":{_j(a.device_type)},'
                f'"device_carrier":{_j(a.carrier)},"library":"{a.library}","version_name":"{cat.APP_VERSION}",'
                f'"start_version":"{cat.APP_VERSION}",{geo}'
            )
            server_tail.append(
                '"platform":null,"os_name":null,"os_version":null,"device_family":null,"device_type":null,'
                f'"device_carrier":null,"library":"http/2.0","version_name":null,"start_version":null,{geo}'
            )
        self.tail, self.server_tail = _obj(tail), _obj(server_tail)
        self.user_props = _obj(user_props)
        self.page = _obj(f'"page":{p}' for p in f.page_path)
        self.order = _obj(
            f'"$revenue":{r},"$price":{pr},"$quantity":{q},"$productId":{_j(str(s))},"$revenueType":"purchase",'
            f'"$currency":"USD","category":{c},"order_id":"{o}"'
            for r, pr, q, s, c, o in zip(
                f.revenue,
                f.price,
                world.orders.quantity.tolist(),
                f.sku,
                f.category,
                world.orders.order_id,
                strict=True,
            )
        )
        self.refund = _obj(
            f'"$revenue":{r},"$price":{pr},"$quantity":{q},"$productId":{_j(str(s))},"$revenueType":"refund",'
            f'"$currency":"USD","category":{c},"order_id":"{o}"'
            for r, pr, q, s, c, o in zip(
                f.neg_revenue,
                f.neg_price,
                world.orders.quantity.tolist(),
                f.sku,
                f.category,
                world.orders.order_id,
                strict=True,
            )
        )
        self.utm = _obj(
            f',"utm_source":{_j(u[0])},"utm_medium":{_j(u[1])},"utm_campaign":{_j(u[2])}'
            if u
            else ""
            for u in f.utm
        )

    def render(self, idx: np.ndarray) -> FileLines:
        """Lines for the events ``idx`` (indices into world.events), in that order."""
        e = self.f.world.events
        person, device = e.person[idx], e.device[idx]
        uid = np.where(e.has_user_id[idx], self.user_id[person], "null")
        uuid = uuid4s(self.uuid_key, idx)
        iid = uuid4s(self.iid_key, idx)
        with_iid = self.f.world.shape.insert_id
        if not with_iid:
            iid = np.full(len(idx), "", dtype=object)
        ident = (
            '"user_id":'
            + uid
            + ',"device_id":'
            + self.device_id[device]
            + ',"amplitude_id":'
            + e.amplitude_id[idx].astype(str).astype(object)
            + ',"uuid":"'
            + uuid
            + ('","$insert_id":"' + iid + '",' if with_iid else '","$insert_id":null,')
        )
        event_time = amplitude_times(e.time_ms[idx])
        props = self.f.custom(
            idx, self.page, self.f.product, self.order, self.refund, self.f.method
        )
        props = props + np.where(e.is_acquisition[idx], self.utm[person], "")
        tail = np.where(e.is_server[idx], self.server_tail[device], self.tail[device])
        first = np.where(e.event_id[idx] == 1, "true", "false")
        paying = np.where(e.paying[idx], "true", "false")
        lines = [
            f'{{"event_type":{n},{i}"event_id":{eid},"session_id":{sid},"event_time":"{et}",'
            f'"client_event_time":"{et}","client_upload_time":"{cu}","server_received_time":"{sr}",'
            f'"server_upload_time":"{su}","processed_time":"{pt}","event_properties":{{{ep}}},'
            f'"user_properties":{{{up}}},"groups":{{}},"group_properties":{{}},"data":{{"first_event":{fe}}},'
            f'"app":{cat.PROJECT_ID},{tl},"paying":{pay},"sample_rate":null,"amplitude_attribution_ids":null}}'
            for n, i, eid, sid, et, cu, sr, su, pt, ep, up, fe, tl, pay in zip(
                self.f.name[e.code[idx]].tolist(),
                ident.tolist(),
                e.event_id[idx].tolist(),
                e.session_id[idx].tolist(),
                event_time.tolist(),
                amplitude_times(e.client_upload_ms[idx]).tolist(),
                amplitude_times(e.server_received_ms[idx]).tolist(),
                amplitude_times(e.server_upload_ms[idx]).tolist(),
                amplitude_times(e.processed_ms[idx]).tolist(),
                props.tolist(),
                self.user_props[device].tolist(),
                first.tolist(),
                tail.tolist(),
                paying.tolist(),
                strict=True,
            )
        ]
        return FileLines(
            source="amplitude",
            lines=lines,
            ident=ident.tolist(),
            insert_id=iid.tolist(),
            time_text=event_time.tolist(),
            uuid=uuid.tolist(),
            exact_duplicates=not with_iid,
        )


def encode_lines(lines: Sequence[str]) -> bytes:
    """Newline-terminated lines as bytes; lone surrogates become the raw (invalid UTF-8) bytes."""
    if not lines:
        return b""
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def write_mixpanel_day(path: Path, lines: Sequence[str]) -> None:
    """One Mixpanel raw-export day file (JSONL)."""
    path.write_bytes(encode_lines(lines))


def write_amplitude_zip(
    path: Path, members: Sequence[tuple[str, int, Sequence[str]]], day: tuple[int, int, int]
) -> None:
    """One Amplitude export zip: (member name, hour, lines) -> gzip NDJSON members.

    gzip ``mtime=0`` and fixed zip entry dates keep the bytes identical for a seed. Members are
    stored uncompressed in the zip (they are gzip already), like the vendor's archives.
    """
    if day[0] < 1980:  # the zip format has no earlier dates; the member names carry the day
        day = (1980, 1, 1)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, hour, lines in members:
            info = zipfile.ZipInfo(name, date_time=(*day, hour, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, gzip.compress(encode_lines(lines), compresslevel=1, mtime=0))


def engage_pages(world: World, session_id: str) -> list[dict[str, object]]:
    """Engage API response pages for people identified in Mixpanel (formats.md §3).

    ``total`` is the overall count on every page (Airbyte reads it from page 0). When the count
    is a multiple of the page size, a final empty page ends the paging, as the API does.
    """
    e = world.events
    mp_user = (e.source == cat.MIXPANEL) & e.has_user_id
    persons = np.unique(e.person[mp_user])
    if persons.size:
        last_seen = np.zeros(len(world.people.acquired_ms), dtype=np.int64)
        mp = e.source == cat.MIXPANEL
        np.maximum.at(last_seen, e.person[mp], e.time_ms[mp])
        user_ids = np.array(
            [f"user-{u}" for u in world.people.user_number[persons].tolist()], dtype=object
        )
        persons = persons[np.argsort(user_ids, kind="stable")]
        created = iso_seconds(world.people.signup_ms[persons])
        seen = iso_seconds(last_seen[persons])
    emails = profile_emails(world)
    results = []
    for k, person in enumerate(persons.tolist()):
        p = world.people
        first = cat.FIRST_NAMES[int(p.first_name[person])]
        last = cat.LAST_NAMES[int(p.last_name[person])]
        place = cat.PLACES[int(p.place[person])]
        number = int(p.user_number[person])
        results.append(
            {
                "$distinct_id": f"user-{number}",
                "$properties": {
                    "$created": str(created[k]),
                    "$email": emails[person][0] if person in emails else email(first, last, number),
                    "$first_name": first,
                    "$last_name": last,
                    "$name": f"{first} {last}",
                    "$city": place.city,
                    "$region": place.region,
                    "$country_code": place.country_code,
                    "$timezone": place.timezone,
                    "$last_seen": str(seen[k]),
                    "acquisition_channel": cat.CHANNELS[int(p.channel[person])].name,
                    "signup_method": cat.SIGNUP_METHODS[int(p.signup_method[person])],
                },
            }
        )
    total = len(results)
    n_pages = total // ENGAGE_PAGE_SIZE + 1
    return [
        {
            "page": k,
            "page_size": ENGAGE_PAGE_SIZE,
            "session_id": session_id,
            "status": "ok",
            "total": total,
            "results": results[k * ENGAGE_PAGE_SIZE : (k + 1) * ENGAGE_PAGE_SIZE],
        }
        for k in range(n_pages)
    ]


def email(first: str, last: str, number: int) -> str:
    """``first.last.number@example.com``, ASCII only (unique through the user number)."""
    return f"{_ascii_slug(first)}.{_ascii_slug(last)}.{number}@example.com"


def _ascii_slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def utc_offsets(seconds: np.ndarray, timezone: str) -> np.ndarray:
    """UTC offset in seconds of ``timezone`` at each epoch second (local = UTC + offset).

    One zone lookup per 15-minute block; a block with a transition inside is looked up
    per second."""
    zone = ZoneInfo(timezone)
    sec = np.asarray(seconds, dtype=np.int64)

    def offset(s: int) -> int:
        delta = datetime.fromtimestamp(s, UTC).astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    blocks, inverse = np.unique(sec // 900, return_inverse=True)
    lo = np.array([offset(b * 900) for b in blocks.tolist()], dtype=np.int64)
    hi = np.array([offset(b * 900 + 899) for b in blocks.tolist()], dtype=np.int64)
    out = lo[inverse]
    for i in np.flatnonzero((lo != hi)[inverse]).tolist():
        out[i] = offset(int(sec[i]))
    return out


EMAIL_ISSUES: tuple[str, ...] = (
    "missing_at",
    "trailing_dot",
    "space_inside",
    "no_tld",
    "trailing_newline",
)
"""How a profile email is made invalid (``--invalid-email-share``), in equal turns."""
UNICODE_EMAIL = "üñîçødé@exämple.com"
"""Exactly one profile gets this address when the invalid share is above zero."""


def profile_emails(world: World) -> dict[int, tuple[str, str]]:
    """Person index -> (email, issue) for the people with a Mixpanel profile.

    ``issue`` is "" for a valid address, one of :data:`EMAIL_ISSUES` for the corrupted share
    (``round(share x profiles)`` people), or "unicode" for the one non-ASCII address (valid
    only for mail systems with SMTPUTF8 and IDN; HubSpot-style ASCII checks refuse it).
    Validity is known by construction, never by parsing the result."""
    e = world.events
    persons = np.unique(e.person[(e.source == cat.MIXPANEL) & e.has_user_id]).tolist()
    p = world.people
    out = {
        k: (
            email(
                cat.FIRST_NAMES[int(p.first_name[k])],
                cat.LAST_NAMES[int(p.last_name[k])],
                int(p.user_number[k]),
            ),
            "",
        )
        for k in persons
    }
    share = world.shape.invalid_email_share
    if share <= 0 or not persons:
        return out
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([world.seed, 0xE3A1])))
    n_bad = min(len(persons) - 1, int(round(share * len(persons))))
    chosen = rng.permutation(len(persons))
    for turn, j in enumerate(chosen[:n_bad].tolist()):
        k = persons[j]
        issue = EMAIL_ISSUES[turn % len(EMAIL_ISSUES)]
        out[k] = (_corrupt(out[k][0], issue), issue)
    if len(chosen) > n_bad:
        out[persons[int(chosen[n_bad])]] = (UNICODE_EMAIL, "unicode")
    return out


def _corrupt(address: str, issue: str) -> str:
    """``first.last.123@example.com`` made invalid the way CRM data is."""
    local, _, domain = address.partition("@")
    if issue == "missing_at":
        return f"{local}{domain}"  # first.last.123example.com
    if issue == "trailing_dot":
        return f"{address}."
    if issue == "space_inside":
        first, _, rest = local.partition(".")
        return f"{first} {rest}@{domain}"
    if issue == "no_tld":
        return f"{local}@{domain.rsplit('.', 1)[0]}"
    if issue == "trailing_newline":
        return f"{address}\n"
    raise ValueError(f"unknown email issue {issue!r}; expected one of {EMAIL_ISSUES}")
