"""Score every attribution model and the holdout iROAS estimator against the simulator's truth.

    .venv/bin/python bench/score_attribution.py [--seeds 200] [--workers 2] [--users 300000]

Each seed simulates a study (reportgen.analysis.journeys), credits revenue under every model
(reportgen.analysis.attribution) and estimates incrementality from the holdout
(reportgen.analysis.incrementality), in a bounded process pool. It prints, and writes to
bench/results/attribution.json:

- per model (and the holdout estimate): error of each influencer's credited revenue against its
  true incremental revenue (median absolute relative error, mean relative error = bias), and
  rank agreement with the truth (Kendall tau-b per seed, averaged);
- iROAS: median absolute relative error and bias of the programme's iROAS, coverage and width
  of the 90% intervals (programme and per influencer), and how often the break-even decision
  is right where the interval excludes 1; the same decision taken from each model's ROAS.

Not a test: it states the goals next to the measured values and exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportgen.analysis.attribution import MODELS, attribute  # noqa: E402
from reportgen.analysis.incrementality import estimate_incrementality  # noqa: E402
from reportgen.analysis.journeys import JourneySpec, simulate_journeys  # noqa: E402

HOLDOUT = "holdout (incremental)"


def run_seed(seed: int, users: int) -> dict[str, Any]:
    """Simulate one study and return truth, credited revenue and estimates per influencer."""
    study = simulate_journeys(JourneySpec(seed=seed, users=users))
    credited = attribute(study.touchpoints, study.conversions).table()
    inc = estimate_incrementality(
        study.conversions, study.assignments, study.payouts, study.tracking_data
    )
    rows = []
    for est in inc.influencers:
        truth = study.truth["influencers"][est.scope]
        rows.append(
            {
                "influencer": est.scope,
                "truth_revenue": truth["incremental_revenue"],
                "truth_iroas": truth["iroas"],
                "truth_commission": truth["commission_on_baseline_orders"],
                "payout": truth["payout"],
                "credited": {m: float(credited.at[est.scope, m]) for m in credited.columns},
                "estimate": est.as_dict(),
            }
        )
    return {
        "seed": seed,
        "overall_truth": study.truth["overall"],
        "overall": inc.overall.as_dict(),
        "influencers": rows,
    }


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Return Kendall's tau-b of two equally long vectors (nan when either is constant)."""
    i, j = np.triu_indices(len(a), 1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    denom = np.sqrt((da != 0).sum() * (db != 0).sum())
    return float((da * db).sum() / denom) if denom else float("nan")


def rel(est: float, truth: float) -> float:
    """Return the relative error of an estimate (nan for a zero truth)."""
    return (est - truth) / truth if truth else float("nan")


def score_models(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return error, bias and rank agreement of each model's credited revenue against truth."""
    out = []
    for model in [*MODELS, HOLDOUT]:
        errors, taus = [], []
        for r in results:
            truth = np.array([x["truth_revenue"] for x in r["influencers"]])
            est = np.array([_credited(x, model) for x in r["influencers"]])
            ok = ~np.isnan(est)
            errors += [rel(e, t) for e, t in zip(est[ok], truth[ok], strict=True)]
            if ok.sum() > 2:
                taus.append(kendall_tau(est[ok], truth[ok]))
        errors = [e for e in errors if np.isfinite(e)]
        out.append(
            {
                "model": model,
                "median_abs_rel_error": statistics.median(abs(e) for e in errors),
                "bias": statistics.fmean(errors),
                "kendall_tau": float(np.nanmean(taus)),
                "break_even_right": _model_decisions(results, model),
            }
        )
    return out


def _credited(row: dict[str, Any], model: str) -> float:
    """Return one influencer's credited (or holdout-estimated) revenue under ``model``."""
    if model == HOLDOUT:
        value = row["estimate"]["incremental_revenue"]
        return float("nan") if value is None else value
    return row["credited"].get(model, 0.0)


def _model_decisions(results: list[dict[str, Any]], model: str) -> float:
    """Return the share of influencers whose break-even side (ROAS vs 1) the model gets right."""
    right = []
    for r in results:
        for x in r["influencers"]:
            value = _credited(x, model)
            if x["payout"] and x["truth_iroas"] is not None and np.isfinite(value):
                right.append((value / x["payout"] > 1) == (x["truth_iroas"] > 1))
    return float(np.mean(right))


def score_iroas(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Return accuracy, bias, interval coverage and width, and decisions of the iROAS estimator."""
    overall = [(r["overall"], r["overall_truth"]["iroas"]) for r in results]
    errs = [rel(e["iroas"], t) for e, t in overall if e["iroas"] is not None]
    per = [(x["estimate"], x["truth_iroas"]) for r in results for x in r["influencers"]]
    per = [(e, t) for e, t in per if e["iroas"] is not None and t is not None]
    decided = [(e, t) for e, t in per if e["iroas_low"] > 1 or e["iroas_high"] < 1]
    by_slot: dict[str, list[bool]] = {}
    for r in results:
        for x in r["influencers"]:
            e, t = x["estimate"], x["truth_iroas"]
            if e["iroas"] is not None and t is not None:
                by_slot.setdefault(x["influencer"], []).append(
                    e["iroas_low"] <= t <= e["iroas_high"]
                )
    return {
        "seeds": len(results),
        "overall_median_abs_rel_error": statistics.median(abs(e) for e in errs),
        "overall_bias": statistics.fmean(errs),
        "overall_coverage": _coverage(overall),
        "overall_median_width": statistics.median(
            e["iroas_high"] - e["iroas_low"] for e, _ in overall
        ),
        "influencer_coverage": _coverage(per),
        "influencer_coverage_by_slot": {k: float(np.mean(v)) for k, v in sorted(by_slot.items())},
        "influencer_median_width": statistics.median(
            e["iroas_high"] - e["iroas_low"] for e, _ in per
        ),
        "influencer_estimates": len(per),
        "decided_share": len(decided) / len(per) if per else float("nan"),
        "decision_right": float(np.mean([(e["iroas_low"] > 1) == (t > 1) for e, t in decided])),
        "too_wide_share": float(np.mean([e["decision"] == "too wide to decide" for e, _ in per])),
        **_score_commission(results),
    }


def _score_commission(results: list[dict[str, Any]]) -> dict[str, float]:
    """Return how the commission on would-be orders (a lower bound) compares with the truth."""
    pairs = [
        (x["estimate"]["commission_on_baseline_orders"], x["truth_commission"])
        for r in results
        for x in r["influencers"]
        if x["estimate"]["commission_on_baseline_orders"] is not None and x["truth_commission"] > 0
    ]
    return {
        "commission_pairs": len(pairs),
        "commission_at_most_truth": float(np.mean([e <= t for e, t in pairs])),
        "commission_median_ratio": statistics.median(e / t for e, t in pairs),
    }


def _coverage(pairs: list[tuple[dict[str, Any], float]]) -> float:
    """Return the share of intervals that hold the truth."""
    held = [e["iroas_low"] <= t <= e["iroas_high"] for e, t in pairs if e["iroas"] is not None]
    return float(np.mean(held))


def report(models: list[dict[str, Any]], iroas: dict[str, Any]) -> str:
    """Return the accuracy tables as Markdown, with the goals."""
    lines = [
        "| credited revenue vs true incremental | median abs rel error | bias (mean rel error) | Kendall tau | break-even side right |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for m in models:
        lines.append(
            f"| {m['model']} | {m['median_abs_rel_error']:.0%} | {m['bias']:+.0%} |"
            f" {m['kendall_tau']:.2f} | {m['break_even_right']:.0%} |"
        )
    i = iroas
    lines += [
        "",
        "| iROAS estimator (holdout) | measured | goal |",
        "| --- | ---: | --- |",
        f"| programme iROAS median abs rel error | {i['overall_median_abs_rel_error']:.1%} | <= 10% |",
        f"| programme iROAS bias (mean rel error) | {i['overall_bias']:+.1%} | within +-5% |",
        f"| programme 90% interval coverage | {i['overall_coverage']:.1%} | 85-95% |",
        f"| programme interval median width (iROAS) | {i['overall_median_width']:.2f} | |",
        f"| per-influencer 90% interval coverage | {i['influencer_coverage']:.1%} | 85-95% |",
        f"| per-influencer coverage by slot (min-max) | {min(i['influencer_coverage_by_slot'].values()):.1%}-{max(i['influencer_coverage_by_slot'].values()):.1%} | 85-95% |",
        f"| per-influencer interval median width (iROAS) | {i['influencer_median_width']:.2f} | |",
        f"| break-even decision right where the interval excludes 1 | {i['decision_right']:.1%} ({i['decided_share']:.0%} of influencers) | >= 90% |",
        f"| intervals too wide to decide | {i['too_wide_share']:.0%} | |",
        f"| commission on would-be orders: estimate <= truth (a lower bound) | {i['commission_at_most_truth']:.0%} (median ratio {i['commission_median_ratio']:.2f}) | |",
        f"| seeds | {i['seeds']} | >= 200 |",
    ]
    return "\n".join(lines)


def main() -> None:
    """Run the seeds in a bounded pool and print the accuracy tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=JourneySpec().users)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "attribution.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    # One process per worker, recycled never: the pool bounds memory to `workers` studies.
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_seed, seeds, [args.users] * len(seeds)))
    models, iroas = score_models(results), score_iroas(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"models": models, "iroas": iroas, "users": args.users}, indent=2) + "\n"
    )
    print(report(models, iroas))
    print(f"\n{args.seeds} seeds, {args.users:,} users each, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
