"""Which ingest runs to request: shared by the `new_export_files` sensor and the daily schedules.

An export day is identified by ``<source>:<YYYY-MM-DD>`` (the profile pages by
``mixpanel_profiles``) and its files by a signature (names, sizes, modification times). A day
needs a run when its signature differs from the one last handled. The sensor remembers what it
handled in its cursor; schedules have no cursor, so every requested run carries the key and the
signature as tags, and :func:`requested_signatures` reads them back from the instance. The sensor
and the schedules therefore never request the same files twice, whichever saw them first.
"""

from __future__ import annotations

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
from orchestration.resources import ExportAPIResource
from sources import layout

# One job per partitions definition: a job's assets must share one.
ingest_jobs = {
    layout.MIXPANEL: dg.define_asset_job(
        "ingest_mixpanel",
        selection=[raw_mixpanel_events],
        partitions_def=DAYS_BY_SOURCE[layout.MIXPANEL],
    ),
    layout.AMPLITUDE: dg.define_asset_job(
        "ingest_amplitude",
        selection=[raw_amplitude_events],
        partitions_def=DAYS_BY_SOURCE[layout.AMPLITUDE],
    ),
    layout.MIXPANEL_PROFILES: dg.define_asset_job(
        "ingest_mixpanel_profiles", selection=[raw_mixpanel_profiles]
    ),
}

#: Run tags naming the export key a run loads and the signature of its files at request time.
EXPORT_TAG = "recur/export"
SIGNATURE_TAG = "recur/export_signature"

# A run in one of these states has handled (or will handle) its files; a failed or canceled run
# has not, so its day is requested again on the next tick.
_HANDLED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUCCESS,
]


def source_of(key: str) -> str:
    """The source of an export key: ``mixpanel:2026-01-01`` -> ``mixpanel``."""
    return key.split(":", 1)[0]


def pulled_sources() -> set[str]:
    """Export keys' sources whose files come from a vendor's Export API (credentials set).

    Their files are written by our own runs (each materialization re-pulls its day), so a changed
    file is no news: the daily schedules request their days instead, and the sensor leaves them.
    """
    pulled = set()
    if ExportAPIResource(source=layout.MIXPANEL).enabled:
        pulled |= {layout.MIXPANEL, layout.MIXPANEL_PROFILES}
    if ExportAPIResource(source=layout.AMPLITUDE).enabled:
        pulled.add(layout.AMPLITUDE)
    return pulled


def _signature(paths: list[Path]) -> str:
    """Names, sizes and modification times: cheap to read, and any rewrite changes them."""
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in paths]
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def export_signatures(exports: Path, sources: set[str] | None = None) -> dict[str, str]:
    """One signature per source and export day, plus one for the profile pages (only those of
    ``sources`` when given)."""
    signatures = {
        f"{source}:{day.isoformat()}": _signature([f.path for f in files])
        for source in layout.EVENT_SOURCES
        for day, files in layout.export_files(exports, source).items()
    }
    pages = layout.profile_pages(exports)
    if pages:
        signatures[layout.MIXPANEL_PROFILES] = _signature(pages)
    if sources is None:
        return signatures
    return {key: sig for key, sig in signatures.items() if source_of(key) in sources}


def plan_runs(previous: dict[str, str], current: dict[str, str]) -> dg.SensorResult:
    """Run requests for the days (and profiles) whose files are new or changed, the dynamic
    partitions to add for new days, and ``current`` as the next cursor."""
    runs, new_days = [], {}
    for key, signature in sorted(current.items()):
        if previous.get(key) == signature:
            continue
        run_key = f"{key}:{signature}"
        tags = {EXPORT_TAG: key, SIGNATURE_TAG: signature}
        if key == layout.MIXPANEL_PROFILES:
            job = ingest_jobs[layout.MIXPANEL_PROFILES]
            runs.append(dg.RunRequest(run_key=run_key, job_name=job.name, tags=tags))
            continue
        source, day = key.split(":")
        if key not in previous:
            new_days.setdefault(DAYS_BY_SOURCE[source], []).append(day)
        job = ingest_jobs[source]
        runs.append(dg.RunRequest(run_key=run_key, job_name=job.name, partition_key=day, tags=tags))
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[d.build_add_request(keys) for d, keys in new_days.items()],
        cursor=json.dumps(current, sort_keys=True),
    )


def requested_signatures(instance: dg.DagsterInstance, sources: list[str]) -> dict[str, str]:
    """The signature each export key had when its newest queued, running or successful run was
    requested (runs without the tags, e.g. launched by hand, are not counted)."""
    signatures: dict[str, str] = {}
    for source in sources:
        records = instance.get_run_records(
            filters=dg.RunsFilter(job_name=ingest_jobs[source].name, statuses=_HANDLED)
        )
        for record in records:  # newest first
            tags = record.dagster_run.tags
            if EXPORT_TAG in tags and SIGNATURE_TAG in tags:
                signatures.setdefault(tags[EXPORT_TAG], tags[SIGNATURE_TAG])
    return signatures
