"""Shared fixtures: a fresh warehouse connection and helpers that write tiny export folders."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from sources.warehouse import connect, ensure_raw_schema


@pytest.fixture
def warehouse(tmp_path: Path):
    """A writable warehouse file with the raw schema, closed after the test."""
    con = connect(tmp_path / "warehouse.duckdb")
    ensure_raw_schema(con)
    yield con
    con.close()


# An app's own event names for Recur's settings (dbt vars; RECUR_DBT_VARS holds them as YAML).
APP_EVENT_VARS = {
    "funnels": [
        {
            "name": "purchase",
            "window_days": 7,
            "steps": ["product_view", "add_to_cart", "checkout", "purchase"],
        },
        {"name": "signup_to_purchase", "window_days": 30, "steps": ["sign_up", "purchase"]},
    ],
    "audience_cart_events": ["add_to_cart", "checkout"],
    "audience_purchase_event": "purchase",
}


def point_recur_at(
    mp: pytest.MonkeyPatch, root: Path, exports: Path, hubspot=None, **extra: str
) -> None:
    """The environment of a Recur run in a test: ``exports``, the warehouse and state files under
    ``root`` (audience files beside them), the sandbox ``hubspot`` server's URL and token when
    given, and ``extra`` variables."""
    env = {
        "RECUR_EXPORTS": str(exports),
        "RECUR_WAREHOUSE": str(root / "warehouse.duckdb"),
        "RECUR_STATE": str(root / "state.duckdb"),
        **extra,
    }
    if hubspot is not None:
        from sandbox.servers.hubspot import SANDBOX_HUBSPOT_TOKEN

        env |= {"HUBSPOT_BASE_URL": hubspot.url, "HUBSPOT_ACCESS_TOKEN": SANDBOX_HUBSPOT_TOKEN}
    for name, value in env.items():
        mp.setenv(name, value)


def mixpanel_line(event: str = "Page Viewed", time: int = 1767225600, **props) -> str:
    """One Mixpanel raw-export line; ``props`` are the event's properties besides ``time``."""
    return json.dumps({"event": event, "properties": {"time": time, **props}})


def amplitude_line(**fields) -> str:
    """One Amplitude export line with sensible defaults for the fields not given."""
    base = {
        "event_type": "Page Viewed",
        "uuid": "00000000-0000-4000-8000-000000000001",
        "user_id": None,
        "device_id": "d-1",
        "amplitude_id": 1001,
        "event_id": 1,
        "session_id": 1767225600000,
        "event_time": "2026-01-01 00:00:00.000000",
        "client_event_time": "2026-01-01 00:00:00.000000",
        "client_upload_time": "2026-01-01 00:00:05.000000",
        "server_received_time": "2026-01-01 00:00:05.100000",
        "server_upload_time": "2026-01-01 00:00:05.200000",
        "processed_time": "2026-01-01 00:00:06.000000",
        "event_properties": {},
        "user_properties": {},
        "platform": "iOS",
    }
    base.update(fields)
    if "$insert_id" not in fields:  # one insert id per uuid unless a test says otherwise
        base["$insert_id"] = f"i-{base['uuid']}" if base["uuid"] else None
    return json.dumps(base)


def write_mixpanel_day(
    root: Path, day: str, lines: list[str | bytes], suffix: str = ".jsonl"
) -> Path:
    """Write one Mixpanel day file (plain or gzip by suffix) under ``root/mixpanel``."""
    path = root / "mixpanel" / f"{day}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    return path


def write_amplitude_day(root: Path, day: str, hours: dict[int, list[str | bytes]]) -> Path:
    """Write one Amplitude export zip (hourly gzip members) under ``root/amplitude``."""
    path = root / "amplitude" / f"187520_{day}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for hour, lines in sorted(hours.items()):
            data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
            archive.writestr(f"187520_{day}_{hour}#0.json.gz", gzip.compress(data))
    path.write_bytes(buffer.getvalue())
    return path


PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = PROJECT_ROOT / "dbt_project"


def run_dbt(args: list[str], warehouse: Path, workdir: Path, **env_vars: str) -> None:
    """Run dbt on ``warehouse`` with its own target and log folders (tests may run side by side);
    ``env_vars`` are added to the environment (e.g. RECUR_AS_OF)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "RECUR_WAREHOUSE": str(warehouse), "DO_NOT_TRACK": "1", **env_vars}
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [
            str(dbt),
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(workdir / "target"),
            "--log-path",
            str(workdir / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")


def load_exports(warehouse: Path, exports: Path, days=None, settings=None) -> None:
    """Load the given export days (all when None) of both sources, and the profiles, with
    ``settings`` (an ``IngestSettings``; the defaults when None, never the environment)."""
    from sources import layout
    from sources.loader import load_days
    from sources.profiles import load_profiles
    from sources.settings import IngestSettings

    settings = settings or IngestSettings()
    from sources.warehouse import connect, ensure_raw_schema

    with connect(warehouse) as con:
        ensure_raw_schema(con)
        for source in layout.EVENT_SOURCES:
            present = layout.export_days(exports, source)
            chosen = [d for d in present if days is None or d in days]
            load_days(con, exports, source, chosen, settings=settings)
        load_profiles(con, exports)
