"""The automation sensor (evaluates the assets' automation conditions) and run-failure alerts."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

import dagster as dg

from orchestration import environment
from orchestration.alerts import Webhook, failure_text

# Dagster would add a `default_automation_condition_sensor` by itself, but stopped until someone
# starts it in the UI; declared here it runs from the start, and covers every asset with a
# condition (assets without one are not evaluated).
automation = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the automation conditions: the dbt models after the ingest assets, "
    "the syncs after their audiences.",
)

_PARTITION_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)


def _same_work(run: dg.DagsterRun) -> tuple:
    """What makes two runs attempts at the same work: the job, its partitions and its assets."""
    return (
        run.job_name,
        tuple(run.tags.get(tag) for tag in _PARTITION_TAGS),
        frozenset(run.asset_selection or ()),
    )


def previous_attempt(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun | None:
    """The latest finished run before ``run`` that did the same work, if any."""
    this = instance.get_run_record_by_id(run.run_id)
    tags = {t: run.tags[t] for t in _PARTITION_TAGS if t in run.tags}
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=run.job_name,
            tags=tags,
            statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
        ),
        limit=100,
    )
    for record in records:  # newest first
        other = record.dagster_run
        if other.run_id == run.run_id or (this and record.storage_id > this.storage_id):
            continue
        if _same_work(other) == _same_work(run):
            return other
    return None


def _step_error(event: dg.DagsterEvent) -> str:
    """A failed step's own error: the user's exception rather than Dagster's wrapper of it."""
    data = event.step_failure_data
    error = data.error
    if error is None:
        return ""
    if data.user_failure_data is None and error.cause is not None:
        error = error.cause
    return error.message  # "ValueError: ..." (the class name comes first)


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Posts a Slack-compatible message to RECUR_ALERT_WEBHOOK_URL when a run fails: "
    "the job, the run, the failed steps with their errors, and a link. Alerts when a piece of "
    "work starts failing, not again while it keeps failing. Does nothing when the variable is "
    "not set.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> dg.SkipReason | None:
    run = context.dagster_run
    webhook = Webhook.from_env()
    if webhook is None:
        return dg.SkipReason(
            f"{environment.ALERT_WEBHOOK_ENV} is not set: no alert for the failed run {run.run_id}"
        )
    before = previous_attempt(context.instance, run)
    if before is not None and before.status == dg.DagsterRunStatus.FAILURE:
        return dg.SkipReason(
            f"run {run.run_id} failed like the attempt before it ({before.run_id}), which was "
            "alerted: no new alert until it succeeds"
        )
    steps = [(e.step_key or "?", _step_error(e)) for e in context.get_step_failure_events()]
    text = failure_text(
        job=run.job_name,
        run_id=run.run_id,
        steps=steps,
        link=f"{environment.webserver_url()}/runs/{run.run_id}",
        partition=run.tags.get("dagster/partition"),
        run_error=context.failure_event.message,
    )
    webhook.post(text)
    context.log.info(f"alert sent for the failed run {run.run_id}")
    return None
