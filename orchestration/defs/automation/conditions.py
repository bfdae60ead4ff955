"""When assets run by themselves: the automation conditions of the dbt models and the syncs.

The ingest assets are started by the daily schedules and the ``new_export_files`` sensor; what is
downstream follows through these conditions, evaluated by the ``automation`` sensor (declared in
``sensors.py``). A run that materializes a parent together with its child (``recur run``, a
materialization of everything from the UI) does not trigger the child again.
"""

from __future__ import annotations

import dagster as dg


def no_failed_blocking_check_upstream() -> dg.AutomationCondition:
    """No parent has a blocking check whose latest evaluation failed (unless the parent is
    requested again now: then its checks run first, in the same run). A check that has not run,
    or whose run failed before it could, does not count as failed."""
    failed = dg.AutomationCondition.check_failed() & ~dg.AutomationCondition.will_be_requested()
    return ~dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.any_checks_match(failed, blocking_only=True)
    ).with_label("no failed blocking check upstream")


def model_condition() -> dg.AutomationCondition:
    """dbt models and seeds: build when anything upstream updated, once nothing upstream is still
    queued or running (so a morning of ten export days costs one dbt build, not ten), and never
    past a failed blocking check.

    Unlike ``eager()`` it does not wait for missing export days, nor for checks that did not
    run: one day that failed to load (and alerted) must not hold back the models of every other
    day. A missing model or seed upstream does hold it back (dbt would fail on the missing table),
    so automation starts from a built warehouse.
    """
    return (
        (
            dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing().ignore(dg.AssetSelection.groups("ingest"))
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & no_failed_blocking_check_upstream()
    ).with_label("after upstream updates, once nothing upstream runs")


def sync_condition() -> dg.AutomationCondition:
    """Syncs: run after their audience materialized (``eager``), but never past a failed blocking
    check on it, as a run would not either."""
    return (
        dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("after the audience updates, when its blocking checks pass")
