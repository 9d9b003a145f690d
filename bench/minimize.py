"""Per-iteration overhead of fastopt.minimize beyond the cost of ``fun``.

What is compared, in one run, on a 10-element float64 quadratic ``f = x'Lx/2`` with
``jac=True`` (fun returns the value and the gradient):

  * the baseline: a bare Python loop that only calls ``fun(x)`` ``iters`` times;
  * an ``fastopt.Adam`` object stepped by hand: ``opt.step(fun(x)[1])``;
  * ``fastopt.minimize(fun, x0, method=M, jac=True, options={"maxiter": iters, "gtol": 0})``
    for every method (full batch; gtol=0 so every run does exactly ``iters`` iterations).

The runs are interleaved (bench/harness.py's rounds, one run per batch after an untimed
one): every repeat runs the baseline, the hand loop and each method once, in turn, so that
a slow spell of the machine hits them alike.  Each reports the median over repeats of
microseconds per iteration, its overhead beyond the baseline (the same fun calls, so the
difference is what minimize adds: the optimizer's step plus the loop's own work) and its
ratio to the baseline.  Target: overhead under 5 us.

The summary splits the overhead of ``minimize adam`` into the optimizer's step (the hand
loop minus the baseline) and the loop's own work (``minimize adam`` minus the hand loop: the
copy of x handed to fun, the checks of f and the gradient, the gtol test, the copy of the
last good point, the limits).  On a shared machine the absolute times drift by 2x between
runs; the ratios of one run are what to compare, and a few runs tell the spread.

Usage: python bench/minimize.py [--iters 2000] [--repeats 7] [--methods adam,sgd]
                                [--json FILE]
"""

import argparse
import statistics

import numpy as np

import fastopt
from fastopt._minimize import METHODS

try:
    import harness                   # bench/harness.py: machine, timing, tables
except ImportError:                  # imported as bench.minimize
    from bench import harness

N = 10
LAM = np.linspace(1.0, 10.0, N)
TARGET_OVERHEAD_US = 5.0


def fun(x):
    return float(np.dot(LAM * x, x) * 0.5), LAM * x


def loops(iters, methods):
    """name -> a callable running ``iters`` iterations of that loop."""
    x0 = np.ones(N)

    def bare():
        x = x0.copy()
        for _ in range(iters):
            fun(x)

    def opt_loop():
        x = x0.copy()
        opt = fastopt.Adam(x, learning_rate=1e-3)
        for _ in range(iters):
            opt.step(fun(x)[1])

    runs = {"bare fun loop": bare, "Adam.step loop": opt_loop}
    for m in methods:
        def run(m=m):
            fastopt.minimize(fun, x0, method=m, jac=True,
                             options={"maxiter": iters, "gtol": 0.0, "learning_rate": 1e-3})
        runs["minimize " + m] = run
    return runs


def measure(iters=2000, repeats=7, methods=None):
    """Rows {"loop", "us", "overhead_us", "ratio"}: medians of interleaved repeats."""
    runs = loops(iters, list(METHODS) if methods is None else methods)
    seconds = harness.median_seconds(runs, (repeats, 0.0), warmup=1)
    us = {name: s / iters * 1e6 for name, s in seconds.items()}
    baseline = us["bare fun loop"]
    return [{"loop": name, "us": t, "overhead_us": t - baseline, "ratio": t / baseline}
            for name, t in us.items()]


def format_table(rows, iters, repeats):
    lines = [f"10-element quadratic, {iters} iterations, median of {repeats} interleaved "
             "repeats",
             f"{'loop':<24}{'us/iter':>10}{'overhead us':>14}{'ratio':>8}"]
    for r in rows:
        lines.append(f"{r['loop']:<24}{r['us']:>10.2f}{r['overhead_us']:>14.2f}"
                     f"{r['ratio']:>8.2f}")
    return "\n".join(lines)


def summary(rows):
    """The lines under the table: the overhead against the target, and what it is made of."""
    by = {r["loop"]: r for r in rows}
    mins = [r for r in rows if r["loop"].startswith("minimize")]
    worst = max(mins, key=lambda r: r["overhead_us"])
    lines = [f"TARGET minimize overhead < {TARGET_OVERHEAD_US:g} us per iteration beyond fun: "
             f"worst {worst['overhead_us']:.2f} us ({worst['loop']}, {worst['ratio']:.2f}x the "
             f"bare fun loop), median over methods "
             f"{statistics.median(r['overhead_us'] for r in mins):.2f} us  "
             f"{'PASS' if worst['overhead_us'] < TARGET_OVERHEAD_US else 'MISS'}"]
    hand, adam = by.get("Adam.step loop"), by.get("minimize adam")
    if hand and adam:
        lines.append(f"  minimize adam overhead {adam['overhead_us']:.2f} us = Adam.step "
                     f"{hand['overhead_us']:.2f} us + the loop's own work "
                     f"{adam['us'] - hand['us']:.2f} us (minimize adam - Adam.step loop)")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--methods", help="comma-separated methods (default: all)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    a = ap.parse_args(argv)
    rows = measure(a.iters, a.repeats, a.methods.split(",") if a.methods else None)
    print(format_table(rows, a.iters, a.repeats))
    print("\n".join(summary(rows)))
    harness.write_json(a.json, rows)


if __name__ == "__main__":
    main()
