"""bench/scale.py's report, rendered from a recorded result (a run stopped at a failed stage)."""

from __future__ import annotations

import json

from bench.scale import END, START, logged_nodes, report, table, workspace

RESULT = {
    "date": "2026-12-07 05:00 UTC",
    "machine": "x86_64, 2 cores, 24 GB",
    "python": "3.11.7",
    "users": 20000,
    "days": 30,
    "memory_limit": "8GB",
    "command": "python -m bench.scale --users 20000 --days 30",
    "commit": "5c496d2aaaaaaaaa",
    "events": {"mixpanel": 120000, "amplitude": 100000},
    "exports": "bench/out/exports-20000u-30d",
    "exports_mb": 90.4,
    "finished": False,
    "stages": [
        {
            "stage": "generate",
            "selection": "",
            "seconds": 10.0,
            "cpu_seconds": 9.5,
            "peak_rss_mb": 300.0,
            "load_before": 0.5,
        },
        {
            "stage": "core",
            "selection": "group:core",
            "seconds": 100.0,
            "cpu_seconds": 60.0,
            "peak_rss_mb": 900.0,
            "load_before": 1.25,
            "spill_mb": 0.0,
            "warehouse_mb": 288.0,
            "rows": {"core.fct_events": 220000, "analytics.retention_cohorts": 31},
            "dbt_nodes": [
                {"type": "model", "name": "fct_events", "status": "success", "seconds": 40.0},
                {"type": "test", "name": "unique_x", "status": "pass", "seconds": 1.0},
            ],
        },
        {
            "stage": "analytics",
            "selection": "group:analytics",
            "failed": "recur run failed (1)\nOut of Memory Error",
            "load_before": None,
            "spill_mb": 5000.0,
            "warehouse_mb": 300.0,
            "dbt_nodes": [
                {
                    "type": "model",
                    "name": "retention_cohorts",
                    "status": "error",
                    "seconds": 12.5,
                },
            ],
        },
    ],
}


def test_stages_failures_and_totals_are_shown():
    text = table(RESULT)
    lines = text.splitlines()
    core = next(line for line in lines if line.startswith("| core |"))
    assert "| 100.0 | 60.0 | 900 | 0 | 288 | 1.25 | ok |" in core
    failed = next(line for line in lines if line.startswith("| analytics |"))
    assert "**failed**: recur run failed (1) |" in failed
    # the total counts the stages that finished only; memory is the largest of them
    assert "| **total** | | **110.0** | 69.5 | 900 |" in text
    # models with their rows (from the stage that counted them) and dbt's time, slowest first
    models = [line for line in lines if line.startswith("| fct_events") or "retention" in line]
    assert models == [
        "| fct_events | core | 220,000 | 40.0 | success |",
        "| retention_cohorts | analytics | 31 | 12.5 | error |",
    ]


def test_report_is_marked_and_says_what_was_not_reached():
    text = report(RESULT)
    assert text.startswith(START) and text.endswith(END)
    assert "220,000 exported events (mixpanel 120,000, amplitude 100,000)" in text
    assert "failed at analytics; not reached: ingest, audiences, syncs, reports, checks" in text
    assert "commit 5c496d2aaa" in text


def test_a_stage_stopped_from_outside_shows_its_figures_until_then():
    stopped = {
        "stage": "core",
        "selection": "group:core",
        "failed": "recur run failed (-15)",
        "stopped": "at 06:00, the session's deadline",
        "seconds_until_stopped": 3000.0,
        "peak_rss_mb_seen": 7900.0,
        "load_at_start": 5.5,
        "spill_mb": 0.0,
        "warehouse_mb": 6000.0,
    }
    result = RESULT | {"stages": [RESULT["stages"][0], stopped]}
    row = next(line for line in table(result).splitlines() if line.startswith("| core |"))
    assert "| 3,000.0 (stopped) | | 7,900 (seen) | 0 | 6,000 | 5.50 | **stopped**: at 06:00" in row
    assert "**not finished**: stopped during core; not reached: ingest" in report(result)


def test_nodes_of_a_dbt_stopped_before_run_results_come_from_its_log(tmp_path):
    log = tmp_path / "dbt.log"
    finished = {
        "data": {
            "execution_time": 189.9947,
            "node_info": {
                "node_status": "success",
                "unique_id": "model.recur.stg_amplitude__events",
            },
        }
    }
    started = {"data": {"node_info": {"unique_id": "model.recur.stg_mixpanel__events"}}}
    # NodeFinished repeats the node with the time inside its run_result: not counted twice
    again = {
        "data": {
            "node_info": finished["data"]["node_info"],
            "run_result": {"execution_time": 189.9947},
        }
    }
    log.write_text("\n".join(json.dumps(x) for x in (finished, started, again)) + "\n")
    assert logged_nodes(log) == [
        {
            "type": "model",
            "name": "stg_amplitude__events",
            "status": "success",
            "seconds": 189.99,
            "rows": None,
        }
    ]


def test_resume_keeps_the_warehouse_state_and_event_log_and_takes_a_new_snapshot(tmp_path):
    workdir, exports = tmp_path / "scale", tmp_path / "exports"
    src, env, warehouse = workspace(workdir, exports, "8GB")
    warehouse.write_text("loaded")
    (workdir / "dagster_home" / "runs.db").write_text("events")
    (src / "stale.txt").write_text("an edit of the old snapshot")

    again, env_again, warehouse_again = workspace(workdir, exports, "8GB", keep=True)
    assert (again, warehouse_again) == (src, warehouse)
    assert warehouse.read_text() == "loaded"
    assert (workdir / "dagster_home" / "runs.db").read_text() == "events"
    assert not (src / "stale.txt").exists() and (src / "bench" / "scale.py").exists()
    assert env_again["DAGSTER_HOME"] == env["DAGSTER_HOME"]
    assert env_again["RECUR_DUCKDB_MEMORY_LIMIT"] == "8GB"

    workspace(workdir, exports, "8GB")  # a new run starts from nothing
    assert not warehouse.exists() and not (workdir / "dagster_home" / "runs.db").exists()
