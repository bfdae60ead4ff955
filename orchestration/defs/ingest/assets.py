"""Ingest assets: export files into the ``raw`` schema, one export day per partition."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

from datetime import date

import dagster as dg
from dagster import AssetExecutionContext

from orchestration import environment
from orchestration.defs.ingest.partitions import amplitude_days, mixpanel_days
from orchestration.metadata import PREVIEW_ROWS, markdown_table
from orchestration.progress import progress_bar
from orchestration.resources import ExportAPIResource, ExportFolderResource, WarehouseResource
from sources import layout
from sources.loader import FileCounts, load_days
from sources.profiles import load_profiles


def _counts_metadata(files: list[FileCounts]) -> dict[str, object]:
    return {
        "lines_read": sum(f.lines_read for f in files),
        "loaded": sum(f.loaded for f in files),
        "duplicates": sum(f.duplicates for f in files),
        "quarantined": sum(f.quarantined for f in files),
        "files": len(files),
    }


def _quarantine_metadata(
    con, source: str, first: date | None = None, last: date | None = None
) -> dict[str, object]:
    """Quarantined lines by reason, with the first place each reason occurred."""
    rows = con.execute(
        "select reason, count(*) as lines, min(file || ':' || line_number) as first_at "
        "from raw.quarantine where source = ? "
        "and (partition between ? and ? or (partition is null and ? is null)) "
        "group by reason order by lines desc",
        [source, first, last, first],
    ).fetchall()
    if not rows:
        return {}
    return {"quarantine": dg.MetadataValue.md(markdown_table(["reason", "lines", "first"], rows))}


def _ingest_days(
    context: AssetExecutionContext,
    source: str,
    warehouse: WarehouseResource,
    exports: ExportFolderResource,
    api: ExportAPIResource,
    preview_sql: str,
) -> dg.MaterializeResult:
    """Load every export day of the run's partition range (one day, or a whole backfill)."""
    days = [date.fromisoformat(key) for key in context.partition_keys]
    pulled = 0
    if api.enabled:
        # Re-pull on every materialization: late events (Mixpanel accepts them for 5 days) and
        # re-exports after ID merges arrive in files that were already complete once.
        for day in days:
            path = api.download_day(day, exports.root)
            pulled += path is not None
            context.log.info(
                f"{source} {day}: pulled from the Export API into {path or '(no data)'}"
            )
    per_day, files = [], []
    # Files no day can load (no day in the name, a name that is not UTF-8) hold up nothing, but
    # each run says so until they are renamed.
    misnamed = layout.misnamed_files(exports.root, source)
    for problem in misnamed:
        context.log.warning(problem)
    settings = environment.ingest_settings()
    with warehouse.connect() as con:
        loaded = load_days(
            con,
            exports.root,
            source,
            days,
            progress=progress_bar(f"loading {source}"),
            settings=settings,
        )
        for result in loaded:
            day = result.day
            files += result.files
            per_day.append(
                (
                    day,
                    result.lines_read,
                    result.loaded,
                    result.duplicates,
                    result.quarantined,
                    "unchanged" if result.skipped else "loaded",
                )
            )
            if not result.skipped:  # one line per loaded day; the skipped ones are summed
                context.log.info(
                    f"{source} {day}: loaded: {result.lines_read} lines read, "
                    f"{result.loaded} loaded, {result.duplicates} duplicates, "
                    f"{result.quarantined} quarantined"
                )
        skipped = sum(1 for result in loaded if result.skipped)
        if skipped:
            context.log.info(f"{source}: {skipped} of {len(loaded)} days unchanged, skipped")
        preview = con.execute(preview_sql, [days[0], days[-1], PREVIEW_ROWS])
        header = [d[0] for d in preview.description]
        metadata: dict[str, object] = {
            **_counts_metadata(files),
            "days": len(days),
            "days_skipped_unchanged": skipped,
            "days_pulled_from_api": pulled,
            "preview": dg.MetadataValue.md(markdown_table(header, preview.fetchall())),
            "per_day": dg.MetadataValue.md(
                markdown_table(
                    ["day", "lines read", "loaded", "duplicates", "quarantined", "outcome"], per_day
                )
            ),
            **_quarantine_metadata(con, source, days[0], days[-1]),
            **(
                {"files_not_loaded": dg.MetadataValue.md("\n".join(f"- {p}" for p in misnamed))}
                if misnamed
                else {}
            ),
            "earliest_event": settings.earliest_event.isoformat(),
            **(
                {"project_timezone": settings.mixpanel_timezone}
                if source == layout.MIXPANEL
                else {}
            ),
        }
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["raw", "mixpanel_events"],
    group_name="ingest",
    partitions_def=mixpanel_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb", "python"},
    owners=["team:data"],
)
def raw_mixpanel_events(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    exports: ExportFolderResource,
    mixpanel_api: ExportAPIResource,
) -> dg.MaterializeResult:
    """Mixpanel raw-export events of one export day (a UTC day, or the project's local day when
    RECUR_MIXPANEL_TIMEZONE is set; event times are converted to UTC), validated and de-duplicated
    on (event, time, $insert_id). Bad lines go to raw.quarantine with a reason; raw.load_ledger
    accounts for every line. Re-running a day replaces it; an unchanged day is skipped."""
    return _ingest_days(
        context,
        layout.MIXPANEL,
        warehouse,
        exports,
        mixpanel_api,
        "select event_name, event_at, distinct_id, device_id, user_id, insert_id "
        "from raw.mixpanel_events where partition between ? and ? order by event_at limit ?",
    )


@dg.asset(
    key=["raw", "amplitude_events"],
    group_name="ingest",
    partitions_def=amplitude_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb", "python"},
    owners=["team:data"],
)
def raw_amplitude_events(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    exports: ExportFolderResource,
    amplitude_api: ExportAPIResource,
) -> dg.MaterializeResult:
    """Amplitude export events uploaded on one UTC day (all hourly files of the day's zip),
    de-duplicated on uuid and on device_id + $insert_id. Bad lines go to raw.quarantine with a
    reason; raw.load_ledger accounts for every line."""
    return _ingest_days(
        context,
        layout.AMPLITUDE,
        warehouse,
        exports,
        amplitude_api,
        "select event_name, event_at, user_id, device_id, amplitude_id, session_id, uuid "
        "from raw.amplitude_events where partition between ? and ? order by event_at limit ?",
    )


@dg.asset(
    key=["raw", "mixpanel_profiles"],
    group_name="ingest",
    kinds={"duckdb", "python"},
    owners=["team:data"],
)
def raw_mixpanel_profiles(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    exports: ExportFolderResource,
    mixpanel_api: ExportAPIResource,
) -> dg.MaterializeResult:
    """Mixpanel user profiles (Engage pages): email, names and geo per distinct_id. The table is
    replaced as a whole on each change, as profiles are state, not history."""
    if mixpanel_api.enabled:
        pages = mixpanel_api.download_profiles(exports.root)
        context.log.info(f"pulled {len(pages)} Engage pages from the Mixpanel API")
    with warehouse.connect() as con:
        skipped, files, seconds = load_profiles(con, exports.root)
        preview = con.execute(
            "select distinct_id, email, first_name, last_name, country_code, created_at "
            "from raw.mixpanel_profiles order by distinct_id limit ?",
            [PREVIEW_ROWS],
        )
        header = [d[0] for d in preview.description]
        metadata = {
            **_counts_metadata(files),
            "skipped_unchanged": skipped,
            "seconds": round(seconds, 3),
            "preview": dg.MetadataValue.md(markdown_table(header, preview.fetchall())),
            **_quarantine_metadata(con, layout.MIXPANEL_PROFILES),
        }
    return dg.MaterializeResult(metadata=metadata)
