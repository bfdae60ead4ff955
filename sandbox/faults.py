"""Fault injection: the defects real export files have, placed at recorded line numbers.

Faulty lines are *extra* lines (the clean lines are never changed or removed), so the clean events,
and with them every ground-truth number, are the same with and without faults for a seed. Each
file gets its own random stream, so the faults of one file do not depend on other files.

Kinds (one line each, 1-based physical line numbers in the final, decompressed file):

- ``malformed_json``: a real line with one syntax error in the middle (missing colon, missing key
  quote or missing comma); it still ends with ``}``.
- ``truncated_line``: a real line cut right after a member's comma; it never ends with ``}``.
- ``terminated_early`` (Mixpanel only): the literal last line ``terminated early``.
- ``duplicate``: a later copy of an earlier line of the same file, same dedup key. Mixpanel:
  exact, or (about half) an event of a device that identified later, carrying the pre-merge
  ``distinct_id`` ``$device:<id>``; Amplitude: exact (same uuid) or an SDK retry (new uuid, same
  device_id + $insert_id). Not quarantined downstream: counted as a duplicate.
- ``missing_id``: no identity at all (Mixpanel: no distinct_id, $device_id, $user_id,
  $insert_id; Amplitude: user_id, device_id, amplitude_id, uuid and $insert_id are null).
- ``future_timestamp``: event time in 2099; ``ancient_timestamp``: 1970-01-01 or 1995-1999
  (for data starting before 2000: before the first day by a year or more, else 1970-01-01,
  else 1969-12-31).
- ``wrong_type``: Mixpanel ``properties.time`` as a string; Amplitude ``event_time`` as a number.
- ``invalid_utf8``: the bytes FF FE inside the event name (otherwise valid JSON).

Every faulty line except duplicates gets a fresh $insert_id (and uuid): if a loader wrongly
accepted one it would show up as an extra event, not hide as a duplicate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sandbox.writers import FileLines

LINE_KINDS: tuple[str, ...] = (
    "malformed_json",
    "truncated_line",
    "duplicate",
    "missing_id",
    "future_timestamp",
    "ancient_timestamp",
    "wrong_type",
    "invalid_utf8",
)
TERMINATED_EARLY = "terminated early"
QUARANTINABLE = frozenset(LINE_KINDS + ("terminated_early",)) - {"duplicate"}

_MEMBER_START = re.compile(r',"')  # a member boundary: values never contain ',"'
_STRING_VALUE = re.compile(r'":"')
_Y2099 = (4_070_908_800_000, 4_102_444_799_000)  # 2099-01-01 .. 2099-12-31, epoch ms
_Y1995_1999 = (788_918_400_000, 946_684_799_000)


@dataclass(frozen=True)
class Fault:
    """One faulty line of a file."""

    line_number: int  # 1-based physical line in the final (decompressed) file
    kind: str


def terminated_early_probability(rate: float) -> float:
    """Share of Mixpanel day files that end with ``terminated early`` (one per file at most)."""
    return min(0.5, 10.0 * rate)


def inject(
    clean: FileLines,
    rate: float,
    rng: np.random.Generator,
    terminated: bool = False,
    first_ms: int | None = None,
) -> tuple[list[str], list[Fault]]:
    """Insert about ``rate`` x lines faulty lines, the kinds in equal shares, into ``clean``.

    Returns the final lines and the faults with their line numbers. ``terminated`` appends the
    literal ``terminated early`` line last. ``first_ms`` (the data's first instant) keeps
    ancient timestamps before it when the data itself is from the 1990s or earlier.
    """
    c = len(clean)
    n_faults = int(rng.binomial(c, rate)) if rate > 0 and c else 0
    # kinds in turn from a random offset: balanced within a file and, on average, across files
    kinds = rng.permutation(
        (rng.integers(0, len(LINE_KINDS)) + np.arange(n_faults)) % len(LINE_KINDS)
    )
    src = rng.integers(0, c, n_faults) if c else np.zeros(0, dtype=np.int64)
    u = rng.random(n_faults)
    is_dup = kinds == LINE_KINDS.index("duplicate")
    src[is_dup] = clean.duplicate_sources(src[is_dup], rng)
    # a faulty line goes after `slot` clean lines; a duplicate always after its original
    slot = np.where(is_dup, src + 1 + np.floor(u * (c - src)), np.floor(u * (c + 1))).astype(
        np.int64
    )
    texts = [
        _make(LINE_KINDS[k], clean, int(i), rng, first_ms)
        for k, i in zip(kinds.tolist(), src.tolist(), strict=True)
    ]

    if n_faults:
        key = np.concatenate([np.arange(c), slot])
        clean_after = np.concatenate([np.ones(c, np.int8), np.zeros(n_faults, np.int8)])
        tie = np.concatenate([np.arange(c), np.arange(n_faults)])
        order = np.lexsort((tie, clean_after, key))
        pool = clean.lines + texts
        lines = [pool[k] for k in order.tolist()]
        position = np.empty(c + n_faults, dtype=np.int64)
        position[order] = np.arange(c + n_faults)
        numbers = (position[c:] + 1).tolist()
    else:
        lines, numbers = list(clean.lines), []
    faults = [Fault(n, LINE_KINDS[k]) for n, k in zip(numbers, kinds.tolist(), strict=True)]
    if terminated:
        lines.append(TERMINATED_EARLY)
        faults.append(Fault(len(lines), "terminated_early"))
    faults.sort(key=lambda f: f.line_number)
    return lines, faults


def _make(
    kind: str, clean: FileLines, i: int, rng: np.random.Generator, first_ms: int | None = None
) -> str:
    """The text of one faulty line derived from clean line ``i``."""
    if kind == "duplicate":
        return clean.duplicate(i, rng)
    if kind == "missing_id":
        return clean.without_identity(i)
    line = clean.fresh(i, rng)
    if kind == "malformed_json":
        return _malformed(line, rng)
    if kind == "truncated_line":
        cuts = [m.start() for m in _MEMBER_START.finditer(line)]
        return line[: cuts[int(rng.integers(0, len(cuts)))] + 1]
    if kind == "future_timestamp":
        return clean.with_time(line, i, int(rng.integers(*_Y2099)))
    if kind == "ancient_timestamp":
        if first_ms is not None and first_ms <= _Y1995_1999[1]:
            return clean.with_time(line, i, _ancient_before(first_ms, rng))
        ms = 0 if rng.random() < 0.5 else int(rng.integers(*_Y1995_1999))
        return clean.with_time(line, i, ms)
    if kind == "wrong_type":
        return clean.with_wrong_type(line, i, _time_ms(clean, i))
    if kind == "invalid_utf8":
        at = _STRING_VALUE.search(line)
        assert at is not None
        cut = at.end()
        return line[:cut] + "\udcff\udcfe" + line[cut:]  # written as bytes FF FE (surrogateescape)
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {LINE_KINDS}")


def _ancient_before(first_ms: int, rng: np.random.Generator) -> int:
    """An epoch-ms time at least a year before ``first_ms``; 1970-01-01 or 1969-12-31 when the
    data starts too close to the epoch for that."""
    latest = first_ms - 366 * 86_400_000
    if latest > 0:
        return 0 if rng.random() < 0.5 else int(rng.integers(0, latest))
    return 0 if first_ms > 0 else -86_400_000


def _malformed(line: str, rng: np.random.Generator) -> str:
    """One syntax error away from valid, still ending with ``}``."""
    members = [m.start() for m in _MEMBER_START.finditer(line)]
    how = int(rng.integers(0, 3))
    if how == 0:  # missing colon after the first key: {"event""Purchase",...
        return line.replace('":', '"', 1)
    at = members[int(rng.integers(0, len(members)))]
    if how == 1:  # missing opening quote of a key: ,time":...
        return line[: at + 1] + line[at + 2 :]
    return line[:at] + " " + line[at + 1 :]  # missing comma between two members


def _time_ms(clean: FileLines, i: int) -> int:
    """Event time of clean line ``i`` in epoch ms (for the number-typed Amplitude event_time)."""
    text = clean.time_text[i]
    if clean.source == "mixpanel":
        return int(text) * 1000
    return int(np.datetime64(text.replace(" ", "T"), "ms").astype(np.int64))
