"""bench/daily.py's pure parts: the days of each phase, the ratios, the per-node growth, the report."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bench.daily import (
    END,
    START,
    WHOLE_END,
    WHOLE_START,
    command_of,
    node_growth,
    ratios,
    report,
    runs_seconds,
    split_days,
    split_time,
    stage_names,
    totals,
)


def _stage(name: str, seconds: float, cpu: float, mb: float, nodes=()) -> dict:
    return {
        "stage": name,
        "selection": f"group:{name}",
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": mb,
        "load_before": 1.5,
        "dbt_nodes": [
            {"type": "model", "name": n, "status": "success", "seconds": s} for n, s in nodes
        ],
    }


def _run(full: float, day: float, model: float) -> dict:
    return {
        "days": ["2026-01-01", "2026-02-14"],
        "next_day": "2026-02-15",
        "full": [_stage("ingest", full, full / 2, 900), _stage("core", full * 3, full, 4000)],
        "incremental": [
            _stage("ingest", day, day / 2, 300),
            _stage("core", day * 3, day, 2000, [("retention_cohorts", model), ("tiny", 0.1)]),
        ],
        "full_uptime": {"start": "1.00, 1.00, 1.00", "end": "2.00, 1.50, 1.00"},
        "incremental_uptime": {"start": "2.00, 1.50, 1.00", "end": "2.00, 1.50, 1.00"},
        "full_contacts": 100,
        "incremental_contacts": 104,
    }


def test_split_days_takes_the_history_then_the_next_day():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(91)]
    initial, following = split_days(list(reversed(days)), 45)
    assert initial == days[:45] and following == [days[45]]
    initial, following = split_days(days, 90)
    assert len(initial) == 90 and following == [days[90]]
    with pytest.raises(ValueError, match="91 export days"):
        split_days(days[:90], 90)
    with pytest.raises(ValueError):
        split_days(days, 0)


def test_totals_sum_time_and_keep_the_largest_memory():
    assert totals([_stage("a", 1.0, 0.5, 10), _stage("b", 2.0, 1.5, 30)]) == {
        "seconds": 3.0,
        "cpu_seconds": 2.0,
        "peak_rss_mb": 30,
    }


def test_ratios_share_of_the_full_build_and_growth_with_the_history():
    runs = {"45": _run(100.0, 20.0, 2.0), "90": _run(200.0, 25.0, 4.0)}
    got = ratios(runs)
    assert got["share"]["45"]["seconds"] == 0.2
    assert got["share"]["90"]["seconds"] == 0.125
    assert got["share"]["90"]["cpu_seconds"] == 0.125
    assert got["share"]["45"]["stages"] == {"ingest": 0.2, "core": 0.2}
    assert got["growth"] == {"histories": [45, 90], "seconds": 1.25, "cpu_seconds": 1.25}


def test_ratios_leave_out_a_history_with_a_failed_stage():
    runs = {"45": _run(100.0, 20.0, 2.0), "90": _run(200.0, 25.0, 4.0)}
    runs["90"]["incremental"][1] = {"stage": "core", "failed": "boom", "load_before": None}
    got = ratios(runs)
    assert list(got["share"]) == ["45"] and got["growth"] is None


def test_node_growth_compares_the_incremental_days_and_drops_tiny_nodes():
    short = _run(100.0, 20.0, 2.0)["incremental"]
    long = _run(200.0, 25.0, 5.0)["incremental"]
    assert node_growth(short, long) == [
        {
            "type": "model",
            "name": "retention_cohorts",
            "stage": "core",
            "short": 2.0,
            "long": 5.0,
            "growth": 2.5,
        }
    ]


def _result(runs: dict, **more) -> dict:
    result = {
        "date": "2026-12-07 08:00 UTC",
        "machine": "x86_64, 2 cores, 24 GB",
        "python": "3.11.7",
        "exports": "bench/out/exports-208000u-91d",
        "users": 208000,
        "export_days": 91,
        "events": {"mixpanel": 5, "amplitude": 4},
        "memory_limit": None,
        "command": "make bench-daily",
        "uptime_start": "1.00, 1.00, 1.00",
        "uptime_end": "2.00, 2.00, 2.00",
        "commit": "abcdef123456",
        "runs": runs,
        **more,
    }
    result["ratios"] = ratios(runs)
    return result


def test_report_shows_both_ratios_against_their_targets():
    result = _result({"45": _run(100.0, 20.0, 2.0), "90": _run(200.0, 60.0, 4.0)})
    text = report(result)
    assert text.startswith(START) and text.endswith(END)
    assert "H=45: incremental day / full build **20%**" in text
    assert "H=90: incremental day / full build **30%**" in text and "**not met**" in text
    assert "**3.00** wall" in text
    assert "| **total** | 400.0 / 150.0 / 4,000 | **80.0 / 30.0 / 2,000** | **20%** |" in text
    assert text.count("| 3.00 |") == 3  # ingest, core, total
    assert "| model retention_cohorts | core | 2.00 | 4.00 | 2.00 |" in text


def test_runs_seconds_sums_the_dagster_runs_of_a_stage_log():
    log = (
        "amplitude_days: 45 of 46 days unchanged since loaded\n"
        "[1/3] amplitude_days (1 days, 2026-02-15 to 2026-02-15): ok (5.5 s)\n"
        "[2/3] mixpanel_days (1 days, 2026-02-15 to 2026-02-15): ok (4.0 s)\n"
        "    warning: something (3.0 s)\n"
        "[3/3] unpartitioned: FAILED (2.5 s)\n"
        "3 runs succeeded\n"
    )
    assert runs_seconds(log) == 12.0
    assert runs_seconds("") == 0.0


def test_split_time_parts_add_up_to_the_stage():
    stage = _stage("core", 60.0, 50.0, 100, [("fct_events", 20.0)])
    stage["dbt_nodes"].append({"type": "test", "name": "t", "status": "pass", "seconds": 5.0})
    stage["runs_seconds"] = 48.0
    parts = split_time(stage)
    assert parts == {
        "outside_runs": 12.0,
        "runs_not_dbt": 23.0,
        "dbt_models": 20.0,
        "dbt_tests": 5.0,
    }
    assert sum(parts.values()) == stage["seconds"]


def test_the_command_is_recorded_as_typed():
    assert command_of([45, 90], None) == "make bench-daily"
    assert command_of([90], None, "abc123", merge=True) == (
        "python -m bench.daily --histories 90 --commit abc123 --merge"
    )
    assert command_of([45, 90], None, whole=True) == "python -m bench.daily --whole"


def test_the_whole_pipeline_as_one_stage_has_its_own_block_and_rows():
    """``--whole``: each phase one `recur run`; the tables list the stages the runs had."""
    run_ = _run(100.0, 20.0, 2.0)
    for phase in ("full", "incremental"):
        run_[phase] = [{**run_[phase][1], "stage": "pipeline", "selection": "everything"}]
    result = _result({"45": run_}, command="python -m bench.daily --whole", whole=True)
    assert stage_names(result) == ["pipeline"]
    text = report(result)
    assert text.startswith(WHOLE_START) and text.endswith(WHOLE_END)
    assert "| pipeline | 300.0 / 100.0 / 4,000 | 60.0 / 20.0 / 2,000 | 20% |" in text
    assert "| ingest |" not in text and "| core |" not in text
