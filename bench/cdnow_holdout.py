"""Out-of-sample validation on CDNOW: pictures for docs/img and tables for docs/metrics.md.

    python -m bench.cdnow_holdout [--out docs/img]

Calibrates BG/NBD, MBG/NBD and Pareto/NBD (`clv.holdout`) on CDNOW's purchases up to
1997-09-30 (39 weeks), holds out the next 39 weeks (to 1998-06-30), writes three PNGs to
``--out`` and prints the markdown tables of the "Out-of-sample validation on CDNOW" section.
CDNOW is read from the installed lifetimes wheel (`tests.cdnow`), never copied.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from clv import holdout
from clv.classification import auc, brier, reliability

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_END, HOLDOUT_END, WEEKS = "1997-09-30", "1998-06-30", 78
MODELS = ("BG/NBD", "MBG/NBD", "Pareto/NBD")
DPI = 100
CHURN_LABELS = {
    "days_since_last_purchase": "days since the last purchase (recency alone; a ranking)",
    "recency probability": "recency-only probability (logistic, cross-fitted over 2 folds)",
}


def results() -> dict:
    """Every figure of the section, computed from the raw CDNOW transactions."""
    from tests.cdnow import transactions

    split = holdout.split(
        transactions(), calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END, time_unit="weeks"
    )
    models = holdout.fit_models(split)
    predictions = holdout.holdout_predictions(split, models)
    scores = holdout.churn_scores(split, models)
    churned = scores["churned"]
    churn = {
        name: {
            "auc": auc(scores[name], churned),
            "brier": None if name == "days_since_last_purchase" else brier(scores[name], churned),
        }
        for name in scores.columns.drop("churned")
    }
    return {
        "split": split,
        "models": models,
        "curve": holdout.cumulative_repeat_purchases(split, models, WEEKS),
        "conditional": holdout.conditional_expectations(
            predictions, split.customers["frequency"].to_numpy()
        ),
        "errors": holdout.holdout_errors(predictions),
        "scores": scores,
        "churn": churn,
    }


def plot(r: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = []

    curve = r["curve"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(curve.index, curve["actual"], color="black", lw=2, label="actual")
    for name, style in zip(MODELS, ("--", ":", "-."), strict=True):
        ax.plot(curve.index, curve[name], ls=style, label=name)
    ax.axvline(39, color="grey", lw=1)
    ax.text(39.5, curve["actual"].max() * 0.05, "end of calibration (week 39)", color="grey")
    ax.set(xlabel="week", ylabel="cumulative repeat purchases", xlim=(1, WEEKS))
    ax.set_title("CDNOW: cumulative repeat purchases, actual vs expected")
    ax.legend(loc="upper left", frameon=False)
    paths.append(_save(fig, out / "cdnow-cumulative-repeat.png"))

    table = r["conditional"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    positions = np.arange(len(table))
    ax.plot(positions, table["actual"], color="black", lw=2, marker="o", label="actual")
    for name, style in zip(MODELS, ("--", ":", "-."), strict=True):
        ax.plot(positions, table[name], ls=style, marker=".", label=name)
    ax.plot(positions, table[holdout.NAIVE], color="grey", lw=1, marker="x", label="naive")
    ax.set_xticks(positions, table.index)
    ax.set(xlabel="repeat purchases in calibration (weeks 1-39)")
    ax.set(ylabel="mean repeat purchases, weeks 40-78")
    ax.set_title("CDNOW: conditional expectations in the holdout")
    ax.legend(loc="upper left", frameon=False)
    paths.append(_save(fig, out / "cdnow-conditional-expectations.png"))

    scores = r["scores"]
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1)
    for name, marker in (("BG/NBD", "o"), ("MBG/NBD", "s"), ("recency probability", "^")):
        table = reliability(scores[name], scores["churned"])
        table = table[table["customers"] >= 10]
        label = "recency only (cross-fitted)" if name == "recency probability" else name
        ax.plot(table["predicted"], table["observed"], marker=marker, label=label)
    ax.set(xlabel="predicted P(no purchase in weeks 40-78)", ylabel="observed share", xlim=(0, 1))
    ax.set(ylim=(0, 1))
    ax.text(0.98, 0.02, "bins of 0.1 with >= 10 customers", ha="right", color="grey", fontsize=8)
    ax.set_title("CDNOW: churn score calibration")
    ax.legend(loc="upper left", frameon=False)
    paths.append(_save(fig, out / "cdnow-churn-reliability.png"))
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def markdown(r: dict) -> str:
    curve, errors, conditional, churn = r["curve"], r["errors"], r["conditional"], r["churn"]
    lines = ["| week | actual | " + " | ".join(MODELS) + " |", "|---:|---:|---:|---:|---:|"]
    for week in (39, 52, 78):
        row = curve.loc[week]
        lines.append(
            f"| {week} | {row['actual']:,.0f} | "
            + " | ".join(
                f"{row[m]:,.1f} ({100 * (row[m] / row['actual'] - 1):+.1f} %)" for m in MODELS
            )
            + " |"
        )
    lines += ["", "| prediction | MAE per customer | Σ predicted | Σ actual | error | error % |"]
    lines.append("|---|---:|---:|---:|---:|---:|")
    for name, e in errors.iterrows():
        lines.append(
            f"| {name} | {e['mae']:.3f} | {e['predicted']:,.1f} | {e['actual']:,.0f} | "
            f"{e['aggregate_error']:+,.1f} | {e['aggregate_error_pct']:+.1f} % |"
        )
    lines += ["", "| x in calibration | customers | actual | " + " | ".join(MODELS) + " | naive |"]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for label, row in conditional.iterrows():
        values = [row["actual"], *(row[m] for m in MODELS), row[holdout.NAIVE]]
        lines.append(
            f"| {label} | {row['customers']:,.0f} | "
            + " | ".join(f"{v:.2f}" for v in values)
            + " |"
        )
    share = r["scores"]["churned"].mean()
    lines += ["", f"no purchase in the holdout: {100 * share:.1f} % of customers", ""]
    lines += ["| score of no purchase in weeks 40-78 | AUC | Brier |", "|---|---:|---:|"]
    for name, m in churn.items():
        brier_text = "" if m["brier"] is None else f"{m['brier']:.4f}"
        label = CHURN_LABELS.get(name, f"{name} P(no purchase in 39 weeks)")
        lines.append(f"| {label} | {m['auc']:.4f} | {brier_text} |")
    params = "; ".join(
        f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in model.params.items())
        for name, model in r["models"].items()
    )
    lines += ["", f"fitted: {params}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cdnow_holdout")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    r = results()
    for path in plot(r, args.out):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    with pd.option_context("display.width", 200):
        print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
