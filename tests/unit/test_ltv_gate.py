"""A fit that did not converge, or a prediction that is not finite, must not drive audiences
silently (issue 12, item 6): the blocking suites on hand-made LTV tables, which syncs they gate,
and the NBD limit that replaces BG/NBD only at its no-dropout boundary."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

import clv
from checks.ltv_usage import condition_columns, ltv_use
from checks.marts import ltv_fit_suite, ltv_predictions_suite
from checks.suite import Sources, run_suite
from checks.thresholds import Thresholds
from orchestration.dbt_project import dbt_project
from syncs.spec import SyncSpec, specs_from_manifest

PARAMS = [
    # model, parameter, value, converged, fit_status
    ("bgnbd", "r", 0.24, True, "converged"),
    ("bgnbd", "alpha", 4.4, True, "converged"),
    ("bgnbd", "a", 0.79, True, "converged"),
    ("bgnbd", "b", 2.4, True, "converged"),
    ("gamma_gamma", "p", 6.2, True, "converged"),
    ("gamma_gamma", "q", 3.7, True, "converged"),
    ("gamma_gamma", "gamma", 15.4, True, "converged"),
]


def warehouse(path, params=PARAMS, predictions=None):
    con = duckdb.connect(str(path))
    con.execute("create schema analytics")
    con.execute(
        """create table analytics.ltv_model_params (model varchar, parameter varchar,
           value double, converged boolean, fit_status varchar, log_likelihood double,
           customers bigint, model_status varchar)"""
    )
    con.executemany(
        "insert into analytics.ltv_model_params values (?, ?, ?, ?, ?, -9582.4, 2357, 'fitted')",
        params,
    )
    con.execute(
        """create table analytics.customer_ltv (user_id varchar, purchase_method varchar,
           spend_method varchar, p_alive double, p_no_purchase_90d double,
           expected_purchases_90d double, expected_purchases_365d double,
           expected_order_value double, predicted_ltv_12m double, model_status varchar)"""
    )
    con.executemany(
        "insert into analytics.customer_ltv values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'fitted')",
        predictions
        or [
            ("amy", "bgnbd", "gamma_gamma", 0.7, 0.4, 0.5, 1.5, 30.0, 41.2),
            ("bob", "bgnbd", "gamma_gamma", 1.0, 0.9, 0.1, 0.3, 35.0, 9.8),
        ],
    )
    con.close()
    return Sources(path)


def test_converged_fits_and_finite_predictions_pass(tmp_path):
    sources = warehouse(tmp_path / "w.duckdb")
    assert run_suite(ltv_fit_suite(Thresholds()), sources).passed
    assert run_suite(ltv_predictions_suite(Thresholds()), sources).passed


def test_a_fit_that_did_not_converge_fails_and_shows_its_parameters(tmp_path):
    params = [(m, p, v, False, "not_converged") if m == "bgnbd" else (m, p, v, c, s)
              for m, p, v, c, s in PARAMS]  # fmt: skip
    outcome = run_suite(ltv_fit_suite(Thresholds()), warehouse(tmp_path / "w.duckdb", params))
    assert not outcome.passed and outcome.blocking
    (failing,) = outcome.failing_examples.to_dict("records")
    assert failing["model"] == "bgnbd" and failing["fit_status"] == "not_converged"
    assert "a = 0.79" in failing["parameters"] and failing["customers"] == 2357


def test_the_no_dropout_limit_is_a_sound_end_of_the_fit(tmp_path):
    params = [(m, p, v, False, "no_dropout_limit") if m == "bgnbd" else (m, p, v, c, s)
              for m, p, v, c, s in PARAMS]  # fmt: skip
    assert run_suite(ltv_fit_suite(Thresholds()), warehouse(tmp_path / "w.duckdb", params)).passed


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None])
def test_a_prediction_that_is_not_finite_fails_and_is_named(tmp_path, bad):
    rows = [
        ("amy", "bgnbd", "gamma_gamma", 0.7, 0.4, 0.5, 1.5, 30.0, 41.2),
        ("bob", "bgnbd", "gamma_gamma", 1.0, 0.9, bad, 0.3, 35.0, bad),
    ]
    outcome = run_suite(
        ltv_predictions_suite(Thresholds()), warehouse(tmp_path / "w.duckdb", predictions=rows)
    )
    assert not outcome.passed
    failing = outcome.failing_examples.to_dict("records")
    assert [r["user_id"] for r in failing] == ["bob"]
    assert failing[0]["not_finite"] == "expected_purchases_90d, predicted_ltv_12m"


def test_a_probability_above_one_fails(tmp_path):
    rows = [("amy", "bgnbd", "gamma_gamma", 1.2, 0.4, 0.5, 1.5, 30.0, 41.2)]
    outcome = run_suite(
        ltv_predictions_suite(Thresholds()), warehouse(tmp_path / "w.duckdb", predictions=rows)
    )
    assert not outcome.passed


def test_the_shipped_syncs_that_use_ltv_and_those_that_do_not():
    manifest = json.loads(dbt_project.manifest_path.read_text())
    uses = {s.name: ltv_use(s, manifest) for s in specs_from_manifest(manifest)}
    free = {name for name, reasons in uses.items() if not reasons}
    assert free == {
        "aud_new_customers_to_hubspot",
        "aud_cart_abandoners_to_hubspot",
        "aud_cart_abandoners_to_file",
    }
    # at-risk is chosen by the tier and the churn band, besides sending them
    assert "chooses members by churn_band, ltv_tier" in uses["aud_at_risk_high_value_to_hubspot"]
    assert uses["aud_win_back_to_hubspot"] == ["sends ltv_tier"]


def test_an_audience_that_filters_on_a_prediction_uses_ltv_without_sending_it():
    raw = """{#- churn_band in a comment does not count -#}
        with contacts as (select * from {{ ref('aud_contact_traits') }})
        select user_id, email from contacts
        where churn_band in ({{ sql_in_list(var('bands')) }}) and email is not null"""
    manifest = {
        "nodes": {
            "model.recur.aud_slipping": {
                "resource_type": "model",
                "name": "aud_slipping",
                "schema": "audiences",
                "raw_code": raw,
            }
        }
    }
    spec = SyncSpec.from_declaration(
        "aud_slipping", {"destination": "file", "match_key": "user_id"}, schema="audiences"
    )
    assert ltv_use(spec, manifest) == ["chooses members by churn_band"]
    assert condition_columns("select ltv_tier from t where email is not null") == {"email"}
    assert condition_columns("select * from a join b on a.id = b.id and b.ltv_tier = 'high'") == {
        "id",
        "ltv_tier",
    }


def test_nbd_is_the_limit_of_bgnbd_as_dropout_vanishes():
    """Computed another way: BG/NBD's own closed forms with a / (a + b) tiny agree with NBD's
    posterior-Poisson formulas (CDNOW's r and alpha, in weeks)."""
    x, t_x, T = np.array([0, 2, 7]), np.array([0, 30.43, 35.0]), np.array([38.86, 38.86, 38.86])
    nearly = clv.BGNBD(r=0.243, alpha=4.414, a=1e-7, b=3.0, time_unit="weeks")
    limit = nearly.no_dropout_limit()
    assert isinstance(limit, clv.NBD) and not nearly.at_no_dropout_limit  # 3e-8 > 1e-9
    np.testing.assert_allclose(
        limit.expected_purchases(39, x, t_x, T), nearly.expected_purchases(39, x, t_x, T), 1e-5
    )
    np.testing.assert_allclose(
        limit.p_no_purchase(39, x, t_x, T), nearly.p_no_purchase(39, x, t_x, T), 1e-5
    )
    # the posterior mean rate (r + x) / (alpha + T) times 39 weeks, by hand for x = 2
    assert float(limit.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(
        (0.243 + 2) / (4.414 + 38.86) * 39
    )
    assert clv.BGNBD(r=0.243, alpha=4.414, a=1e-13, b=3.0, time_unit="weeks").at_no_dropout_limit


def test_bgnbd_tends_to_the_common_dropout_limit_as_a_and_b_grow():
    """Computed another way: BG/NBD's own closed forms (hypergeometric) approach the limit's
    (no hypergeometric) as a + b grows with a / (a + b) = p fixed, the error shrinking like
    1 / (a + b); at a + b = 1e5 BG/NBD's expectation overflows and the limit does not."""
    x, t_x, T = np.array([0, 1, 2, 7]), np.array([0, 5.0, 30.43, 35.0]), np.full(4, 38.86)
    errors = []
    for scale in (1e2, 1e3):
        near = clv.BGNBD(r=0.243, alpha=4.414, a=0.28 * scale, b=0.72 * scale, time_unit="weeks")
        limit = near.common_dropout_limit()
        assert isinstance(limit, clv.CommonDropout) and limit.p == pytest.approx(0.28)
        expected = limit.expected_purchases(39, x, t_x, T)
        errors.append(np.max(np.abs(near.expected_purchases(39, x, t_x, T) / expected - 1)))
    assert errors[0] < 0.1 and errors[1] < errors[0] / 8  # ~ 1 / (a + b)
    far = clv.BGNBD(r=0.243, alpha=4.414, a=0.28e5, b=0.72e5, time_unit="weeks")
    assert far.at_common_dropout_limit
    limit = far.common_dropout_limit()
    np.testing.assert_allclose(limit.p_alive(x, t_x, T), far.p_alive(x, t_x, T), atol=1e-4)
    np.testing.assert_allclose(
        limit.p_no_purchase(39, x, t_x, T), far.p_no_purchase(39, x, t_x, T), atol=1e-4
    )
    with np.errstate(invalid="ignore", over="ignore"):
        assert not np.isfinite(far.expected_purchases(39, x, t_x, T)).all()
    assert np.isfinite(limit.expected_purchases(39, x, t_x, T)).all()
    # by hand for x = 0: alive, E[Y(39)] = (1 - ((a+T)/(a+T+39 p))^r) / p
    by_hand = (1 - (43.274 / (43.274 + 39 * 0.28)) ** 0.243) / 0.28
    assert float(limit.expected_purchases(39, 0, 0, 38.86)) == pytest.approx(by_hand)
