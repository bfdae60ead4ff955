"""bench/scale.py's report, rendered from a recorded result (a run stopped at a failed stage)."""

from __future__ import annotations

from bench.scale import END, START, report, table

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
