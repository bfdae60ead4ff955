"""`kill -9` of `recur run` while dbt builds (issue 13, item 12): dbt ends with it instead of
holding the warehouse lock as an orphan, and the next run marks the killed Dagster run failed
and succeeds on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from sandbox.generate import generate


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_dbt_ends_with_a_killed_recur_run_and_the_next_run_recovers(tmp_path):
    exports = tmp_path / "exports"
    generate(exports, users=800, days=45, seed=5, faults=0.0)  # enough for the LTV fit
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "RECUR_EXPORTS": str(exports),
        "RECUR_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "RECUR_STATE": str(tmp_path / "state.duckdb"),
        "DAGSTER_HOME": str(home),
    }
    env.pop("HUBSPOT_ACCESS_TOKEN", None)
    recur = [sys.executable, "-m", "orchestration.cli", "run"]
    first = subprocess.Popen(
        recur, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        dbt = None
        deadline = time.monotonic() + 240
        while dbt is None and time.monotonic() < deadline and first.poll() is None:
            dbt = next(
                (p for p in children(first.pid) if " build" in cmdline(p) and "dbt" in cmdline(p)),
                None,
            )
            time.sleep(0.2)
        assert dbt is not None, "dbt build never started under recur run"
        time.sleep(2)  # dbt is connected to the warehouse and building
        assert running(dbt)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        gone_by = time.monotonic() + 15
        while running(dbt) and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert not running(dbt), f"dbt ({cmdline(dbt)}) outlived the killed recur run"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        stuck = instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        )
        assert len(stuck) == 1  # what a kill -9 leaves behind
        stuck_id = stuck[0].dagster_run.run_id

    second = subprocess.run(recur, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"run {stuck_id} was left unfinished by a killed recur process" in second.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(stuck_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.get_run_records(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        )
