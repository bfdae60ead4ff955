"""Daily schedules: at 06:00 UTC, load the export days that are new or changed since last handled.

A Dagster schedule starts runs of one job, and a job's assets share one partitions definition, so
there is one schedule per ingest job (Mixpanel days, Amplitude days, Mixpanel profiles), all built
here from the same code and all using the sensor's planning (``ingest/planning.py``). The models,
audiences and syncs downstream follow through their automation conditions (``conditions.py``).

- From a folder: a tick registers every export day present as a partition and requests a run for
  each day whose files are new or changed since the last run that handled them (by the sensor or a
  schedule; failed runs do not count, so their days are tried again).
- From an Export API (credentials set): the files are written by our runs, so the tick requests
  the day that just ended, and Mixpanel's day again once its late events have all arrived (Mixpanel
  accepts events up to five days late); profiles are pulled every day.
"""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from orchestration.defs.ingest.partitions import DAYS_BY_SOURCE, register_present_days
from orchestration.defs.ingest.planning import (
    export_signatures,
    ingest_jobs,
    plan_runs,
    pulled_sources,
    requested_signatures,
)
from orchestration.environment import exports_path
from sources import layout

DAILY_AT_SIX_UTC = "0 6 * * *"

# Days after which a pulled day is pulled once more, when no late event can arrive any more.
PULL_AGAIN_AFTER_DAYS = {layout.MIXPANEL: 6}


def pull_plan(source: str, today: date) -> dict[str, str]:
    """Export keys to pull over the API on ``today`` (UTC), with the signature they are requested
    under: a key is requested once per signature."""
    if source == layout.MIXPANEL_PROFILES:
        return {source: f"pull:{today.isoformat()}"}  # profiles are state: refresh them daily
    plan = {f"{source}:{(today - timedelta(days=1)).isoformat()}": "pull"}
    if source in PULL_AGAIN_AFTER_DAYS:
        late = today - timedelta(days=PULL_AGAIN_AFTER_DAYS[source])
        plan[f"{source}:{late.isoformat()}"] = "pull-final"
    return plan


def plan_tick(
    instance: dg.DagsterInstance, source: str, today: date
) -> list[dg.RunRequest] | dg.SkipReason:
    """The run requests of one schedule tick for ``source`` (also registers the days found)."""
    exports = exports_path()
    if source in pulled_sources():
        current = pull_plan(source, today)
        if source in DAYS_BY_SOURCE:
            days = [key.split(":")[1] for key in current]
            known = set(instance.get_dynamic_partitions(DAYS_BY_SOURCE[source].name))
            new = [d for d in days if d not in known]
            if new:
                instance.add_dynamic_partitions(DAYS_BY_SOURCE[source].name, new)
    elif not exports.is_dir():
        return dg.SkipReason(f"RECUR_EXPORTS points to {exports}, which does not exist")
    else:
        register_present_days(instance, exports)
        current = export_signatures(exports, {source})
    requests = plan_runs(requested_signatures(instance, [source]), current).run_requests
    if not requests:
        return dg.SkipReason(f"no new or changed {source} export since the last run")
    return requests


def build_daily_schedule(source: str) -> dg.ScheduleDefinition:
    """``<job>_daily``: the tick of :func:`plan_tick` for one ingest job."""
    job = ingest_jobs[source]

    @dg.schedule(
        name=f"{job.name}_daily",
        job=job,
        cron_schedule=DAILY_AT_SIX_UTC,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"At 06:00 UTC, registers the {source} export days present and loads the "
        "new and changed ones (with Export API credentials: pulls the day that just ended). "
        "The models and syncs downstream follow by their automation conditions.",
    )
    def _daily(context: dg.ScheduleEvaluationContext):
        today = (context.scheduled_execution_time or datetime.now(UTC)).date()
        return plan_tick(context.instance, source, today)

    return _daily


daily_schedules = [
    build_daily_schedule(source)
    for source in (layout.MIXPANEL, layout.AMPLITUDE, layout.MIXPANEL_PROFILES)
]
