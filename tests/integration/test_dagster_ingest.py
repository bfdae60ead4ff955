"""The Dagster code location: definitions load, ingest assets materialize, checks and sensor work."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from orchestration.defs.ingest.asset_checks import ledger_checks
from orchestration.defs.ingest.assets import raw_amplitude_events, raw_mixpanel_events
from orchestration.defs.ingest.sensors import new_export_files
from orchestration.resources import ExportAPIResource, ExportFolderResource, WarehouseResource
from sources.warehouse import connect
from tests.conftest import amplitude_line, mixpanel_line, write_amplitude_day, write_mixpanel_day

T = 1767225600


@pytest.fixture
def exports(tmp_path, monkeypatch):
    root = tmp_path / "exports"
    write_mixpanel_day(
        root,
        "2026-01-01",
        [mixpanel_line(time=T + i, distinct_id="u", **{"$insert_id": f"i{i}"}) for i in range(10)]
        + [mixpanel_line(time=T, distinct_id="u", **{"$insert_id": "i0"}), "{broken"],
    )
    write_mixpanel_day(root, "2026-01-02", [mixpanel_line(time=T + 86400, distinct_id="u")])
    write_amplitude_day(
        root,
        "2026-01-01",
        {h: [amplitude_line(uuid=f"00000000-0000-4000-8000-{h:012d}")] for h in range(3)},
    )
    for name in ("MIXPANEL_SERVICE_ACCOUNT_SECRET", "MIXPANEL_API_SECRET", "AMPLITUDE_API_KEY"):
        monkeypatch.delenv(name, raising=False)  # files only, unless a test opts into the APIs
    monkeypatch.setenv("RECUR_EXPORTS", str(root))
    monkeypatch.setenv("RECUR_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    return root


def resources(exports, tmp_path):
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        "exports": ExportFolderResource(path=str(exports)),
        "mixpanel_api": ExportAPIResource(source="mixpanel"),
        "amplitude_api": ExportAPIResource(source="amplitude"),
    }


def test_definitions_load_with_the_ingest_group():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    ingest = {k.to_user_string() for k in dg.AssetSelection.groups("ingest").resolve(graph)}
    assert ingest == {"raw/mixpanel_events", "raw/amplitude_events", "raw/mixpanel_profiles"}
    ledger = {
        k.asset_key.to_user_string() for k in graph.asset_check_keys if k.name == "ledger_balances"
    }
    assert ledger == ingest
    assert defs.resolve_sensor_def("new_export_files") is not None
    # what `dagster dev` does on load: every job, sensor and schedule must resolve
    dg.Definitions.validate_loadable(defs)


def test_materializing_a_day_reports_its_counts(exports, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("mixpanel_days", ["2026-01-01", "2026-01-02"])
    result = dg.materialize(
        [raw_mixpanel_events, *ledger_checks[:1]],
        partition_key="2026-01-01",
        instance=instance,
        resources=resources(exports, tmp_path),
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("raw__mixpanel_events")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["lines_read"], meta["loaded"], meta["duplicates"], meta["quarantined"]) == (
        12,
        10,
        1,
        1,
    )
    assert "truncated JSON" in meta["quarantine"]
    assert len(meta["preview"].splitlines()) == 2 + 5  # header, rule and five rows
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["lines_read"].value == 12


def test_the_ledger_check_fails_when_the_table_lost_rows(exports, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("amplitude_days", ["2026-01-01"])
    res = resources(exports, tmp_path)
    assert dg.materialize(
        [raw_amplitude_events], partition_key="2026-01-01", instance=instance, resources=res
    ).success
    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute("delete from raw.amplitude_events where rowid = 0")
    result = dg.materialize(
        [raw_amplitude_events, ledger_checks[1]],
        instance=instance,
        resources=res,
        selection=dg.AssetSelection.checks(ledger_checks[1]),
        raise_on_error=False,
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert (
        "the ledger says 3 loaded, raw.amplitude_events holds 2" in check.metadata["problems"].value
    )


def test_the_sensor_requests_new_and_changed_days_only(exports):
    instance = dg.DagsterInstance.ephemeral()
    first = new_export_files(dg.build_sensor_context(instance=instance))
    requested = sorted((r.job_name, r.partition_key) for r in first.run_requests)
    assert requested == [
        ("ingest_amplitude", "2026-01-01"),
        ("ingest_mixpanel", "2026-01-01"),
        ("ingest_mixpanel", "2026-01-02"),
    ]
    added = {
        r.partitions_def_name: sorted(r.partition_keys) for r in first.dynamic_partitions_requests
    }
    assert added == {
        "mixpanel_days": ["2026-01-01", "2026-01-02"],
        "amplitude_days": ["2026-01-01"],
    }

    quiet = new_export_files(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert isinstance(quiet, dg.SkipReason)

    write_mixpanel_day(exports, "2026-01-02", [mixpanel_line(time=T + 86400, distinct_id="v")] * 2)
    write_mixpanel_day(exports, "2026-01-03", [mixpanel_line(time=T + 2 * 86400, distinct_id="v")])
    later = new_export_files(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert sorted(r.partition_key for r in later.run_requests) == ["2026-01-02", "2026-01-03"]
    assert [r.partition_keys for r in later.dynamic_partitions_requests] == [["2026-01-03"]]
    assert set(json.loads(later.cursor)) == {
        "mixpanel:2026-01-01",
        "mixpanel:2026-01-02",
        "mixpanel:2026-01-03",
        "amplitude:2026-01-01",
    }


def test_recur_run_loads_every_day_present(exports, tmp_path):
    from orchestration.definitions import build_defs
    from orchestration.runner import run

    report = run(
        build_defs(),
        select="group:ingest",
        dagster_instance=dg.DagsterInstance.ephemeral(),
        echo=lambda _: None,
    )
    assert [(label, ok) for label, ok, _ in report.runs] == [
        ("amplitude_days (1 days, 2026-01-01 to 2026-01-01)", True),
        ("mixpanel_days (2 days, 2026-01-01 to 2026-01-02)", True),
        ("unpartitioned", True),
    ]
    with connect(tmp_path / "warehouse.duckdb") as con:
        assert con.execute(
            "select source, sum(lines_read), sum(loaded) from raw.load_ledger group by 1 order by 1"
        ).fetchall() == [("amplitude", 3, 3), ("mixpanel", 13, 11)]


def test_recur_run_starts_no_ingest_run_for_days_already_loaded(exports, tmp_path, monkeypatch):
    """A second `recur run` with nothing new starts no ingest run (each would cost Dagster
    events for every day); a rewritten day and a new one run alone, from the first to the last
    of them; a changed loading setting reloads every day."""
    from orchestration.definitions import build_defs
    from orchestration.runner import run

    instance, said = dg.DagsterInstance.ephemeral(), []

    def labels():
        report = run(
            build_defs(), select="group:ingest", dagster_instance=instance, echo=said.append
        )
        assert report.failed == []
        return [label for label, _, _ in report.runs]

    labels()
    assert labels() == ["unpartitioned"]
    assert "mixpanel_days: 2 of 2 days unchanged since loaded" in said
    write_mixpanel_day(exports, "2026-01-02", [mixpanel_line(time=T + 86400, distinct_id="v")] * 2)
    write_mixpanel_day(exports, "2026-01-03", [mixpanel_line(time=T + 2 * 86400, distinct_id="v")])
    assert labels() == ["mixpanel_days (2 days, 2026-01-02 to 2026-01-03)", "unpartitioned"]
    with connect(tmp_path / "warehouse.duckdb") as con:
        assert con.execute(
            "select partition::varchar, sum(lines_read) from raw.load_ledger "
            "where source = 'mixpanel' group by 1 order by 1"
        ).fetchall() == [("2026-01-01", 12), ("2026-01-02", 2), ("2026-01-03", 1)]
    monkeypatch.setenv("RECUR_EARLIEST_EVENT", "2020-01-01")
    assert labels()[:2] == [
        "amplitude_days (1 days, 2026-01-01 to 2026-01-01)",
        "mixpanel_days (3 days, 2026-01-01 to 2026-01-03)",
    ]


def test_with_credentials_a_day_is_pulled_from_the_export_api_then_loaded(
    exports, tmp_path, monkeypatch
):
    from datetime import date

    from sandbox.servers import SANDBOX_PROJECT_ID, SANDBOX_SECRET, SANDBOX_USERNAME, MixpanelServer

    vendor = tmp_path / "vendor"  # what the vendor holds; the export folder starts without it
    write_mixpanel_day(
        vendor,
        "2026-01-05",
        [
            mixpanel_line(time=T + 4 * 86400 + i, distinct_id="u", **{"$insert_id": f"v{i}"})
            for i in range(7)
        ],
    )
    with MixpanelServer(vendor, today=date(2026, 2, 1)) as server:
        monkeypatch.setenv("MIXPANEL_EXPORT_URL", server.url)
        monkeypatch.setenv("MIXPANEL_SERVICE_ACCOUNT_USERNAME", SANDBOX_USERNAME)
        monkeypatch.setenv("MIXPANEL_SERVICE_ACCOUNT_SECRET", SANDBOX_SECRET)
        monkeypatch.setenv("MIXPANEL_PROJECT_ID", str(SANDBOX_PROJECT_ID))
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("mixpanel_days", ["2026-01-05"])
        result = dg.materialize(
            [raw_mixpanel_events],
            partition_key="2026-01-05",
            instance=instance,
            resources=resources(exports, tmp_path),
        )
        assert [r.path for r in server.requests] == ["/api/2.0/export"]
    assert result.success
    assert (exports / "mixpanel" / "2026-01-05.jsonl.gz").exists()
    [materialization] = result.asset_materializations_for_node("raw__mixpanel_events")
    assert materialization.metadata["days_pulled_from_api"].value == 1
    assert materialization.metadata["loaded"].value == 7
    assert SANDBOX_SECRET not in str(materialization.metadata)
