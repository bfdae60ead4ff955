"""LTV tiers of the dbt Python model customer_ltv (issue 12): customers with the same predicted
LTV share a tier, whatever the order of the rows, and a tie block straddling a cut goes to the
lower tier (docs/metrics.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

MODEL = Path(__file__).resolve().parents[2] / "dbt_project/models/marts/analytics/customer_ltv.py"


def load_model():
    spec = importlib.util.spec_from_file_location("customer_ltv_model", MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Relation:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def df(self) -> pd.DataFrame:
        return self.frame.copy()


class Config:
    def __call__(self, **_):
        pass

    def get(self, _):
        return 0.01


class FakeDbt:
    def __init__(self, summary: pd.DataFrame, params: pd.DataFrame):
        self.refs = {"customer_purchase_summary": summary, "ltv_model_params": params}
        self.config = Config()

    def ref(self, name: str) -> Relation:
        return Relation(self.refs[name])


def params() -> pd.DataFrame:
    rows = [("bgnbd", p, v) for p, v in {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}.items()]
    rows.append(("observed", "mean_order_value", 30.0))
    frame = pd.DataFrame(rows, columns=["model", "parameter", "value"])
    frame["time_unit"] = "days"
    frame["model_status"] = "fitted"
    frame["model_status_reason"] = None
    frame["fit_status"] = frame["model"].map({"bgnbd": "converged"})  # observed: no fit
    return frame


def summary() -> pd.DataFrame:
    """Ten customers: one repeat buyer (5 repeat purchases, the last 10 days ago), four one-time
    buyers of the same first day 30 days ago and five of the same first day 60 days ago. Each
    group of one-time buyers has one (x, t_x, T), so one prediction."""
    people = [("rep", 5, 50, 60)]
    people += [(f"new{i}", 0, 0, 30) for i in range(4)]
    people += [(f"old{i}", 0, 0, 60) for i in range(5)]
    frame = pd.DataFrame(people, columns=["user_id", "frequency", "recency_days", "age_days"])
    frame["historical_revenue"] = 30.0 * (frame["frequency"] + 1)
    frame["monetary_value"] = [30.0] + [0.0] * 9
    frame["calibration_end"] = pd.Timestamp("2026-01-31")
    return frame


def tiers(frame: pd.DataFrame) -> dict[str, str]:
    out = load_model().model(FakeDbt(frame, params()), None)
    return dict(zip(out["user_id"], out["ltv_tier"], strict=True))


def test_equal_predictions_share_a_tier_and_a_straddling_block_goes_lower():
    frame = summary()
    out = load_model().model(FakeDbt(frame, params()), None).set_index("user_id")
    ltv = out["predicted_ltv_12m"]
    # the model ranks them: the repeat buyer, then the recent one-time buyers, then the older
    assert ltv["rep"] > ltv["new0"] > ltv["old0"]
    assert ltv.filter(like="new").nunique() == 1 and ltv.filter(like="old").nunique() == 1
    # N = 10: high needs at most 2 customers at or above, medium at most 5. rep: 1 -> high; the
    # four "new": 5 -> medium; the five "old": 10 -> low.
    want = {"rep": "high"} | {f"new{i}": "medium" for i in range(4)}
    want |= {f"old{i}": "low" for i in range(5)}
    assert out["ltv_tier"].to_dict() == want


def test_tiers_do_not_depend_on_row_order():
    frame = summary()
    forward = tiers(frame)
    for seed in range(5):
        assert tiers(frame.sample(frac=1, random_state=seed).reset_index(drop=True)) == forward
