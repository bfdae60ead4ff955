"""Automation: the daily schedules, the automation conditions and run-failure alerts."""

# No `from __future__ import annotations`: Dagster reads the decorated functions' type hints.

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from orchestration.alerts import AlertError
from orchestration.defs.automation.conditions import model_condition, sync_condition
from orchestration.defs.automation.schedules import daily_schedules
from orchestration.defs.automation.sensors import alert_on_run_failure
from orchestration.defs.ingest.sensors import new_export_files
from orchestration.defs.syncs.assets import DELIVERIES
from sandbox.generate import generate

SIX_UTC = datetime(2026, 1, 10, 6, 0)
API_ENV = (
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "MIXPANEL_PROJECT_ID",
    "MIXPANEL_API_SECRET",
    "AMPLITUDE_API_KEY",
    "AMPLITUDE_SECRET_KEY",
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A generated export folder (3 days) and temp warehouse; no Export API credentials."""
    exports = tmp_path / "exports"
    generate(exports, users=60, days=3, seed=3)
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RECUR_EXPORTS", str(exports))
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("RECUR_STATE", str(tmp_path / "state.duckdb"))
    from orchestration.definitions import build_defs

    return exports, build_defs()


@pytest.fixture
def instance():
    """A real (SQLite, temp dir) instance: schedules need one they can reach by reference."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, when: datetime = SIX_UTC):
    """Evaluate every daily schedule as the scheduler would; {schedule: [(partition, tags)]}."""
    out = {}
    for schedule in daily_schedules:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=when,
            repository_def=defs.get_repository_def(),
        )
        data = schedule.evaluate_tick(context)
        out[schedule.name] = [(r.partition_key, r.tags) for r in data.run_requests]
    return out


def partitions(requests):
    return {name: sorted(p for p, _ in reqs) for name, reqs in requests.items()}


def test_the_daily_schedules_run_at_six_utc_one_per_ingest_job():
    assert {
        s.name: (s.cron_schedule, s.execution_timezone, s.job_name) for s in daily_schedules
    } == {
        "ingest_mixpanel_daily": ("0 6 * * *", "UTC", "ingest_mixpanel"),
        "ingest_amplitude_daily": ("0 6 * * *", "UTC", "ingest_amplitude"),
        "ingest_mixpanel_profiles_daily": ("0 6 * * *", "UTC", "ingest_mixpanel_profiles"),
    }
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in daily_schedules)


def test_a_tick_registers_the_days_and_requests_new_and_changed_ones_only(env, instance):
    exports, defs = env
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]

    first = tick(defs, instance)
    assert partitions(first) == {
        "ingest_mixpanel_daily": days,
        "ingest_amplitude_daily": days,
        "ingest_mixpanel_profiles_daily": [None],
    }
    assert instance.get_dynamic_partitions("mixpanel_days") == days
    assert instance.get_dynamic_partitions("amplitude_days") == days
    [(_, tags)] = first["ingest_mixpanel_profiles_daily"]
    assert tags["recur/export"] == "mixpanel_profiles" and tags["dagster/schedule_name"]

    # The runs happen (for real: the ingest jobs load the generated days).
    for name, requests in first.items():
        job = defs.resolve_job_def(name.removesuffix("_daily"))
        for partition, tags in requests:
            assert job.execute_in_process(
                instance=instance, partition_key=partition, tags=tags
            ).success

    assert partitions(tick(defs, instance)) == {name: [] for name in first}

    # A re-exported day is loaded again; a brand-new day too, and registered.
    (exports / "mixpanel" / "2026-01-02.jsonl").write_text(
        (exports / "mixpanel" / "2026-01-02.jsonl").read_text() * 2
    )
    (exports / "mixpanel" / "2026-01-04.jsonl").write_text(
        (exports / "mixpanel" / "2026-01-03.jsonl").read_text()
    )
    later = tick(defs, instance)
    assert partitions(later)["ingest_mixpanel_daily"] == ["2026-01-02", "2026-01-04"]
    assert partitions(later)["ingest_amplitude_daily"] == []
    assert "2026-01-04" in instance.get_dynamic_partitions("mixpanel_days")


def test_the_sensor_and_the_schedule_do_not_request_the_same_files_twice(env, instance):
    _, defs = env
    sensed = new_export_files(dg.build_sensor_context(instance=instance))
    for request in sensed.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    # the sensor's runs are requested, not run yet: the schedule counts them as handled
    for request in sensed.run_requests:
        tags = dict(request.tags)
        if request.partition_key:
            tags["dagster/partition"] = request.partition_key
        job = defs.resolve_job_def(request.job_name)
        instance.create_run_for_job(job, tags=tags, status=dg.DagsterRunStatus.NOT_STARTED)
    assert partitions(tick(defs, instance)) == {s.name: [] for s in daily_schedules}


def test_files_a_schedule_requested_are_no_news_to_the_sensor(env, instance):
    _, defs = env
    for name, requests in tick(defs, instance).items():
        job = defs.resolve_job_def(name.removesuffix("_daily"))
        for partition, tags in requests:
            tags = {**tags, "dagster/partition": partition} if partition else tags
            instance.create_run_for_job(job, tags=tags, status=dg.DagsterRunStatus.NOT_STARTED)
    sensed = new_export_files(dg.build_sensor_context(instance=instance))
    assert isinstance(sensed, dg.SkipReason)


def test_a_failed_run_does_not_count_so_its_day_is_tried_again(env, instance):
    _, defs = env
    first = tick(defs, instance)
    partition, tags = first["ingest_amplitude_daily"][0]
    job = defs.resolve_job_def("ingest_amplitude")
    tags = {**tags, "dagster/partition": partition}
    instance.create_run_for_job(job, tags=tags, status=dg.DagsterRunStatus.FAILURE)
    assert partition in partitions(tick(defs, instance))["ingest_amplitude_daily"]


def test_with_export_api_credentials_the_day_that_ended_is_pulled(env, instance, monkeypatch):
    exports, defs = env
    monkeypatch.setenv("AMPLITUDE_API_KEY", "key")
    monkeypatch.setenv("AMPLITUDE_SECRET_KEY", "secret")
    requests = partitions(tick(defs, instance, datetime(2026, 3, 10, 6, 0)))
    assert requests["ingest_amplitude_daily"] == ["2026-03-09"]
    assert "2026-03-09" in instance.get_dynamic_partitions("amplitude_days")
    assert requests["ingest_mixpanel_daily"] == ["2026-01-01", "2026-01-02", "2026-01-03"]

    monkeypatch.setenv("MIXPANEL_API_SECRET", "secret")
    requests = partitions(tick(defs, instance, datetime(2026, 3, 10, 6, 0)))
    # the day that ended, and the day whose five days of late events are over
    assert requests["ingest_mixpanel_daily"] == ["2026-03-04", "2026-03-09"]
    # files the runs rewrite when they pull are not news to the sensor
    sensed = new_export_files(dg.build_sensor_context(instance=instance))
    assert isinstance(sensed, dg.SkipReason)


# --- automation conditions -------------------------------------------------------------------


def test_syncs_and_dbt_models_carry_automation_conditions_and_the_sensor_runs_them():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    syncs = dg.AssetSelection.groups("syncs").resolve(graph) - {DELIVERIES}
    assert syncs and all(
        graph.get(k).automation_condition.get_label() == sync_condition().get_label() for k in syncs
    )
    # The delivery history is copied after any sync ran.
    assert graph.get(DELIVERIES).parent_keys == syncs
    assert graph.get(DELIVERIES).automation_condition.get_label() == "after any sync ran"
    for group in ("staging", "core", "analytics", "audiences"):
        keys = dg.AssetSelection.groups(group).resolve(graph)
        assert keys and all(
            graph.get(k).automation_condition.get_label() == model_condition().get_label()
            for k in keys
        )
    ingest = dg.AssetSelection.groups("ingest").resolve(graph)
    assert all(graph.get(k).automation_condition is None for k in ingest)
    sensor = defs.resolve_sensor_def("automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert syncs <= sensor.asset_selection.resolve(graph)


def _materialized(instance, graph, keys, passed=True):
    """Record materializations of ``keys`` (all partitions) and their checks' results."""
    for key in keys:
        partitions_def = graph.get(key).partitions_def
        names = (
            partitions_def.get_partition_keys(dynamic_partitions_store=instance)
            if partitions_def
            else [None]
        )
        for partition in names:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    for check in graph.asset_check_keys:
        if check.asset_key in keys:
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=check.asset_key, check_name=check.name, passed=passed
                )
            )


def test_a_new_export_day_rebuilds_the_models_and_syncs_downstream_in_one_tick():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("mixpanel_days", ["2026-01-01"])
    _materialized(instance, graph, graph.materializable_asset_keys)  # a built warehouse
    quiet = dg.evaluate_automation_conditions(defs, instance)
    assert quiet.total_requested == 0

    raw = dg.AssetKey(["raw", "mixpanel_events"])
    instance.add_dynamic_partitions("mixpanel_days", ["2026-01-02"])
    _materialized(instance, graph, {raw})
    result = dg.evaluate_automation_conditions(defs, instance, cursor=quiet.cursor)
    requested = {r.key for r in result.results if r.true_subset.size}
    downstream = dg.AssetSelection.keys(raw).downstream(include_self=False).resolve(graph)
    with_condition = {k for k in downstream if graph.get(k).automation_condition is not None}
    assert requested == with_condition
    assert dg.AssetKey(["core", "fct_events"]) in requested
    assert dg.AssetKey(["syncs", "aud_champions_to_hubspot"]) in requested
    again = dg.evaluate_automation_conditions(defs, instance, cursor=result.cursor)
    assert again.total_requested == 0


def test_the_models_wait_for_queued_ingest_runs_then_build_once():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    fct_events = dg.AssetKey(["core", "fct_events"])
    raw = dg.AssetKey(["raw", "mixpanel_events"])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("mixpanel_days", ["2026-01-01", "2026-01-02"])
        _materialized(instance, graph, graph.materializable_asset_keys)
        cursor = dg.evaluate_automation_conditions(defs, instance).cursor

        _materialized(instance, graph, {raw})  # day 1 loaded, its checks passed
        queued = instance.create_run_for_job(
            defs.resolve_job_def("ingest_mixpanel"),
            tags={"dagster/partition": "2026-01-02"},
            asset_selection={raw},
            status=dg.DagsterRunStatus.NOT_STARTED,
        )
        waiting = dg.evaluate_automation_conditions(defs, instance, cursor=cursor)
        assert waiting.total_requested == 0

        instance.report_run_failed(queued)  # the queue drained; a failed day holds nothing back
        built = dg.evaluate_automation_conditions(defs, instance, cursor=waiting.cursor)
        assert built.get_num_requested(fct_events) == 1


def test_automation_starts_from_a_built_warehouse():
    from orchestration.definitions import defs

    raw = dg.AssetKey(["raw", "mixpanel_events"])
    with dg.instance_for_test() as instance:  # nothing built yet: seeds and models are missing
        instance.add_dynamic_partitions("mixpanel_days", ["2026-01-01", "2026-01-02"])
        cursor = dg.evaluate_automation_conditions(defs, instance).cursor
        instance.report_runless_asset_event(dg.AssetMaterialization(raw, partition="2026-01-01"))
        result = dg.evaluate_automation_conditions(defs, instance, cursor=cursor)
        # only the model reading nothing but the new raw data; the rest waits for its missing
        # upstream models and seeds (dbt would fail on their tables), built by a first full run
        requested = {r.key for r in result.results if r.true_subset.size}
        assert requested == {dg.AssetKey(["staging", "stg_mixpanel__events"])}


def test_a_failed_blocking_check_on_raw_data_stops_the_models():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    raw = dg.AssetKey(["raw", "mixpanel_events"])
    stg = dg.AssetKey(["staging", "stg_mixpanel__events"])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("mixpanel_days", ["2026-01-01"])
        _materialized(instance, graph, graph.materializable_asset_keys)
        cursor = dg.evaluate_automation_conditions(defs, instance).cursor
        instance.report_runless_asset_event(dg.AssetMaterialization(raw, partition="2026-01-01"))
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(asset_key=raw, check_name="ledger_balances", passed=False)
        )
        result = dg.evaluate_automation_conditions(defs, instance, cursor=cursor)
        assert result.get_num_requested(stg) == 0


def test_a_sync_runs_after_its_audience_materializes_unless_a_blocking_check_failed():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    audience = dg.AssetKey(["audiences", "aud_champions"])
    sync = dg.AssetKey(["syncs", "aud_champions_to_hubspot"])
    only_sync = dg.AssetSelection.keys(sync)
    instance = dg.DagsterInstance.ephemeral()
    # the champions sync sends predicted LTV, so it also reads the LTV models (checks/ltv_usage)
    ltv = {
        dg.AssetKey(["analytics", n]) for n in ("ltv_model_params", "customer_ltv", "churn_risk")
    }
    _materialized(instance, graph, {audience, sync} | ltv)
    cursor = dg.evaluate_automation_conditions(defs, instance, asset_selection=only_sync).cursor

    _materialized(instance, graph, {audience})
    result = dg.evaluate_automation_conditions(
        defs, instance, asset_selection=only_sync, cursor=cursor
    )
    assert result.get_num_requested(sync) == 1

    _materialized(instance, graph, {audience}, passed=False)  # e.g. emails no longer valid
    result = dg.evaluate_automation_conditions(
        defs, instance, asset_selection=only_sync, cursor=result.cursor
    )
    assert result.get_num_requested(sync) == 0

    # a failed LTV check (a fit that did not converge) holds the champions sync, which sends a
    # prediction, and not the new-customers sync, which does not
    new_audience = dg.AssetKey(["audiences", "aud_new_customers"])
    new_sync = dg.AssetKey(["syncs", "aud_new_customers_to_hubspot"])
    both = dg.AssetSelection.keys(sync, new_sync)
    _materialized(instance, graph, {new_audience, new_sync})
    cursor = dg.evaluate_automation_conditions(defs, instance, asset_selection=both).cursor
    _materialized(instance, graph, {audience, new_audience})
    _materialized(instance, graph, ltv, passed=False)
    result = dg.evaluate_automation_conditions(defs, instance, asset_selection=both, cursor=cursor)
    assert result.get_num_requested(sync) == 0
    assert result.get_num_requested(new_sync) == 1


# --- run-failure alerts ----------------------------------------------------------------------


class Receiver:
    """A local Slack-compatible webhook: records each JSON body posted to its secret path."""

    path = "/services/T000/B000/s3cr3t-t0ken"

    def __init__(self, status: int = 200) -> None:
        received, answer = [], status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(answer)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> "Receiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class BuildConfig(dg.Config):
    fail: bool = True


@dg.op
def load_day() -> int:
    return 1


@dg.op
def build_models(config: BuildConfig, rows: int) -> None:
    if config.fail:
        raise ValueError("Could not set lock on file warehouse.duckdb\nConflicting lock is held")


@dg.job
def nightly():
    build_models(load_day())


def run_nightly(instance: dg.DagsterInstance, fail: bool = True):
    """Run the job for real; for a failure, the context the failure sensor is evaluated with."""
    config = {"ops": {"build_models": {"config": {"fail": fail}}}}
    result = nightly.execute_in_process(instance=instance, run_config=config, raise_on_error=False)
    assert result.success is not fail
    if not fail:
        return None
    return dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()


def test_a_failed_run_posts_its_job_steps_errors_and_link_to_the_webhook(monkeypatch):
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://dagster.internal:3000/")
    with dg.instance_for_test() as instance, Receiver() as receiver:
        monkeypatch.setenv("RECUR_ALERT_WEBHOOK_URL", receiver.url)
        context = run_nightly(instance)
        assert alert_on_run_failure(context) is None
        run_id = context.dagster_run.run_id
        [(path, content_type, body)] = receiver.received
    assert path == Receiver.path and content_type == "application/json"
    assert body == {
        "text": f"Recur run failed: job nightly, run {run_id}\n"
        "- build_models: ValueError: Could not set lock on file warehouse.duckdb\n"
        f"http://dagster.internal:3000/runs/{run_id}"
    }


def test_only_the_first_of_repeated_failures_alerts(monkeypatch):
    with dg.instance_for_test() as instance, Receiver() as receiver:
        monkeypatch.setenv("RECUR_ALERT_WEBHOOK_URL", receiver.url)
        first = run_nightly(instance)
        assert alert_on_run_failure(first) is None
        repeat = alert_on_run_failure(run_nightly(instance))
        assert isinstance(repeat, dg.SkipReason)
        assert first.dagster_run.run_id in repeat.skip_message
        assert len(receiver.received) == 1

        run_nightly(instance, fail=False)  # once the work succeeded, a failure is news again
        again = run_nightly(instance)
        assert alert_on_run_failure(again) is None
        assert len(receiver.received) == 2
        assert again.dagster_run.run_id in receiver.received[1][2]["text"]


def test_without_a_webhook_url_the_sensor_only_says_why(monkeypatch):
    monkeypatch.delenv("RECUR_ALERT_WEBHOOK_URL", raising=False)
    with dg.instance_for_test() as instance:
        context = run_nightly(instance)
        skipped = alert_on_run_failure(context)
    assert isinstance(skipped, dg.SkipReason)
    assert "RECUR_ALERT_WEBHOOK_URL is not set" in skipped.skip_message


def test_a_refused_alert_fails_the_tick_without_revealing_the_url(monkeypatch):
    with dg.instance_for_test() as instance, Receiver(status=403) as receiver:
        monkeypatch.setenv("RECUR_ALERT_WEBHOOK_URL", receiver.url)
        with pytest.raises(AlertError) as raised:
            alert_on_run_failure(run_nightly(instance))
    text = str(raised.value) + repr(raised.value.__context__) + repr(raised.value.__cause__)
    assert "answered HTTP 403" in text
    assert "s3cr3t" not in text and "127.0.0.1" not in text
