"""A sensor that notices new and changed export files and loads just their days."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

import json

import dagster as dg

from orchestration.defs.ingest.planning import (
    export_signatures,
    ingest_jobs,
    plan_runs,
    pulled_sources,
    requested_signatures,
    source_of,
)
from orchestration.environment import exports_path
from sources import layout


@dg.sensor(
    name="new_export_files",
    jobs=list(ingest_jobs.values()),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def new_export_files(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Loads each export day whose files appeared or changed in RECUR_EXPORTS. Sources pulled
    over their Export API are left to the daily schedules: their files are rewritten by every
    run that pulls them, so watching them would request the same days again and again."""
    exports = exports_path()
    if not exports.is_dir():
        return dg.SkipReason(f"RECUR_EXPORTS points to {exports}, which does not exist yet")
    previous = json.loads(context.cursor) if context.cursor else {}
    watched = {*layout.EVENT_SOURCES, layout.MIXPANEL_PROFILES} - pulled_sources()
    current = export_signatures(exports, watched)
    changed = {key for key, signature in current.items() if previous.get(key) != signature}
    if changed:  # files a daily schedule already requested are no news either
        handled = requested_signatures(context.instance, sorted({source_of(k) for k in changed}))
        previous |= {k: s for k, s in handled.items() if k in changed and current[k] == s}
    result = plan_runs(previous, current)
    return result if result.run_requests else dg.SkipReason("no new or changed export files")
