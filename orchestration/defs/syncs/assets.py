"""Sync assets, made from the ``meta.recur.syncs`` declarations of the audience models.

An analytics engineer adds an audience and its syncs in dbt YAML; this module turns each
declaration into an asset downstream of its audience, so no Python changes.

A sync that sends emails (an email match key or a mapped email field, syncs/emails.py) carries
its own blocking check, ``emails_valid`` (checks/audiences.py, sync_emails_suite), evaluated by the
sync's step before anything is sent: above ``RECUR_CHECK_MAX_INVALID_EMAIL_SHARE`` of invalid
addresses the step fails with the check and sends nothing; below it the sync runs and the engine
holds the invalid rows back. A check on the audience would gate every sync behind it (Dagster stops
whatever reads a failed blocking check's asset), so a file keyed by ``user_id`` would wait on
emails it never sends; a check in the sync's own step gates only that sync.
"""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.
import json
import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from checks.audiences import SYNC_EMAILS_CHECK, sync_emails_suite
from checks.ltv_usage import LTV_ASSETS, ltv_use
from checks.suite import Sources, Suite, plain, validate
from checks.thresholds import Thresholds
from orchestration.dbt_project import dbt_project
from orchestration.defs.automation.conditions import sync_condition
from orchestration.resources import SyncResource
from sources.warehouse import connect
from syncs.engine import RunResult
from syncs.errors import FatalError
from syncs.history import copy_deliveries
from syncs.spec import SyncSpec, specs_from_manifest


def _metadata(result: RunResult) -> dict:
    c = result.counts
    metadata = {
        "status": result.status,
        **{
            name: dg.MetadataValue.int(int(c.get(name, 0)))
            for name in (
                "audience_rows",
                "added",
                "changed",
                "removed",
                "unchanged",
                "invalid",
                "delivered",
                "rejected",
                "requests",
                "throttled",
                "retries",
                "held_out",
                "capped",
            )
        },
        "duration_seconds": dg.MetadataValue.float(round(result.seconds, 2)),
        "run_id": result.run_id,
    }
    if result.error:
        metadata["error"] = dg.MetadataValue.text(result.error)
    if any(result.samples.values()):
        metadata["samples"] = dg.MetadataValue.json(json.loads(json.dumps(result.samples)))
    return metadata


def email_check_result(
    suite: Suite, sources: Sources, examples: int
) -> tuple[bool, dg.AssetCheckResult]:
    """Run the sync's email suite: (passed, the check result with count, share and examples)."""
    frame = suite.read(sources)
    outcome = validate(suite, frame, examples=examples)
    row = frame.iloc[0]
    shown = list(row["examples"])
    metadata = {
        "members": dg.MetadataValue.int(int(row["members"])),
        "invalid": dg.MetadataValue.int(int(row["invalid"])),
        "invalid_share": dg.MetadataValue.float(float(row["invalid_share"])),
        "max_invalid_share": dg.MetadataValue.float(float(row["max_invalid_share"])),
        "examples": dg.MetadataValue.json(plain(shown)),
        "severity": outcome.severity,
    }
    summary = (
        f"{int(row['invalid']):,} of {int(row['members']):,} members "
        f"({float(row['invalid_share']):.1%}) have an invalid email address "
        f"(at most {float(row['max_invalid_share']):.1%} allowed)"
    )
    return outcome.passed, dg.AssetCheckResult(
        asset_key=dg.AssetKey(list(suite.asset)),
        check_name=suite.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=summary,
        metadata=metadata,
    )


def build_sync_asset(
    spec: SyncSpec, thresholds: Thresholds | None = None, ltv_reasons: Sequence[str] = ()
) -> dg.AssetsDefinition:
    """The asset that runs ``spec``: ``syncs/<name>``, downstream of ``<schema>/<audience>``,
    with the blocking check ``emails_valid`` when the sync sends emails. A sync that uses
    predicted LTV or churn (``ltv_reasons``, checks/ltv_usage.py) also depends on the LTV
    models, so their blocking checks (a fit that did not converge, a prediction that is not
    finite) stop it, and only it."""
    thresholds = thresholds or Thresholds.from_env(os.environ)
    emails = sync_emails_suite(spec, thresholds)
    key = dg.AssetKey(["syncs", spec.name])
    target = f"the static list {spec.list!r}" if spec.list else f"{spec.object}"
    description = (
        f"Sync of the audience {spec.audience} to {spec.destination} ({target}), mode "
        f"{spec.mode}, matched on {spec.match_key}. Sends only what changed since the last "
        "confirmed delivery; refused rows stay dirty and are retried on the next run."
    )
    check_specs = (
        [
            dg.AssetCheckSpec(
                name=emails.name,
                asset=key,
                description=f"{emails.description} (blocking)",
                blocking=True,
                metadata={"severity": "blocking", **emails.params},
            )
        ]
        if emails is not None
        else []
    )

    @dg.asset(
        key=key,
        deps=[dg.AssetKey([spec.schema, spec.audience])]
        + ([dg.AssetKey(list(asset)) for asset in sorted(LTV_ASSETS)] if ltv_reasons else []),
        group_name="syncs",
        kinds={spec.destination, "python"},
        owners=["team:data"],
        description=description,
        check_specs=check_specs,
        # Runs after its audience materialized, by the `automation` sensor (a run that
        # materializes the audience and the sync together does not trigger it again).
        automation_condition=sync_condition(),
        metadata={
            "destination": spec.destination,
            "mode": spec.mode,
            "match_key": spec.match_key,
            "fields": dg.MetadataValue.json(dict(spec.fields)),
            "uses_ltv": "; ".join(ltv_reasons) if ltv_reasons else "no",
            **({"list": spec.list} if spec.list else {}),
        },
    )
    def _sync(context: dg.AssetExecutionContext, sync: SyncResource):
        if emails is not None:
            sources = Sources(Path(sync.warehouse), sync.state_path)
            passed, check = email_check_result(emails, sources, thresholds.examples)
            (context.log.info if passed else context.log.warning)(
                f"{spec.name} {emails.name}: {check.description}"
            )
            # The gate holds even when the check itself was left out of the selection.
            if dg.AssetCheckKey(key, emails.name) in context.selected_asset_check_keys:
                yield check
            if not passed:
                raise dg.Failure(
                    description=f"{spec.name}: blocked by {SYNC_EMAILS_CHECK}: "
                    f"{check.description}; nothing was sent",
                    metadata={
                        "hint": "fix the addresses at the source, or raise "
                        "RECUR_CHECK_MAX_INVALID_EMAIL_SHARE if this share is normal"
                    },
                )
        try:
            result = sync.run(spec)
        except FatalError as exc:
            raise dg.Failure(
                description=f"{spec.name}: {exc}",
                metadata={"hint": "rows not confirmed stay dirty and are sent on the next run"},
            ) from exc
        if result.status == "skipped":
            context.log.warning(f"{spec.name} skipped: {result.error}")
        else:
            context.log.info(result.summary())
        yield dg.MaterializeResult(metadata=_metadata(result))

    return _sync


#: The delivery history in the warehouse, read by dbt as the source raw.audience_deliveries.
DELIVERIES = dg.AssetKey(["raw", "audience_deliveries"])


def deliveries_asset(specs: Sequence[SyncSpec]) -> dg.AssetsDefinition:
    """``raw/audience_deliveries``: after the syncs, what they did (entered, sent, held out,
    capped, refused, exited) is copied from the state file into the warehouse."""

    @dg.asset(
        key=DELIVERIES,
        deps=[dg.AssetKey(["syncs", spec.name]) for spec in specs],
        group_name="syncs",
        kinds={"duckdb", "python"},
        owners=["team:data"],
        description="The syncs' delivery history, copied from the sync state file into the "
        "warehouse after they run (syncs/history.py): one row per sync run, key and event. "
        "dbt reads it as the source raw.audience_deliveries (analytics.audience_uplift).",
        automation_condition=(
            dg.AutomationCondition.any_deps_updated().since_last_handled()
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()
        ).with_label("after any sync ran"),
    )
    def audience_deliveries(sync: SyncResource) -> dg.MaterializeResult:
        con = connect(sync.warehouse)
        try:
            copied = copy_deliveries(sync.state_path, con)
        finally:
            con.close()
        return dg.MaterializeResult(
            metadata={
                "rows_copied": dg.MetadataValue.int(copied["rows"]),
                "runs_copied": dg.MetadataValue.int(copied["runs"]),
                "dagster/row_count": dg.MetadataValue.int(copied["total_rows"]),
                "runs": dg.MetadataValue.int(copied["total_runs"]),
            }
        )

    return audience_deliveries


def sync_assets() -> list[dg.AssetsDefinition]:
    """One asset per declared sync in the dbt manifest, and the delivery history after them."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    specs = specs_from_manifest(manifest)
    return [build_sync_asset(spec, ltv_reasons=ltv_use(spec, manifest)) for spec in specs] + [
        deliveries_asset(specs)
    ]
