"""learning_rate="auto" against hand-tuned rates: steps to each problem's tolerance.

For every problem of ``fastopt compare`` (fastopt/problems.py) and a full-batch l1 logistic
regression on the standardized breast-cancer data (bias unpenalized, tolerance 1e-6
relative to the FISTA oracle's objective), and every method: the optimizer steps until
the gap first drops to the tolerance (compare's measurement, compare.run) with no rate
given, plus the steps of the sweep that chose the rate (``res.lr_search["nit"]``), next to
the steps with the hand rate: compare's table (HYPERPARAMS, the best of its wide grid
1e-4 .. 1) or, with ``--grid``, the best of that grid measured here.

    python bench/auto_rate.py [--problems a,b] [--methods adam,sgd] [--grid] [--seeds 1]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastopt import compare                                      # noqa: E402
from fastopt.problems import (DEFAULT_PROBLEMS, Problem, _logistic, get_problem,  # noqa: E402
                              load_breast_cancer, logistic_l1_oracle)

LAM = 0.01


def logreg_full():
    """l1 logistic regression on all 569 rows at once (full batch), as a data scientist
    would fit it; tolerance 1e-6 relative to the oracle's objective."""
    X, y = load_breast_cancer()
    f_opt = logistic_l1_oracle(LAM, iters=5000)[1]
    return Problem("logreg-l1-full", _logistic, x0=np.zeros(X.shape[1] + 1), f_opt=f_opt,
                   args=(X, y.astype(np.float64)), tol=1e-6 * f_opt, floor=1e-12,
                   budget=20000, l1=np.append(np.full(X.shape[1], LAM), 0.0),
                   description="l1 logistic regression, breast cancer, full batch")


def measure(p, method, seeds, lr=None):
    """Median steps to tol (None: never) and final gap over seeds; with lr None, the auto
    rate (its sweep's steps counted) and the rate it chose."""
    steps, gaps, rates, sweeps = [], [], [], []
    for seed in seeds:
        kw = {} if lr is None else {"learning_rate": lr}
        r = compare.run(p, method, seed=seed, **kw)
        search = r.get("lr_search")
        sweep = search["nit"] if search else 0
        steps.append(None if r["steps_to_tol"] is None else r["steps_to_tol"] + sweep)
        gaps.append(r["final_gap"])
        rates.append(search["learning_rate"] if search else lr)
        sweeps.append(sweep)
    return (compare._median(steps), float(np.median(gaps)), float(np.median(rates)),
            int(np.median(sweeps)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(DEFAULT_PROBLEMS + ["logreg-l1-full"]))
    ap.add_argument("--methods", default=",".join(compare.METHODS))
    ap.add_argument("--grid", action="store_true", help="re-tune the hand rate on the grid")
    ap.add_argument("--seeds", type=int, default=1, help="seeds of minibatch problems")
    a = ap.parse_args(argv)
    seeds = range(a.seeds)
    print(f"{'problem':16s} {'method':9s} {'auto':>7s} {'sweep':>5s} {'auto lr':>8s} "
          f"{'gap':>8s} | {'hand':>7s} {'hand lr':>8s} {'gap':>8s} | ratio")
    for name in a.problems.split(","):
        p = logreg_full() if name == "logreg-l1-full" else get_problem(name)
        for m in a.methods.split(","):
            t = time.perf_counter()
            if a.grid:
                lr, trials = compare.tune(p, m, compare.WIDE_GRID, seeds)
            else:
                lr = compare.learning_rate(name, m) if name != "logreg-l1-full" else None
                if lr is None:
                    lr, trials = compare.tune(p, m, compare.WIDE_GRID, seeds)
            hand, hand_gap, _, _ = measure(p, m, seeds, lr)
            auto, auto_gap, auto_lr, sweep = measure(p, m, seeds)
            ratio = (f"{auto / max(hand, 1):.2f}" if auto is not None and hand is not None
                     else "-")

            def fmt(v):
                return "never" if v is None else f"{v:.0f}"
            print(f"{name:16s} {m:9s} {fmt(auto):>7s} {sweep:5d} {auto_lr:8.2g} "
                  f"{auto_gap:8.1e} | {fmt(hand):>7s} {lr:8.2g} {hand_gap:8.1e} | {ratio}"
                  f"  ({time.perf_counter() - t:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
