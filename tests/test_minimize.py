"""minimize() and the scipy custom-method callables: scipy's minimize contract, method by
method, plus fastopt's own guarantees (nothing lost, exact resume, minibatches)."""

import inspect
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp
from scipy.optimize import rosen, rosen_der

import fastopt
from fastopt._minimize import METHODS

METHOD_NAMES = list(METHODS)
LAM = np.logspace(0, 2, 10)          # the book's elongated bowl: condition number 100


def bowl(x):
    return 0.5 * np.sum(LAM * x * x), LAM * x


# documented hyperparameters (docs/user_guide/minimize.md, "Learning rates that work") and
# tolerances
BOWL_LR = {"sgd": 0.015, "momentum": 0.005, "nesterov": 0.005, "adagrad": 0.5,
           "rmsprop": 1e-3, "adam": 0.01, "amsgrad": 0.01, "adamax": 0.01, "nadam": 0.005}
ROSEN = {"sgd": {"learning_rate": 1e-3, "clipnorm": 1.0},
         "momentum": {"learning_rate": 1e-4}, "nesterov": {"learning_rate": 1e-4},
         "adagrad": {"learning_rate": 0.5}, "rmsprop": {"learning_rate": 2e-4},
         "adam": {"learning_rate": 0.01}, "amsgrad": {"learning_rate": 0.01},
         "adamax": {"learning_rate": 0.01}, "nadam": {"learning_rate": 1e-3}}


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_elongated_bowl(method):
    res = fastopt.minimize(bowl, np.ones(10), method=method, jac=True,
                           options={"learning_rate": BOWL_LR[method], "maxiter": 20000,
                                    "gtol": 1e-6})
    assert res.success and res.status == 0
    assert np.max(np.abs(res.x)) < 1e-5


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_rosenbrock(method):
    res = fastopt.minimize(rosen, [-1.2, 1.0], method=method, jac=rosen_der,
                           options=dict(ROSEN[method], maxiter=50000, gtol=1e-6))
    assert np.max(np.abs(res.x - 1)) < 1e-3


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_result_attributes_and_scipy_custom_method(method):
    opts = {"learning_rate": BOWL_LR[method], "maxiter": 50, "gtol": 0.0}
    ours = fastopt.minimize(bowl, np.ones(10), method=method.upper(), jac=True, options=opts)
    theirs = so.minimize(bowl, np.ones(10), method=getattr(fastopt, method), jac=True,
                         options=opts)
    for res in (ours, theirs):
        for attr in ("x", "fun", "jac", "nit", "nfev", "njev", "status", "success",
                     "message", "opt_state"):
            assert attr in res, attr
        assert isinstance(res.message, str) and isinstance(res.fun, float)
        assert res.nit == 50 and res.status == 1
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.fun == bowl(ours.x)[0]


def test_scipy_jac_forms_and_raw_bounds_and_callback():
    seen = []
    res = so.minimize(rosen, [-1.2, 1.0], method=fastopt.adam, jac=rosen_der,
                      bounds=[(None, 0.5), (0.0, None)], callback=seen.append,
                      options={"learning_rate": 0.01, "maxiter": 300})
    assert res.x[0] <= 0.5 and len(seen) == res.nit
    assert all(s[0] <= 0.5 and s[1] >= 0.0 for s in seen)
    res2 = so.minimize(lambda x: (rosen(x), rosen_der(x)), [-1.2, 1.0], method=fastopt.adam,
                       jac=True, options={"learning_rate": 0.01, "maxiter": 300})
    assert res2.nfev == res2.njev == 301       # MemoizeJac: one call per point
    with pytest.raises(ValueError, match="handles bounds only"):
        so.minimize(rosen, [0.0, 0.0], method=fastopt.adam, constraints=[{"type": "eq",
                    "fun": lambda x: x[0]}])


def test_basinhopping():
    res = so.basinhopping(lambda x: (np.sum((x - 2) ** 2), 2 * (x - 2)), [0.0, 0.0],
                          niter=3, seed=0,
                          minimizer_kwargs={"method": fastopt.adam, "jac": True,
                                            "options": {"learning_rate": 0.1}})
    np.testing.assert_allclose(res.x, [2, 2], atol=1e-4)


def test_finite_differences_count_in_nfev():
    f = lambda x: np.sum((x - 3.0) ** 2)   # noqa: E731
    r2 = fastopt.minimize(f, np.zeros(4), method="adam", options={"learning_rate": 0.1,
                                                                  "maxiter": 5})
    assert r2.nfev == 6 * (1 + 4) and r2.njev == 6
    r3 = fastopt.minimize(f, np.zeros(4), method="adam", jac="3-point",
                          options={"learning_rate": 0.1, "maxiter": 5})
    assert r3.nfev == 6 * (1 + 8)
    exact = fastopt.minimize(lambda x: (f(x), 2 * (x - 3)), np.zeros(4), method="adam",
                             jac=True, options={"learning_rate": 0.1, "maxiter": 5})
    np.testing.assert_allclose(r3.x, exact.x, rtol=1e-6)
    with pytest.raises(ValueError, match="Invalid jac"):
        fastopt.minimize(f, np.zeros(4), jac="4-point")


def test_unknown_method_and_options():
    with pytest.raises(ValueError, match=r"Unknown solver 'bfgs'.*sgd, momentum"):
        fastopt.minimize(rosen, [0.0, 0.0], method="bfgs")
    with pytest.warns(so.OptimizeWarning, match="Unknown solver options: bogus"):
        fastopt.minimize(bowl, np.ones(10), jac=True, options={"bogus": 1, "maxiter": 2})


def test_show_options_lists_every_option():
    text = fastopt.show_options("nadam", disp=False)
    for name in ("momentum_decay", "beta_1", "l1", "clipnorm", "maxiter", "batch_size",
                 "opt_state"):
        assert name in text


@pytest.mark.parametrize("method", ["adam", "momentum"])
def test_maxiter_exact_and_resume_bit_identical(method):
    opts = {"learning_rate": 0.01, "maxiter": 37}
    lr = 1e-4 if method == "momentum" else 0.01
    once = fastopt.minimize(rosen, [-1.2, 1.0], method=method, jac=rosen_der,
                            options=dict(opts, maxiter=74, learning_rate=lr))
    first = fastopt.minimize(rosen, [-1.2, 1.0], method=method, jac=rosen_der,
                             options=dict(opts, learning_rate=lr))
    assert first.nit == 37 and first.status == 1
    second = fastopt.minimize(rosen, first.x, method=method, jac=rosen_der,
                              options=dict(opts, learning_rate=lr, opt_state=first.opt_state))
    np.testing.assert_array_equal(second.x, once.x)
    assert second.fun == once.fun


def test_tol_sets_gtol():
    loose = fastopt.minimize(bowl, np.ones(10), jac=True, tol=1e-1,
                             options={"learning_rate": 0.01})
    tight = fastopt.minimize(bowl, np.ones(10), jac=True, tol=1e-7,
                             options={"learning_rate": 0.01})
    assert loose.success and tight.success and loose.nit < tight.nit
    assert np.max(np.abs(loose.jac)) <= 1e-1 and np.max(np.abs(tight.jac)) <= 1e-7


@pytest.mark.parametrize("style", ["x", "intermediate_result", "stop_in_x"])
def test_callbacks_get_copies_and_stop_iteration(style):
    seen = []

    def cb_x(xk):
        seen.append(xk)
        xk[:] = 1e9                 # must not corrupt the run
        if len(seen) == 5:
            raise StopIteration

    def cb_res(intermediate_result):
        seen.append(intermediate_result.x)
        assert set(intermediate_result) >= {"x", "fun", "nit", "jac"}
        if intermediate_result.nit == 5:
            raise StopIteration

    cb = cb_res if style == "intermediate_result" else cb_x
    res = fastopt.minimize(bowl, np.ones(10), jac=True, callback=cb,
                           options={"learning_rate": 0.01})
    ref = fastopt.minimize(bowl, np.ones(10), jac=True, options={"learning_rate": 0.01,
                                                                 "maxiter": 5})
    assert res.status == 99 and not res.success
    assert res.message == "`callback` raised `StopIteration`."
    np.testing.assert_array_equal(res.x, ref.x)
    assert len(seen) == 5
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.shares_memory(seen[i], seen[j])
        assert not np.shares_memory(seen[i], res.x)


def test_scipy_callback_styles_through_scipy():
    hits = []
    so.minimize(bowl, np.ones(10), jac=True, method=fastopt.adam,
                callback=lambda intermediate_result: hits.append(intermediate_result.fun),
                options={"maxiter": 3, "learning_rate": 1e-3})      # (not converged by then)
    assert len(hits) == 3 and all(isinstance(h, float) for h in hits)


def test_nan_on_first_call():
    res = fastopt.minimize(lambda x: (np.nan, x), np.ones(3), jac=True)
    assert res.status == 3 and not res.success and res.message == "NaN result encountered."
    np.testing.assert_array_equal(res.x, np.ones(3))


def test_nan_on_kth_call_returns_last_good_point():
    calls = []

    def f(x):
        calls.append(x.copy())
        if len(calls) == 8:
            return np.inf, x
        return bowl(x)

    res = fastopt.minimize(f, np.ones(10), jac=True, options={"learning_rate": 0.01})
    # x, fun, nit and opt_state all describe the last good point, iterate 6 (calls[6])
    assert res.status == 3 and res.nit == 6 and res.opt_state["step"] == 6
    np.testing.assert_array_equal(res.x, calls[6])
    assert res.fun == bowl(calls[6])[0]


def test_nan_policy_skip_with_max_skips():
    n = [0]

    def f(x):
        n[0] += 1
        if n[0] % 3 == 0:
            return np.nan, x
        return bowl(x)

    res = fastopt.minimize(f, np.ones(10), jac=True,
                           options={"learning_rate": 0.01, "nan_policy": "skip",
                                    "max_skips": 1000, "maxiter": 50})
    assert res.status == 1 and np.all(np.isfinite(res.x))
    res = fastopt.minimize(f, np.ones(10), jac=True,
                           options={"learning_rate": 0.01, "nan_policy": "skip",
                                    "max_skips": 2})
    assert res.status == 7


def test_keyboard_interrupt_returns_last_good_point():
    def f(x):
        if f.calls == 10:
            raise KeyboardInterrupt
        f.calls += 1
        return bowl(x)
    f.calls = 0
    res = fastopt.minimize(f, np.ones(10), jac=True, options={"learning_rate": 0.01})
    assert res.status == 6 and "KeyboardInterrupt" in res.message
    # ten good points, x_0 .. x_9: the last one is returned with its own nit and state
    assert res.nit == 9 and res.opt_state["step"] == 9 and res.fun == bowl(res.x)[0]


def test_wrong_gradient_with_return_best_never_worse_than_x0():
    wrong = lambda x: (np.sum(x ** 2), -2 * x)         # noqa: E731  (ascent direction)
    x0 = np.full(5, 0.5)
    res = fastopt.minimize(wrong, x0, jac=True, options={"return_best": True,
                                                         "learning_rate": 0.1,
                                                         "maxiter": 50})
    assert res.fun <= np.sum(x0 ** 2)
    np.testing.assert_array_equal(res.x, x0)


def test_x_mutating_fun_does_not_corrupt_the_run():
    def f(x):
        value = bowl(x)
        x[:] = 123.0
        return value
    a = fastopt.minimize(f, np.ones(10), jac=True, options={"maxiter": 30})
    b = fastopt.minimize(bowl, np.ones(10), jac=True, options={"maxiter": 30})
    np.testing.assert_array_equal(a.x, b.x)


def test_x0_rules():
    with pytest.raises(ValueError, match=r"'x0' must only have one dimension."):
        fastopt.minimize(bowl, np.ones((2, 5)), jac=True)
    res = fastopt.minimize(lambda x: (float(x[0] ** 2), 2 * x), 3, jac=True,
                           options={"maxiter": 2})
    assert res.x.shape == (1,) and res.x.dtype == np.float64
    res = fastopt.minimize(lambda x: (np.sum(x ** 2), 2 * x), np.array([1, 2]), jac=True,
                           options={"maxiter": 2})
    assert res.x.dtype == np.float64
    x0 = np.ones(10)
    fastopt.minimize(bowl, x0, jac=True, options={"maxiter": 3})
    np.testing.assert_array_equal(x0, 1.0)          # x0 is never modified
    with pytest.raises(ValueError, match="must return a scalar value"):
        fastopt.minimize(lambda x: (x, x), np.ones(3), jac=True)


def test_float32_kept_in_every_call():
    dtypes = set()

    def f(x):
        dtypes.add(x.dtype)
        return float(np.sum(x * x)), 2 * x
    res = fastopt.minimize(f, np.ones(4, np.float32), jac=True, options={"maxiter": 10})
    assert dtypes == {np.dtype(np.float32)} and res.x.dtype == np.float32


def test_bounds_respected_at_every_iterate():
    seen = []
    lo, hi = np.full(10, 0.2), np.full(10, 2.0)
    res = fastopt.minimize(bowl, np.ones(10), jac=True, bounds=so.Bounds(lo, hi),
                           callback=seen.append, options={"learning_rate": 0.05})
    assert all(np.all((s >= lo) & (s <= hi)) for s in seen)
    np.testing.assert_allclose(res.x, 0.2)
    with pytest.raises(ValueError, match="upper bound is less than"):
        fastopt.minimize(bowl, np.ones(10), jac=True, bounds=so.Bounds(hi, lo))


def logistic(w, X, y):
    z = X @ w
    p = 1 / (1 + np.exp(-z))
    eps = 1e-12
    loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    return loss, np.asarray(X.T @ (p - y)).ravel() / X.shape[0]


def make_classification(n=400, d=8, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = np.zeros(d)
    w[:3] = [2.0, -1.5, 1.0]
    y = (X @ w + 0.3 * rng.standard_normal(n) > 0).astype(float)
    return (sp.csr_matrix(X) if sparse else X), y


@pytest.mark.parametrize("sparse", [False, True])
def test_minibatches_are_reproducible_with_a_seed(sparse):
    X, y = make_classification(sparse=sparse)
    opts = {"batch_size": 32, "epochs": 5, "seed": 7, "learning_rate": 0.05}
    a = fastopt.minimize(logistic, np.zeros(8), args=(X, y), jac=True, options=opts)
    b = fastopt.minimize(logistic, np.zeros(8), args=(X, y), jac=True, options=opts)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nepochs == 5 and a.nit == 5 * (400 // 32) and a.status == 0
    c = fastopt.minimize(logistic, np.zeros(8), args=(X, y), jac=True,
                         options=dict(opts, seed=8))
    assert not np.array_equal(a.x, c.x)
    # training made progress: the full-data loss at least halved from log(2)
    assert logistic(a.x, X, y)[0] < 0.5 * logistic(np.zeros(8), X, y)[0]


def test_minibatch_sparse_equals_dense():
    X, y = make_classification()
    opts = {"batch_size": 50, "epochs": 2, "seed": 1}
    a = fastopt.minimize(logistic, np.zeros(8), args=(X, y), jac=True, options=opts)
    b = fastopt.minimize(logistic, np.zeros(8), args=(sp.csr_matrix(X), y), jac=True,
                         options=opts)
    np.testing.assert_allclose(a.x, b.x, rtol=1e-12)


def test_l1_reports_sparsity():
    X, y = make_classification(d=20)
    res = fastopt.minimize(logistic, np.zeros(20), args=(X, y), jac=True, method="adam",
                           options={"l1": 0.05, "learning_rate": 0.05, "maxiter": 2000})
    assert res.nnz == np.count_nonzero(res.x) and 0 < res.nnz < 20
    assert res.sparsity == pytest.approx(1 - res.nnz / 20)


def test_disp_prints_progress(capsys):
    fastopt.minimize(bowl, np.ones(10), jac=True,
                     options={"disp": True, "disp_every": 10, "maxiter": 30,
                              "learning_rate": 1e-3})             # (not converged by then)
    out = capsys.readouterr().out
    assert out.count("iter ") == 3 and "Maximum number of iterations" in out


def test_every_method_callable_has_the_scipy_signature():
    for name in METHOD_NAMES:
        params = inspect.signature(getattr(fastopt, name)).parameters
        for p in ("args", "jac", "hess", "hessp", "bounds", "constraints", "callback"):
            assert p in params
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        so.minimize(bowl, np.ones(10), jac=True, method=fastopt.sgd, tol=1e-3)


def test_maxfev_ftol_and_max_time():
    res = fastopt.minimize(bowl, np.ones(10), jac=True,
                           options={"maxfev": 12, "learning_rate": 1e-3})
    assert res.status == 2 and res.nfev == 12 and not res.success
    assert res.message == "Maximum number of function evaluations has been exceeded."
    res = fastopt.minimize(bowl, np.ones(10), jac=True,
                           options={"ftol": 1e-3, "patience": 3, "gtol": 0.0,
                                    "learning_rate": 0.01})
    assert res.status == 0 and res.success and "ftol" in res.message
    strict = fastopt.minimize(bowl, np.ones(10), jac=True,
                              options={"ftol": 1e-3, "patience": 30, "gtol": 0.0,
                                       "learning_rate": 0.01})
    assert strict.nit > res.nit
    res = fastopt.minimize(bowl, np.ones(10), jac=True,
                           options={"max_time": 0.0, "gtol": 0.0})
    assert res.status == 5 and res.nit == 0 and "max_time" in res.message


def test_fun_includes_the_l1_penalty_and_ftol_stop_reports():
    """With l1 the reported objective is fun's value plus l1 * ||x||_1 (scalar or per
    coordinate), in the result and in callbacks; the iteration that meets ftol is reported."""
    c = np.array([1.0, 2.0, 3.0])

    def fun(x):
        return 0.5 * c @ (x - 1) ** 2, c * (x - 1)

    for l1 in (0.1, np.array([0.0, 0.1, 0.3])):
        seen = []
        res = fastopt.minimize(fun, np.zeros(3), method="sgd", jac=True,
                               callback=lambda intermediate_result: seen.append(  # noqa: B023
                                   (intermediate_result.fun, intermediate_result.x)),
                               options={"learning_rate": 0.1, "l1": l1, "ftol": 1e-12, "gtol": 0,
                                        "maxiter": 10_000})
        assert res.status == 0 and "ftol" in res.message
        assert res.fun == pytest.approx(fun(res.x)[0] + np.sum(l1 * np.abs(res.x)),
                                        rel=1e-15)
        f_last, x_last = seen[-1]
        np.testing.assert_array_equal(x_last, res.x)          # the final iteration too
        assert f_last == res.fun
        assert all(f == pytest.approx(fun(x)[0] + np.sum(l1 * np.abs(x)), rel=1e-15)
                   for f, x in seen)
