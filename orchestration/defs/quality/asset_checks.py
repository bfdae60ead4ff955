"""The quality suites (checks/) as asset checks, and freshness checks on ingest and core.

One check node per table: its suites are its checks, each ``blocking`` (severity ERROR, gates
what runs after it) or ``warning`` (severity WARN, reports only). Dagster's gate is narrow: a
failed blocking check stops only the steps that read its asset *directly* in the same run. The
syncs read the audiences, and every dbt model is built by one step, so a blocking check on a core
or analytics mart could not reach them on its own. Hence each audience's check node also waits
on the blocking-checked tables it is built from (``additional_deps``: raw events, marts): when one
of their blocking checks fails, the audience checks do not run, and neither do the syncs behind
them. The LTV models are the exception: a failed fit or prediction check stops only the syncs that
send or filter on a prediction (they depend on the LTV models themselves; checks/ltv_usage.py), so
an audience of cart abandoners still syncs while the LTV fit is broken. Runs that rebuild only part of the graph run those upstream checks too (runner.py).
A suite that cannot run at all (its table is missing) fails its step, which stops the same syncs.

The email rule is not here: it concerns only the syncs that send emails, so it is a check on each
such sync asset, run by the sync's own step (orchestration/defs/syncs/assets.py), and a failure
stops that sync alone.
"""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import dagster as dg

from checks import (
    Audience,
    CheckOutcome,
    Sources,
    Suite,
    Thresholds,
    audience_suites,
    audiences_from_manifest,
    run_suite,
    warehouse_suites,
)
from checks.ltv_usage import LTV_ASSETS
from checks.suite import plain
from orchestration.dbt_project import dbt_project
from orchestration.resources import SyncResource, WarehouseResource

THRESHOLDS = Thresholds.from_env(os.environ)

#: Assets whose last update must be recent: the ingest assets and the core marts.
FRESHNESS_ASSETS = [
    dg.AssetKey(["raw", "mixpanel_events"]),
    dg.AssetKey(["raw", "amplitude_events"]),
    dg.AssetKey(["raw", "mixpanel_profiles"]),
    dg.AssetKey(["core", "dim_users"]),
    dg.AssetKey(["core", "fct_events"]),
    dg.AssetKey(["core", "fct_sessions"]),
    dg.AssetKey(["core", "fct_orders"]),
]


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """A suite's outcome as Dagster shows it: the failing rows as a table, the observed values."""
    metadata = {
        "failing examples": dg.MetadataValue.md(outcome.examples_markdown()),
        "observed": dg.MetadataValue.json(plain(outcome.observed)),
        "rows": dg.MetadataValue.int(outcome.rows),
        "severity": outcome.severity,
    }
    if outcome.params:
        metadata["thresholds"] = dg.MetadataValue.json(plain(dict(outcome.params)))
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(list(outcome.asset)),
        check_name=outcome.suite,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata=metadata,
    )


def build_suite_checks(
    asset: tuple[str, ...], suites: Sequence[Suite], additional_deps: Sequence[dg.AssetKey] = ()
) -> dg.AssetChecksDefinition:
    """One node running ``suites`` (all about ``asset``); each suite is its own check."""
    key = dg.AssetKey(list(asset))
    specs = [
        dg.AssetCheckSpec(
            name=suite.name,
            asset=key,
            description=f"{suite.description} ({suite.severity})",
            blocking=suite.blocking,
            additional_deps=list(additional_deps),
            metadata={"severity": suite.severity},
        )
        for suite in suites
    ]

    @dg.multi_asset_check(
        specs=specs,
        can_subset=True,
        name=f"quality__{'__'.join(asset)}",
        description=f"Quality suites on {'.'.join(asset)} (great-expectations; see docs/quality.md).",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, sync: SyncResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.name for k in context.selected_asset_check_keys}
        sources = Sources(Path(warehouse.path), sync.state_path)
        for suite in suites:
            if suite.name not in selected:
                continue
            outcome = run_suite(suite, sources, examples=THRESHOLDS.examples)
            log = context.log.info if outcome.passed else context.log.warning
            log(f"{'.'.join(asset)} {suite.name} ({suite.severity}): {outcome.description}")
            yield check_result(outcome)

    return _checks


def _ancestors(manifest: Mapping, unique_id: str) -> set[str]:
    parents, seen, todo = manifest.get("parent_map", {}), set(), [unique_id]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _asset_of(manifest: Mapping, unique_id: str) -> tuple[str, ...] | None:
    """The Dagster key of a manifest node: ``<schema>/<name>`` for models (the translator's
    rule), ``meta.dagster.asset_key`` for sources (the ingest assets)."""
    if unique_id in manifest.get("nodes", {}):
        node = manifest["nodes"][unique_id]
        return (node["schema"], node["name"])
    source = manifest.get("sources", {}).get(unique_id)
    if source is None:
        return None
    meta = (source.get("config") or {}).get("meta") or source.get("meta") or {}
    key = (meta.get("dagster") or {}).get("asset_key")
    return tuple(key) if key else None


def gating_deps(
    manifest: Mapping, audience: Audience, blocking_assets: set[tuple[str, ...]]
) -> list[dg.AssetKey]:
    """The assets with blocking suites that ``audience`` is built from (its ancestors in the
    manifest, the raw sources included), but the LTV models: every audience reads them through
    aud_contact_traits, yet only the syncs that send or filter on a prediction wait on their
    checks (checks/ltv_usage.py; the sync assets depend on them directly)."""
    ids = [
        uid
        for uid, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") == "model"
        and (node.get("schema"), node.get("name")) == audience.asset
    ]
    upstream = {_asset_of(manifest, uid) for i in ids for uid in _ancestors(manifest, i)}
    gating = (upstream & blocking_assets) - LTV_ASSETS  # those gate the syncs that use them
    return [dg.AssetKey(list(asset)) for asset in sorted(gating)]


def quality_checks(
    manifest_path: Path = Path(dbt_project.manifest_path), thresholds: Thresholds = THRESHOLDS
) -> list[dg.AssetChecksDefinition]:
    """A check node per table with suites: raw events, core and analytics marts, and every
    audience with a sync declared (the audience nodes gated on the blocking marts upstream)."""
    by_asset: dict[tuple[str, ...], list[Suite]] = {}
    for suite in warehouse_suites(thresholds):
        by_asset.setdefault(suite.asset, []).append(suite)
    nodes = [build_suite_checks(asset, suites) for asset, suites in by_asset.items()]
    manifest = json.loads(Path(manifest_path).read_text())
    blocking = {asset for asset, suites in by_asset.items() if any(s.blocking for s in suites)}
    for audience in audiences_from_manifest(manifest):
        nodes.append(
            build_suite_checks(
                audience.asset,
                audience_suites(audience, thresholds),
                additional_deps=gating_deps(manifest, audience, blocking),
            )
        )
    return nodes


def freshness_checks(thresholds: Thresholds = THRESHOLDS) -> list[dg.AssetChecksDefinition]:
    """Each ingest asset and core mart was updated within ``freshness_hours`` (WARN).

    ``build_last_update_freshness_checks`` is marked superseded in dagster 1.13 by freshness
    policies on the assets; it is kept because it gives real asset checks (history, metadata, run
    with each materialization) without touching the other domains' asset definitions.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return list(
            dg.build_last_update_freshness_checks(
                assets=FRESHNESS_ASSETS,
                lower_bound_delta=timedelta(hours=thresholds.freshness_hours),
                severity=dg.AssetCheckSeverity.WARN,
            )
        )


def freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Evaluates the freshness checks when one may have gone stale (it launches a small run of
    just those checks; materializations run them anyway)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=list(checks),
            name="freshness_checks",
            minimum_interval_seconds=600,
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
