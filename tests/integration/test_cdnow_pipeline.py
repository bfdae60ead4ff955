"""Real data nobody here wrote: CDNOW's 1997-98 purchases, written as a Mixpanel export of 545
daily files, through the whole pipeline (`recur run`: Dagster, the loader, dbt, checks, audiences,
syncs, report). The expected numbers come from the raw text file and from the published papers,
never from Recur's own code."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from sources.warehouse import connect
from tests import cdnow

# Fader, Hardie & Lee (2005), BG/NBD in weeks; Fader & Hardie (2013), Gamma-Gamma on 946 repeaters.
BGNBD_WEEKS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("cdnow")
    exports = root / "exports"
    lines_per_day = cdnow.write_mixpanel_exports(exports)
    warehouse = root / "warehouse.duckdb"
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RECUR_EXPORTS", str(exports))
        env.setenv("RECUR_WAREHOUSE", str(warehouse))
        env.setenv("RECUR_STATE", str(root / "state.duckdb"))
        env.setenv("RECUR_EARLIEST_EVENT", "1990-01-01")  # the default, 2000, quarantines 1997
        env.setenv("RECUR_AS_OF", cdnow.CALIBRATION_END)  # the papers' 39-week calibration
        env.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
        from orchestration.definitions import build_defs
        from orchestration.runner import run

        report = run(
            build_defs(), dagster_instance=dg.DagsterInstance.ephemeral(), echo=lines.append
        )
    con = connect(warehouse, read_only=True)
    yield report, lines, lines_per_day, con, root
    con.close()


def test_the_run_succeeds_on_every_day_of_1997_and_1998(pipeline):
    report, lines, lines_per_day, con, _ = pipeline
    assert report.failed == [], "\n".join(lines)
    assert len(lines_per_day) == 545  # days with a purchase, 1997-01-01 .. 1998-06-30
    assert "mixpanel_days (545 days, 1997-01-01 to 1998-06-30): ok" in "\n".join(lines)
    files, read, loaded, quarantined = con.execute(
        "select count(*), sum(lines_read), sum(loaded), sum(quarantined) from raw.load_ledger"
    ).fetchone()
    assert (files, read, loaded, quarantined) == (545, 6919, 6919, 0)


def test_people_orders_and_revenue_match_the_text_file(pipeline):
    _, _, _, con, _ = pipeline
    purchases = cdnow.transactions()
    events, people = con.execute(
        "select count(*), count(distinct user_id) from core.fct_events"
    ).fetchone()
    users = con.execute("select count(*) from core.dim_users").fetchone()[0]
    orders, revenue, first, last = con.execute(
        "select count(*), sum(revenue), min(order_date), max(order_date) from core.fct_orders"
    ).fetchone()
    assert events == orders == len(purchases) == 6919
    assert people == users == purchases["customer_id"].nunique() == 2357
    assert float(revenue) == pytest.approx(purchases["amount"].sum(), abs=0.005)  # $244,091.94
    assert (str(first), str(last)) == ("1997-01-01", "1998-06-30")
    per_person = con.execute(
        "select count(*) filter (where n = 1), max(n) from "
        "(select user_id, count(*) as n from core.fct_orders group by user_id)"
    ).fetchone()
    counts = purchases.groupby("customer_id").size()
    assert per_person == ((counts == 1).sum(), counts.max())


def test_the_purchase_summary_is_the_published_one(pipeline):
    """lifetimes ships the papers' calibration summary (x, t_x, T in weeks); Recur's days agree."""
    _, _, _, con, _ = pipeline
    published = cdnow.summary()
    rows = con.execute(
        "select user_id, frequency, recency_days, age_days, monetary_value "
        "from analytics.customer_purchase_summary"
    ).df()
    rows["ID"] = rows["user_id"].str.removeprefix("cdnow-").astype(int)
    both = rows.merge(published, on="ID", validate="one_to_one")
    assert len(both) == 2357
    assert (both["frequency"] == both["x"]).all()  # sum 2,457; 946 repeat buyers
    assert both["recency_days"].div(7).sub(both["t_x"]).abs().max() < 0.01
    assert both["age_days"].div(7).sub(both["T"]).abs().max() < 0.01
    assert both["monetary_value"].astype(float).sub(both["zbar"]).abs().max() < 0.01


def test_the_fitted_models_reproduce_the_published_estimates(pipeline):
    """BG/NBD is fitted in days: r, a and b are unit-free, alpha is in days (weeks times 7)."""
    _, _, _, con, _ = pipeline
    rows = con.execute(
        "select model, parameter, value, time_unit, customers from analytics.ltv_model_params"
    ).fetchall()
    params = {(model, name): value for model, name, value, _, _ in rows}
    units = {model: unit for model, _, _, unit, _ in rows}
    customers = {model: n for model, _, _, _, n in rows}
    assert units["bgnbd"] == "days" and customers == {"bgnbd": 2357, "gamma_gamma": 946}
    weeks = {**params, ("bgnbd", "alpha"): params["bgnbd", "alpha"] / 7}
    for name, published in BGNBD_WEEKS.items():
        assert weeks["bgnbd", name] == pytest.approx(published, rel=0.005), name
    for name, published in GAMMA_GAMMA.items():
        assert params["gamma_gamma", name] == pytest.approx(published, rel=0.005), name


def test_defaults_that_do_not_fit_this_data_warn_and_do_not_fail(pipeline):
    """CDNOW has one kind of event and no profiles: the generator's funnel steps match nothing
    (a warning, zero conversions), and with no email nobody is a contact, so the audiences are
    empty rather than wrong. Event names count the events up to the observation end (4,960 of
    6,919 purchases fall in the calibration period)."""
    _, _, _, con, _ = pipeline
    matched = dict(
        con.execute(
            "select event_name, max(events) from analytics.event_name_settings group by 1"
        ).fetchall()
    )
    # counted up to the observation end, RECUR_AS_OF = the calibration end, like everything
    purchases = cdnow.transactions()
    observed = int((purchases["date"] <= cdnow.CALIBRATION_END).sum())
    assert observed == 4960 and matched["Purchase"] == observed and matched["View Item"] == 0
    funnel = con.execute(
        "select step_number, users from analytics.funnel_conversion "
        "where funnel_name = 'purchase' order by step_number"
    ).fetchall()
    assert funnel == [(1, 0), (2, 0), (3, 0), (4, 0)]
    assert con.execute("select count(*) from audiences.aud_contact_traits").fetchone()[0] == 0


def _auc(scores, labels) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula, ties averaged."""
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _no_purchase_between(con, first: str, last: str) -> tuple[pd.DataFrame, np.ndarray]:
    """analytics.churn_risk per customer, and whether the raw text file has no purchase of theirs
    in [first, last]."""
    purchases = cdnow.transactions()
    later = purchases[(purchases["date"] >= first) & (purchases["date"] <= last)]
    rows = con.execute(
        "select user_id, churn_score, churn_band, p_alive, days_since_last_purchase "
        "from analytics.churn_risk"
    ).df()
    ids = rows["user_id"].str.removeprefix("cdnow-").astype(int)
    return rows, (~ids.isin(later["customer_id"])).to_numpy()


def test_the_churn_score_ranks_the_customers_who_did_not_come_back_on_real_data(pipeline):
    """CDNOW's own holdout (1997-10-01 .. 1998-06-30, 39 weeks), not data a BG/NBD process
    generated: 71.0 % of the 2,357 customers buy nothing in it. Measured: churn score (the model's
    P(no purchase in 90 days)) AUC 0.767, recency alone 0.771, 1 - P(alive) 0.316 (analytics.md
    §8). The score must stay at 0.76 or more and within 0.01 of recency."""
    _, _, _, con, _ = pipeline
    rows, churned = _no_purchase_between(con, "1997-10-01", "1998-06-30")
    assert len(rows) == 2357 and churned.sum() == 1673  # 71.0 %
    score = _auc(rows["churn_score"].to_numpy(), churned)
    recency = _auc(rows["days_since_last_purchase"].to_numpy(), churned)
    p_alive = _auc(1 - rows["p_alive"].to_numpy(), churned)
    old = _auc(np.exp(-con.execute(
        "select expected_purchases_90d from analytics.churn_risk"
    ).df()["expected_purchases_90d"].to_numpy()), churned)  # fmt: skip
    print(f"CDNOW holdout AUC: churn score {score:.4f}, recency {recency:.4f}, "
          f"1 - P(alive) {p_alive:.4f}, exp(-E[Y(90 d)]) {old:.4f}")  # fmt: skip
    assert score >= 0.76
    assert score >= recency - 0.01
    assert score > p_alive + 0.4


def test_the_churn_score_is_a_calibrated_probability_on_real_data(pipeline):
    """The score is P(no purchase in the next 90 days): on CDNOW's next 90 days (1997-10-01 ..
    1997-12-29) the share of each band with no purchase is close to its mean score (measured:
    low 0.32 vs 0.30, medium 0.69 vs 0.64, high 0.92 vs 0.91; all 0.85 vs 0.83, Brier 0.110)."""
    _, _, _, con, _ = pipeline
    rows, silent = _no_purchase_between(con, "1997-10-01", "1997-12-29")
    rows["silent"] = silent
    brier = float(((rows["churn_score"] - rows["silent"]) ** 2).mean())
    bands = rows.groupby("churn_band").agg(
        n=("silent", "size"), predicted=("churn_score", "mean"), actual=("silent", "mean")
    )
    print(bands.to_string(), f"\nall: predicted {rows['churn_score'].mean():.4f} "
          f"actual {silent.mean():.4f}, Brier {brier:.4f}")  # fmt: skip
    assert set(bands.index) == {"low", "medium", "high"}
    assert (bands["predicted"] - bands["actual"]).abs().max() < 0.06
    assert abs(rows["churn_score"].mean() - silent.mean()) < 0.03
    assert brier < 0.115
