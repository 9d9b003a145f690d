"""Bounded problems keep scipy's contract: an optimum on an active bound is a success,
because gtol tests the projected gradient (as L-BFGS-B does), while res.jac stays the
raw gradient."""

import numpy as np
import pytest
import scipy.optimize as so

import fastopt


def quad(x):
    return float(((x - 2.0) ** 2).sum())


def quad_grad(x):
    return 2.0 * (x - 2.0)


@pytest.mark.parametrize("entry", ["fastopt", "scipy"])
def test_optimum_on_an_active_bound_is_a_success(entry):
    kw = dict(jac=quad_grad, bounds=[(0, 1)], options={"learning_rate": 0.1})
    if entry == "fastopt":
        res = fastopt.minimize(quad, [0.5], method="adam", **kw)
    else:
        res = so.minimize(quad, [0.5], method=fastopt.adam, **kw)
    assert res.status == 0 and res.success, res.message
    assert res.x[0] == 1.0 and res.nit < 100
    np.testing.assert_array_equal(res.jac, quad_grad(res.x))      # raw, not projected


@pytest.mark.parametrize("method", ["momentum", "adam", "nadam", "rmsprop"])
def test_mixed_active_and_free_bounds_match_lbfgsb(method):
    """Some coordinates end on a bound (lower or upper), others inside the box."""
    rng = np.random.default_rng(0)
    n = 12
    A = rng.standard_normal((30, n))
    b = A @ rng.uniform(-2, 2, n)
    H = A.T @ A / len(b)
    lr = 0.5 / np.linalg.eigvalsh(H).max()

    def f(x):
        r = A @ x - b
        return float(r @ r / (2 * len(b))), A.T @ r / len(b)
    bounds = [(-1.0, 1.0)] * n
    ref = so.minimize(f, np.zeros(n), jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"gtol": 1e-12, "ftol": 1e-15})
    active = (np.abs(ref.x) == 1.0)
    assert 0 < active.sum() < n
    rates = {"momentum": lr, "adam": 0.02, "nadam": 0.02, "rmsprop": 0.005}
    res = fastopt.minimize(f, np.zeros(n), jac=True, method=method, bounds=bounds,
                           options={"learning_rate": rates[method], "gtol": 1e-7,
                                    "maxiter": 50_000})
    assert res.success, res.message
    np.testing.assert_array_equal(np.abs(res.x) == 1.0, active)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    # the raw gradient does not vanish at the active bounds
    assert np.abs(res.jac[active]).min() > 1e-3


def test_projected_gradient_caps_at_the_distance_to_the_bound():
    """Inside the box near a bound, L-BFGS-B's measure is min(x - lo, g): a point 1e-7
    above its lower bound, pushed toward it, is stationary for gtol 1e-6."""
    lo = np.array([0.0, -np.inf])
    x0 = np.array([1e-7, 0.0])

    def f(x):
        return float(x[0] + x[1] ** 2), np.array([1.0, 2 * x[1]])
    res = fastopt.minimize(f, x0, jac=True, method="sgd", bounds=so.Bounds(lo, np.inf),
                           options={"learning_rate": 1e-9, "gtol": 1e-6, "maxiter": 5})
    assert res.status == 0 and res.nit == 0


def test_a_gradient_pushing_into_the_box_is_not_projected_away():
    """At the lower bound with a gradient that points inward (-g > 0), the measure is the
    full gradient: no false success."""
    def f(x):
        return float(-x[0]), np.array([-1.0])
    res = fastopt.minimize(f, [0.0], jac=True, method="sgd", bounds=[(0, 10)],
                           options={"learning_rate": 0.25, "maxiter": 200})
    assert res.x[0] == 10.0 and res.success
    res = fastopt.minimize(f, [0.0], jac=True, method="sgd", bounds=[(0, 10)],
                           options={"learning_rate": 0.25, "maxiter": 3})
    assert res.status == 1 and res.x[0] == 0.75


def test_bounds_with_l1_use_the_projected_subgradient():
    """l1 and a box: f = (x - 3)^2 + 0.5 |x| on [-1, 1] has its optimum at the upper bound
    1 (the smooth gradient there is -4, the subgradient -3.5, pushing out)."""
    res = fastopt.minimize(lambda x: (float((x[0] - 3) ** 2), 2 * (x - 3)), [0.0], jac=True,
                           method="adam", bounds=[(-1, 1)],
                           options={"learning_rate": 0.05, "l1": 0.5})
    assert res.success and res.x[0] == 1.0
