"""Sync assets in Dagster: one per declaration, run after their audience, to the sandbox."""

from __future__ import annotations

import dagster as dg
import pytest

from sandbox.generate import generate
from sandbox.servers.hubspot import HubSpotServer
from sources.warehouse import connect
from syncs.state import StateStore
from tests.conftest import point_recur_at

WRITES = ("/crm/v3/objects/contacts/batch/", "/crm/v3/lists/")
NEW_CUSTOMERS = "key:syncs/aud_new_customers_to_hubspot"
TOKEN = "pat-na1-5ecret7f3a"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Generated exports loaded, modelled and synced once through `recur run`."""
    tmp = tmp_path_factory.mktemp("syncs")
    exports = tmp / "exports"
    generate(exports, users=400, days=20, seed=5, faults=0.0)
    with pytest.MonkeyPatch.context() as mp, HubSpotServer(tmp / "hubspot.sqlite") as server:
        point_recur_at(mp, tmp, exports, server)
        from orchestration.definitions import build_defs
        from orchestration.runner import run

        defs = build_defs()
        report = run(defs, dagster_instance=dg.DagsterInstance.ephemeral(), echo=lambda _: None)
        assert report.failed == []
        yield tmp, server, defs, mp


def test_each_declared_sync_is_an_asset_downstream_of_its_audience():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    syncs = dg.AssetSelection.groups("syncs").resolve(graph)
    names = {k.path[1] for k in syncs}
    assert {
        "aud_contact_traits_to_hubspot",
        "aud_contact_traits_to_file",
        "aud_champions_to_hubspot",
        "aud_cart_abandoners_to_file",
    } <= names
    champions = graph.get(dg.AssetKey(["syncs", "aud_champions_to_hubspot"]))
    # it sends predicted LTV, so it reads the LTV models too and waits on their checks
    ltv = {
        dg.AssetKey(["analytics", n]) for n in ("ltv_model_params", "customer_ltv", "churn_risk")
    }
    assert champions.parent_keys == {dg.AssetKey(["audiences", "aud_champions"])} | ltv
    carts = graph.get(dg.AssetKey(["syncs", "aud_cart_abandoners_to_hubspot"]))
    assert carts.parent_keys == {dg.AssetKey(["audiences", "aud_cart_abandoners"])}
    assert champions.group_name == "syncs"


def test_audiences_arrive_in_hubspot_and_in_files(pipeline):
    tmp, server, _, _ = pipeline
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        contacts = {
            r[0] for r in con.execute("select email from audiences.aud_contact_traits").fetchall()
        }
        # Champions (R5 with F4-5: three or more purchases) are few or none in 20 days; the new
        # customers' list always has members here
        new_customers = {
            r[0] for r in con.execute("select email from audiences.aud_new_customers").fetchall()
        }
        tiers = dict(
            con.execute("select email, ltv_tier from audiences.aud_contact_traits").fetchall()
        )
        cart = con.execute("select count(*) from audiences.aud_cart_abandoners").fetchone()[0]
    assert len(contacts) > 100
    arrived = {c["email"]: c["properties"] for c in server.contacts()}
    assert set(arrived) == contacts
    assert all(arrived[e].get("recur_ltv_tier", "") == (tiers[e] or "") for e in contacts)
    assert new_customers and server.list_members("Recur: New customers") == new_customers
    files = tmp / "audiences"
    with connect(tmp / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            f"select count(*) from read_csv('{files / 'aud_cart_abandoners.csv'}')"
        ).fetchone()[0]
        parquet = con.execute(
            f"select count(*), count(distinct email) from '{files / 'aud_contact_traits.parquet'}'"
        ).fetchone()
    assert rows == cart and parquet == (len(contacts), len(contacts))
    with StateStore(tmp / "state.duckdb") as state:
        runs = state.runs(limit=100)
    assert set(runs["status"]) <= {"success", "partial", "unchanged"}  # unchanged: empty audience
    assert runs["error"].isna().all()


def test_recur_sync_again_sends_no_write_and_dry_run_prints_the_plan(pipeline, capsys):
    _, server, _, _ = pipeline
    from orchestration.cli import main

    before = len([r for r in server.requests if r.path.startswith(WRITES)])
    assert main(["sync"]) == 0
    after = len([r for r in server.requests if r.path.startswith(WRITES)])
    assert after == before
    out = capsys.readouterr().out
    assert "aud_champions_to_hubspot" in out and "unchanged" in out
    assert main(["sync", "--dry-run", "--select", "key:syncs/aud_champions_to_hubspot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("aud_champions_to_hubspot: dry_run;")


def test_without_a_token_hubspot_syncs_are_skipped_not_failed(pipeline, tmp_path):
    tmp, _, defs, mp = pipeline
    mp.delenv("HUBSPOT_ACCESS_TOKEN")
    mp.setenv("RECUR_STATE", str(tmp_path / "fresh-state.duckdb"))
    from orchestration.definitions import build_defs

    defs = build_defs()
    key = dg.AssetKey(["syncs", "aud_new_customers_to_hubspot"])
    result = dg.materialize(
        list(defs.assets), selection=[key], resources=defs.resources, raise_on_error=False
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node(
        "syncs__aud_new_customers_to_hubspot"
    )
    assert materialization.metadata["status"].value == "skipped"
    assert "HUBSPOT_ACCESS_TOKEN is not set" in materialization.metadata["error"].value


@pytest.mark.parametrize(
    "token",
    [TOKEN + "\r", TOKEN + " x", TOKEN],
    ids=["crlf-env-file", "inner-space", "refused-by-hubspot"],
)
def test_a_bad_token_is_never_printed_or_stored_and_every_run_row_is_closed(
    pipeline, tmp_path, monkeypatch, capfd, token
):
    tmp, *_ = pipeline
    home = tmp_path / "dagster_home"
    home.mkdir()
    state = tmp_path / "state.duckdb"  # fresh: everyone is to be sent, so the token is used
    for name, value in {
        "DAGSTER_HOME": str(home),
        "HUBSPOT_ACCESS_TOKEN": token,
        "RECUR_STATE": str(state),
    }.items():
        monkeypatch.setenv(name, value)
    from orchestration.cli import main

    assert main(["sync", "--select", NEW_CUSTOMERS]) == 1
    printed = capfd.readouterr()
    assert "HUBSPOT_ACCESS_TOKEN" in printed.out + printed.err  # the error names the setting
    stored = [p for p in home.rglob("*") if p.is_file()]
    stored += [p for p in tmp_path.glob("state.duckdb*")] + [tmp / "warehouse.duckdb"]
    assert len(stored) > 3
    for path in stored:
        assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in printed.out + printed.err
    with StateStore(state) as store:
        runs = store.runs()
    assert len(runs) == 1 and runs["status"].tolist() == ["failed"]
    assert runs["duration_seconds"].notna().all()


def test_recur_sync_while_the_warehouse_is_locked_says_nothing_ran_and_marks_stale_rows(
    pipeline, capsys
):
    import subprocess
    import sys

    tmp, *_ = pipeline
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(300)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp / "warehouse.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"  # as `recur run` holds it while dbt runs
        from orchestration.cli import main

        code = main(["sync", "--select", NEW_CUSTOMERS])
    finally:
        holder.kill()
        holder.wait()
    printed = capsys.readouterr()
    assert code == 1
    (why,) = [line for line in printed.err.splitlines() if line.startswith("recur sync: no")]
    assert why.startswith("recur sync: no sync ran:") and "Could not set lock" in why
    (row,) = [line for line in printed.out.splitlines() if line.startswith("aud_new_customers_to")]
    assert row.split()[1] == "stale" and "not run now" in printed.out
