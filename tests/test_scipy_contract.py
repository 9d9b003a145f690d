"""scipy.optimize.minimize's contract, checked against scipy itself: finite differences that
stay in the box (and count as scipy counts them), scipy's whole signature, and scipy's
treatment of what a first-order method ignores."""

import inspect
import warnings

import numpy as np
import pytest
import scipy.optimize as so

import fastopt

SCHEMES = [None, "2-point", "3-point", "cs"]
BOX = (0.0, 1.0)


def boxed(calls):
    """f(x) = sum((x - 2)^2 + sqrt(1 - x)^2 + sqrt(x)^2 / 2): NaN outside [0, 1] in real
    arithmetic, analytic for complex x (sqrt(z)^2 = z); its gradient on the box is
    2 (x - 2) - 1/2.  Every point it is called at is appended to ``calls``."""
    def f(x):
        calls.append(np.array(x))
        with np.errstate(invalid="ignore"):
            return np.sum((x - 2) ** 2 + np.sqrt(1 - x) ** 2 + 0.5 * np.sqrt(x) ** 2)
    return f


def boxed_grad(x):
    return 2 * (x - 2) - 0.5


def assert_in_box(calls, lo=BOX[0], hi=BOX[1]):
    for x in calls:
        assert np.all(x.real >= lo) and np.all(x.real <= hi), x


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("jac", SCHEMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_differences_stay_in_the_box(jac, dtype):
    """At a bound, on it within a step, or inside: fun is never called outside the box, and
    the gradient is the one-sided (3-point: one-sided second-order) difference there."""
    x0 = np.array([1.0, 0.0, 0.5, 1 - 1e-9, 1e-9, 1 - 1e-3], dtype=dtype)
    calls = []
    res = fastopt.minimize(boxed(calls), x0, jac=jac, bounds=[BOX] * x0.size,
                           options={"maxiter": 0})
    assert_in_box(calls)
    assert res.status == 1 and res.x.dtype == dtype
    rtol = {np.float64: 1e-6, np.float32: 2e-3}[dtype]
    np.testing.assert_allclose(res.jac, boxed_grad(x0.astype(float)), rtol=rtol)


@pytest.mark.parametrize("jac", SCHEMES)
def test_finite_differences_near_bounds_through_scipy(jac):
    """The same through scipy.optimize.minimize(method=fastopt.adam) (scipy passes jac=None
    for every scheme but '2-point' to a custom method)."""
    calls = []
    res = so.minimize(boxed(calls), np.ones(3), method=fastopt.adam, jac=jac,
                      bounds=[BOX] * 3, options={"maxiter": 0})
    assert_in_box(calls)
    np.testing.assert_allclose(res.jac, boxed_grad(np.ones(3)), rtol=1e-6)


@pytest.mark.parametrize("jac", SCHEMES)
def test_optimum_on_the_bound_of_a_function_undefined_outside(jac):
    """The minimum over [0, 1] is at the upper bound, where fun stops being defined: the run
    gets there and stays, never meeting a NaN."""
    calls = []
    res = fastopt.minimize(boxed(calls), [0.5, 0.25], jac=jac, bounds=[BOX] * 2,
                           method="adam", options={"learning_rate": 0.1, "maxiter": 100})
    assert_in_box(calls)
    assert res.status != 3 and np.isfinite(res.fun)
    np.testing.assert_array_equal(res.x, [1.0, 1.0])
    np.testing.assert_allclose(res.jac, boxed_grad(res.x), rtol=1e-6)


@pytest.mark.parametrize("jac", SCHEMES)
def test_fixed_variable_is_never_stepped(jac):
    """A coordinate whose box is one point has nowhere to step: its gradient entry is 0
    (scipy removes such variables before differencing), and fun is not called off it."""
    calls = []

    def f(x):
        calls.append(np.array(x))
        with np.errstate(invalid="ignore"):
            return np.sum((x - 2) ** 2) + np.sqrt(x[0] - 0.5) ** 2 + np.sqrt(0.5 - x[0]) ** 2
    res = fastopt.minimize(f, [0.5, 0.0], jac=jac, bounds=[(0.5, 0.5), (-1, 1)],
                           options={"maxiter": 0})
    assert all(x[0] == 0.5 for x in calls)
    assert res.jac[0] == 0 and res.jac[1] == pytest.approx(-4, rel=1e-6)


@pytest.mark.parametrize("jac", SCHEMES)
def test_finite_difference_counts_match_scipy(jac):
    """One finite-difference gradient counts one in njev and its fun calls (the point
    itself included) in nfev, as scipy counts them: per gradient, scipy's L-BFGS-B
    spends nfev / njev calls on the same problem."""
    n, x0, bounds = 3, np.full(3, 0.5), [(0, 2)] * 3
    ref = so.minimize(so.rosen, x0, method="L-BFGS-B", jac=jac, bounds=bounds,
                      options={"maxiter": 5})
    per_gradient = ref.nfev // ref.njev
    assert ref.nfev == per_gradient * ref.njev and per_gradient > 1
    res = fastopt.minimize(so.rosen, x0, jac=jac, bounds=bounds,
                           options={"maxiter": 5, "gtol": 0})
    assert (res.nit, res.njev, res.nfev) == (5, 6, 6 * per_gradient)
    # scipy hands a custom method jac=None (forward differences) for '3-point' and 'cs'
    res = so.minimize(so.rosen, x0, jac=jac, method=fastopt.adam, bounds=bounds,
                      options={"maxiter": 5, "gtol": 0})
    assert (res.nit, res.njev, res.nfev) == (5, 6, 6 * (1 + n))


def test_complex_step_is_exact():
    """'cs' differentiates analytically (f(x + ih) / h, no cancellation): exact to rounding,
    where forward differences are off by about sqrt(eps)."""
    def f(x):
        return np.sum(np.exp(x) * np.sin(x))
    x0 = np.linspace(-2.0, 3.0, 7)
    exact = np.exp(x0) * (np.sin(x0) + np.cos(x0))
    cs = fastopt.minimize(f, x0, jac="cs", options={"maxiter": 0})
    np.testing.assert_allclose(cs.jac, exact, rtol=1e-14, atol=1e-14)
    forward = fastopt.minimize(f, x0, jac="2-point", options={"maxiter": 0})
    assert np.max(np.abs(forward.jac - exact)) > 1e-9


def test_finite_difference_step_follows_scipy():
    """Without ``eps``: scipy's relative step, sqrt(eps) * max(1, |x|), taken towards
    where x's sign points (backward for x < 0); with ``eps``: that absolute step."""
    calls = []

    def f(x):
        calls.append(np.array(x))
        return float(np.sum(x ** 2))
    x0 = np.array([-3.0, 0.0, 2.0])
    fastopt.minimize(f, x0, jac="2-point", options={"maxiter": 0})
    steps = np.array([c - x0 for c in calls[1:]]).sum(axis=1)
    h = np.finfo(float).eps ** 0.5
    np.testing.assert_allclose(steps, [-3 * h, h, 2 * h], rtol=1e-6)
    calls.clear()
    fastopt.minimize(f, x0, jac="2-point", options={"maxiter": 0, "eps": 1e-4})
    np.testing.assert_allclose(np.array([c - x0 for c in calls[1:]]).sum(axis=1),
                               [1e-4] * 3, rtol=1e-9)


# ------------------------------------------------------------------ the signature
def test_minimize_has_scipys_signature():
    ours = inspect.signature(fastopt.minimize).parameters
    theirs = inspect.signature(so.minimize).parameters
    assert [(p.name, p.default) for p in ours.values()] == \
        [(p.name, p.default) for p in theirs.values()]


def test_distributed_and_finder_share_the_signature_and_jac_default():
    pytest.importorskip("distributed")
    import fastopt.distributed
    ours = list(inspect.signature(fastopt.distributed.minimize).parameters.values())
    theirs = list(inspect.signature(so.minimize).parameters.values())
    assert [(p.name, p.default) for p in ours[:len(theirs)]] == \
        [(p.name, p.default) for p in theirs]
    assert inspect.signature(fastopt.find_learning_rate).parameters["jac"].default is None


def test_a_scalar_fun_works_with_the_default_jac():
    """jac=None (finite differences) is the default everywhere, as in scipy: a fun that
    returns only f runs through minimize and the learning-rate finder."""
    lam = np.logspace(0, 1, 4)

    def f(x):
        return 0.5 * np.sum(lam * x * x)

    def f_and_g(x):
        return f(x), lam * x

    res = fastopt.minimize(f, np.ones(4), options={"maxiter": 50, "learning_rate": 0.1})
    exact = fastopt.minimize(f_and_g, np.ones(4), jac=True,
                             options={"maxiter": 50, "learning_rate": 0.1})
    np.testing.assert_allclose(res.x, exact.x, rtol=1e-5, atol=1e-7)
    lrf = fastopt.find_learning_rate(f, np.ones(4), method="sgd", num_steps=50)
    ref = fastopt.find_learning_rate(f_and_g, np.ones(4), method="sgd", jac=True,
                                     num_steps=50)
    assert lrf.stop_reason == ref.stop_reason and lrf.suggestion == ref.suggestion
    np.testing.assert_allclose(lrf.losses, ref.losses, rtol=1e-3)   # (diverging at the end)


def test_method_none_is_adam():
    opts = {"maxiter": 20, "learning_rate": 0.1}
    default = fastopt.minimize(lambda x: (x @ x, 2 * x), np.ones(3), jac=True, options=opts)
    adam = fastopt.minimize(lambda x: (x @ x, 2 * x), np.ones(3), method="adam", jac=True,
                            options=opts)
    explicit = fastopt.minimize(lambda x: (x @ x, 2 * x), np.ones(3), method=None, jac=True,
                                options=opts)
    np.testing.assert_array_equal(default.x, adam.x)
    np.testing.assert_array_equal(explicit.x, adam.x)


@pytest.mark.parametrize("constraints", [(), [], None])
def test_unused_arguments_given_empty_are_accepted(constraints):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fastopt.minimize(lambda x: (x @ x, 2 * x), np.ones(3), (), None, True,
                               hess=None, hessp=None, constraints=constraints,
                               options={"maxiter": 3, "learning_rate": 1e-3})
        so.minimize(lambda x: (x @ x, 2 * x), np.ones(3), jac=True, method=fastopt.adam,
                    hess=None, hessp=None, constraints=constraints, options={"maxiter": 3})
    assert res.nit == 3


def _scipy_warnings(**kw):
    with pytest.warns(RuntimeWarning) as record:
        so.minimize(so.rosen, [0.0, 0.0], method="L-BFGS-B", jac=so.rosen_der,
                    options={"maxiter": 1}, **kw)
    return [str(w.message).replace("L-BFGS-B", "adam") for w in record]


@pytest.mark.parametrize("kw", [{"hess": so.rosen_hess},
                                {"hessp": so.rosen_hess_prod},
                                {"hess": so.rosen_hess, "hessp": so.rosen_hess_prod}])
@pytest.mark.parametrize("entry", ["fastopt", "scipy"])
def test_hessians_warn_as_scipy_warns(kw, entry):
    """hess and hessp: scipy's RuntimeWarning for a method that does not use them, word for
    word, through both entry points; the run goes on."""
    expected = _scipy_warnings(**kw)
    with pytest.warns(RuntimeWarning) as record:
        if entry == "fastopt":
            res = fastopt.minimize(so.rosen, [0.0, 0.0], jac=so.rosen_der,
                                   options={"maxiter": 1}, **kw)
        else:
            res = so.minimize(so.rosen, [0.0, 0.0], method=fastopt.adam, jac=so.rosen_der,
                              options={"maxiter": 1}, **kw)
    assert [str(w.message) for w in record] == expected
    assert res.nit == 1


# ------------------------------------------------------------------ edges
def _scipy_error(fun):
    with pytest.raises(Exception) as info:
        so.minimize(fun, [0.0, 0.0], method="L-BFGS-B")
    return info.type


@pytest.mark.parametrize("jac", [None, "3-point", "cs", True, "callable"])
@pytest.mark.parametrize("entry", ["fastopt", "scipy"])
def test_fun_returning_none_raises_as_scipy_does(jac, entry):
    fun = (lambda x: (None, 2 * x)) if jac is True else (lambda x: None)
    jac = (lambda x: 2 * x) if jac == "callable" else jac
    method = fastopt.adam if entry == "scipy" else "adam"
    call = so.minimize if entry == "scipy" else fastopt.minimize
    with pytest.raises(_scipy_error(lambda x: None),
                       match=r"The user-provided objective function returned None"):
        call(fun, np.ones(2), method=method, jac=jac, options={"maxiter": 3})
