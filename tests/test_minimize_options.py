"""minimize's options, argument by argument: bad values raise a clear error naming the
option before fun is ever called; the legal edge cases (maxiter=0, integral floats, inf
limits, ...) behave as documented in fastopt.minimize's docstring.  Every row runs through
fastopt.minimize and through scipy.optimize.minimize(method=fastopt.adam)."""

import math
import re

import numpy as np
import pytest
import scipy.optimize as so

import fastopt

NAN, INF = math.nan, math.inf
LAM = np.linspace(1.0, 10.0, 4)


def quad(x):
    return float(0.5 * np.dot(LAM * x, x)), LAM * x


# a fixed rate, for the tests that count the iterations of a run that must not meet gtol
# first (the searched default rate solves quad in a few steps) or the calls of fun
SLOW = {"learning_rate": 1e-3}


def never_called(x):
    raise AssertionError("fun must not be called when the options are invalid")


def via_fastopt(fun, x0, **kw):
    return fastopt.minimize(fun, x0, method=kw.pop("method", "adam"), **kw)


def via_scipy(fun, x0, **kw):
    method = kw.pop("method", "adam")
    return so.minimize(fun, x0, method=getattr(fastopt, method), **kw)


ENTRIES = [pytest.param(via_fastopt, id="fastopt"), pytest.param(via_scipy, id="scipy")]

# ------------------------------------------------------------------ bad numeric options
# (option, what the message says it must be, integer option?, None allowed, inf allowed)
NUMERIC = [
    ("maxiter", "an integer >= 0, inf or None", True, True, True),
    ("maxfev", "an integer >= 0, inf or None", True, True, True),
    ("gtol", "a real number >= 0 or inf", False, False, True),
    ("ftol", "a real number >= 0, inf or None", False, True, True),
    ("patience", "an integer >= 1", True, False, False),
    ("max_time", "a real number >= 0, inf or None", False, True, True),
    ("batch_size", "an integer >= 1 or None", True, True, False),
    ("epochs", "an integer >= 1", True, False, False),
    ("disp_every", "an integer >= 1", True, False, False),
    ("monitor_every", "an integer >= 1", True, False, False),
    ("max_skips", "an integer >= 0", True, False, False),
]


def bad_rows():
    """(option, value, exception type) for every bad value of every numeric option."""
    rows = []
    for name, _, integer, none_ok, inf_ok in NUMERIC:
        rows += [(name, "a", TypeError), (name, "10", TypeError), (name, True, TypeError),
                 (name, np.bool_(False), TypeError), (name, [1], TypeError),
                 (name, 1j, TypeError), (name, NAN, ValueError),
                 (name, np.float64(NAN), ValueError), (name, -1, ValueError),
                 (name, np.int64(-3), ValueError), (name, -INF, ValueError)]
        if integer:
            rows += [(name, 2.5, ValueError), (name, np.float32(0.5), ValueError)]
        if not none_ok:
            rows.append((name, None, TypeError))
        if not inf_ok:
            rows.append((name, INF, ValueError))
        if name in ("patience", "epochs", "disp_every", "monitor_every", "batch_size"):
            rows += [(name, 0, ValueError), (name, 0.0, ValueError)]
    return rows


MUST = {name: what for name, what, *_ in NUMERIC}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("name, value, exc", bad_rows(),
                         ids=lambda v: repr(v) if not isinstance(v, type) else v.__name__)
def test_bad_numeric_option(entry, name, value, exc):
    msg = (rf"^Invalid {name}: {re.escape(repr(value))} \(options\['{name}'\] must be "
           rf"{re.escape(MUST[name])}\)$")
    with pytest.raises(exc, match=msg):
        entry(never_called, np.ones(4), jac=True, options={name: value})


@pytest.mark.parametrize("value, exc", [("a", TypeError), (NAN, ValueError),
                                        (-1e-3, ValueError), (True, TypeError)])
def test_bad_tol_argument(value, exc):
    with pytest.raises(exc, match=rf"^Invalid tol: {re.escape(repr(value))} \(tol must be a "
                                  r"real number >= 0, inf or None\)$"):
        fastopt.minimize(never_called, np.ones(4), jac=True, tol=value)


def test_bad_numeric_option_in_distributed_minimize():
    pytest.importorskip("distributed")
    import fastopt.distributed as fd
    with pytest.raises(ValueError, match=r"Invalid maxiter: nan \(options\['maxiter'\]"):
        fd.minimize(never_called, np.ones(4), jac=True, options={"maxiter": NAN},
                    client=object())            # fails before the client is used


# ------------------------------------------------------------------ other bad arguments
OTHER = [
    ("bounds-int", dict(bounds=3), TypeError,
     r"'bounds' must be a scipy.optimize.Bounds or a sequence of \(min, max\) pairs, got 3"),
    ("bounds-None-pairs", dict(bounds=[None] * 4), ValueError,
     r"'bounds' must be a scipy.optimize.Bounds or a sequence of \(min, max\) pairs"),
    ("grad-strings", dict(fun=lambda x: (1.0, ["a"] * 4)), TypeError,
     r"the gradient returned by 'fun' \(jac=True\) has dtype <U1; expected real numbers"),
    ("grad-numeric-strings", dict(fun=lambda x: (1.0, ["1"] * 4)), TypeError,
     r"the gradient returned by 'fun' \(jac=True\) has dtype <U1; expected real numbers"),
    ("grad-complex", dict(fun=lambda x: (1.0, x * 1j)), TypeError,
     r"the gradient returned by 'fun' \(jac=True\) has dtype complex128"),
    ("grad-None", dict(fun=lambda x: (1.0, None)), TypeError,
     r"the gradient returned by 'fun' \(jac=True\) is None"),
    ("grad-ragged", dict(fun=lambda x: (1.0, [1.0, [2.0, 3.0], 4.0, 5.0])), ValueError,
     r"the gradient returned by 'fun' \(jac=True\) is not an array of real numbers"),
    ("grad-objects", dict(fun=lambda x: (1.0, np.array([1.0, "a", 2.0, 3.0], object))),
     ValueError, r"the gradient returned by 'fun' \(jac=True\) is not an array of real "
                 r"numbers \(could not convert string to float"),
    ("jac-strings", dict(fun=lambda x: 1.0, jac=lambda x: ["a"] * 4), TypeError,
     r"the gradient returned by 'jac' has dtype <U1; expected real numbers"),
    ("jac-datetimes", dict(fun=lambda x: 1.0,
                           jac=lambda x: np.array(["2020-01-01"] * 4, "M8[D]")), TypeError,
     r"the gradient returned by 'jac' has dtype datetime64\[D\]"),
    ("jac-shape", dict(fun=lambda x: 1.0, jac=lambda x: np.ones(3)), ValueError,
     r"the gradient has shape \(3,\), expected \(4,\)"),
    ("method-class", dict(method=fastopt.Adam), ValueError,
     r"Unknown solver <class 'fastopt.optimizers.Adam'>; fastopt methods are: sgd, "
     r".*\(a name, or the callable fastopt.adam etc.\)"),
    ("method-other-callable", dict(method=so.rosen), ValueError, r"Unknown solver <function"),
    ("method-unhashable", dict(method=["adam"]), ValueError, r"Unknown solver \['adam'\]"),
]


@pytest.mark.parametrize("case, kw, exc, match", OTHER, ids=[r[0] for r in OTHER])
def test_other_bad_arguments(case, kw, exc, match):
    kw = dict(kw)
    fun = kw.pop("fun", quad)
    kw.setdefault("jac", True)
    with pytest.raises(exc, match=match):
        fastopt.minimize(fun, np.ones(4), options={"maxiter": 3}, **kw)


@pytest.mark.parametrize("case", ["strings", "complex", "None"])
def test_bad_gradient_through_scipy_names_it(case):
    """scipy wraps a jac=True fun in MemoizeJac, so fastopt sees a callable jac."""
    grad = {"strings": ["a"] * 4, "complex": np.ones(4) * 1j, "None": None}[case]
    with pytest.raises(TypeError, match=r"the gradient returned by 'jac'"):
        so.minimize(lambda x: (1.0, grad), np.ones(4), jac=True, method=fastopt.adam,
                    options={"maxiter": 3})


# ------------------------------------------------------------------ legal edge cases
@pytest.mark.parametrize("entry", ENTRIES)
def test_maxiter_zero_evaluates_x0_only(entry):
    res = entry(quad, np.ones(4), jac=True, options={"maxiter": 0})
    assert (res.status, res.nit, res.nfev, res.njev) == (1, 0, 1, 1) and not res.success
    np.testing.assert_array_equal(res.x, np.ones(4))
    assert res.fun == quad(np.ones(4))[0]
    np.testing.assert_array_equal(res.jac, quad(np.ones(4))[1])
    # x0 already meets gtol: success, even with maxiter=0 (gtol is tested first)
    res = entry(quad, np.zeros(4), jac=True, options={"maxiter": 0})
    assert (res.status, res.nit) == (0, 0) and res.success


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("maxiter", [7.0, np.float64(7.0), np.int64(7), np.int32(7),
                                     np.uint8(7), 7e0])
def test_integral_maxiter_types_are_that_integer(entry, maxiter):
    ref = entry(quad, np.ones(4), jac=True, options={"maxiter": 7, "learning_rate": 0.1})
    res = entry(quad, np.ones(4), jac=True, options={"maxiter": maxiter,
                                                     "learning_rate": 0.1})
    assert res.nit == 7 and type(res.nit) is int and res.status == 1
    np.testing.assert_array_equal(res.x, ref.x)


def test_maxiter_none_and_inf():
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"maxiter": None,
                                                                "gtol": 0.0})
    assert res.nit == 1000 and res.status == 1              # the full-batch default
    res = fastopt.minimize(quad, np.ones(4), method="sgd", jac=True,
                           options={"maxiter": INF, "learning_rate": 0.002})
    assert res.status == 0 and res.success and res.nit > 1000     # runs until gtol


def test_maxfev_zero_inf_and_float():
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"maxfev": 0})
    assert (res.status, res.nit, res.nfev) == (2, 0, 1)
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"maxfev": 5.0, **SLOW})
    assert (res.status, res.nit, res.nfev) == (2, 4, 5)
    res = fastopt.minimize(quad, np.ones(4), jac=True,
                           options={"maxfev": INF, "maxiter": 9, **SLOW})
    assert (res.status, res.nit, res.nfev) == (1, 9, 10)


def test_gtol_edges():
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"gtol": INF})
    assert (res.status, res.nit) == (0, 0)
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"gtol": 0, "maxiter": 5})
    assert (res.status, res.nit) == (1, 5)
    opts = {"learning_rate": 0.1}
    a = fastopt.minimize(quad, np.ones(4), jac=True, tol=1e-3, options=opts)
    b = fastopt.minimize(quad, np.ones(4), jac=True, options=dict(opts, gtol=1e-3))
    assert a.success and (a.nit, a.fun) == (b.nit, b.fun)         # tol is gtol
    c = fastopt.minimize(quad, np.ones(4), jac=True, options=dict(opts, gtol=np.float32(1e-3)))
    d = fastopt.minimize(quad, np.ones(4), jac=True,
                         options=dict(opts, gtol=float(np.float32(1e-3))))
    assert c.success and (c.nit, c.fun) == (d.nit, d.fun)         # a NumPy real is its value


def test_ftol_and_patience_edges():
    res = fastopt.minimize(quad, np.ones(4), jac=True,
                           options={"ftol": INF, "patience": 2.0, "gtol": 0.0, **SLOW})
    assert res.status == 0 and res.nit == 2 and "ftol" in res.message
    res = fastopt.minimize(quad, np.ones(4), jac=True,
                           options={"ftol": 0, "gtol": 0.0, "maxiter": 20, **SLOW})
    assert res.status == 1 and res.nit == 20          # f keeps decreasing: never <= 0


def test_max_time_edges():
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"max_time": 0})
    assert (res.status, res.nit) == (5, 0) and "max_time" in res.message
    res = fastopt.minimize(quad, np.ones(4), jac=True, options={"max_time": INF,
                                                                "maxiter": 4, **SLOW})
    assert (res.status, res.nit) == (1, 4)


def test_max_skips_zero_stops_at_the_first_bad_point():
    calls = []

    def f(x):
        calls.append(1)
        return (NAN, x) if len(calls) == 3 else quad(x)
    res = fastopt.minimize(f, np.ones(4), jac=True,
                           options={"nan_policy": "skip", "max_skips": 0, **SLOW})
    # the third point is bad: the second, x_1, is returned with its own nit and state
    assert res.status == 7 and res.nit == 1 and res.opt_state["step"] == 1
    assert np.all(np.isfinite(res.x))


def test_minibatch_integral_floats_equal_ints():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 4)), rng.standard_normal(20)

    def lsq(w, X, y):
        r = X @ w - y
        return float(r @ r / len(y)), 2 * X.T @ r / len(y)
    ref = fastopt.minimize(lsq, np.zeros(4), args=(X, y), jac=True,
                           options={"batch_size": 6, "epochs": 2, "seed": 0})
    res = fastopt.minimize(lsq, np.zeros(4), args=(X, y), jac=True,
                           options={"batch_size": 6.0, "epochs": np.int64(2), "seed": 0})
    assert res.nepochs == 2 and res.nit == 2 * 3        # 20 rows: batches of 6, 6 and 8
    np.testing.assert_array_equal(res.x, ref.x)


def test_disp_every_and_monitor_every_accept_integral_floats(capsys):
    fastopt.minimize(quad, np.ones(4), jac=True,
                     options={"disp": True, "disp_every": 2.0, "maxiter": 6, **SLOW})
    assert capsys.readouterr().out.count("iter ") == 3
    res = fastopt.minimize(quad, np.ones(4), jac=True,
                           options={"learning_rate": fastopt.ReduceLROnPlateau(0.1),
                                    "monitor_every": np.int64(2), "maxiter": 4})
    assert res.nit == 4


@pytest.mark.parametrize("name", ["adam", "nadam", "momentum"])
def test_method_callable_is_its_name(name):
    by_name = fastopt.minimize(quad, np.ones(4), method=name, jac=True,
                               options={"maxiter": 20})
    by_callable = fastopt.minimize(quad, np.ones(4), method=getattr(fastopt, name),
                                   jac=True, options={"maxiter": 20})
    np.testing.assert_array_equal(by_callable.x, by_name.x)
    assert by_callable.opt_state["rule"] == by_name.opt_state["rule"]
    assert fastopt.show_options(getattr(fastopt, name), disp=False) == \
        fastopt.show_options(name, disp=False)


def test_show_options_rejects_what_minimize_rejects():
    with pytest.raises(ValueError, match=r"Unknown solver 3"):
        fastopt.show_options(3)
    assert fastopt.show_options("ADAM", disp=False).startswith("adam: Adam")


# ------------------------------------------------------------------ the loop's fast path
class _SlowObjective(fastopt._loop.Objective):
    """The same objective, but a subclass: the full-batch loop takes its general path."""

    def smooth(self, x, args):
        return super().smooth(x, args)


def _run_general(fun, x0, jac, args, options, callback=None):
    loop_module = fastopt._loop
    opt, x, o, limits = fastopt._minimize.prepare("adam", x0, None, options)
    objective = _SlowObjective(fun, jac, o["eps"])
    loop = loop_module.Loop(opt, objective, x, args, loop_module.wrap_callback(callback), o,
                            *limits)
    return loop.full_batch()


def _grad_forms():
    lam = np.linspace(1.0, 3.0, 6)

    def value(x, *a):
        return float(0.5 * np.dot(lam * x, x)) + 0 * len(a)

    def grad(x, *a):
        return lam * x

    def nan_at(k):
        calls = []

        def f(x, *a):
            calls.append(1)
            return (NAN if len(calls) % k == 0 else value(x)), grad(x)
        return f
    return {
        "ndarray": (lambda x, *a: (value(x), grad(x)), True),
        "callable-jac": (value, grad),
        "list": (lambda x, *a: (value(x), list(grad(x))), True),
        "float64-for-float32": (lambda x, *a: (np.float32(value(x)), grad(x.astype(float))),
                                True),
        "strided": (lambda x, *a: (value(x), np.repeat(grad(x), 2)[::2]), True),
        "column": (lambda x, *a: (value(x), grad(x).reshape(-1, 1)), True),
        "0-d-f": (lambda x, *a: (np.array(value(x)), grad(x)), True),
        "nan-every-4th": (nan_at(4), True),
    }


@pytest.mark.parametrize("form", list(_grad_forms()))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("args", [(), (1, "b")])
@pytest.mark.parametrize("options", [{"maxiter": 40}, {"maxiter": 40, "nan_policy": "skip",
                                                       "max_skips": 3},
                                     {"ftol": 1e-3, "return_best": True, "maxiter": 500}])
def test_fast_path_equals_general_path(form, dtype, args, options):
    """The full-batch loop's inlined evaluation (a plain objective with jac=True or a
    callable jac) gives bit for bit what the general path (objective(x, args), gmax(g))
    gives, whatever the gradient's form, and calls fun and jac alike."""
    fun, jac = _grad_forms()[form]
    x0 = np.linspace(-1.0, 1.0, 6).astype(dtype)
    seen_fast, seen_slow = [], []
    fast = fastopt.minimize(fun, x0, args=args, jac=jac, method="adam",
                            callback=lambda xk: seen_fast.append(xk),
                            options=dict(options, learning_rate=0.05))
    fun, jac = _grad_forms()[form]              # fresh call counters
    slow = _run_general(fun, x0, jac, args, dict(options, learning_rate=0.05),
                        callback=lambda xk: seen_slow.append(xk))
    for key in ("status", "message", "nit", "nfev", "njev", "fun"):
        assert fast[key] == slow[key] or (key == "fun" and math.isnan(fast.fun)
                                          and math.isnan(slow.fun)), key
    np.testing.assert_array_equal(fast.x, slow.x)
    np.testing.assert_array_equal(fast.jac, slow.jac)
    assert fast.x.dtype == slow.x.dtype == dtype and fast.jac.dtype == slow.jac.dtype
    assert len(seen_fast) == len(seen_slow)
    for a, b in zip(seen_fast, seen_slow):
        np.testing.assert_array_equal(a, b)


BAD_FORMS = {
    "short": (lambda x: (1.0, np.ones(x.size - 1)), True),
    "long-jac": (lambda x: 1.0, lambda x: np.ones(x.size + 1)),
    "2-d": (lambda x: (1.0, np.ones((2, x.size))), True),
    "strings": (lambda x: (1.0, ["a"] * x.size), True),
    "None": (lambda x: (1.0, None), True),
    "not-a-pair": (lambda x: 1.0, True),
    "vector-f": (lambda x: (x, x), True),
    "vector-f-jac": (lambda x: x, lambda x: x),
}


@pytest.mark.parametrize("form", list(BAD_FORMS))
def test_fast_path_errors_equal_general_path(form):
    fun, jac = BAD_FORMS[form]
    x0 = np.ones(4)
    with pytest.raises((TypeError, ValueError)) as fast:
        fastopt.minimize(fun, x0, jac=jac, options={"maxiter": 3})
    with pytest.raises((TypeError, ValueError)) as slow:
        _run_general(fun, x0, jac, (), {"maxiter": 3})
    assert type(fast.value) is type(slow.value) and str(fast.value) == str(slow.value)


def test_sgd_dampening_is_an_option_of_the_sgd_methods():
    """minimize passes SGD's hyperparameters through, dampening with them: the run is the
    optimizer's own."""
    x0 = np.array([1.0, -2.0, 0.5, 3.0])
    res = fastopt.minimize(quad, x0, jac=True, method="momentum",
                           options={"dampening": 0.3, "learning_rate": 0.01, "maxiter": 20,
                                    "gtol": 0.0})
    x = x0.copy()
    opt = fastopt.SGD(x, learning_rate=0.01, momentum=0.9, dampening=0.3)
    for _ in range(20):
        opt.step(quad(x)[1])
    np.testing.assert_allclose(res.x, x, rtol=1e-14)
    plain = fastopt.minimize(quad, x0, jac=True, method="momentum",
                             options={"learning_rate": 0.01, "maxiter": 20, "gtol": 0.0})
    assert not np.allclose(plain.x, res.x)
