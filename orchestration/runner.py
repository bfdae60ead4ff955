"""`recur run`: materialize a selection of assets for every export day present.

Partitioned assets run as one run over all their days, then the unpartitioned ones (downstream
models read all days). Runs go to the instance in ``DAGSTER_HOME`` when it is set, so
they show in the Dagster UI; otherwise to a throwaway instance.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_shared.error import SerializableErrorInfo

from orchestration import environment
from orchestration.defs.ingest.partitions import DAYS_BY_SOURCE, register_present_days
from orchestration.defs.syncs.assets import DELIVERIES
from orchestration.resources import ExportAPIResource
from orchestration.stale_runs import PID_TAG, close_stale_runs
from sources.layout import check_exports_folder
from sources.loader import days_to_load
from sources.warehouse import connect
from syncs.secrets import scrub


@dataclass
class RunReport:
    """What `recur run` did: one entry per run, and the failures."""

    runs: list[tuple[str, bool, float]] = field(default_factory=list)  # label, success, seconds
    errors: list[str] = field(default_factory=list)  # one line per failed step: its own error

    @property
    def failed(self) -> list[str]:
        return [label for label, ok, _ in self.runs if not ok]


def instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set, else an ephemeral one."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


REPORTS = "reports"  # the asset group run last, on its own


def upstream_gates(defs: dg.Definitions, keys: set[dg.AssetKey]) -> set[dg.AssetCheckKey]:
    """The blocking checks (of check-only nodes: ledger, quality) on the assets upstream of
    ``keys`` that this run does not rebuild.

    Dagster lets a failed blocking check stop what reads its asset in the *same* run only. Runs
    that rebuild part of the graph (the unpartitioned run after the ingest run, `recur sync`)
    therefore run these checks too, so that a failure found earlier still stops them; they are
    cheap next to a bad audience reaching a CRM.
    """
    graph = defs.resolve_asset_graph()
    # The delivery history records what was sent: reading it never waits on the checks of the
    # audiences and models the syncs read (a failed audience check must not stop measuring what
    # earlier sends did), so the walk upstream stops there.
    upstream: set[dg.AssetKey] = set()
    todo = list(keys)
    while todo:
        key = todo.pop()
        if key not in upstream:
            upstream.add(key)
            if key != DELIVERIES:
                todo.extend(graph.get(key).parent_keys)
    upstream -= keys
    return {
        spec.key
        for checks in defs.asset_checks or []
        for spec in checks.check_specs
        if spec.blocking and spec.asset_key in upstream
    }


def days_with_work(partitions: str, days: list[str], exports: Path) -> list[str]:
    """The run's range of ``days`` (partition keys of ``partitions``, in their order): from the
    first to the last day whose export files the warehouse's ledger has not recorded as loaded.

    A day unchanged since it was loaded would be skipped by the loader anyway, but a run over it
    still costs Dagster events per partition (about 40 ms each with SQLite storage): with nothing
    new, no ingest run starts. Days pulled from an Export API are all kept (each run re-pulls
    them), and so is everything when the ledger cannot be read (no warehouse yet, or locked):
    the run then finds out, and says so.
    """
    source = next((s for s, d in DAYS_BY_SOURCE.items() if d.name == partitions), None)
    if source is None or not days or ExportAPIResource(source=source).enabled:
        return days
    try:
        with connect(environment.warehouse_path(), read_only=True) as con:
            todo = set(
                days_to_load(
                    con,
                    exports,
                    source,
                    [date.fromisoformat(d) for d in days],
                    environment.ingest_settings(),
                )
            )
    except (duckdb.Error, OSError):
        return days
    marked = [i for i, day in enumerate(days) if date.fromisoformat(day) in todo]
    return days[marked[0] : marked[-1] + 1] if marked else []


def run(
    defs: dg.Definitions,
    select: str | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
    echo: Callable[[str], None] = print,
    log_level: str = "WARNING",
) -> RunReport:
    """Materialize ``select`` (Dagster asset-selection syntax; everything when None)."""
    environment.check()  # a bad setting stops here, named, before any run starts
    exports = environment.exports_path()
    check_exports_folder(exports)
    inst = dagster_instance or instance()
    for run_id in close_stale_runs(inst):
        echo(f"run {run_id} was left unfinished by a killed recur process: marked failed")
    register_present_days(inst, exports)

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
    # One run per partitions definition covering all of its days (the ingest assets load a whole
    # range in one step), then one run for the unpartitioned assets downstream, then the report
    # alone: it shows what happened, held syncs and failed checks included, so nothing may skip it
    # (in the run before, a failed blocking check on an LTV model would skip whatever reads it).
    reports = {k for k in by_partitions.get(None, set()) if graph.get(k).group_name == REPORTS}
    plan: list[tuple[str | None, list[str]]] = []
    for name in sorted(n for n in by_partitions if n and n != REPORTS):
        days = inst.get_dynamic_partitions(name)
        todo = days_with_work(name, days, exports)
        if len(todo) < len(days):
            echo(f"{name}: {len(days) - len(todo)} of {len(days)} days unchanged since loaded")
        if todo:
            plan.append((name, todo))
    if by_partitions.get(None, set()) - reports:
        by_partitions[None] -= reports
        plan.append((None, []))
    if reports:
        by_partitions[REPORTS] = reports
        plan.append((REPORTS, []))
    for done, (name, keys) in enumerate(plan, start=1):
        tags = {PID_TAG: str(os.getpid())}
        if keys:
            tags |= {
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
            }
        started = time.perf_counter()
        gates = [] if name == REPORTS else upstream_gates(defs, by_partitions[name])
        result = dg.materialize(
            assets,
            selection=dg.AssetSelection.assets(*by_partitions[name])
            | dg.AssetSelection.checks(*gates),
            instance=inst,
            resources=resources,
            tags=tags,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        seconds = time.perf_counter() - started
        label = (
            f"{name} ({len(keys)} days, {keys[0]} to {keys[-1]})"
            if keys
            else name or "unpartitioned"
        )
        report.runs.append((label, result.success, seconds))
        status = "ok" if result.success else "FAILED"
        echo(f"[{done}/{len(plan)}] {label}: {status} ({seconds:.1f} s)")
        if not result.success:
            for event in result.all_events:
                if event.is_step_failure:
                    lines = failure_lines(event.step_key, event.step_failure_data.error)
                    report.errors.append(lines[0].strip())
                    for line in lines:
                        echo(line)
        for line in check_warnings(result):
            echo(f"    warning: {line}")
    return report


#: Lines of a step's error shown after its first line; the rest is in the Dagster UI.
DETAIL_LINES = 12


def failure_lines(step: str, error: SerializableErrorInfo | None) -> list[str]:
    """A failed step's own error, in one line first, then its detail, with secrets blanked.

    Dagster wraps what a step raised in "Error occurred while executing op ...": the step's own
    error is the innermost cause, and its first line is what says what went wrong.
    """
    own = error
    while own is not None and own.cause is not None:
        own = own.cause
    text = scrub((own.message if own else "") or (own.cls_name if own else "") or "unknown error")
    first, *rest = [line.rstrip() for line in text.strip().splitlines() if line.strip()] or [""]
    # "duckdb.duckdb.IOException: ..." -> "IOException: ...": the module path says nothing here
    first = re.sub(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )", "", first)
    lines = [f"    {step}: {first}"] + [f"        {line}" for line in rest[:DETAIL_LINES]]
    if len(rest) > DETAIL_LINES:
        lines.append(f"        ... {len(rest) - DETAIL_LINES} more lines in the Dagster UI")
    return lines


def check_warnings(result: dg.ExecuteInProcessResult) -> list[str]:
    """The lines of the failed WARN checks of a run that list them under the metadata key
    ``warnings`` (e.g. event_names_matched: a configured event name that matched no event)."""
    lines = []
    for evaluation in result.get_asset_check_evaluations():
        listed = evaluation.metadata.get("warnings")
        if evaluation.passed or listed is None:
            continue
        name = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
        lines.extend(f"{name}: {text}" for text in listed.value or [])
    return lines
