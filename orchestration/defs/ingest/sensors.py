"""A sensor that notices new and changed export files and loads just their days."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

import hashlib
import json
from pathlib import Path

import dagster as dg

from orchestration.defs.ingest.assets import (
    raw_amplitude_events,
    raw_mixpanel_events,
    raw_mixpanel_profiles,
)
from orchestration.defs.ingest.partitions import DAYS_BY_SOURCE
from orchestration.environment import exports_path
from sources import layout

# One job per partitions definition: a job's assets must share one.
ingest_jobs = {
    layout.MIXPANEL: dg.define_asset_job(
        "ingest_mixpanel",
        selection=[raw_mixpanel_events],
        partitions_def=DAYS_BY_SOURCE["mixpanel"],
    ),
    layout.AMPLITUDE: dg.define_asset_job(
        "ingest_amplitude",
        selection=[raw_amplitude_events],
        partitions_def=DAYS_BY_SOURCE["amplitude"],
    ),
    layout.MIXPANEL_PROFILES: dg.define_asset_job(
        "ingest_mixpanel_profiles", selection=[raw_mixpanel_profiles]
    ),
}


def _signature(paths: list[Path]) -> str:
    """Names, sizes and modification times: cheap to read, and any rewrite changes them."""
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths]
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def export_signatures(exports: Path) -> dict[str, str]:
    """One signature per source and export day, plus one for the profile pages."""
    signatures = {
        f"{source}:{day.isoformat()}": _signature([f.path for f in files])
        for source in layout.EVENT_SOURCES
        for day, files in layout.export_files(exports, source).items()
    }
    pages = layout.profile_pages(exports)
    if pages:
        signatures[layout.MIXPANEL_PROFILES] = _signature(pages)
    return signatures


def plan_runs(previous: dict[str, str], current: dict[str, str]) -> dg.SensorResult:
    """Run requests for the days (and profiles) whose files are new or changed."""
    runs, new_days = [], {}
    for key, signature in sorted(current.items()):
        if previous.get(key) == signature:
            continue
        run_key = f"{key}:{signature}"
        if key == layout.MIXPANEL_PROFILES:
            job = ingest_jobs[layout.MIXPANEL_PROFILES]
            runs.append(dg.RunRequest(run_key=run_key, job_name=job.name))
            continue
        source, day = key.split(":")
        if key not in previous:
            new_days.setdefault(DAYS_BY_SOURCE[source], []).append(day)
        job = ingest_jobs[source]
        runs.append(dg.RunRequest(run_key=run_key, job_name=job.name, partition_key=day))
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[d.build_add_request(keys) for d, keys in new_days.items()],
        cursor=json.dumps(current, sort_keys=True),
    )


@dg.sensor(
    name="new_export_files",
    jobs=list(ingest_jobs.values()),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def new_export_files(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Loads each export day whose files appeared or changed in RECUR_EXPORTS."""
    exports = exports_path()
    if not exports.is_dir():
        return dg.SkipReason(f"RECUR_EXPORTS points to {exports}, which does not exist yet")
    previous = json.loads(context.cursor) if context.cursor else {}
    result = plan_runs(previous, export_signatures(exports))
    return result if result.run_requests else dg.SkipReason("no new or changed export files")
