"""Compressed exports inflated to plain temporary files, checked and within limits.

DuckDB's gzip reader checks neither the CRC (a file with flipped bytes loads its garbage as
quarantined lines) nor how far a file inflates (a 100 KB zip of ``{}`` lines took 17.6 GB). So
each gzip file, and each member of an Amplitude zip, is inflated here through Python's ``gzip``
(which checks the CRC and the length at the end of each member) into a plain file that DuckDB
then scans, in parallel, as it scans any plain file. One :class:`Budget` per export file counts
the text it inflates to and stops the copy as soon as a limit is passed, so a bomb costs at most
its limit in disk and never reaches DuckDB. The files of a day and the members of a zip inflate
side by side (:func:`run_all`): zlib inflates and computes the CRC without holding Python's
interpreter lock.
"""

from __future__ import annotations

import gzip
import os
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar

from sources.errors import InflationLimitError, UnreadableFileError
from sources.settings import MAX_INFLATED_BYTES_ENV, MAX_INFLATION_RATIO_ENV, IngestSettings

CHUNK = 1 << 20
# Below this much text a file is never refused for its ratio: a short file may compress well, and
# 1 MiB of even the shortest lines ({} and a newline) is a few hundred thousand rows.
RATIO_FLOOR = 2**20
_ZIP_MAGIC = b"PK\x03\x04"


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


class Budget:
    """What one compressed export file (``name``, ``compressed`` bytes) may inflate to."""

    def __init__(self, name: str, compressed: int, settings: IngestSettings) -> None:
        self.name = name
        self.compressed = max(compressed, 1)
        self.settings = settings
        self.inflated = 0
        self._lock = threading.Lock()  # the members of one zip inflate side by side

    def spend(self, n: int) -> None:
        """Count ``n`` more inflated bytes; raise once past a limit."""
        with self._lock:
            self.inflated += n
            inflated = self.inflated
        limit = self.settings.max_inflated_bytes
        if inflated > limit:
            raise InflationLimitError(
                f"{self.name} inflates to more than {_size(limit)} ({limit} bytes), the limit "
                f"{MAX_INFLATED_BYTES_ENV}: nothing of it was loaded. Split the export into "
                f"smaller ranges, or raise {MAX_INFLATED_BYTES_ENV} if the machine has the "
                "memory and disk for it"
            )
        ratio = self.settings.max_inflation_ratio
        if inflated > RATIO_FLOOR and inflated > ratio * self.compressed:
            raise InflationLimitError(
                f"{self.name} inflates more than {ratio:g} times its {_size(self.compressed)} "
                f"(already {_size(inflated)}), the limit {MAX_INFLATION_RATIO_ENV}: "
                "nothing of it was loaded. Real exports inflate about 10 times; this looks like "
                f"a compression bomb. Export the day again, or raise {MAX_INFLATION_RATIO_ENV} "
                "if you trust the file"
            )


T = TypeVar("T")
#: Files inflated at once: one per core.
WORKERS = os.cpu_count() or 1


def run_all(jobs: list[Callable[[], T]]) -> list[T]:
    """The results of ``jobs``, run side by side on up to :data:`WORKERS` threads, in order.

    The first job (in order) that failed raises its error; the jobs not started by then are
    dropped, the running ones finish or stop at their budget's limit first.
    """
    if len(jobs) < 2 or WORKERS < 2:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(WORKERS, len(jobs)), thread_name_prefix="inflate") as pool:
        futures = [pool.submit(job) for job in jobs]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _check_text(head: bytes, name: str) -> None:
    """Refuse content that is not NDJSON text, from its first bytes."""
    if head.startswith(_ZIP_MAGIC):
        raise UnreadableFileError(
            f"{name} is a zip inside the export zip: unzip it and put the zips it holds in "
            "the export folder, one per day"
        )
    if b"\0" in head:
        raise UnreadableFileError(
            f"{name} is binary, not NDJSON text (it holds NUL bytes): it is not an export "
            "file; remove it, or export the day again"
        )


def inflate(source: BinaryIO, target: Path, name: str, budget: Budget) -> None:
    """Write the gzip stream ``source`` (``name`` in messages) inflated to ``target``."""
    try:
        with gzip.GzipFile(fileobj=source, mode="rb") as text, open(target, "wb") as out:
            _copy_checked(text, out, name, budget)
    except gzip.BadGzipFile as exc:
        if "Not a gzipped file" in str(exc):
            raise UnreadableFileError(
                f"{name} is not gzip, though its name says so: export it again, or rename it "
                "without .gz if it is plain text"
            ) from exc
        raise _corrupt(name, exc) from exc
    except (EOFError, zlib.error) as exc:
        raise _corrupt(name, exc) from exc


def _corrupt(name: str, exc: Exception) -> UnreadableFileError:
    return UnreadableFileError(
        f"{name} is a corrupt gzip ({exc}): nothing of it was loaded. Download or export it "
        "again; a copy that was cut short or changed on the way fails the same check"
    )


def copy_plain(source: BinaryIO, target: Path, name: str, budget: Budget) -> None:
    """Write the plain NDJSON stream ``source`` (a zip member) to ``target``, within ``budget``."""
    with open(target, "wb") as out:
        _copy_checked(source, out, name, budget)


def _copy_checked(source: BinaryIO, out: BinaryIO, name: str, budget: Budget) -> None:
    """Copy ``source`` to ``out`` in chunks: the first one must look like text, and every byte
    is spent from ``budget`` (which refuses beyond the limits)."""
    first = True
    while chunk := source.read(CHUNK):
        if first:
            _check_text(chunk[:65536], name)
            first = False
        budget.spend(len(chunk))
        out.write(chunk)


def check_plain_file(path: Path, name: str) -> None:
    """Refuse a plain export file that is not NDJSON text, from its first bytes."""
    with open(path, "rb") as handle:
        _check_text(handle.read(65536), name)
