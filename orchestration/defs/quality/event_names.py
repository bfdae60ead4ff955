"""The configured event names against the data: a WARN asset check on
analytics.event_name_settings (checks/event_names.py holds the logic)."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
import dagster as dg

from checks.event_names import configured_name_warnings
from orchestration.resources import WarehouseResource
from sources.warehouse import connect

#: Metadata key that `recur run` prints after a run (orchestration/runner.py).
WARNINGS_KEY = "warnings"


@dg.asset_check(
    asset=dg.AssetKey(["analytics", "event_name_settings"]),
    name="event_names_matched",
    blocking=False,
    description="Every configured event name (funnel steps, cart and purchase events, retention "
    "events, engagement weights) matched at least one event in core.fct_events (warning).",
)
def event_names_matched(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    con = connect(warehouse.path, read_only=True)
    try:
        found = configured_name_warnings(con)
    finally:
        con.close()
    rows = "\n".join(
        f"| {w.event_name} | {', '.join(w.settings)} | {', '.join(w.closest) or '-'} |"
        for w in found
    )
    return dg.AssetCheckResult(
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(found)} configured event name(s) matched no event: set them to the names "
            "your app sends (docs/configuration.md, Event names)"
            if found
            else "every configured event name matched events"
        ),
        metadata={
            WARNINGS_KEY: dg.MetadataValue.json([w.message for w in found]),
            "unmatched": dg.MetadataValue.md(
                "| event name | set in | closest names seen |\n|---|---|---|\n" + rows
                if found
                else "none"
            ),
            "unmatched_count": dg.MetadataValue.int(len(found)),
        },
    )
