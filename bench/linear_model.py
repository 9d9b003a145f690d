"""fastopt.linear_model against scikit-learn's solvers: time to a 1e-4 and a 1e-6 relative
objective gap, and the support found.

Problems (the objective is scikit-learn's for every solver, computed by this script):
    cancer-l1     breast cancer (standardized), l1 logistic, C=0.1, no intercept (so that
                  liblinear, which penalizes its intercept, solves the same problem)
    cancer-l2     the same with the l2 penalty, C=1
    digits-multi  digits (standardized), multinomial logistic, l2, C=0.1, intercept
    digits-lasso  digits, Lasso regression of the digit, alpha=0.01, intercept
    sparse-l1     bench/sparse.py's synthetic CSR problem (200,000 x 100,000, density 1e-3;
                  ``--quick``: 20,000 x 10,000 at 1e-2), l1 logistic on its training rows
                  with lam = 0.3 lam_max (C = 1 / (lam n)), no intercept

Each solver is run along a ladder of tolerances (tol 1e-2 ... 1e-9; SGDClassifier: 5 ...
100 epochs), each fit timed once, until a fit reaches a 1e-6 gap; "t 1e-4" / "t 1e-6" is
the time of the first fit of the ladder within that gap of F*, the lowest objective any fit
found ("-": none did).  "nnz" and "supp" are the nonzeros of that 1e-6 fit (else the
ladder's last) and whether its support is the best fit's.  fastopt runs its default solver
with n_jobs=1 and 2, and solver="momentum" (heavy-ball, the other full-batch choice) with
n_jobs=1; BLAS is limited to one thread (scikit-learn's solvers here are single-threaded).
A solver's ladder stops early once its fits together took ``--budget`` seconds.

Usage: python bench/linear_model.py [--quick] [--problems a,b] [--budget S] [--json FILE]
"""

import argparse
import sys
import time
import warnings

import numpy as np
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

try:
    import harness                   # bench/harness.py: machine, timing, tables
    import sparse as sparse_bench
except ImportError:                  # imported as bench.linear_model
    from bench import harness
    from bench import sparse as sparse_bench

TOLS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9)
SGD_EPOCHS = (5, 20, 100)
TARGETS = (1e-4, 1e-6)


def load(name, quick):
    """(X, y, kind, params, fit_intercept) of a problem."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.preprocessing import StandardScaler
    if name.startswith("cancer"):
        X, y = load_breast_cancer(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        C, l1_ratio = (0.1, 1.0) if name == "cancer-l1" else (1.0, 0.0)
        return X, y, "logistic", {"C": C, "l1_ratio": l1_ratio}, False
    if name.startswith("digits"):
        X, y = load_digits(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        if name == "digits-multi":
            return X, y, "logistic", {"C": 0.1, "l1_ratio": 0.0}, True
        return X, y.astype(float), "lasso", {"alpha": 0.01}, True
    p = sparse_bench.QUICK_PROBLEM if quick else sparse_bench.FULL_PROBLEM
    X, y, _ = sparse_bench.make_problem(p["rows"], p["features"], p["density"])
    n = int(round((1 - sparse_bench.HOLDOUT) * p["rows"]))
    X, y = X[:n], y[:n]
    lam = sparse_bench.LAMBDA_FRACTION * float(np.abs(X.T @ (0.5 - y)).max() / n)
    return X, y, "logistic", {"C": 1.0 / (lam * n), "l1_ratio": 1.0}, False


def objective(kind, params, coef, intercept, X, y):
    """scikit-learn's objective at (coef, intercept), divided by n (and C)."""
    n = X.shape[0]
    W = np.atleast_2d(coef)
    z = np.asarray(X @ W.T) + intercept
    if kind == "lasso":
        r = y - z[:, 0]
        return r @ r / (2 * n) + params["alpha"] * np.abs(W).sum()
    if W.shape[0] == 1:
        loss = np.logaddexp(0, z[:, 0]) - (y == y.max()) * z[:, 0]
    else:
        classes = np.unique(y)
        loss = logsumexp(z, axis=1) - z[np.arange(n), np.searchsorted(classes, y)]
    rho, C = params["l1_ratio"], params["C"]
    return loss.mean() + (rho * np.abs(W).sum() + (1 - rho) / 2 * np.sum(W * W)) / (C * n)


def solvers(kind, params, fit_intercept, binary):
    """name -> (ladder of settings, make(setting) -> estimator)."""
    import sklearn.linear_model as skl
    import fastopt.linear_model as flm
    out = {}
    if kind == "lasso":
        for jobs in (1, 2):
            out[f"fastopt Lasso n_jobs={jobs}"] = (TOLS, lambda t, j=jobs: flm.Lasso(
                tol=t, max_iter=100000, n_jobs=j, fit_intercept=fit_intercept, **params))
        out["fastopt Lasso momentum"] = (TOLS, lambda t: flm.Lasso(
            tol=t, max_iter=100000, n_jobs=1, solver="momentum", fit_intercept=fit_intercept,
            **params))
        out["sklearn Lasso (cd)"] = (TOLS, lambda t: skl.Lasso(
            tol=t, max_iter=100000, fit_intercept=fit_intercept, **params))
        return out
    for jobs in (1, 2):
        out[f"fastopt n_jobs={jobs}"] = (TOLS, lambda t, j=jobs: flm.LogisticRegression(
            tol=t, max_iter=100000, n_jobs=j, fit_intercept=fit_intercept, **params))
    out["fastopt momentum n_jobs=1"] = (TOLS, lambda t: flm.LogisticRegression(
        tol=t, max_iter=100000, n_jobs=1, solver="momentum", fit_intercept=fit_intercept,
        **params))
    out["sklearn saga"] = (TOLS, lambda t: skl.LogisticRegression(
        solver="saga", tol=t, max_iter=100000, fit_intercept=fit_intercept, **params))
    if binary:
        out["sklearn liblinear"] = (TOLS, lambda t: skl.LogisticRegression(
            solver="liblinear", tol=t, max_iter=100000, fit_intercept=fit_intercept,
            **params))
    if params["l1_ratio"] == 0.0:
        out["sklearn lbfgs"] = (TOLS, lambda t: skl.LogisticRegression(
            tol=t, max_iter=100000, fit_intercept=fit_intercept, **params))
    if binary:
        penalty = "l1" if params["l1_ratio"] == 1.0 else "l2"
        out["sklearn SGDClassifier"] = (SGD_EPOCHS, lambda e: skl.SGDClassifier(
            loss="log_loss", penalty=penalty, alpha=1.0 / (params["C"] * n_rows[0]),
            max_iter=e, tol=None, fit_intercept=fit_intercept, random_state=0))
    return out


n_rows = [0]


def run_problem(name, quick, report, budget=float("inf")):
    X, y, kind, params, fit_intercept = load(name, quick)
    n_rows[0] = X.shape[0]
    binary = kind == "logistic" and np.unique(y).size == 2
    fits = {}
    for solver, (ladder, make) in solvers(kind, params, fit_intercept, binary).items():
        rows = []
        for setting in ladder:
            est = make(setting)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                est.fit(X, y)
                seconds = time.perf_counter() - start
            F = objective(kind, params, est.coef_, est.intercept_, X, y)
            rows.append({"setting": setting, "seconds": seconds, "F": F,
                         "support": np.asarray(est.coef_).ravel() != 0})
            if report:
                report(f"  {name} {solver} {setting:g}: {seconds:.3f}s F {F:.12g}")
            best_here = min(r["F"] for r in rows)
            if len(rows) >= 3 and all(abs(r["F"] - best_here) <= 1e-9 * abs(best_here)
                                      for r in rows[-2:]):
                break                               # converged: tighter fits add nothing
            if sum(r["seconds"] for r in rows) > budget:
                break
        fits[solver] = rows
    F_star = min(r["F"] for rows in fits.values() for r in rows)
    best = min((r for rows in fits.values() for r in rows), key=lambda r: r["F"])
    table = []
    for solver, rows in fits.items():
        entry = {"problem": name, "solver": solver}
        for t in TARGETS:
            hit = next((r for r in rows if (r["F"] - F_star) <= t * abs(F_star)), None)
            entry[f"t_{t:g}"] = None if hit is None else hit["seconds"]
        final = next((r for r in rows if (r["F"] - F_star) <= 1e-6 * abs(F_star)), rows[-1])
        entry["nnz"] = int(final["support"].sum())
        entry["same_support"] = bool(np.array_equal(final["support"], best["support"]))
        entry["best_gap"] = min(r["F"] for r in rows) / F_star - 1
        table.append(entry)
    return {"problem": name, "shape": list(X.shape), "F_star": F_star, "rows": table}


def format_table(results):
    lines = [f"{'problem':<14}{'solver':<27}{'t 1e-4':>9}{'t 1e-6':>9}{'nnz':>7}"
             f"{'supp':>6}{'best gap':>10}", "-" * 82]
    for res in results:
        for r in res["rows"]:
            t4, t6 = (("-" if r[f"t_{t:g}"] is None else f"{r[f't_{t:g}']:.3f}")
                      for t in TARGETS)
            lines.append(f"{r['problem']:<14}{r['solver']:<27}{t4:>9}{t6:>9}{r['nnz']:>7}"
                         f"{'yes' if r['same_support'] else 'no':>6}{r['best_gap']:>10.1e}")
    return "\n".join(lines)


PROBLEMS = ("cancer-l1", "cancer-l2", "digits-multi", "digits-lasso", "sparse-l1")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="the 20,000 x 10,000 sparse problem")
    ap.add_argument("--problems", type=harness.name_list, default=list(PROBLEMS))
    ap.add_argument("--budget", type=float, default=float("inf"),
                    help="seconds of fits after which a solver's ladder stops")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    m = harness.machine()
    print(harness.describe_cpu(m))
    print(harness.describe_software(m))
    results = []
    with threadpool_limits(1, user_api="blas"):
        for name in a.problems:
            results.append(run_problem(name, a.quick, lambda s: print(s, flush=True),
                                       a.budget))
    print(format_table(results))
    harness.write_json(a.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
