"""Vectorised identifiers and timestamp text.

Identifiers are derived from (key, index) with the splitmix64 finaliser, a bijection on 64-bit
integers: distinct indices give distinct ids, so the dedup keys of clean events can never collide
by accident (random draws would, rarely), and the ids do not depend on how many random numbers
other parts of the generator consumed. Formatting works on byte matrices so that a million ids
cost milliseconds, not a Python loop.
"""

from __future__ import annotations

import numpy as np

_HEX_LOWER = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)  # nibbles of a uint64, most significant first


def splitmix64(x: np.ndarray) -> np.ndarray:
    """Mix 64-bit integers (bijective): the standard splitmix64 output function."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_key(seed: int, name: str) -> np.uint64:
    """A 64-bit key for one id family (e.g. "mixpanel-insert-id") under one seed."""
    h = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    for ch in name.encode():
        h = splitmix64(np.array([h ^ np.uint64(ch)]))[0]
    return h


def _nibbles(words: np.ndarray) -> np.ndarray:
    """(n,) uint64 -> (n, 16) nibble matrix, most significant nibble first."""
    return ((words[:, None] >> _SHIFTS[None, :]) & np.uint64(0xF)).astype(np.uint8)


def _to_str(chars: np.ndarray) -> np.ndarray:
    """(n, k) ASCII byte matrix -> object array of Python str."""
    n, k = chars.shape
    as_bytes = np.ascontiguousarray(chars).view(f"S{k}").reshape(n)
    return as_bytes.astype(f"U{k}").astype(object)


def hex_ids(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """16 lower-case hex characters per index, unique per (key, index)."""
    words = splitmix64(np.asarray(index, dtype=np.uint64) ^ key)
    return _to_str(_HEX_LOWER[_nibbles(words)])


def uuid4s(key: np.uint64, index: np.ndarray, upper: bool = False) -> np.ndarray:
    """UUID version-4 strings (8-4-4-4-12), unique per (key, index) in their first 64 bits."""
    idx = np.asarray(index, dtype=np.uint64)
    hi = splitmix64(idx ^ key)
    lo = splitmix64(hi ^ np.uint64(0xD1B54A32D192ED03))
    nib = np.concatenate([_nibbles(hi), _nibbles(lo)], axis=1)
    nib[:, 12] = 4  # version 4
    nib[:, 16] = 8 | (nib[:, 16] & 3)  # RFC 4122 variant
    table = _HEX_UPPER if upper else _HEX_LOWER
    chars = table[nib]
    out = np.full((len(idx), 36), ord("-"), dtype=np.uint8)
    for dst, src in ((0, 0), (9, 8), (14, 12), (19, 16), (24, 20)):
        width = {0: 8, 20: 12}.get(src, 4)
        out[:, dst : dst + width] = chars[:, src : src + width]
    return _to_str(out)


def amplitude_times(epoch_ms: np.ndarray) -> np.ndarray:
    """Epoch milliseconds -> Amplitude export text ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC)."""
    ms = np.asarray(epoch_ms, dtype=np.int64)
    if ms.size == 0:
        return np.empty(0, dtype=object)
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").astype(
        "U23"
    )  # 2026-01-01T00:00:00.123
    chars = text.view(np.uint32).reshape(len(ms), 23)
    out = np.empty((len(ms), 26), dtype=np.uint32)
    out[:, :23] = chars
    out[:, 10] = ord(" ")
    out[:, 23:] = ord("0")
    return out.view("U26").reshape(len(ms)).astype(object)


def iso_seconds(epoch_ms: np.ndarray) -> np.ndarray:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SS`` (Mixpanel profile timestamps: no offset)."""
    ms = np.asarray(epoch_ms, dtype=np.int64)
    return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="s").astype(object)
