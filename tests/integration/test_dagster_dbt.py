"""The dbt models in Dagster: keys, groups, lineage from the ingest assets, and a real run."""

from __future__ import annotations

import json
import time

import dagster as dg

from sandbox.generate import generate
from sources.warehouse import connect


def test_dbt_models_are_assets_in_their_layer_groups_downstream_of_ingest():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {
        group: {k.to_user_string() for k in dg.AssetSelection.groups(group).resolve(graph)}
        for group in ("staging", "intermediate", "core", "audiences")
    }
    assert {
        "staging/stg_mixpanel__events",
        "staging/stg_amplitude__events",
        "staging/stg_mixpanel__profiles",
        "seeds/countries",
    } <= groups["staging"]
    assert {"intermediate/int_identity_map", "intermediate/int_events_unioned"} <= groups[
        "intermediate"
    ]
    assert groups["core"] == {
        "core/dim_users",
        "core/fct_events",
        "core/fct_sessions",
        "core/fct_orders",
    }
    assert groups["audiences"] == {
        "audiences/aud_contact_traits",
        "audiences/aud_at_risk_high_value",
        "audiences/aud_champions",
        "audiences/aud_new_customers",
        "audiences/aud_win_back",
        "audiences/aud_cart_abandoners",
    }
    # every audience reads its traits from the contacts, which read the analytics marts
    traits = dg.AssetKey(["audiences", "aud_contact_traits"])
    assert graph.get(traits).parent_keys >= {
        dg.AssetKey(["core", "dim_users"]),
        dg.AssetKey(["analytics", "customer_ltv"]),
        dg.AssetKey(["analytics", "churn_risk"]),
    }
    for key in groups["audiences"] - {"audiences/aud_contact_traits"}:
        assert traits in graph.get(dg.AssetKey(key.split("/"))).parent_keys, key
    parents = graph.get(dg.AssetKey(["staging", "stg_mixpanel__events"])).parent_keys
    assert parents == {dg.AssetKey(["raw", "mixpanel_events"])}
    upstream = dg.AssetSelection.assets(["core", "dim_users"]).upstream().resolve(graph)
    assert {
        dg.AssetKey(["raw", "amplitude_events"]),
        dg.AssetKey(["raw", "mixpanel_profiles"]),
    } <= upstream
    # The loop: the syncs' delivery history comes back as a source, the uplift reads it.
    deliveries = dg.AssetKey(["staging", "stg_recur__audience_deliveries"])
    assert graph.get(deliveries).parent_keys == {dg.AssetKey(["raw", "audience_deliveries"])}
    assert graph.get(dg.AssetKey(["analytics", "audience_uplift"])).parent_keys == {
        deliveries,
        dg.AssetKey(["core", "fct_events"]),
        dg.AssetKey(["core", "fct_orders"]),
    }


def test_dbt_runs_without_the_adapter_dagster_dbt_opens_in_process():
    """dagster-dbt opens dbt's adapter in Dagster's process before each command (seconds) only for
    column metadata Recur does not read; the override must keep matching the hook `cli()` calls."""
    import inspect

    from dagster_dbt import DbtCliResource

    from orchestration.dbt_project import RecurDbtCliResource
    from orchestration.definitions import defs

    assert "self._initialize_dbt_core_adapter(args)" in inspect.getsource(DbtCliResource.cli)
    resource = defs.resources["dbt"]
    assert isinstance(resource, RecurDbtCliResource)
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_dbt_s_version_is_read_from_the_installed_package_not_a_dbt_process():
    """dagster-dbt runs `dbt --version` in a process of its own (2.3 s, and a look-up of the
    latest release online) to pick how it talks to dbt; the override reads the dbt-core beside
    Recur, which must be the version the executable Dagster runs reports."""
    import inspect
    import re
    import subprocess

    from dagster_dbt import DbtCliResource

    from orchestration.definitions import defs

    assert "self._cli_version" in inspect.getsource(DbtCliResource.cli)
    resource = defs.resources["dbt"]
    reported = subprocess.run(
        [resource.dbt_executable, "--version"], capture_output=True, text=True, check=True
    ).stdout
    installed = re.search(r"installed:\s*(\d+\.\d+\.\d+)", reported).group(1)
    assert str(resource._cli_version) == installed
    assert resource._cli_version.major == 1  # dbt-core, not the Fusion engine


def test_only_the_latest_dbt_commands_keep_their_target_folders(tmp_path, monkeypatch):
    """dagster-dbt gives each dbt command a folder of its own in target/ (about 9 MB); the
    resource deletes all but the latest as the next command starts, and nothing else there."""
    import os

    from orchestration.dbt_project import KEPT_COMMAND_FOLDERS
    from orchestration.definitions import defs

    target = tmp_path / "target"
    target.mkdir()
    (target / "manifest.json").write_text("{}")  # the prepared manifest
    (target / "compiled").mkdir()  # not a command's folder
    folders = [target / f"recur_dbt_models_3-{i:07x}-{i + 100:07x}" for i in range(25)]
    for age, folder in enumerate(folders):  # the last is the newest
        (folder / "compiled").mkdir(parents=True)
        (folder / "dbt.log").write_text("log")
        os.utime(folder, (1_700_000_000 + age, 1_700_000_000 + age))
    monkeypatch.setenv("DBT_TARGET_PATH", str(target))

    path = defs.resources["dbt"]._get_unique_target_path(context=None)

    assert path.parent == target and not path.exists()  # dbt creates it
    kept = sorted(p for p in target.iterdir() if p.name.startswith("recur_dbt_models"))
    assert kept == folders[25 - (KEPT_COMMAND_FOLDERS - 1) :]  # and the new one makes 20
    assert (target / "manifest.json").exists() and (target / "compiled").is_dir()


def test_a_big_dbt_selection_runs_in_the_project_and_a_copy_is_folded_back(tmp_path):
    """dagster-dbt runs a selection of more than 200 dbt resources from a copy of the project
    in the temporary folder and leaves it there (target folder included); Recur's whole pipeline
    selects 361. The limit is raised where one argument holds them, and a copy dagster-dbt still
    makes (past the raised limit) has its command folder moved home and is deleted."""
    import inspect
    import tempfile
    from pathlib import Path

    from dagster_dbt import asset_utils

    from orchestration.dbt_project import DBT_DIR, SELECTION_IN_ARGUMENTS, keep_from_copy

    source = inspect.getsource(asset_utils.get_updated_cli_invocation_params_for_context)
    assert "total_resources > _SELECTION_ARGS_THRESHOLD" in source
    assert "shutil.copytree(project_dir" in source
    assert asset_utils._SELECTION_ARGS_THRESHOLD == SELECTION_IN_ARGUMENTS

    copy = Path(tempfile.mkdtemp())
    command = copy / "target" / "recur_dbt_models_2-abcdef0-1234567"
    command.mkdir(parents=True)
    (command / "run_results.json").write_text("{}")
    (copy / "dbt_project.yml").write_text("name: recur")
    target = tmp_path / "target"
    target.mkdir()
    # a folder that is not dagster-dbt's copy (no selector of a run) is left alone
    assert keep_from_copy(copy, command, target) is None and command.is_dir()
    assert keep_from_copy(DBT_DIR, DBT_DIR / "target" / command.name, target) is None
    (copy / "selectors.yml").write_text("selectors:\n- name: dagster_run_abc\n")
    kept = keep_from_copy(copy, command, target)
    assert kept == target / command.name and (kept / "run_results.json").read_text() == "{}"
    assert not copy.exists() and DBT_DIR.is_dir()


def test_dbt_commands_reuse_the_parse_prepared_for_their_warehouse(tmp_path, monkeypatch):
    """dbt parses the whole project again when its profile (which holds the warehouse path) or
    vars differ from the parse that wrote partial_parse.msgpack: the dbt asset's prepare parses
    again for a new warehouse, and a dbt command started from the prepared file (as dagster-dbt
    starts each one) then keeps the parse. The parse runs without the `dbt --version` process
    and the in-process adapter dagster-dbt's own preparer starts first (3.5-4 s of a 9 s parse)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import dagster_dbt.core.resource as dagster_dbt_resource

    from orchestration import dbt_project as project

    started: list[str] = []
    check_output = dagster_dbt_resource.check_output
    monkeypatch.setattr(
        dagster_dbt_resource,
        "check_output",
        lambda args, *a, **k: (
            started.append(" ".join(map(str, args))) or check_output(args, *a, **k)
        ),
    )
    opened = dagster_dbt_resource.DbtCliResource._initialize_dbt_core_adapter
    monkeypatch.setattr(
        dagster_dbt_resource.DbtCliResource,
        "_initialize_dbt_core_adapter",
        lambda self, args: started.append("adapter") or opened(self, args),
    )
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    assert project._stale(project.dbt_project, for_dbt=True)
    project.prepare(for_dbt=True)
    assert not project._stale(project.dbt_project, for_dbt=True)
    assert started == []
    target = tmp_path / "target"
    target.mkdir()
    shutil.copy(Path(project.dbt_project.manifest_path).with_name("partial_parse.msgpack"), target)
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [dbt, "--debug", "parse", "--profiles-dir", project.DBT_DIR]
        + ["--project-dir", project.DBT_DIR]
        + ["--target-path", target, "--log-path", tmp_path],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Unable to do partial parsing" not in done.stdout, done.stdout
    # nothing to parse again, not even the seeds (dagster-dbt's preparer zeroes their checksums)
    assert "Partial parsing enabled, no changes found" in done.stdout, done.stdout

    # another warehouse, other vars or another place of the project need a parse of their own
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("profiles.yml", "dbt_project.yml"):
        shutil.copy(project.DBT_DIR / name, moved)
    with monkeypatch.context() as m:
        m.setattr(project, "DBT_DIR", moved)
        assert project._stale(project.dbt_project, for_dbt=True)
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "other.duckdb"))
    assert project._stale(project.dbt_project, for_dbt=True)
    assert not project._stale(project.dbt_project)  # commands without dbt need no new parse
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("RECUR_DBT_VARS", "{audience_purchase_event: purchase}")
    assert project._stale(project.dbt_project, for_dbt=True)


def test_recur_run_loads_and_builds_the_core_marts(tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    generate(exports, users=300, days=10, seed=2, faults=0.01)
    monkeypatch.setenv("RECUR_EXPORTS", str(exports))
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("RECUR_STATE", str(tmp_path / "state.duckdb"))
    for name in ("MIXPANEL_SERVICE_ACCOUNT_SECRET", "MIXPANEL_API_SECRET", "AMPLITUDE_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    from orchestration.dbt_project import DBT_DIR
    from orchestration.definitions import build_defs
    from orchestration.runner import run

    started = time.time()
    instance = dg.DagsterInstance.ephemeral()
    report = run(build_defs(), dagster_instance=instance, echo=lambda _: None)
    assert report.failed == [] and len(report.runs) == 4  # ingest x 2, the rest, the report
    # the run's biggest dbt command (every model and test: 361 resources) ran in the project,
    # its results beside the others, not from a copy dagster-dbt leaves in the temporary folder
    commands = [
        json.loads(p.read_text())
        for p in (DBT_DIR / "target").glob("*/run_results.json")
        if p.stat().st_mtime >= started
    ]
    assert max(len(c["results"]) for c in commands) > 300
    assert all(c["args"]["project_dir"] == str(DBT_DIR) for c in commands)
    assert not any("selector" in c["args"] for c in commands)
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        raw = con.execute(
            "select (select count(*) from raw.mixpanel_events) "
            "+ (select count(*) from raw.amplitude_events)"
        ).fetchone()[0]
        events, people = con.execute(
            "select count(*), count(distinct user_id) from core.fct_events"
        ).fetchone()
        users = con.execute("select count(*) from core.dim_users").fetchone()[0]
    assert events == raw and people == users > 100
    # every dbt model's materialization carries its row count and a preview
    event = instance.get_latest_materialization_event(dg.AssetKey(["core", "dim_users"]))
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == users
    assert metadata["preview"].value.startswith("| user_id |")
    reports = tmp_path / "reports"
    page = (reports / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 8  # reports/report.py draws eight charts
    assert "Last sync of each audience" in page and "aud_champions_to_file" in page
    assert (reports / "historical_ltv_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
