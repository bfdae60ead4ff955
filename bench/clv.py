"""CLV benchmark: fit and score 1M customers with `clv` and with lifetimes, same input.

    python -m bench.clv [--repeats 3] [--datasets cdnow-tiled simulated]
    python -m bench.clv case TOOL DATASET REPEATS     # one case; prints one JSON line

Two datasets of about a million customers, built identically in each case's process:

- ``cdnow-tiled``: CDNOW's 2,357 customers (lifetimes' summary file, weeks) repeated 425 times,
  1,001,725 customers. The MLE equals CDNOW's, and day-granular data like this repeats
  ``(x, t_x, T, zbar)`` exactly: 1,030 distinct (x, t_x, T, zbar) patterns (1,016 without zbar);
- ``simulated``: 1,000,000 BG/NBD customers drawn with CDNOW's parameters, ages uniform in
  27-39 weeks as real numbers, spend from CDNOW's Gamma-Gamma; no two rows alike, so this
  measures the vectorised likelihood itself.

**Both tools get the same input.** Before any timing, `patterns` collapses the customers into
their distinct ``(x, t_x, T, zbar)`` rows with a count each (Fader and Hardie's own way of
fitting CDNOW), and both fitters receive those rows and counts as weights: ``recur``
(`clv.fit_bgnbd` + `clv.fit_gamma_gamma`, ``weights=``) and ``lifetimes`` (``BetaGeoFitter`` +
``GammaGammaFitter``, defaults otherwise, ``weights=``; their fit includes an autograd Hessian,
part of what lifetimes' ``fit`` does). On ``simulated`` every count is 1. The collapse itself
is timed once, apart (``collapse_seconds``). Fit = both models from the weighted patterns;
score = P(alive) + E[purchases in the next 39 weeks] + E[order value] for every customer (all
rows, not patterns). Times are the best of ``--repeats`` runs. Parameters must agree to 3
decimals. Results go to ``bench/out/clv.json``; the markdown table is printed (`table` renders
it for docs).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DATASETS = ("cdnow-tiled", "simulated")
TOOLS = ("recur", "lifetimes")
HORIZON = 39.0  # weeks, CDNOW's holdout length
TILES = 425  # 2,357 x 425 = 1,001,725 customers
SIMULATED = 1_000_000
BGNBD_CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GAMMA_GAMMA_CDNOW = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def load_dataset(name: str) -> dict[str, np.ndarray]:
    """The dataset's arrays (x, t_x, T, zbar; weeks), built the same way in every process.

    CDNOW is read from the installed lifetimes wheel each time rather than saved: it is
    third-party data and stays out of the working tree, bench/out included.
    """
    if name == "cdnow-tiled":
        import pandas as pd

        csv = importlib.metadata.distribution("lifetimes").locate_file(
            "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
        )
        s = pd.read_csv(str(csv))
        return {c: np.tile(s[c].to_numpy(np.float64), TILES) for c in ("x", "t_x", "T", "zbar")}
    from clv import simulate_bgnbd

    rng = np.random.default_rng(7)
    x, t_x, T, _ = simulate_bgnbd(**BGNBD_CDNOW, T=rng.uniform(27.0, 39.0, SIMULATED), rng=rng)
    p, q, gamma = GAMMA_GAMMA_CDNOW.values()
    nu = rng.gamma(q, 1.0 / gamma, SIMULATED)  # each customer's spend rate
    repeats = np.maximum(x, 1.0)  # the mean of x Gamma(p, nu) values is Gamma(p x, nu x)
    zbar = np.where(x > 0, rng.gamma(p * repeats, 1.0 / (nu * repeats)), 0.0)
    return {"x": x, "t_x": t_x, "T": T, "zbar": zbar}


def patterns(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Distinct ``(x, t_x, T, zbar)`` rows of ``data`` with ``weights`` = customers per row.

    Exact (no rounding): the likelihoods are sums over customers, so a fit on these rows with
    these weights is the fit on every customer. Rows come out in first-seen order.
    """
    import pandas as pd

    frame = pd.DataFrame({c: data[c] for c in ("x", "t_x", "T", "zbar")})
    counted = frame.groupby(list(frame.columns), sort=False).size().reset_index(name="weights")
    return {c: counted[c].to_numpy(np.float64) for c in counted.columns}


def _best_of(repeats: int, work):
    """(seconds, result) of the fastest of ``repeats`` calls."""
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def run_case(tool: str, dataset: str, repeats: int) -> dict:
    data = load_dataset(dataset)
    x, t_x, T, zbar = data["x"], data["t_x"], data["T"], data["zbar"]
    started = time.perf_counter()
    rows = patterns(data)  # the one input both fitters get
    collapse_seconds = time.perf_counter() - started
    px, pt_x, pT, pzbar, w = (rows[c] for c in ("x", "t_x", "T", "zbar", "weights"))
    repeat = px > 0
    if tool == "recur":
        import clv

        def fit():
            purchases = clv.fit_bgnbd(px, pt_x, pT, time_unit="weeks", weights=w)
            return purchases, clv.fit_gamma_gamma(px, pzbar, weights=w)

        def score(models):
            purchases, spend = models
            return (
                purchases.p_alive(x, t_x, T),
                purchases.expected_purchases(HORIZON, x, t_x, T),
                spend.expected_order_value(x, zbar),
            )

        def params(models):
            return {**models[0].params, **models[1].params}
    else:
        warnings.simplefilter("ignore")  # lifetimes warns under pandas 3 (Pandas4Warning)
        from lifetimes import BetaGeoFitter, GammaGammaFitter

        def fit():
            purchases = BetaGeoFitter().fit(px, pt_x, pT, weights=w)
            spend = GammaGammaFitter().fit(px[repeat], pzbar[repeat], weights=w[repeat])
            return purchases, spend

        def score(models):
            purchases, spend = models
            return (
                purchases.conditional_probability_alive(x, t_x, T),
                purchases.conditional_expected_number_of_purchases_up_to_time(HORIZON, x, t_x, T),
                spend.conditional_expected_average_profit(x, zbar),
            )

        def params(models):
            return {**models[0].params_.to_dict(), **models[1].params_.to_dict()}

    fit_seconds, models = _best_of(repeats, fit)
    score_seconds, scores = _best_of(repeats, lambda: score(models))
    scores_path = OUT / f"clv-scores-{tool}-{dataset}.npz"
    np.savez(scores_path, *[np.asarray(s, dtype=np.float64) for s in scores])
    return {
        "tool": tool,
        "dataset": dataset,
        "customers": len(x),
        "fit_rows": len(px),
        "collapse_seconds": round(collapse_seconds, 3),
        "fit_seconds": round(fit_seconds, 3),
        "score_seconds": round(score_seconds, 3),
        "params": {k: float(v) for k, v in params(models).items()},
        "scores": str(scores_path),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def compare(ours: dict, theirs: dict) -> dict:
    """Largest parameter and score differences between the two tools on one dataset."""
    names = ("r", "alpha", "a", "b", "p", "q")
    diff = {k: abs(ours["params"][k] - theirs["params"][k]) for k in names}
    their_gamma = theirs["params"]["v"]  # lifetimes calls gamma "v"
    diff["gamma"] = abs(ours["params"]["gamma"] - their_gamma)
    with np.load(ours["scores"]) as a, np.load(theirs["scores"]) as b:
        score_diff = [float(np.max(np.abs(a[k] - b[k]))) for k in ("arr_0", "arr_1", "arr_2")]
    return {
        "max_param_diff": max(diff.values()),
        "params_agree_3dp": all(d < 5e-4 for d in diff.values()),
        "param_diff": diff,
        "max_score_diff": dict(
            zip(("p_alive", "expected_purchases", "order_value"), score_diff, strict=True)
        ),
    }


def table(results: list[dict]) -> str:
    """Markdown: one row per (dataset, tool); speedups and agreement on the recur rows.

    Works from ``bench/out/clv.json``'s ``results`` alone (agreement is stored on recur rows).
    """
    by = {(r["tool"], r["dataset"]): r for r in results}
    rows = [
        "| dataset | customers | rows fitted (both tools) | tool | fit s | score s | total s "
        "| speedup fit / score / total "
        "| r | alpha | a | b | p | q | gamma | params agree to 3 dp | peak MB |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        total = r["fit_seconds"] + r["score_seconds"]
        other = by.get(("lifetimes", r["dataset"]))
        speedup = agree = ""
        if r["tool"] == "recur" and other:
            other_total = other["fit_seconds"] + other["score_seconds"]
            speedup = (
                f"{other['fit_seconds'] / r['fit_seconds']:.1f}x / "
                f"{other['score_seconds'] / r['score_seconds']:.1f}x / {other_total / total:.1f}x"
            )
            check = r["agreement"]
            verdict = "yes" if check["params_agree_3dp"] else "NO"
            agree = f"{verdict} (max diff {check['max_param_diff']:.0e})"
        p = r["params"]
        gamma = p.get("gamma", p.get("v"))
        rows.append(
            f"| {r['dataset']} | {r['customers']:,} | {r.get('fit_rows', r['customers']):,} | "
            f"{r['tool']} | {r['fit_seconds']:.2f} | "
            f"{r['score_seconds']:.2f} | {total:.2f} | {speedup} | {p['r']:.4f} | "
            f"{p['alpha']:.4f} | {p['a']:.4f} | {p['b']:.4f} | {p['p']:.4f} | {p['q']:.4f} | "
            f"{gamma:.4f} | {agree} | {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(rows)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "case":
        tool, dataset, repeats = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(run_case(tool, dataset, repeats)))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.clv")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs per timing")
    parser.add_argument("--datasets", nargs="*", default=DATASETS, choices=DATASETS)
    args = parser.parse_args()
    results = []
    OUT.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        by_tool = {}
        for tool in TOOLS:
            done = subprocess.run(
                [sys.executable, "-m", "bench.clv", "case", tool, dataset, str(args.repeats)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if done.returncode != 0:
                raise SystemExit(f"{tool} on {dataset} failed:\n{done.stderr[-4000:]}")
            r = by_tool[tool] = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"  {dataset} {tool}: {r['fit_rows']:,} weighted rows, fit "
                f"{r['fit_seconds']:.2f} s, score {r['score_seconds']:.2f} s"
            )
        by_tool["recur"]["agreement"] = compare(by_tool["recur"], by_tool["lifetimes"])
        for r in by_tool.values():  # per-customer scores are kept only for the comparison
            Path(r.pop("scores")).unlink(missing_ok=True)
        results.extend(by_tool.values())
    (OUT / "clv.json").write_text(json.dumps(results, indent=2))
    print(
        f"\nMeasured {time.strftime('%Y-%m-%d')} on {platform.machine()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, `python -m bench.clv --repeats {args.repeats}`; "
        f"best of {args.repeats}; lifetimes {importlib.metadata.version('lifetimes')}; 1-minute "
        "load average at each case's end: "
        + ", ".join(f"{r['dataset']}/{r['tool']} {r['load_average']}" for r in results)
        + "\n"
    )
    print(table(results))
    print(
        "\nBoth tools fit the same input: each dataset's distinct (x, t_x, T, zbar) rows with "
        "their customer counts as weights (collapsing took "
        + ", ".join(f"{r['collapse_seconds']:.2f} s on {r['dataset']}" for r in results[::2])
        + ", outside the timings); scores are for every customer."
    )
    for r in results:
        if "agreement" in r:
            diffs = ", ".join(f"{k} {v:.1e}" for k, v in r["agreement"]["max_score_diff"].items())
            print(f"\n{r['dataset']}: largest score differences recur vs lifetimes: {diffs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
