"""Where export files live and which export day each one holds.

The export folder (``RECUR_EXPORTS``) holds ``mixpanel/`` with one raw-export file per project day
(``*.jsonl``, ``*.json``, ``*.jsonl.gz``, ``*.json.gz``; the day as ``YYYY-MM-DD`` in the name),
``mixpanel/profiles/`` with Engage pages, and ``amplitude/`` with export zips (the day in the name).
A project day is a UTC day, or, for a Mixpanel project exporting local times
(``RECUR_MIXPANEL_TIMEZONE``), a day of the project's time zone: the file's day is its partition,
while the events' times are converted to UTC on load (``sources/mixpanel.py``).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sources.errors import ExportsFolderError

MIXPANEL = "mixpanel"
AMPLITUDE = "amplitude"
MIXPANEL_PROFILES = "mixpanel_profiles"
EVENT_SOURCES = (MIXPANEL, AMPLITUDE)

_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")
_SUFFIXES = {
    MIXPANEL: (".jsonl", ".json", ".jsonl.gz", ".json.gz"),
    AMPLITUDE: (".zip",),
}


@dataclass(frozen=True)
class ExportFile:
    """One file of an export folder and the export day it holds."""

    source: str
    path: Path
    day: date
    name: str  # path relative to the export folder, as recorded in the ledger and quarantine


def check_exports_folder(root: Path) -> None:
    """Fail with a message that says what to change when ``root`` is not an export folder."""
    if not root.is_dir():
        raise ExportsFolderError(
            f"RECUR_EXPORTS points to {root}, which does not exist: run `recur generate --out {root}` "
            "or set RECUR_EXPORTS to a folder holding mixpanel/ and/or amplitude/"
        )
    if not any((root / s).is_dir() for s in EVENT_SOURCES):
        raise ExportsFolderError(
            f"RECUR_EXPORTS points to {root}, which has no mixpanel/ or amplitude/ folder"
        )


def day_of(path: Path) -> date | None:
    """The export day named in a file name, or None when the name holds no valid date."""
    match = _DAY.search(path.name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _problem(path: Path, root: Path) -> str | None:
    """Why ``path`` cannot be an export file of a day, or None when it can."""
    name = path.relative_to(root).as_posix()
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name).decode("ascii", "backslashreplace")
        return (
            f"{shown} is not loaded: its name is not UTF-8 text, which the warehouse cannot "
            "record; rename it (e.g. to the export day, YYYY-MM-DD, and its suffix)"
        )
    if day_of(path) is None:
        return (
            f"{name} is not loaded: it has no YYYY-MM-DD day in its name; rename it so the "
            "export day is known"
        )
    return None


def _candidates(root: Path, source: str) -> list[Path]:
    folder = root / source
    if not folder.is_dir():
        return []
    return [
        p for p in sorted(folder.iterdir()) if p.is_file() and p.name.endswith(_SUFFIXES[source])
    ]


def export_files(root: Path, source: str) -> dict[date, list[ExportFile]]:
    """The export files of one source, grouped by day, sorted by name within a day.

    Files that cannot be placed (no day in the name, a name that is not UTF-8) are left out, so
    they hold up no day: :func:`misnamed_files` says which and what to do.
    """
    by_day: dict[date, list[ExportFile]] = defaultdict(list)
    for path in _candidates(root, source):
        if _problem(path, root) is None:
            day = day_of(path)
            assert day is not None
            by_day[day].append(ExportFile(source, path, day, path.relative_to(root).as_posix()))
    return dict(sorted(by_day.items()))


def misnamed_files(root: Path, source: str) -> list[str]:
    """For each export file of ``source`` that no day can load, a message naming it and saying
    what to do."""
    return [p for p in (_problem(path, root) for path in _candidates(root, source)) if p]


def is_inside(root: Path, path: Path) -> bool:
    """Whether ``path`` (links followed) lies inside the export folder ``root``."""
    return path.resolve().is_relative_to(root.resolve())


def check_inside(root: Path, path: Path) -> None:
    """Refuse ``path`` when it is a link that leads out of the export folder ``root``."""
    if not is_inside(root, path):
        target = path.resolve()
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path
        raise ExportsFolderError(
            f"{name} is a link to {target}, outside the export folder {root}: Recur reads only "
            "files inside RECUR_EXPORTS; copy the file in instead of linking to it"
        )


def export_days(root: Path, source: str) -> list[date]:
    """The export days present for a source, oldest first."""
    return list(export_files(root, source))


def profile_pages(root: Path) -> list[Path]:
    """The Engage pages of ``mixpanel/profiles/``, in page order."""
    folder = root / MIXPANEL / "profiles"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
