"""Per-iteration overhead of fastopt.minimize beyond the cost of ``fun``.

Compares, in one run on a 10-element quadratic with jac=True:
  * a bare Python loop that only calls fun(x) maxiter times (the floor), and
  * minimize(method=M, options={"maxiter": maxiter, "gtol": 0}) for every method,
and a bare optimizer loop (opt.step(g) with fun), reporting medians in microseconds per
iteration and the overhead beyond the bare fun loop.  Target (issue 4): under 5 us.
"""

import argparse
import statistics
import time

import numpy as np

import fastopt
from fastopt._minimize import METHODS

N = 10
LAM = np.linspace(1.0, 10.0, N)


def fun(x):
    return float(np.dot(LAM * x, x) * 0.5), LAM * x


def per_iter(run, iters, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) / iters * 1e6)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    iters = a.iters
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

    floor = per_iter(bare, iters, a.repeats)
    print(f"10-element quadratic, {iters} iterations, median of {a.repeats}")
    print(f"{'loop':<24}{'us/iter':>10}{'overhead us':>14}{'ratio':>8}")
    print(f"{'bare fun loop':<24}{floor:>10.2f}{0:>14.2f}{1:>8.2f}")
    t = per_iter(opt_loop, iters, a.repeats)
    print(f"{'Adam.step loop':<24}{t:>10.2f}{t - floor:>14.2f}{t / floor:>8.2f}")
    for m in METHODS:
        def run(m=m):
            fastopt.minimize(fun, x0, method=m, jac=True,
                             options={"maxiter": iters, "gtol": 0.0, "learning_rate": 1e-3})
        t = per_iter(run, iters, a.repeats)
        print(f"{'minimize ' + m:<24}{t:>10.2f}{t - floor:>14.2f}{t / floor:>8.2f}")


if __name__ == "__main__":
    main()
