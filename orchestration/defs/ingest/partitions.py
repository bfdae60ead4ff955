"""Export days as Dagster partitions: one dynamic set per source, filled from the export folder.

Days are dynamic rather than a daily range because they are whatever the exports hold: a backfill
file for 2023 or a gap in the exports must show up as it is, not as missing partitions.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from sources import layout

mixpanel_days = dg.DynamicPartitionsDefinition(name="mixpanel_days")
amplitude_days = dg.DynamicPartitionsDefinition(name="amplitude_days")

DAYS_BY_SOURCE = {layout.MIXPANEL: mixpanel_days, layout.AMPLITUDE: amplitude_days}


def present_days(exports: Path) -> dict[str, list[str]]:
    """Export days found on disk per partitions definition name."""
    return {
        days.name: [d.isoformat() for d in layout.export_days(exports, source)]
        for source, days in DAYS_BY_SOURCE.items()
    }


def register_present_days(instance: dg.DagsterInstance, exports: Path) -> dict[str, list[str]]:
    """Add the partitions for every export day on disk that the instance does not know yet."""
    found = present_days(exports)
    for name, keys in found.items():
        known = set(instance.get_dynamic_partitions(name))
        new = [k for k in keys if k not in known]
        if new:
            instance.add_dynamic_partitions(name, new)
    return found
