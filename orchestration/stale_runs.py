"""Runs left STARTED by a `recur` process that was killed: found and closed by the next run.

`recur run` and `recur sync` execute their Dagster runs in their own process and tag each run
with that process's id (``recur/pid``). A run still STARTED (or STARTING) whose process is gone
cannot finish any more: killed with ``kill -9``, by the OOM killer or a closed terminal. The next
`recur run` or `recur sync` marks such runs failed, with the reason, so the Dagster UI and the
run history stop showing them as running. Its dbt child ended with it (child_process.py).
"""

from __future__ import annotations

import os

import dagster as dg

PID_TAG = "recur/pid"
UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]


def alive(pid: int) -> bool:
    """Whether a process with this id exists (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_stale_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run whose `recur` process is gone; return their ids."""
    closed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        pid = run.tags.get(PID_TAG)
        if pid is None or not pid.isdigit() or int(pid) == os.getpid() or alive(int(pid)):
            continue
        instance.report_run_failed(
            run,
            message=f"marked failed by a later recur run: its process {pid} ended without "
            "finishing it (killed); what it had materialized stays, the rest runs again",
        )
        closed.append(run.run_id)
    return closed
