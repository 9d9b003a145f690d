"""The built-in problems: gradients, optima, data files, registry."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import check_grad

import fastopt
from fastopt import problems as P

# the small problems, built once per module (the data sets are small)
SMALL = {name: P.get_problem(name) for name in P.PROBLEMS if name != "sparse-regression"}
SMALL["sparse-regression"] = P.get_problem("sparse-regression", n_features=300,
                                           nnz_per_row=5)

# check_grad returns || forward-difference gradient - gradient ||_2; with scipy's step
# (sqrt(machine eps) ~ 1.5e-8) the error is ~1e-8 * curvature, so we require
# error <= GRAD_RTOL * max(1, ||gradient||_2).
GRAD_RTOL = 1e-5


def _points(p, k=2, seed=0):
    rng = np.random.default_rng(seed)
    scale = 0.5 if p.x0.size < 1000 else 0.05
    return [p.x0] + [p.x0 + scale * rng.standard_normal(p.x0.size) for _ in range(k)]


def _check(p, x, args, direction="all", seed=0):
    f = lambda z, *a: p.fun(z, *a)[0]          # noqa: E731
    g = lambda z, *a: p.fun(z, *a)[1]          # noqa: E731
    kw = {"direction": "random", "seed": seed} if direction == "random" else {}
    err = check_grad(f, g, x, *args, **kw)
    gnorm = np.linalg.norm(g(x, *args))
    assert err <= GRAD_RTOL * max(1.0, gnorm), (p.name, err, gnorm)


@pytest.mark.parametrize("name", ["bowl-100", "bowl-1e4", "bowl-2d", "rosen-2", "rosen-100",
                                  "logreg-l1", "sparse-regression"])
def test_gradient_full_check(name):
    p = SMALL[name]
    for x in _points(p):
        _check(p, x, p.args)


def test_gradient_mlp():
    # every coordinate on a narrow net and a few rows; random directions on the real size
    small = P.get_problem("digits-mlp", hidden=6)
    X, y = small.args
    for x in _points(small):
        _check(small, x, (X[:40], y[:40]))
    p = SMALL["digits-mlp"]
    for i, x in enumerate(_points(p)):
        _check(p, x, p.args, direction="random", seed=i)


def test_mlp_loss_matches_fun():
    p = SMALL["digits-mlp"]
    x = _points(p)[1]
    assert p.fun_value(x, *p.args) == pytest.approx(p.fun(x, *p.args)[0], rel=1e-12)
    assert 0.0 <= p.metric(x) <= 1.0


@pytest.mark.parametrize("name,x_opt", [
    ("bowl-100", lambda p: np.zeros_like(p.x0)),
    ("bowl-1e4", lambda p: np.zeros_like(p.x0)),
    ("bowl-2d", lambda p: np.zeros_like(p.x0)),
    ("rosen-2", lambda p: np.ones_like(p.x0)),
    ("rosen-100", lambda p: np.ones_like(p.x0)),
    ("sparse-regression", lambda p: p.extra["w_star"]),
])
def test_value_at_known_optimum(name, x_opt):
    p = SMALL[name]
    x = x_opt(p)
    f, g = p.fun(x, *p.args)
    assert f == pytest.approx(p.f_opt, abs=1e-20)
    assert np.abs(g).max() <= 1e-12
    assert p.value(p.x0) > p.f_opt


def test_logistic_oracle_value_and_optimality():
    """The stored oracle value is what the FISTA oracle computes, and that point satisfies
    the l1 optimality conditions: grad_i + lam_i sign(x_i) = 0 where x_i != 0, and
    |grad_i| <= lam_i where x_i == 0 (lam = 0 for the bias)."""
    p = SMALL["logreg-l1"]
    x, f = P.logistic_l1_oracle(0.01)
    assert f == pytest.approx(p.f_opt, rel=1e-12, abs=0)
    assert p.value(x) == pytest.approx(f, rel=1e-13)
    _, g = p.fun(x, *p.args)
    lam = np.asarray(p.l1)
    nz = x != 0
    residual = np.concatenate([g[nz] + lam[nz] * np.sign(x[nz]),
                               np.maximum(np.abs(g[~nz]) - lam[~nz], 0.0)])
    assert np.abs(residual).max() < 1e-7
    assert 0 < np.count_nonzero(x[:-1]) < 30        # the l1 term makes it sparse


def test_logistic_runs_with_l1_option_and_gives_exact_zeros():
    p = SMALL["logreg-l1"]
    res = fastopt.minimize(p.fun, p.x0, method="adam", jac=True,
                           **p.minimize_kwargs(learning_rate=0.05, epochs=5, seed=0))
    assert res.nnz < p.x0.size
    assert p.gap(p.value(res.x)) < 0.05
    assert p.gap(p.value(res.x)) >= -1e-9          # nobody beats the oracle


def test_breast_cancer_data():
    X, y = P.load_breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float64
    assert y.shape == (569,) and y.dtype == np.uint8
    assert np.bincount(y).tolist() == [212, 357]
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1, rtol=1e-12)
    raw, _ = P.load_breast_cancer(standardize=False)
    assert raw.min() >= 0


def test_digits_data():
    X, y = P.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.uint8
    assert y.shape == (1797,) and y.dtype == np.uint8
    assert X.max() == 16 and set(np.unique(y)) == set(range(10))
    p = SMALL["digits-mlp"]
    Xtr, ytr = p.args
    Xte, yte = p.extra["test"]
    assert len(ytr) + len(yte) == 1797 and len(yte) == 449
    assert Xtr.shape[1] == 64 and Xtr.max() == 1.0


def test_data_matches_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = P.load_breast_cancer(standardize=False)
    bc = datasets.load_breast_cancer()
    np.testing.assert_array_equal(X, bc.data)
    np.testing.assert_array_equal(y, bc.target)
    X, y = P.load_digits()
    dg = datasets.load_digits()
    np.testing.assert_array_equal(X, dg.data)
    np.testing.assert_array_equal(y, dg.target)


def test_data_loads_with_numpy_only():
    code = ("import sys, fastopt.problems as p; p.load_digits(); p.load_breast_cancer(); "
            "p.get_problem('digits-mlp'); assert 'sklearn' not in sys.modules; "
            "assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_registry_default_set_and_unknown_name():
    assert P.DEFAULT_PROBLEMS == ["bowl-100", "bowl-1e4", "rosen-2", "rosen-100",
                                  "logreg-l1", "digits-mlp"]
    with pytest.raises(KeyError, match="unknown problem 'nope'; choose from bowl-100"):
        P.get_problem("nope")


def test_adding_a_problem(monkeypatch):
    monkeypatch.setattr(P, "PROBLEMS", dict(P.PROBLEMS))

    def sphere(name="sphere", dim=5):
        return P.Problem(name, lambda x: (0.5 * x @ x, x.copy()), x0=np.ones(dim),
                         f_opt=0.0, tol=1e-10, budget=200, description="0.5 ||x||^2")

    P.register("sphere", sphere, default=False, dim=3)
    p = P.get_problem("sphere")
    assert p.x0.shape == (3,) and not p.default
    res = fastopt.minimize(p.fun, p.x0, method="momentum", jac=True,
                           **p.minimize_kwargs(learning_rate=0.1))
    assert p.gap(p.value(res.x)) < 1e-10


def test_problem_validation():
    with pytest.raises(ValueError, match="needs a batch_size"):
        P.Problem("x", None, np.zeros(1), 0.0, kind="stochastic")
    with pytest.raises(ValueError, match="kind must be"):
        P.Problem("x", None, np.zeros(1), 0.0, kind="online")


def test_sparse_regression_scales_and_minibatches():
    p = P.get_problem("sparse-regression", n_features=1000, scale=0.5, batch_size=50,
                      budget=3)
    X, y = p.args
    assert X.format == "csr" and X.shape == (1000, 500)
    assert p.steps_per_epoch == 20
    res = fastopt.minimize(p.fun, p.x0, method="adam", jac=True,
                           **p.minimize_kwargs(learning_rate=5e-4, seed=0))
    assert res.nit == 60 and p.value(res.x) < p.value(p.x0)
