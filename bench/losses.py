"""Loss kernels of linear models: fastopt._losses.value_and_grad against NumPy/SciPy.

One call computes sum_i w_i loss_i over the rows of X and its gradient in coef and the
intercept.  The baseline computes the same as a linear model written with NumPy and SciPy
does: z = X @ coef + b (BLAS for a dense X, scipy.sparse's CSR product for a sparse one),
the loss and the residuals r with NumPy's ufuncs (logaddexp and expit; logsumexp for
softmax), then X.T @ r and r.sum(axis=0).  Both are checked to agree before timing.

Problems (fixed seeds), each with sample weights U(0, 2) and an intercept:
  dense  20,000 x 500 N(0, 1) entries (--quick: 5,000 x 200)
  csr    bench/sparse.py's problem generator: 200,000 x 100,000 at density 1e-3, about 100
         N(0, 1) entries per row, int32 indices (--quick: 20,000 x 10,000 at 1e-2)
Losses: "logistic" (the generator's labels; Bernoulli(1/2) for the dense problem) and
"softmax" with 5 classes; float64 and float32.

Threads: 1 and 2 (num_threads); the baseline's BLAS is limited to the same count with
threadpoolctl (scipy.sparse's products run on one thread).  Timing: bench/harness.py's
interleaved rounds, medians; "x numpy" is the baseline's median over fastopt's.

Usage: python bench/losses.py [--quick] [--json FILE]
"""

import argparse
import sys

import numpy as np
from scipy.special import expit, logsumexp
from threadpoolctl import threadpool_limits

from fastopt._losses import value_and_grad

try:
    import harness                   # bench/harness.py: machine, timing, tables
    import sparse                    # bench/sparse.py: the CSR problem generator
except ImportError:                  # imported as bench.losses
    from bench import harness, sparse

SEED = 0
CLASSES = 5
DENSE, DENSE_QUICK = (20_000, 500), (5_000, 200)
CSR, CSR_QUICK = (200_000, 100_000, 1e-3), (20_000, 10_000, 1e-2)
LOSSES = ("logistic", "softmax")
THREADS = (1, 2)
COLUMNS = [("problem", 26), ("loss", 9), ("dtype", 8), ("threads", 7), ("fastopt ms", 11),
           ("numpy ms", 10), ("x numpy", 8)]


def problems(quick):
    """{name: (X float64, logistic labels)}."""
    rng = np.random.default_rng(SEED)
    n, d = DENSE_QUICK if quick else DENSE
    dense = rng.standard_normal((n, d))
    rows, features, density = CSR_QUICK if quick else CSR
    X, y, _ = sparse.make_problem(rows, features, density)
    return {f"dense {n} x {d}": (dense, (rng.random(n) < 0.5).astype(np.float64)),
            f"csr {rows} x {features} @ {density:g}": (X, y)}


def arguments(loss, X, y01, dtype, seed=SEED):
    """(X, y, sample_weight, coef, intercept) of ``dtype`` for ``loss`` (labels int64)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    k = CLASSES if loss == "softmax" else 1
    y = rng.integers(0, CLASSES, n) if loss == "softmax" else y01.astype(dtype)
    coef = (0.1 * rng.standard_normal((d, k) if k > 1 else d)).astype(dtype)
    return (X.astype(dtype), y, rng.uniform(0.0, 2.0, n).astype(dtype), coef,
            (0.1 * rng.standard_normal(k)).astype(dtype))


def numpy_value_and_grad(loss, X, y, w, coef, intercept):
    """The baseline: (value, grad_coef, grad_intercept) with NumPy and scipy.sparse."""
    Z = X @ coef + intercept
    if loss == "logistic":
        value = float(w @ (np.logaddexp(0.0, Z) - y * Z))
        R = w * (expit(Z) - y)
    else:
        lse = logsumexp(Z, axis=1)
        rows = np.arange(len(y))
        value = float(w @ (lse - Z[rows, y]))
        R = np.exp(Z - lse[:, None])
        R[rows, y] -= 1.0
        R *= w[:, None]
    return value, X.T @ R, R.sum(axis=0)


def measure(quick=False, report=None):
    """Rows of {problem, loss, dtype, threads, fastopt_ms, numpy_ms, x_numpy}."""
    plan = (5, 0.0) if quick else (11, 0.0)
    rows = []
    for name, (X0, y01) in problems(quick).items():
        for loss in LOSSES:
            for dtype in harness.DTYPES:
                X, y, w, coef, b = arguments(loss, X0, y01, dtype)
                g, gb = np.empty_like(coef), np.empty_like(b)
                value = value_and_grad(loss, X, y, w, coef, b, g, gb, num_threads=1)
                ref = numpy_value_and_grad(loss, X, y, w, coef, b)
                rtol = 1e-9 if dtype == np.float64 else 1e-3
                np.testing.assert_allclose(value, ref[0], rtol=rtol)
                np.testing.assert_allclose(g, ref[1], rtol=rtol,
                                           atol=rtol * np.abs(ref[1]).max())
                for threads in THREADS:
                    with threadpool_limits(limits=threads, user_api="blas"):
                        fns = {"fastopt": lambda t=threads: value_and_grad(
                                   loss, X, y, w, coef, b, g, gb, num_threads=t),
                               "numpy": lambda: numpy_value_and_grad(loss, X, y, w, coef, b)}
                        med = harness.median_seconds(fns, plan, warmup=1)
                    row = {"problem": name, "loss": loss, "dtype": np.dtype(dtype).name,
                           "threads": threads, "fastopt_ms": med["fastopt"] * 1e3,
                           "numpy_ms": med["numpy"] * 1e3,
                           "x_numpy": med["numpy"] / med["fastopt"]}
                    rows.append(row)
                    if report:
                        report(row)
    return rows


def header():
    return harness.table_header(COLUMNS)


def format_row(r):
    return harness.table_row([r["problem"], r["loss"], r["dtype"], str(r["threads"]),
                              harness.fmt_ms(r["fastopt_ms"]), harness.fmt_ms(r["numpy_ms"]),
                              f"{r['x_numpy']:.2f}"], COLUMNS)


LEGEND = ("value_and_grad (loss and gradient, sample weights, intercept) vs the same with "
          "NumPy/scipy.sparse;\nmedian ms per call; x numpy: numpy's time / fastopt's; the "
          "baseline's BLAS limited to the same threads")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="small problems, few rounds")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    a = ap.parse_args(argv)
    print(harness.describe_cpu(harness.machine()))
    print(LEGEND)
    print(header())
    rows = measure(a.quick, report=lambda r: print(format_row(r), flush=True))
    harness.write_json(a.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
