"""minimize's default learning_rate="auto" (a sweep from x0, then the run), the maxiter
message, and the polish of minibatch l1 runs, against independent references (scipy's
L-BFGS-B, scikit-learn's liblinear)."""

import numpy as np
import pytest
import scipy.optimize as so
from sklearn.linear_model import LogisticRegression

import fastopt
from fastopt import compare
from fastopt.problems import _logistic, get_problem, load_breast_cancer

X, Y = load_breast_cancer()
Y = Y.astype(np.float64)
LAM = 0.01
L1 = np.append(np.full(X.shape[1], LAM), 0.0)        # the intercept is not penalized


def lbfgsb_reference():
    """min mean log-loss + LAM |w|_1 with w = p - q, p, q >= 0 (a smooth problem with
    bounds) by L-BFGS-B; returns the objective's value."""
    d = X.shape[1]

    def split(z):
        w = z[:d] - z[d:2 * d]
        f, g = _logistic(np.append(w, z[-1]), X, Y)
        return (f + LAM * np.sum(z[:2 * d]),
                np.concatenate([g[:d] + LAM, -g[:d] + LAM, g[-1:]]))
    res = so.minimize(split, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B",
                      bounds=[(0, None)] * (2 * d) + [(None, None)],
                      options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 20000})
    return res.fun


@pytest.mark.parametrize("name, kw", [
    ("bowl-100", {}), ("bowl-1e4", {}), ("rosen-2", {}), ("rosen-100", {"dim": 10}),
    ("logreg-l1", {"budget": 30}), ("digits-mlp", {}),
])
def test_auto_reaches_every_compare_problems_tolerance(name, kw):
    p = get_problem(name, **kw)
    run = compare.run(p, "adam")                    # no learning_rate: "auto"
    assert run["steps_to_tol"] is not None, run["message"]
    assert run["lr_search"]["nit"] <= 101


@pytest.mark.parametrize("method", compare.METHODS)
def test_every_method_reaches_the_bowls_tolerance_with_the_searched_rate(method):
    run = compare.run(get_problem("bowl-100", dim=6), method)
    assert run["steps_to_tol"] is not None, run["message"]
    assert run["lr_search"]["restarts"] == 0


@pytest.mark.parametrize("method", ["momentum", "nesterov"])
def test_a_diverging_searched_rate_restarts_from_x0_at_half_the_rate(method):
    # the momentum methods' rate (the divergence rate / 4) is too large for Rosenbrock's
    # valley: the run diverges, is abandoned and starts again at half the rate
    run = compare.run(get_problem("rosen-2", tol=1e-4), method, budget=3000)
    search = run["lr_search"]
    assert run["steps_to_tol"] is not None, run["message"]
    assert search["restarts"] >= 1 and search["stop_reason"] == "diverged"
    # the sweep and the abandoned runs: each evaluates its start once more than it steps
    assert search["nfev"] == search["nit"] + 1 + search["restarts"]


def test_auto_solves_l1_logistic_regression_to_the_reference():
    ref = lbfgsb_reference()
    res = fastopt.minimize(_logistic, np.zeros(X.shape[1] + 1), args=(X, Y), jac=True,
                           options={"l1": L1})
    assert res.success, res.message
    assert abs(res.fun - ref) <= 1e-6 * abs(ref)


def test_the_sweep_is_reported_apart_and_the_run_is_the_run_at_its_rate():
    opts = {"l1": L1, "maxiter": 300}
    auto = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True, options=opts)
    search = auto.lr_search
    assert set(search) == {"learning_rate", "nit", "nfev", "njev", "stop_reason", "restarts"}
    assert 0 < search["nit"] <= 100 and search["nfev"] == search["njev"] == search["nit"] + 1
    assert auto.opt_state["learning_rate"] == search["learning_rate"]
    given = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                             options=dict(opts, learning_rate=search["learning_rate"]))
    assert "lr_search" not in given
    assert (given.nit, given.nfev, given.njev) == (auto.nit, auto.nfev, auto.njev)
    np.testing.assert_array_equal(given.x, auto.x)
    explicit = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                                options=dict(opts, learning_rate="auto"))
    assert explicit.lr_search == search


def bowl(x):
    c = np.logspace(0, 2, x.size)
    return 0.5 * float(c @ (x * x))


@pytest.mark.parametrize("jac", [None, "3-point"])
def test_auto_with_finite_differences_and_bounds(jac):
    res = fastopt.minimize(bowl, np.ones(6), jac=jac, bounds=[(0.5, 2.0)] + [(-2, 2)] * 5)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, 0, 0, 0, 0, 0], atol=1e-4)
    assert res.lr_search["nfev"] > res.lr_search["nit"] * 6      # differences in the sweep


def test_auto_through_scipy_and_with_minibatches():
    res = so.minimize(lambda x: (bowl(x), np.logspace(0, 2, x.size) * x), np.ones(5),
                      jac=True, method=fastopt.momentum)
    assert res.success and res.lr_search["stop_reason"] == "diverged"
    mb = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                          options={"batch_size": 64, "epochs": 2, "seed": 0, "l1": L1})
    assert mb.lr_search["nit"] == 101 and mb.nit == 2 * (len(Y) // 64)   # the run's steps


def test_no_sweep_when_resuming_or_taking_no_step():
    first = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                             options={"maxiter": 20})
    again = fastopt.minimize(_logistic, first.x, args=(X, Y), jac=True,
                             options={"maxiter": 20, "opt_state": first.opt_state})
    assert "lr_search" not in again
    assert again.opt_state["learning_rate"] == first.lr_search["learning_rate"]
    none = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                            options={"maxiter": 0})
    assert "lr_search" not in none and none.nfev == 1


def test_maxiter_message_says_how_far_from_gtol():
    res = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                           options={"maxiter": 5, "learning_rate": 1e-3})
    gmax = np.max(np.abs(res.jac))
    assert res.status == 1
    assert res.message == ("Maximum number of iterations has been exceeded; gradient norm "
                           f"{gmax:.2g} > gtol 1e-05.")
    res = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                           options={"maxiter": 5, "learning_rate": 1e-3, "l1": L1})
    assert "; projected gradient norm " in res.message and "> gtol 1e-05." in res.message


def support(x):
    return np.flatnonzero(x[:-1])


def test_polish_gives_the_full_batch_support():
    full = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                            options={"l1": L1, "gtol": 1e-9, "maxiter": 20000})
    assert full.success
    opts = {"l1": L1, "batch_size": 32, "epochs": 10, "seed": 0}
    rough = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                             options=dict(opts, polish=False))
    assert "polish" not in rough and len(support(rough.x)) > len(support(full.x))
    res = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True, options=opts)
    np.testing.assert_array_equal(support(res.x), support(full.x))
    assert res.polish["success"] and 0 < res.polish["nit"] <= 1000
    assert res.polish["stationarity"] <= 1e-5
    assert res.fun == pytest.approx(_logistic(res.x, X, Y)[0] + L1 @ np.abs(res.x),
                                    rel=1e-12)
    assert res.fun == pytest.approx(full.fun, rel=1e-6)
    assert res.nfev == res.nit + res.polish["nfev"]          # (the sweep apart)
    sk = LogisticRegression(l1_ratio=1.0, C=1 / (LAM * len(Y)), solver="liblinear",
                            intercept_scaling=1e4, tol=1e-10, max_iter=10000).fit(X, Y)
    np.testing.assert_array_equal(support(res.x), np.flatnonzero(sk.coef_[0]))


def test_polish_is_ignored_without_l1_or_minibatches():
    res = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                           options={"batch_size": 64, "epochs": 1})
    assert "polish" not in res
    res = fastopt.minimize(_logistic, np.zeros(31), args=(X, Y), jac=True,
                           options={"l1": L1, "polish": True, "maxiter": 10})
    assert "polish" not in res


def test_a_failing_polish_returns_the_last_minibatch_point():
    def fun(x, X, y):
        if len(y) == len(Y):                        # the full batch: not finite
            return np.nan, np.full_like(x, np.nan)
        return _logistic(x, X, y)
    opts = {"l1": L1, "batch_size": 64, "epochs": 2, "seed": 0, "learning_rate": 0.01}
    res = fastopt.minimize(fun, np.zeros(31), args=(X, Y), jac=True, options=opts)
    rough = fastopt.minimize(fun, np.zeros(31), args=(X, Y), jac=True,
                             options=dict(opts, polish=False))
    assert res.polish["nit"] == 0 and res.polish["nfev"] == 1 and not res.polish["success"]
    np.testing.assert_array_equal(res.x, rough.x)
    assert res.fun == rough.fun and res.status == 0
