"""Benchmark exports with faults: a copy of clean exports where about 1% of the lines are bad and
1% are exact duplicates, so that quarantine, line renumbering and de-duplication run while timed.

    faulty_copy(clean, target)   # once per size, kept in bench/out

Each clean line is followed, with probability ``SHARE`` each and independently, by a spoiled
version of itself and by an exact copy of itself. The spoiled kinds take equal turns:

- ``truncated``: the line cut in the middle (truncated JSON, quarantined);
- ``no identity``: the event without any user identity (Mixpanel ``distinct_id``, ``$device_id``,
  ``$user_id``; Amplitude ``user_id``, ``device_id``, ``amplitude_id``), valid JSON, quarantined;
- ``bad time``: the event time as text that is no time (Mixpanel ``properties.time``, Amplitude
  ``event_time``), quarantined.

Faults are extra lines, so every following line moves down: the loader renumbers past them. The
copy is deterministic (one random stream per file, seeded by its name). Amplitude zips are
rewritten with their members gzipped at level 1, as the generator writes them.
"""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
import zlib
from pathlib import Path

import numpy as np

SHARE = 0.01
KINDS = ("truncated", "no identity", "bad time")
_MARK = "faults.json"  # written last: its presence means the copy is complete


def _spoil(line: bytes, kind: int, source: str) -> bytes:
    if KINDS[kind] == "truncated":
        return line[: len(line) // 2]
    event = json.loads(line)
    if source == "mixpanel":
        props = event["properties"]
        if KINDS[kind] == "no identity":
            for key in ("distinct_id", "$device_id", "$user_id"):
                props.pop(key, None)
        else:
            props["time"] = "yesterday"
    elif KINDS[kind] == "no identity":
        event.update(user_id=None, device_id=None, amplitude_id=None)
    else:
        event["event_time"] = "yesterday"
    return json.dumps(event, separators=(",", ":")).encode()


def _inject(data: bytes, source: str, seed: str) -> tuple[bytes, dict[str, int]]:
    """``data`` (NDJSON) with spoiled and duplicate lines after some of its lines."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    rng = np.random.default_rng(zlib.crc32(seed.encode()))
    bad = np.flatnonzero(rng.random(len(lines)) < SHARE)
    kinds = rng.integers(0, len(KINDS), len(bad))
    dup = set(np.flatnonzero(rng.random(len(lines)) < SHARE).tolist())
    extra: dict[int, list[bytes]] = {}
    for i, k in zip(bad.tolist(), kinds.tolist(), strict=True):
        extra[i] = [_spoil(lines[i], k, source)]
    for i in dup:
        extra.setdefault(i, []).append(lines[i])
    out: list[bytes] = []
    start = 0
    for i in sorted(extra):
        out.extend(lines[start : i + 1])
        out.extend(extra[i])
        start = i + 1
    out.extend(lines[start:])
    counts = {"lines": len(out), "bad": len(bad), "duplicates": len(dup)}
    return b"\n".join(out) + b"\n", counts


def faulty_copy(clean: Path, target: Path, sources: tuple[str, ...]) -> Path:
    """``target``: the event files of ``sources`` in ``clean`` with faults injected (Mixpanel
    profiles copied as they are). Made once; an existing complete copy is reused."""
    if (target / _MARK).exists():
        return target
    totals: dict[str, dict[str, int]] = {}
    for source in sources:
        folder = target / source
        folder.mkdir(parents=True, exist_ok=True)
        total = totals.setdefault(source, {"lines": 0, "bad": 0, "duplicates": 0})
        if source == "mixpanel":
            if (clean / source / "profiles").is_dir():
                shutil.copytree(
                    clean / source / "profiles", folder / "profiles", dirs_exist_ok=True
                )
            for path in sorted((clean / source).glob("*.jsonl")):
                data, counts = _inject(path.read_bytes(), source, path.name)
                (folder / path.name).write_bytes(data)
                total.update({k: total[k] + v for k, v in counts.items()})
            continue
        for path in sorted((clean / source).glob("*.zip")):
            with zipfile.ZipFile(path) as src, zipfile.ZipFile(folder / path.name, "w") as out:
                for info in src.infolist():
                    text, counts = _inject(gzip.decompress(src.read(info)), source, info.filename)
                    out.writestr(info, gzip.compress(text, compresslevel=1, mtime=0))
                    total.update({k: total[k] + v for k, v in counts.items()})
    (target / _MARK).write_text(json.dumps(totals, indent=2))
    return target
