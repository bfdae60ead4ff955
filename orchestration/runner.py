"""`recur run`: materialize a selection of assets for every export day present.

Partitioned assets run one partition per run, oldest day first, then the unpartitioned ones
(downstream models read all days). Runs go to the instance in ``DAGSTER_HOME`` when it is set, so
they show in the Dagster UI; otherwise to a throwaway instance.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from orchestration import environment
from orchestration.defs.ingest.partitions import register_present_days
from sources.layout import check_exports_folder


@dataclass
class RunReport:
    """What `recur run` did: one entry per run, and the failures."""

    runs: list[tuple[str, str | None, bool, float]] = field(default_factory=list)

    @property
    def failed(self) -> list[tuple[str, str | None]]:
        return [(name, key) for name, key, ok, _ in self.runs if not ok]


def instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set, else an ephemeral one."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def run(
    defs: dg.Definitions,
    select: str | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
    echo: Callable[[str], None] = print,
    log_level: str = "WARNING",
) -> RunReport:
    """Materialize ``select`` (Dagster asset-selection syntax; everything when None)."""
    exports = environment.exports_path()
    check_exports_folder(exports)
    inst = dagster_instance or instance()
    days = register_present_days(inst, exports)

    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.from_string(select) if select else dg.AssetSelection.all()
    keys = selection.resolve(graph)
    if not keys:
        raise ValueError(f"the selection {select!r} matches no asset; see `dagster asset list`")
    assets = list(defs.assets or []) + list(defs.asset_checks or [])
    resources = defs.resources or {}

    by_partitions: dict[str | None, set[dg.AssetKey]] = {}
    for key in keys:
        partitions = graph.get(key).partitions_def
        name = partitions.name if isinstance(partitions, dg.DynamicPartitionsDefinition) else None
        by_partitions.setdefault(name, set()).add(key)

    report = RunReport()
    plan = [
        (name, day) for name in sorted(n for n in by_partitions if n) for day in days.get(name, [])
    ] + ([(None, None)] if None in by_partitions else [])
    for done, (name, day) in enumerate(plan, start=1):
        started = time.perf_counter()
        result = dg.materialize(
            assets,
            selection=dg.AssetSelection.assets(*by_partitions[name]),
            partition_key=day,
            instance=inst,
            resources=resources,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        seconds = time.perf_counter() - started
        report.runs.append((name or "unpartitioned", day, result.success, seconds))
        label = f"{name} {day}" if name else "unpartitioned assets"
        status = "ok" if result.success else "FAILED"
        echo(f"[{done}/{len(plan)}] {label}: {status} ({seconds:.1f} s)")
        if not result.success:
            for event in result.all_events:
                if event.is_failure and event.step_failure_data:
                    echo(f"    {event.step_key}: {event.step_failure_data.error.message.strip()}")
    return report
